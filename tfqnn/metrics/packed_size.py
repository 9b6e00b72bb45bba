"""Deployable ("packed") model size: kernels at their quantizer's precision, the rest as float.

Every kernel of a conv / depthwise / separable / dense layer is stored at the bit width its Larq kernel
quantizer declares (``precision``; 32 for float layers), packed per tensor:
``weight_bytes = Σ_layers ceil(bits · n_weights / 8)`` — exactly the counter of the ERN reference
(``get_quantizableconv2d_complexity``: ``Σ ceil(1 · C_in·C_out·k_h·k_w / 8)``), whose ``weight_bytes / 2^20``
is the README "Mbytes" column (ERNs101: ``/ 10^6``; spec ern.md §2.5).

The deployable total adds, as float (``float_bits``, 32 by default), what inference needs besides the
kernels: biases, one scale per output channel for kernel quantizers whose output has a per-channel
magnitude (channel-wise-mean binarizers; constant power-of-two scales are free), and each inference
BatchNormalization folded to a per-channel scale and shift (2 values per channel; moving statistics are
folded, not stored).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tfqnn.keras import keras

from tfqnn.metrics.counting import WEIGHTED_KINDS, layer_table, unwrap  # noqa: E402

_QUANTIZER_ATTRS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


@dataclass(frozen=True)
class PackedSize:
    """Bytes of a deployable model (see the module docstring)."""

    weight_bytes: int
    float_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.float_bytes

    @property
    def weight_mib(self) -> float:
        return self.weight_bytes / 2**20

    @property
    def weight_mb(self) -> float:
        return self.weight_bytes / 1e6


def _per_channel_scales(layer: keras.layers.Layer) -> int:
    """Output channels of a layer whose kernel quantizer has a per-channel (not constant) scale."""
    quantizer = next((getattr(layer, a) for a in _QUANTIZER_ATTRS if getattr(layer, a, None) is not None), None)
    scale = getattr(quantizer, "scale", None)
    if quantizer is None or scale is None or not hasattr(layer, "kernel"):
        return 0
    shape = scale(layer.kernel).shape
    return int(math.prod(shape)) if len(shape) else 0


def _resolve(model: keras.Model, path: str) -> Any:
    """The (unwrapped) layer of a :func:`layer_table` row name ``outer/inner``."""
    layer: Any = model
    for part in path.split("/"):
        layer = unwrap(layer).get_layer(part)
    return unwrap(layer)


def packed_size(model: keras.Model, float_bits: int = 32) -> PackedSize:
    """:class:`PackedSize` of ``model``: packed kernels + float biases / per-channel scales / folded BN."""
    weight_bytes, float_values = 0, 0
    for row in layer_table(model):
        layer = _resolve(model, row.name)
        if row.kind in WEIGHTED_KINDS:
            bits = row.kernel_bits if row.kernel_bits is not None else 32
            weight_bytes += math.ceil(bits * row.kernel_weights / 8)
            bias = getattr(layer, "bias", None)
            float_values += int(math.prod(bias.shape)) if bias is not None else 0
            float_values += _per_channel_scales(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            float_values += 2 * int(math.prod(layer.moving_mean.shape))
        else:
            float_values += row.trainable_params
    return PackedSize(weight_bytes=weight_bytes, float_bytes=math.ceil(float_values * float_bits / 8))


__all__ = ["PackedSize", "packed_size"]
