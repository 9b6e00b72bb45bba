"""tfqnn.metrics: counting on a built Keras model (params, MACs, size, per-layer table)."""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (legacy Keras before TensorFlow)
from tfqnn.metrics.counting import (
    WEIGHTED_KINDS,
    LayerStats,
    ParamCount,
    count_macs,
    count_params,
    layer_kind,
    layer_table,
    unwrap,
)
from tfqnn.metrics.packed_size import PackedSize, packed_size
from tfqnn.metrics.micronet_score import micronet_score  # the function (shadows the module name)
from tfqnn.metrics.size import model_size_bytes
from tfqnn.metrics.summary import summary_table

__all__ = [
    "WEIGHTED_KINDS",
    "LayerStats",
    "ParamCount",
    "count_macs",
    "count_params",
    "layer_kind",
    "layer_table",
    "micronet_score",
    "model_size_bytes",
    "PackedSize",
    "packed_size",
    "summary_table",
    "unwrap",
]
