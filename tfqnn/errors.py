"""Error hierarchy. Every error the CLIs turn into ``error: ...`` + exit code 2."""
from __future__ import annotations


class TfqnnError(Exception):
    """Base class of every error tfqnn raises on bad input."""


class ConfigError(TfqnnError, ValueError):
    """A configuration file, key, value or builder option is invalid."""


class UnknownModelError(ConfigError, KeyError):
    """A model name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(TfqnnError):
    """A dataset is missing, corrupt or cannot be read."""


class ModelFileError(TfqnnError):
    """A model file (``.keras``, SavedModel, ``.h5``, ``.tflite``) is missing or corrupt."""


class ConversionError(TfqnnError):
    """A model cannot be converted to the requested flatbuffer target."""


class RuntimeInputError(TfqnnError, ValueError):
    """An input given to a flatbuffer or model has the wrong shape or dtype."""


class TrainingError(TfqnnError):
    """Training diverged (NaN/inf loss) or cannot continue."""


class OutputPathError(TfqnnError):
    """An output path is not writable or already exists."""
