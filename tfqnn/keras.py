"""The single place that selects legacy Keras 2 (``tf_keras``) for the whole project.

larq 0.14 and TF-MOT 0.8.1 only work with Keras 2; TensorFlow 2.21 uses Keras 3 unless
``TF_USE_LEGACY_KERAS=1`` is in the environment *before* TensorFlow is first imported
(``specs/stack.md`` §1.3). Every other module does ``from tfqnn.keras import keras``.

TensorFlow's C++ runtime prints start-up lines (oneDNN, CUDA probing) on stderr before its
logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them; they are hidden while
TensorFlow is imported and the devices are probed here. Set ``TFQNN_QUIET_IMPORT=0`` to see them.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _quiet_stderr_fd() -> Iterator[None]:
    if os.environ.get("TFQNN_QUIET_IMPORT", "1") == "0" or "tensorflow" in sys.modules:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _quiet_stderr_fd():
    import tensorflow as _tf  # noqa: F401,E402
    import tf_keras as keras  # noqa: E402

    # The CUDA probe ("failed call to cuInit" on a machine without GPU) runs at the first device
    # query; do it here so it is hidden too and a CLI error stays one line on stderr.
    _tf.config.list_physical_devices("GPU")

__all__ = ["keras"]
