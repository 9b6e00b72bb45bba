"""Loading saved models with every tfqnn custom object (``tfqnn.load_model``)."""
from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path
from typing import Any

from tfqnn.discovery import import_submodules
from tfqnn.errors import ModelFileError
from tfqnn.keras import keras

# Packages whose modules register custom layers / quantizers / schedules / callbacks / losses
# (every module is imported, see tfqnn.discovery); larq registers its own layers on import.
_OBJECT_PACKAGES = ("tfqnn.layers", "tfqnn.quantizers", "tfqnn.training", "tfqnn.models", "tfqnn.compress")


def _import_object_modules() -> None:
    importlib.import_module("larq")
    for package in _OBJECT_PACKAGES:
        import_submodules(package)


def custom_objects() -> dict[str, Any]:
    """All objects registered under the ``tfqnn`` package (name → class), for ``load_model``."""
    _import_object_modules()
    found: dict[str, Any] = {}
    for key, obj in keras.saving.get_custom_objects().items():
        if key.startswith("tfqnn>"):
            found[key.split(">", 1)[1]] = obj
            found[key] = obj
    return found


def _scope():
    """Custom-object scope including TF-MOT's quantize scope (QAT models, stack.md §4.3)."""
    import contextlib

    import tensorflow_model_optimization as tfmot

    stack = contextlib.ExitStack()
    stack.enter_context(tfmot.quantization.keras.quantize_scope())
    stack.enter_context(keras.utils.custom_object_scope(custom_objects()))
    return stack


def model_format(path: str | os.PathLike) -> str:
    """'keras', 'h5' or 'savedmodel'; raises ModelFileError for anything else."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file {p} does not exist")
    if p.is_dir():
        if (p / "saved_model.pb").exists():
            return "savedmodel"
        raise ModelFileError(f"{p} is a folder but not a SavedModel (no saved_model.pb)")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(p):
            raise ModelFileError(f"{p} is a truncated or corrupt .keras archive")
        return "keras"
    if head.startswith(b"\x89HDF"):
        return "h5"
    raise ModelFileError(f"{p} is not a Keras model (.keras zip, .h5 or SavedModel folder)")


def load_model(path: str | os.PathLike, compile: bool = False):
    """Load a ``.keras`` / ``.h5`` / SavedModel file with all tfqnn custom objects.

    Raises :class:`ModelFileError` naming the file if it is missing, truncated or not a model.
    """
    fmt = model_format(path)
    try:
        with _scope():
            if fmt == "keras":
                with zipfile.ZipFile(path) as zf:
                    names = set(zf.namelist())
                    if "config.json" not in names:
                        raise ModelFileError(f"{path} is a zip file but not a .keras model (no config.json)")
                    bad = zf.testzip()
                    if bad is not None:
                        raise ModelFileError(f"{path} is corrupt (bad member {bad})")
            return keras.models.load_model(str(path), compile=compile)
    except ModelFileError:
        raise
    except Exception as exc:  # keras raises many types for corrupt files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot load model {path}: {msg[:300]}") from None
