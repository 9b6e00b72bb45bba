"""EC2T ternary models → TFLite with real **INT4** weight tensors (``stack.md`` §4.2).

Same mechanism as HAWQ-V3's 4-bit layers, reused rather than copied: every active ternary conv
becomes one or two :class:`tfqnn.layers.hawq.HawqConvBN` (``weight_bits=4``, per-output-channel
``FakeQuant`` on the kernel, an 8-bit ``FakeQuant`` output range) and the model goes through the
ordinary post-training int8 conversion, which stores those kernels as ``TensorType.INT4``. No TF-MOT
``quantize_apply`` is involved, so MicroNet's standalone pre-BN ``BatchNormalization`` (which TF-MOT
refuses) stays an ordinary layer the converter quantizes to int8.

A ``BatchNormalization`` that is the only consumer of a ternary conv is folded into it (``W·γ/σ``,
``(b−μ)·γ/σ + β``, HAWQ-V3 fix-BN folding, ``hawq.md`` §2.5; the BN becomes an identity). Modes:

* ``"split"`` (default) — ``conv(x, w_p·M_p) + conv(x, −w_n·M_n)``: each kernel is ``{0, c_k}`` per
  output channel, so the INT4 codes are exactly ``{0, ±7}`` — the ternary values are stored exactly.
* ``"merged"`` — one conv with kernel ``T``: per channel the larger centroid is code ±7, the
  smaller is rounded to the 4-bit grid (error up to 1/14 of the larger centroid).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

from converters.ternary import _is_ternary, rebuild_ternary  # noqa: E402
from tfqnn.errors import ConfigError, ConversionError  # noqa: E402
from tfqnn.layers.hawq import HawqConvBN  # noqa: E402
from tfqnn.layers.ternary_conv import TernaryConv2D  # noqa: E402

INT4_MODES = ("split", "merged")
_CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "use_bias")


@keras.utils.register_keras_serializable(package="tfqnn")
class Int4TernaryConv(keras.layers.Layer):
    """A ternary conv (+ folded BN) as ``HawqConvBN`` part(s) with 4-bit kernels (see module doc)."""

    def __init__(self, conv_config: dict, bn_epsilon: float = 0.0, split: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conv_config = dict(conv_config)
        self.bn_epsilon = float(bn_epsilon)
        self.split = bool(split)
        base = {k: self.conv_config[k] for k in _CONV_KEYS if k in self.conv_config}
        parts = {"pos": dict(base), "neg": dict(base, use_bias=False)} if self.split else {"conv": dict(base)}
        # momentum -1: the 8-bit input / output ranges are the running min / max over the calibration batches
        self.parts = [HawqConvBN(weight_bits=4, act_bits=8, momentum=-1, bn_epsilon=self.bn_epsilon, output_range=True,
                                 name=name, **cfg) for name, cfg in parts.items()]
        self.activation = keras.activations.get(self.conv_config.get("activation"))

    def build(self, input_shape: Any) -> None:
        for part in self.parts:
            part.build(input_shape)
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: Any = None) -> tf.Tensor:
        y = self.parts[0](inputs, training=training)
        for part in self.parts[1:]:
            y = y + part(inputs, training=training)
        return self.activation(y)

    def calibrate(self, inputs: Any) -> None:
        """Widen the 8-bit input / output ranges to one more batch of inputs; weight ranges from the
        folded kernels. Starts from empty ranges (a fresh layer)."""
        for part in self.parts:
            part(tf.convert_to_tensor(inputs, tf.float32), training=True)
            part.sync_export_ranges()

    def get_config(self) -> dict:
        return {**super().get_config(), "conv_config": self.conv_config, "bn_epsilon": self.bn_epsilon, "split": self.split}


def _folded_bn(model: keras.Model, layer: Any) -> keras.layers.BatchNormalization | None:
    """The BatchNormalization that is the single consumer of ``layer`` in ``model`` (channels last), if any."""
    consumers = [node.outbound_layer for node in layer._outbound_nodes if node.outbound_layer in model.layers]
    if len(consumers) != 1 or not isinstance(consumers[0], keras.layers.BatchNormalization):
        return None
    bn = consumers[0]
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    return bn if axis in (-1, len(bn.input_shape) - 1) else None


def _bn_arrays(bn: keras.layers.BatchNormalization | None, channels: int) -> tuple[np.ndarray, ...]:
    """``(γ, β, μ, σ²)``; identity (1, 0, 0, 1) without a BN."""
    if bn is None:
        return (np.ones(channels, np.float32), np.zeros(channels, np.float32), np.zeros(channels, np.float32),
                np.ones(channels, np.float32))
    gamma = bn.gamma.numpy() if bn.scale else np.ones(channels, np.float32)
    beta = bn.beta.numpy() if bn.center else np.zeros(channels, np.float32)
    return gamma, beta, bn.moving_mean.numpy(), bn.moving_variance.numpy()


def export_int4(model: keras.Model, calibration: np.ndarray, mode: str = "split") -> keras.Model:
    """Plain Keras copy of ``model`` with each active ternary conv as :class:`Int4TernaryConv`, calibrated.

    ``calibration``: a batch of model inputs; it sets the 8-bit output ranges of the INT4 convs.
    """
    if mode not in INT4_MODES:
        raise ConfigError(f"unknown INT4 ternary export mode {mode!r}; modes: {', '.join(INT4_MODES)}")
    ternary = [layer for layer in model.layers if _is_ternary(layer)]
    if not ternary:
        raise ConversionError(f"model '{model.name}' has no active EC2T ternary layer")
    bad = [layer for layer in ternary if not isinstance(layer, TernaryConv2D)]
    if bad:
        raise ConversionError(f"INT4 export: layer '{bad[0].name}' ({type(bad[0]).__name__}) is not supported; only TernaryConv2D")
    folds = {layer.name: _folded_bn(model, layer) for layer in ternary}
    folded_bns = {bn.name for bn in folds.values() if bn is not None}

    def replace(layer: Any, config: dict) -> keras.layers.Layer | None:
        if layer.name in folds:
            bn = folds[layer.name]
            return Int4TernaryConv(config, bn_epsilon=0.0 if bn is None else bn.epsilon, split=mode == "split", name=layer.name)
        if layer.name in folded_bns:
            return keras.layers.Activation("linear", name=layer.name)
        return None  # pruned / inactive EC2T layers: plain layer with W[A≠1] or W

    def fill(layer: Any, target: keras.layers.Layer) -> bool:
        if layer.name in folded_bns:
            return True  # folded into the conv before it
        if not isinstance(target, Int4TernaryConv):
            return False
        t = layer.ternary_kernel().numpy()
        gamma, beta, mean, var = _bn_arrays(folds[layer.name], t.shape[-1])
        bias = layer.bias.numpy() if layer.use_bias else None
        kernels = [np.where(t > 0, t, 0), np.where(t < 0, t, 0)] if target.split else [t]
        for i, (part, kernel) in enumerate(zip(target.parts, kernels)):
            part_bn = (gamma, beta, mean, var) if i == 0 else (gamma, np.zeros_like(beta), np.zeros_like(mean), var)
            values = {"kernel": kernel, "bias": bias, "gamma": part_bn[0], "beta": part_bn[1],
                      "moving_mean": part_bn[2], "moving_variance": part_bn[3]}
            for var_ in (part.kernel, getattr(part, "bias", None), part.gamma, part.beta, part.moving_mean, part.moving_variance):
                if var_ is not None:
                    var_.assign(values[var_.name.split("/")[-1].split(":")[0]].astype(np.float32))
        return True

    new = rebuild_ternary(model, replace, fill)
    _calibrate(model, new, np.asarray(calibration, np.float32))
    return new


def _calibrate(model: keras.Model, new: keras.Model, x: np.ndarray, chunk: int = 8) -> None:
    """Each INT4 conv sees its input as computed by the float ternary ``model`` (not by the partly
    calibrated copy, whose uncalibrated output ranges would clip everything downstream)."""
    int4 = [layer for layer in new.layers if isinstance(layer, Int4TernaryConv)]
    probe = keras.Model(model.inputs, [model.get_layer(layer.name).input for layer in int4])
    for start in range(0, len(x), chunk):
        inputs = probe(x[start:start + chunk], training=False)
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        for layer, xin in zip(int4, inputs):
            layer.calibrate(xin)


def convert_int4(model: keras.Model, representative_data: np.ndarray | Iterable, mode: str = "split", **kwargs: Any) -> bytes:
    """TFLite with INT4 ternary kernels, int8 everything else (``representative_data``: model inputs)."""
    from converters.tflite import convert

    x = np.asarray(list(representative_data) if not isinstance(representative_data, np.ndarray) else representative_data, np.float32)
    if x.ndim != len(model.inputs[0].shape):
        raise ConfigError(f"representative data has shape {x.shape}; expected a batch of model inputs {tuple(model.inputs[0].shape)}")
    return convert(export_int4(model, x, mode), "int8", representative_data=x, **kwargs)


__all__ = ["INT4_MODES", "Int4TernaryConv", "convert_int4", "export_int4"]
