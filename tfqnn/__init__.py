"""tfqnn: build, train, compress, convert and benchmark tiny quantized image classifiers."""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from tfqnn.errors import (  # noqa: F401
    ConfigError,
    ConversionError,
    DataError,
    ModelFileError,
    TfqnnError,
    UnknownModelError,
)
from tfqnn.registry import build_model, list_models
from tfqnn.serialization import custom_objects, load_model

__version__ = "0.1.0"
__all__ = ["build_model", "list_models", "load_model", "custom_objects", "keras", "__version__"]
