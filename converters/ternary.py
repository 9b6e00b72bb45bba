"""Deployment of EC2T ternary models: plain-Keras export, int8 TFLite, INT4 weights, size report.

Neither TFLite nor LCE has a ternary kernel (``stack.md`` §3, spec pitfall P18), so EC2T layers are
exported as ordinary convolutions with ``T`` baked in:

* ``"merged"`` — one ``Conv2D``/``Dense`` with kernel ``T = w_p[A=2] − w_n[A=0]``. In int8 per-channel
  quantization the larger centroid of a channel is exact (code ±127) and the smaller one is rounded
  (exact iff ``w_n = w_p``); the rounding error is reported.
* ``"split"`` — the EC2T storage format as compute: ``y = conv(x, w_p·M_p) + conv(x, −w_n·M_n)``
  with the two 1-bit masks ``M_p = [A=2]``, ``M_n = [A=0]`` (:class:`SplitTernaryConv2D`). Each kernel
  is ``{0, c}`` with one per-layer value, so int8 per-channel (and INT4 per-tensor) codes are exactly
  ``{0, ±q_max}``: the ternary values are stored exactly, at the cost of two convolutions.

:func:`size_report` puts the flatbuffer size next to the theoretical 2-bit and entropy-coded sizes of
the ternary kernels (sizes are computed from the weight tensors — the flatbuffer stores ≥ 4 bits/weight).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError, ConversionError
from tfqnn.layers.ternary_conv import TernaryConv2D, TernaryDense, _EC2TMixin

EXPORT_MODES = ("merged", "split")


@keras.utils.register_keras_serializable(package="tfqnn")
class SplitTernaryConv2D(keras.layers.Layer):
    """``conv(x, w_p·M_p) + conv(x, −w_n·M_n)`` (+ bias): a ternary conv as two exactly-quantizable convs."""

    def __init__(self, conv_config: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conv_config = dict(conv_config)
        base = {k: v for k, v in self.conv_config.items() if k not in ("name", "prune", "trainable", "dtype")}
        pos_cfg = dict(base, name="pos")
        neg_cfg = dict(base, name="neg", use_bias=False, activation=None)
        pos_cfg["activation"] = None
        self.pos = keras.layers.Conv2D.from_config(pos_cfg)
        self.neg = keras.layers.Conv2D.from_config(neg_cfg)
        self.activation = keras.activations.get(self.conv_config.get("activation"))

    def build(self, input_shape) -> None:
        self.pos.build(input_shape)
        self.neg.build(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        return self.activation(self.pos(inputs) + self.neg(inputs))

    def get_config(self) -> dict:
        config = super().get_config()
        config["conv_config"] = self.conv_config
        return config


def _is_ternary(layer: Any) -> bool:
    return isinstance(layer, _EC2TMixin) and not layer.prune and float(layer.ec2t_active.numpy()) > 0.5


def _forward_kernel(layer: Any) -> np.ndarray:
    """The kernel an EC2T layer computes with: ``T`` when active ternary, else ``W`` / ``W[A≠1]`` (pruned)."""
    return layer.ternary_kernel().numpy() if _is_ternary(layer) else layer.effective_kernel().numpy()


def rebuild_ternary(model: keras.Model,
                    replace: Callable[[Any, dict], keras.layers.Layer | None],
                    fill: Callable[[Any, keras.layers.Layer], bool]) -> keras.Model:
    """Clone ``model`` with every EC2T layer as a plain ``Conv2D``/``Dense`` holding its forward kernel.

    ``replace(layer, config)`` may return another layer for ``layer`` (``config`` = its ``get_config()``),
    or ``None`` for the default; ``fill(layer, new_layer)`` copies weights into a replaced layer and
    returns ``True``, or returns ``False`` for the default copy.
    """
    def clone(layer: Any) -> keras.layers.Layer:
        config = layer.get_config()
        new_layer = replace(layer, dict(config))
        if new_layer is not None:
            return new_layer
        if isinstance(layer, _EC2TMixin):
            config.pop("prune", None)
            return (keras.layers.Conv2D if isinstance(layer, TernaryConv2D) else keras.layers.Dense).from_config(config)
        return layer.__class__.from_config(config)

    new = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = new.get_layer(layer.name)
        if fill(layer, target):
            continue
        if isinstance(layer, _EC2TMixin):
            target.kernel.assign(_forward_kernel(layer))
            if layer.use_bias:
                target.bias.assign(layer.bias.numpy())
        elif layer.weights:
            target.set_weights(layer.get_weights())
    return new


def export_model(model: keras.Model, mode: str = "merged") -> keras.Model:
    """A plain Keras copy of ``model`` with every EC2T layer's forward kernel baked in (see module doc)."""
    if mode not in EXPORT_MODES:
        raise ConfigError(f"unknown ternary export mode {mode!r}; modes: {', '.join(EXPORT_MODES)}")

    def replace(layer: Any, config: dict) -> keras.layers.Layer | None:
        if mode == "split" and isinstance(layer, TernaryConv2D) and _is_ternary(layer):
            config.pop("prune", None)
            return SplitTernaryConv2D(config, name=layer.name)
        return None

    def fill(layer: Any, target: keras.layers.Layer) -> bool:
        if not isinstance(target, SplitTernaryConv2D):
            return False
        t = layer.ternary_kernel().numpy()
        target.pos.kernel.assign(np.where(t > 0, t, 0).astype(np.float32))
        target.neg.kernel.assign(np.where(t < 0, t, 0).astype(np.float32))
        if layer.use_bias:
            target.pos.bias.assign(layer.bias.numpy())
        return True

    return rebuild_ternary(model, replace, fill)


def convert_int8(model: keras.Model, representative_data: np.ndarray | Iterable, mode: str = "split", **kwargs: Any) -> bytes:
    """int8 TFLite (post-training, per-channel weights) of the exported ternary model."""
    from converters.tflite import convert

    return convert(export_model(model, mode), "int8", representative_data=representative_data, **kwargs)


@dataclass
class KernelCheck:
    """How exactly the flatbuffer's quantized kernels hold the ternary values."""

    tensors: int
    exact: int
    max_abs_error: float
    dtypes: dict[str, int]


def quantized_kernels(data: bytes) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """``(name, codes, scales, dtype)`` of every constant 4-D int8/int4 kernel in a flatbuffer.

    ``dtype`` is the flatbuffer's tensor type (``"INT8"`` / ``"INT4"``); the interpreter returns the
    codes of both as int8 (INT4 unpacked)."""
    from converters.flatbuffer import _root, tensor_type_name

    sg = _root(data).Subgraphs(0)
    interp = tf.lite.Interpreter(model_content=data)
    out = []
    for d in interp.get_tensor_details():
        if len(d["shape"]) != 4 or d["dtype"] not in (np.int8,):
            continue
        scales = d["quantization_parameters"]["scales"]
        if scales.size == 0:
            continue
        try:
            codes = interp.get_tensor(d["index"])
        except ValueError:  # activation tensors have no data before invoke
            continue
        out.append((d["name"], codes, scales, tensor_type_name(sg.Tensors(d["index"]).Type())))
    return out


def _proportional_error(f: np.ndarray, want: np.ndarray) -> float:
    """Relative error of ``f ≈ s_c · want`` per output channel (axis 0), any per-channel factor ``s_c``.

    The converter folds a following BatchNorm into the kernel (a per-channel factor), so a stored
    ternary kernel is exact when each channel is a scaled copy of ``want`` with the same zeros.
    """
    worst = 0.0
    for fc, wc in zip(f, want):
        nz = wc != 0
        if not np.array_equal(fc != 0, nz):
            return np.inf
        if not nz.any():
            continue
        r = fc[nz] / wc[nz]
        ref = np.median(r)
        worst = max(worst, float(np.abs(r - ref).max() / abs(ref)))
    return worst


def check_kernels(model: keras.Model, data: bytes) -> KernelCheck:
    """Match each ternary layer's kernel(s) with the flatbuffer's int8 kernels (TFLite OHWI).

    Merged export: the stored kernel must be ``s_c·T`` per output channel; split export: ``s_c·w_p·M_p``
    and ``s_c·w_n·M_n``. *Exact* = some stored kernel matches within 1e-5 relative (int8 codes are
    exact integers, so any mismatch is a rounded centroid).
    """
    flat = [codes.astype(np.float64) * (scales.reshape(-1, 1, 1, 1) if scales.size > 1 else scales[0])
            for _, codes, scales, _ in quantized_kernels(data)]
    dtypes: dict[str, int] = {}
    for _, _, _, dt in quantized_kernels(data):
        dtypes[dt] = dtypes.get(dt, 0) + 1
    tensors = exact = 0
    worst = 0.0
    for layer in model.layers:
        if not (_is_ternary(layer) and isinstance(layer, TernaryConv2D)):
            continue
        t = np.transpose(layer.ternary_kernel().numpy(), (3, 0, 1, 2)).astype(np.float64)  # HWIO -> OHWI
        merged = min((_proportional_error(f, t) for f in flat if f.shape == t.shape), default=np.inf)
        if merged < np.inf:
            candidates = [merged]
        else:
            candidates = [min((_proportional_error(f, part) for f in flat if f.shape == t.shape), default=np.inf)
                          for part in (np.where(t > 0, t, 0), np.where(t < 0, t, 0))]
        for err in candidates:
            tensors += 1
            exact += int(err <= 1e-5)
            worst = max(worst, err)
    return KernelCheck(tensors, exact, worst, dtypes)


def entropy_bits(assignment: np.ndarray) -> float:
    """Empirical entropy (bits/weight) of an assignment tensor (0/1/2)."""
    counts = np.bincount(assignment.ravel(), minlength=3).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


@dataclass
class SizeReport:
    """Bytes: the flatbuffer on disk vs theoretical storages of the same weights."""

    flatbuffer_bytes: int
    ternary_weights: int
    other_params: int
    int8_bytes: float
    two_bit_bytes: float
    entropy_coded_bytes: float
    int4_bytes: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def table(self) -> str:
        rows = [
            ("flatbuffer on disk", self.flatbuffer_bytes),
            ("int8 weights (theory)", self.int8_bytes),
            ("INT4 ternary + int8 rest", self.int4_bytes),
            ("2-bit ternary + int8 rest", self.two_bit_bytes),
            ("entropy-coded ternary + int8 rest", self.entropy_coded_bytes),
        ]
        lines = [f"{self.ternary_weights:,} ternary weights, {self.other_params:,} other parameters"]
        lines += [f"{name:<36}{size:>12,.0f} B  ({size / self.flatbuffer_bytes:.3f}x flatbuffer)" for name, size in rows]
        return "\n".join(lines)


def size_report(model: keras.Model, data: bytes) -> SizeReport:
    """On-disk size vs int8 / INT4 / 2-bit / entropy-coded storage (ternary layers: two centroids at 16 bit each).

    Non-ternary parameters are counted at 8 bit in all three theoretical sizes (as in the int8 file),
    BN moving statistics excluded (folded).
    """
    tern = other = 0
    two_bit = entropy = four_bit = 0.0
    for layer in model.layers:
        if _is_ternary(layer):
            n = int(np.prod(layer.kernel.shape))
            tern += n
            two_bit += n * 2 / 8 + 4
            four_bit += n * 4 / 8 + 4
            entropy += n * entropy_bits(layer.assignment.numpy()) / 8 + 4
            other += sum(int(np.prod(w.shape)) for w in layer.trainable_weights) - n - 2
        else:
            other += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    if tern == 0:
        raise ConversionError(f"model '{model.name}' has no active EC2T ternary layer")
    return SizeReport(len(data), tern, other, float(tern + other), two_bit + other, entropy + other, four_bit + other)
