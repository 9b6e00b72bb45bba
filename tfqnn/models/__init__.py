"""tfqnn.models: one module per family; importing this package registers the builders."""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (legacy Keras before TensorFlow)
from tfqnn.models import resnet  # noqa: F401  (registers the ResNet builders)

__all__ = ["resnet"]
