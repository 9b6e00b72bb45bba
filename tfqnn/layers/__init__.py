"""tfqnn.layers: custom Keras layers (registered under the ``tfqnn`` package)."""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (legacy Keras before TensorFlow)
from tfqnn.layers.normalization import (
    NORMALIZATION_CONSTANTS,
    Normalize,
    normalization_layer,
    resolve_normalization,
)
from tfqnn.layers.shortcut import ZeroPadShortcut
from tfqnn.layers.epsilon_gate import EpsilonGate  # noqa: E402  (ε-ResNet gate)

__all__ = ["EpsilonGate", "NORMALIZATION_CONSTANTS", "Normalize", "ZeroPadShortcut", "normalization_layer", "resolve_normalization"]
