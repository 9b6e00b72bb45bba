"""Quantized model size and BOPS (HAWQ-V3, Yao et al. ICML 2021 §4; spec ``hawq.md`` §5).

From :func:`tfqnn.metrics.layer_table` rows of conv / dense layers (their ``kernel_bits`` and
``input_bits``; 32/32 for float layers):

* ``size_weights_only_MiB = Σ weights · w_bits / 8 / 2^20``;
* ``size_weights_plus_int32_bias_MiB`` adds one 32-bit bias per output channel (folded BN, fc bias);
* ``gbops = Σ MACs · w_bits · a_bits / 1e9`` (pooling, adds and requantization not counted).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from tfqnn.keras import keras
from tfqnn.metrics.counting import WEIGHTED_KINDS, LayerStats, layer_table

MIB = 2**20


def quantized_size_bops(
    model: keras.Model,
    input_shape: Sequence[int | None] | None = None,
    bits: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, float]:
    """``{"size_weights_only_MiB", "size_weights_plus_int32_bias_MiB", "gbops"}`` of ``model``.

    ``bits`` (layer name → ``(weight_bits, input_bits)``) overrides the layers' own bit-widths, to
    cost another bit configuration of the same network without rebuilding it.
    """
    return size_bops(layer_table(model, input_shape), bits)


def size_bops(rows: Sequence[LayerStats], bits: Mapping[str, tuple[int, int]] | None = None) -> dict[str, float]:
    """:func:`quantized_size_bops` from precomputed :func:`layer_table` rows."""
    bits_weights = bias_bits = bops = 0
    for row in rows:
        if row.kind not in WEIGHTED_KINDS:
            continue
        wb = 32 if row.kernel_bits is None else row.kernel_bits
        ab = 32 if row.input_bits is None else row.input_bits
        if bits is not None and row.name in bits:
            wb, ab = bits[row.name]
        bits_weights += row.kernel_weights * wb
        bias_bits += int(row.output_shape[-1]) * 32
        bops += row.macs * wb * ab
    return {
        "size_weights_only_MiB": bits_weights / 8 / MIB,
        "size_weights_plus_int32_bias_MiB": (bits_weights + bias_bits) / 8 / MIB,
        "gbops": bops / 1e9,
    }


__all__ = ["quantized_size_bops", "size_bops"]
