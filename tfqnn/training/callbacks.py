"""Generic training callbacks and the callback registry used by ``training.callbacks`` in configs."""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any, Callable

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError

_CALLBACKS: dict[str, Callable[..., keras.callbacks.Callback]] = {}


def register_callback(name: str) -> Callable:
    """Register a callback class under ``name`` so configs can list it in ``training.callbacks``."""

    def wrap(cls):
        _CALLBACKS[name] = cls
        return cls

    return wrap


def make_callback(name: str, options: dict[str, Any]) -> keras.callbacks.Callback:
    if name not in _CALLBACKS:  # family callbacks register when their module is imported (tfqnn.discovery)
        from tfqnn.discovery import import_submodules

        import_submodules("tfqnn.training")
    if name not in _CALLBACKS:
        close = difflib.get_close_matches(name, list(_CALLBACKS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown callback {name!r}{hint}; registered: {', '.join(sorted(_CALLBACKS)) or 'none'}")
    try:
        return _CALLBACKS[name](**options)
    except TypeError as exc:
        raise ConfigError(f"callback {name!r}: {exc}") from None


@keras.utils.register_keras_serializable(package="tfqnn")
@register_callback("stop_on_nan")
class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite and remember where."""

    def __init__(self) -> None:
        super().__init__()
        self.bad_epoch: int | None = None
        self.bad_batch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_epoch, self.bad_batch = self._epoch, batch
            self.model.stop_training = True

    def get_config(self) -> dict:
        return {}


@keras.utils.register_keras_serializable(package="tfqnn")
@register_callback("learning_rate_logger")
class LearningRateLogger(keras.callbacks.Callback):
    """Put the learning rate in effect at the end of each epoch into the logs as ``lr``."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is None:
            return
        opt = self.model.optimizer
        lr = opt.learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            lr = lr(opt.iterations - 1)
        logs["lr"] = float(tf.convert_to_tensor(lr).numpy())

    def get_config(self) -> dict:
        return {}


@keras.utils.register_keras_serializable(package="tfqnn")
class EpochCheckpoint(keras.callbacks.Callback):
    """Save model + optimizer state with ``tf.train.CheckpointManager`` after every epoch.

    The epoch count is stored in the checkpoint, so ``restore()`` returns the epoch to resume at.
    """

    def __init__(self, directory: str, max_to_keep: int = 2) -> None:
        super().__init__()
        self.directory = str(directory)
        self.max_to_keep = int(max_to_keep)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self._manager: tf.train.CheckpointManager | None = None

    def _ensure_manager(self, model: keras.Model) -> tf.train.CheckpointManager:
        if self._manager is None:
            ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=self._epoch)
            self._manager = tf.train.CheckpointManager(ckpt, self.directory, max_to_keep=self.max_to_keep)
        return self._manager

    def restore(self, model: keras.Model) -> int:
        """Restore the newest checkpoint into ``model`` (compiled); return the next epoch (0 if none)."""
        manager = self._ensure_manager(model)
        if manager.latest_checkpoint is None:
            return 0
        manager.checkpoint.restore(manager.latest_checkpoint).expect_partial()
        return int(self._epoch.numpy())

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return  # a diverged epoch is never checkpointed, so --resume starts from the last good one
        self._epoch.assign(epoch + 1)
        self._ensure_manager(self.model).save(checkpoint_number=epoch + 1)
        Path(self.directory, "state.json").write_text(json.dumps({"next_epoch": epoch + 1}))

    def get_config(self) -> dict:
        return {"directory": self.directory, "max_to_keep": self.max_to_keep}
