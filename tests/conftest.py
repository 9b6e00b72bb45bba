"""Shared fixtures. The reference-vector root is ``$TFQNN_VECTORS_DIR`` (default ``../shared/vectors``)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def vectors_root() -> Path:
    env = os.environ.get("TFQNN_VECTORS_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "vectors")


class VectorSet:
    """One family's reference vectors: ``.json(name)`` and ``.npz(name)`` read files of the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        p = self.folder / name
        if not p.exists():
            pytest.skip(f"reference vector file {p} is missing")
        return p

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def npz(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.path(name), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


@pytest.fixture
def vectors(request) -> callable:
    """``vectors("ern")`` → :class:`VectorSet` of ``$TFQNN_VECTORS_DIR/ern``; skips with the reason if absent."""

    def get(family: str) -> VectorSet:
        folder = vectors_root() / family
        if not folder.is_dir():
            pytest.skip(f"reference vectors for {family!r} not found at {folder} (set TFQNN_VECTORS_DIR)")
        return VectorSet(folder)

    return get


@pytest.fixture(autouse=True)
def _clear_keras_session():
    """Fresh Keras graph state per test (avoids retracing warnings and name clashes)."""
    yield
    from tfqnn.keras import keras

    keras.backend.clear_session()
