"""HAWQ-V3 quantizers (Yao et al., ICML 2021, arXiv 2011.10680, §3 Eq. 1-2) as TF-MOT ``Quantizer``s.

Reference semantics (``Zhen-Dong/HAWQ`` ``quant_utils.py``; spec ``hawq.md`` §2):

* weights, symmetric per output channel: ``S = max(|min|, |max|, 1e-8) / (2^(k-1) - 1)``,
  ``q = clamp(round((1/S)·w), -2^(k-1), 2^(k-1) - 1)`` — multiplied by the float32 reciprocal,
  rounded half-to-even (``tf.round``). Keras kernels are HWIO / (in, out): the channel is the
  **last** axis.
* activations, per tensor with an EMA range (momentum multiplies the old value, first batch
  initialises, ``-1`` = running min/max): k = 8/16 signed symmetric, k = 4 unsigned
  ``S = (max - min)/(2^k - 1)``, ``q ∈ [0, 2^k - 1]`` (zero point computed but never applied).
* straight-through estimator: plain identity gradient, no clipping mask; ranges get no gradient.

Training (``training=True``) runs the exact reference arithmetic. Inference with
``export_ops=True`` (default) expresses the same integer grid with TensorFlow ``FakeQuant``
ops, which the TFLite converter turns into int8 / INT4 tensors; those round ties half-up and
divide by the scale, so they can differ from the reference on exact ``.5`` ties only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402

WEIGHT_BITS = (4, 8)
ACT_BITS = (4, 8, 16)
_EPS = np.float32(1e-8)


def _check_bits(bits: int, valid: tuple[int, ...], what: str) -> int:
    if bits not in valid:
        raise ConfigError(f"unsupported {what} bit-width {bits!r}; valid: {', '.join(map(str, valid))}")
    return int(bits)


# --------------------------------------------------------------------------- pure functions
def symmetric_n(bits: int) -> int:
    """``n = 2^(k-1) - 1`` (7 for 4 bit, 127 for 8 bit)."""
    return 2 ** (bits - 1) - 1


def weight_scale(w: Any, bits: int, per_channel: bool = True) -> tf.Tensor:
    """Symmetric scale ``max(|min|, |max|, 1e-8) / n`` (spec §2.1), per last-axis channel or per tensor."""
    w = tf.convert_to_tensor(w, tf.float32)
    axes = list(range(w.shape.rank - 1)) if per_channel else None
    alpha = tf.maximum(tf.abs(tf.reduce_min(w, axis=axes)), tf.abs(tf.reduce_max(w, axis=axes)))
    return tf.maximum(alpha, _EPS) / np.float32(symmetric_n(bits))


def quantize_symmetric(x: Any, scale: Any, bits: int) -> tf.Tensor:
    """``clamp(round((1/S)·x), -2^(k-1), 2^(k-1) - 1)`` — the integer tensor (as float32)."""
    x = tf.convert_to_tensor(x, tf.float32)
    q = tf.round(tf.math.reciprocal(tf.cast(scale, tf.float32)) * x)
    return tf.clip_by_value(q, -float(2 ** (bits - 1)), float(2 ** (bits - 1) - 1))


def quantize_unsigned(x: Any, scale: Any, bits: int) -> tf.Tensor:
    """4-bit activation grid ``clamp(round((1/S)·x), 0, 2^k - 1)``; no zero point (reference)."""
    x = tf.convert_to_tensor(x, tf.float32)
    q = tf.round(tf.math.reciprocal(tf.cast(scale, tf.float32)) * x)
    return tf.clip_by_value(q, 0.0, float(2**bits - 1))


def quantize_weight(w: Any, bits: int, per_channel: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """``(W_int, S_w)`` of spec §2.1 (Eq. 1 of the paper with a symmetric range)."""
    _check_bits(bits, WEIGHT_BITS + (16, 32), "weight")
    scale = weight_scale(w, bits, per_channel)
    return quantize_symmetric(w, scale, bits), scale


def activation_scale(x_min: Any, x_max: Any, bits: int) -> tf.Tensor:
    """Activation scale from the range (spec §2.3): symmetric for 8/16 bit, ``(max-min)/15`` for 4 bit."""
    x_min = tf.convert_to_tensor(x_min, tf.float32)
    x_max = tf.convert_to_tensor(x_max, tf.float32)
    if bits == 4:
        return tf.maximum(x_max - x_min, _EPS) / np.float32(2**bits - 1)
    return tf.maximum(tf.maximum(tf.abs(x_min), tf.abs(x_max)), _EPS) / np.float32(symmetric_n(bits))


def quantize_activation(x: Any, scale: Any, bits: int) -> tf.Tensor:
    """Integer activation grid: unsigned for 4 bit, signed symmetric otherwise."""
    return quantize_unsigned(x, scale, bits) if bits == 4 else quantize_symmetric(x, scale, bits)


def unused_zero_point(x_min: Any, scale: Any) -> tf.Tensor:
    """``round(-x_min / S)``: computed by the reference for 4-bit activations and never applied."""
    return tf.round(-tf.convert_to_tensor(x_min, tf.float32) / scale)


def percentile_range(x: Any, lower_percentile: float, upper_percentile: float) -> tuple[float, float]:
    """``get_percentile_min_max``: ``upper = kth(x, round(N·p_u/100))``,
    ``lower = -kth(-x, round(N·(1 - p_l/100)))`` (1-based k-th smallest), ``0`` if ``p_l == 0``."""
    flat = np.sort(np.asarray(x, np.float32).ravel())
    n = flat.size
    upper = flat[max(round(n * upper_percentile * 0.01), 1) - 1]
    if lower_percentile == 0:
        return 0.0, float(upper)
    k = max(round(n * (1 - lower_percentile * 0.01)), 1)
    lower = -np.sort(-flat)[k - 1]
    return float(lower), float(upper)


def ema_update(x_min: Any, x_max: Any, batch_min: Any, batch_max: Any, momentum: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Range update of QuantAct: first call (``x_min == x_max``) adds the batch range; else EMA
    ``m·old + (1-m)·batch`` or, for ``momentum == -1``, running min / max."""
    x_min, x_max = tf.cast(x_min, tf.float32), tf.cast(x_max, tf.float32)
    batch_min, batch_max = tf.cast(batch_min, tf.float32), tf.cast(batch_max, tf.float32)
    if momentum == -1:
        new_min, new_max = tf.minimum(x_min, batch_min), tf.maximum(x_max, batch_max)
    else:
        m, r = np.float32(momentum), np.float32(1 - momentum)
        new_min, new_max = x_min * m + batch_min * r, x_max * m + batch_max * r
    init = tf.equal(x_min, x_max)
    return tf.where(init, x_min + batch_min, new_min), tf.where(init, x_max + batch_max, new_max)


def ste(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Forward ``y``, backward identity w.r.t. ``x`` (no clipping mask)."""
    return x + tf.stop_gradient(y - x)


def fake_quant_weight(w: Any, bits: int, per_channel: bool = True) -> tf.Tensor:
    """``W_int · S_w`` with the identity STE (exact reference arithmetic)."""
    w = tf.convert_to_tensor(w, tf.float32)
    q, s = quantize_weight(tf.stop_gradient(w), bits, per_channel)
    return ste(w, q * s)


def fake_quant_weight_export(w: Any, bits: int, per_channel: bool = True) -> tf.Tensor:
    """The same grid as :func:`fake_quant_weight` as a TF ``FakeQuant`` op (narrow range ±n·S)."""
    w = tf.convert_to_tensor(w, tf.float32)
    amax = weight_scale(w, bits, per_channel) * np.float32(symmetric_n(bits))
    if per_channel:
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(w, -amax, amax, num_bits=bits, narrow_range=True)
    return tf.quantization.fake_quant_with_min_max_vars(w, -amax, amax, num_bits=bits, narrow_range=True)


def fake_quant_activation_export(x: tf.Tensor, scale: tf.Tensor, bits: int) -> tf.Tensor:
    """Activation grid as TF ops the int8 TFLite converter understands: 8 bit ``FakeQuant`` on
    ``[-128·S, 127·S]`` (the reference grid); 4 bit = clip to ``[0, 15·S]`` + that 8-bit
    ``FakeQuant`` (stored as int8, exact grid); **16 bit is exported as 8 bit** on the same range
    (``S·32767/127``): an int8 TFLite model has no INT16 residual path (deployment deviation)."""
    if bits == 4:
        x = tf.clip_by_value(x, 0.0, scale * np.float32(15))
        bits = 8
    elif bits == 16:
        scale = scale * np.float32(symmetric_n(16) / symmetric_n(8))
        bits = 8
    lo, hi = -scale * np.float32(2 ** (bits - 1)), scale * np.float32(2 ** (bits - 1) - 1)
    return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=bits, narrow_range=False)


# --------------------------------------------------------------------------- TF-MOT quantizers
@keras.utils.register_keras_serializable(package="tfqnn")
class HawqWeightQuantizer(tfmot.quantization.keras.quantizers.Quantizer):
    """Symmetric per-output-channel weight fake-quantizer of HAWQ-V3 (spec §2.1)."""

    def __init__(self, num_bits: int = 8, per_channel: bool = True, export_ops: bool = True) -> None:
        self.num_bits = _check_bits(num_bits, WEIGHT_BITS, "weight")
        self.per_channel = bool(per_channel)
        self.export_ops = bool(export_ops)

    @property
    def precision(self) -> int:
        """Bit-width (read by :func:`tfqnn.metrics.layer_table`)."""
        return self.num_bits

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict:
        """Variables ``w_min``/``w_max`` = ``∓n·S_w`` of the last training call (what ``FakeQuant``
        reads at inference; the TFLite converter needs them as plain variables to emit INT4)."""
        shape = (int(tensor_shape[-1]),) if self.per_channel else ()
        kw = {"shape": shape, "initializer": keras.initializers.Zeros(), "trainable": False, "dtype": tf.float32}
        return {"w_min": layer.add_weight(name=f"{name}_w_min", **kw), "w_max": layer.add_weight(name=f"{name}_w_max", **kw)}

    def sync(self, w: Any, weights: dict) -> None:
        """Set ``w_min``/``w_max`` from the current weight tensor (after loading or editing weights)."""
        amax = weight_scale(w, self.num_bits, self.per_channel) * np.float32(symmetric_n(self.num_bits))
        weights["w_min"].assign(-amax)
        weights["w_max"].assign(amax)

    def __call__(self, inputs: tf.Tensor, training: Any = False, weights: dict | None = None, **kwargs: Any) -> tf.Tensor:
        has_vars = bool(weights) and "w_min" in weights
        if self.export_ops and not _is_true(training):
            if not has_vars:
                return fake_quant_weight_export(inputs, self.num_bits, self.per_channel)
            op = tf.quantization.fake_quant_with_min_max_vars_per_channel if self.per_channel else tf.quantization.fake_quant_with_min_max_vars
            return op(inputs, weights["w_min"], weights["w_max"], num_bits=self.num_bits, narrow_range=True)
        if has_vars and _is_true(training):
            self.sync(tf.stop_gradient(inputs), weights)
        return fake_quant_weight(inputs, self.num_bits, self.per_channel)

    def get_config(self) -> dict:
        return {"num_bits": self.num_bits, "per_channel": self.per_channel, "export_ops": self.export_ops}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HawqWeightQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


def _is_true(training: Any) -> bool:
    if isinstance(training, bool):
        return training
    try:
        return bool(tf.get_static_value(training))
    except TypeError:
        return False


@keras.utils.register_keras_serializable(package="tfqnn")
class HawqActQuantizer(tfmot.quantization.keras.quantizers.Quantizer):
    """QuantAct of HAWQ-V3 (spec §2.3): per-tensor static range tracked by EMA while training,
    frozen at inference; 8/16-bit signed symmetric, 4-bit unsigned without zero point.

    ``percentile`` > 0 replaces the batch min/max by percentiles (symmetric: ``(100-p, p)``,
    4 bit: ``(0, p)``). Variables: ``x_min``, ``x_max`` (initialised to 0, first batch sets them).
    """

    def __init__(self, num_bits: int = 8, momentum: float = 0.99, percentile: float = 0.0, export_ops: bool = True) -> None:
        self.num_bits = _check_bits(num_bits, ACT_BITS, "activation")
        if not (momentum == -1 or 0.0 <= momentum < 1.0):
            raise ConfigError(f"act range momentum must be in [0, 1) or -1, got {momentum!r}")
        self.momentum = float(momentum)
        self.percentile = float(percentile)
        self.export_ops = bool(export_ops)

    @property
    def precision(self) -> int:
        """Bit-width (read by :func:`tfqnn.metrics.layer_table`)."""
        return self.num_bits

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict:
        kw = {"shape": (), "initializer": keras.initializers.Zeros(), "trainable": False, "dtype": tf.float32}
        names = ("x_min", "x_max", "fq_min", "fq_max")
        return {n: layer.add_weight(name=f"{name}_{n}", **kw) for n in names}

    def export_range(self, scale: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``FakeQuant`` bounds of :func:`fake_quant_activation_export` (16 bit exported as 8 bit)."""
        if self.num_bits == 16:
            scale = scale * np.float32(symmetric_n(16) / symmetric_n(8))
        return -scale * np.float32(128), scale * np.float32(127)

    def sync(self, weights: dict) -> None:
        """Set ``fq_min``/``fq_max`` from the current range (after loading or editing ranges)."""
        lo, hi = self.export_range(activation_scale(weights["x_min"], weights["x_max"], self.num_bits))
        weights["fq_min"].assign(lo)
        weights["fq_max"].assign(hi)

    def batch_range(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if self.percentile <= 0:
            return tf.reduce_min(x), tf.reduce_max(x)
        lower = 0.0 if self.num_bits == 4 else 100.0 - self.percentile

        def _np(v: np.ndarray) -> tuple[np.float32, np.float32]:
            lo, hi = percentile_range(v, lower, self.percentile)
            return np.float32(lo), np.float32(hi)

        lo, hi = tf.numpy_function(_np, [x], [tf.float32, tf.float32])
        return tf.reshape(lo, ()), tf.reshape(hi, ())

    def __call__(self, inputs: tf.Tensor, training: Any = False, weights: dict | None = None, **kwargs: Any) -> tf.Tensor:
        x = tf.convert_to_tensor(inputs, tf.float32)
        if _is_true(training):
            bmin, bmax = self.batch_range(tf.stop_gradient(x))
            new_min, new_max = ema_update(weights["x_min"], weights["x_max"], bmin, bmax, self.momentum)
            scale = activation_scale(new_min, new_max, self.num_bits)
            lo, hi = self.export_range(scale)
            updates = [weights["x_min"].assign(new_min), weights["x_max"].assign(new_max)]
            if "fq_min" in weights:
                updates += [weights["fq_min"].assign(lo), weights["fq_max"].assign(hi)]
            with tf.control_dependencies(updates):
                scale = tf.identity(scale)
            return ste(x, quantize_activation(tf.stop_gradient(x), scale, self.num_bits) * scale)
        scale = activation_scale(weights["x_min"], weights["x_max"], self.num_bits)
        if self.export_ops:
            if "fq_min" not in weights:
                return fake_quant_activation_export(x, scale, self.num_bits)
            if self.num_bits == 4:
                x = tf.clip_by_value(x, 0.0, scale * np.float32(15))
            return tf.quantization.fake_quant_with_min_max_vars(x, weights["fq_min"], weights["fq_max"], num_bits=8, narrow_range=False)
        return quantize_activation(x, scale, self.num_bits) * scale

    def get_config(self) -> dict:
        return {"num_bits": self.num_bits, "momentum": self.momentum, "percentile": self.percentile, "export_ops": self.export_ops}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HawqActQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


# --------------------------------------------------------------------------- QuantizeConfigs
@keras.utils.register_keras_serializable(package="tfqnn")
class HawqWeightQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """TF-MOT config for ``Conv2D``/``DepthwiseConv2D``/``Dense``: HAWQ weight quantizer on the
    kernel; no output quantizer (the input of the next weighted layer is quantized by a
    :class:`HawqActQuantizeConfig` on the layer that produces it, as QuantAct precedes each conv)."""

    def __init__(self, weight_bits: int = 8, per_channel: bool = True) -> None:
        self.weight_bits = _check_bits(weight_bits, WEIGHT_BITS, "weight")
        self.per_channel = bool(per_channel)

    @staticmethod
    def _attr(layer: Any) -> str:
        return "depthwise_kernel" if hasattr(layer, "depthwise_kernel") else "kernel"

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return [(getattr(layer, self._attr(layer)), HawqWeightQuantizer(self.weight_bits, self.per_channel))]

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        setattr(layer, self._attr(layer), quantize_weights[0])

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return []

    def get_config(self) -> dict:
        return {"weight_bits": self.weight_bits, "per_channel": self.per_channel}


@keras.utils.register_keras_serializable(package="tfqnn")
class HawqActQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """TF-MOT config quantizing a layer's **output** with :class:`HawqActQuantizer` (QuantAct)."""

    def __init__(self, act_bits: int = 8, momentum: float = 0.99) -> None:
        self.act_bits = _check_bits(act_bits, ACT_BITS, "activation")
        self.momentum = float(momentum)

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return [HawqActQuantizer(self.act_bits, self.momentum)]

    def get_config(self) -> dict:
        return {"act_bits": self.act_bits, "momentum": self.momentum}


__all__ = [
    "ACT_BITS",
    "WEIGHT_BITS",
    "HawqActQuantizeConfig",
    "HawqActQuantizer",
    "HawqWeightQuantizeConfig",
    "HawqWeightQuantizer",
    "activation_scale",
    "ema_update",
    "fake_quant_activation_export",
    "fake_quant_weight",
    "fake_quant_weight_export",
    "percentile_range",
    "quantize_activation",
    "quantize_symmetric",
    "quantize_unsigned",
    "quantize_weight",
    "symmetric_n",
    "unused_zero_point",
    "weight_scale",
]
