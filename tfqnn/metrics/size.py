"""Model size in bytes for given per-layer weight bit-widths (dense storage, no packing overhead)."""
from __future__ import annotations

from typing import Mapping

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.metrics.counting import WEIGHTED_KINDS, LayerStats, layer_table


def _check_bits(what: str, bits: object) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        raise ConfigError(f"{what} must be a positive integer number of bits, got {bits!r}")
    return bits


def model_size_bytes(
    model: keras.Model,
    weight_bits: int | Mapping[str, int] = 32,
    other_bits: int = 32,
    include_non_trainable: bool = True,
    table: list[LayerStats] | None = None,
) -> float:
    """Bytes to store ``model``'s parameters:

    ``Σ_weighted kernel_weights · bits(layer) + other_params · other_bits``, divided by 8.

    * The kernel(s) of every conv / depthwise / separable / dense layer (see
      :func:`tfqnn.metrics.layer_table`; TF-MOT wrappers by the wrapper's name, nested layers as
      ``outer/inner``) are stored at ``weight_bits``: one int for all, or a mapping layer name →
      bits (layers not in the mapping use 32). A name that is not such a layer is a ConfigError.
    * Every other parameter — biases, BN γ/β, and, if ``include_non_trainable``, all
      non-trainable weights (BN moving mean/variance, TF-MOT quantizer ranges) — at ``other_bits``.

    The result is a float (fractional bytes are possible for odd bit-widths); no per-tensor
    scales, alignment or file-format overhead are added. ``table`` reuses a precomputed
    :func:`layer_table`.
    """
    rows = table if table is not None else layer_table(model)
    _check_bits("other_bits", other_bits)
    weighted = {r.name for r in rows if r.kind in WEIGHTED_KINDS}
    if isinstance(weight_bits, Mapping):
        unknown = sorted(set(weight_bits) - weighted)
        if unknown:
            raise ConfigError(
                f"weight_bits names unknown layers {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(weighted))}"
            )
        bits_of = {name: _check_bits(f"weight_bits[{name!r}]", b) for name, b in weight_bits.items()}
        default = 32
    else:
        bits_of, default = {}, _check_bits("weight_bits", weight_bits)
    total_bits = 0
    for r in rows:
        params = r.trainable_params + (r.non_trainable_params if include_non_trainable else 0)
        kernel = r.kernel_weights if r.kind in WEIGHTED_KINDS else 0
        total_bits += kernel * bits_of.get(r.name, default) + (params - kernel) * other_bits
    return total_bits / 8
