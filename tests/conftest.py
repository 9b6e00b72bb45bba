"""Shared fixtures. The reference-vector root is ``$TFQNN_VECTORS_DIR`` (default ``../shared/vectors``)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from vectors_support import VectorSet, vectors_root  # noqa: E402


@pytest.fixture
def vectors(request) -> callable:
    """``vectors("ern")`` → :class:`VectorSet` of ``$TFQNN_VECTORS_DIR/ern``; skips with the reason if absent."""

    def get(family: str) -> VectorSet:
        folder = vectors_root() / family
        if not folder.is_dir():
            pytest.skip(reason=f"reference vectors for {family!r} not found at {folder} (set TFQNN_VECTORS_DIR)")
        return VectorSet(folder)

    return get


@pytest.fixture(autouse=True)
def _clear_keras_session():
    """Fresh Keras graph state per test (avoids retracing warnings and name clashes)."""
    yield
    from tfqnn.keras import keras

    keras.backend.clear_session()
