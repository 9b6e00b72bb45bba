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
    "model_size_bytes",
    "summary_table",
    "unwrap",
]
