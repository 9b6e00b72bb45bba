"""Config-driven training: build → ``model.fit`` → ``<run_dir>/model.keras`` + ``history.csv``.

This is what ``tfqnn-train`` runs. Everything it creates is an ordinary ``tf_keras.Model`` trained
with ``model.fit``; distribution goes through a ``tf.distribute`` strategy chosen by
``training.distribution``.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import inspect
from pathlib import Path
from typing import Any

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn import data as tfdata
from tfqnn.config import ExperimentConfig, dump_config
from tfqnn.errors import ConfigError, OutputPathError, TrainingError
from tfqnn.fileio import atomic_path, write_text_atomic
from tfqnn.registry import build_model, get_entry
from tfqnn.training.callbacks import EpochCheckpoint, LearningRateLogger, StopOnNaN, make_callback
from tfqnn.training.losses import SparseCrossEntropy
from tfqnn.training.optimizers import add_l2_weight_decay, make_optimizer
from tfqnn.training.schedules import EpochSchedule

STRATEGIES = ("none", "default", "one_device", "mirrored", "multi_worker_mirrored")


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path


def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The ``tf.distribute`` strategy for ``training.distribution`` (None: no strategy scope)."""
    if name == "none":
        return None
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown distribution {name!r}; valid: {', '.join(STRATEGIES)}")


def model_kwargs(cfg: ExperimentConfig, info: tfdata.DatasetInfo) -> dict[str, Any]:
    """Builder options: the config's, plus num_classes / input_shape / normalization from the data."""
    params = inspect.signature(get_entry(cfg.model.name).builder).parameters
    kwargs = dict(cfg.model.options)
    shape = tuple(info.image_shape)
    if cfg.data.image_size:
        shape = (*cfg.data.image_size, shape[-1])
    defaults = {"num_classes": info.num_classes, "input_shape": shape, "normalization": (list(info.mean), list(info.std))}
    for key, value in defaults.items():
        if key in params and key not in kwargs:
            kwargs[key] = value
    return kwargs


def _datasets(cfg: ExperimentConfig, info: tfdata.DatasetInfo):
    d = cfg.data
    common = {"data_dir": d.data_dir, "cache": d.cache, "image_size": d.image_size}
    train = tfdata.load(d.name, d.train_split or info.train_split, batch_size=d.batch_size, augment=d.augment,
                        shuffle=True, seed=cfg.training.seed, max_examples=d.max_train_examples,
                        drop_remainder=True, repeat=cfg.training.steps_per_epoch is not None, **common)
    val = tfdata.load(d.name, d.eval_split or info.test_split, batch_size=d.eval_batch_size, augment=False,
                      shuffle=False, max_examples=d.max_eval_examples, **common)
    return train, val


def _steps_per_epoch(cfg: ExperimentConfig, info: tfdata.DatasetInfo) -> int:
    if cfg.training.steps_per_epoch:
        return cfg.training.steps_per_epoch
    split = cfg.data.train_split or info.train_split
    n = tfdata.split_size(cfg.data.name, split, data_dir=cfg.data.data_dir)
    if cfg.data.max_train_examples:
        n = min(n, cfg.data.max_train_examples)
    return max(1, n // cfg.data.batch_size)


def compile_model(model: keras.Model, cfg: ExperimentConfig, steps_per_epoch: int, num_classes: int) -> None:
    t = cfg.training
    s = t.schedule
    schedule = EpochSchedule(s.name, t.optimizer.learning_rate, steps_per_epoch, t.epochs,
                             warmup_epochs=s.warmup_epochs, milestones=s.milestones, gamma=s.gamma, min_lr=s.min_lr)
    optimizer = make_optimizer(t.optimizer, schedule)
    if t.optimizer.weight_decay_mode == "l2":
        add_l2_weight_decay(model, t.optimizer.weight_decay)
    metrics: list = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    loss: Any = SparseCrossEntropy(t.label_smoothing)
    extra: dict[str, Any] = {}
    if len(model.outputs) > 1:  # auxiliary heads: the builder may set model.output_loss_weights {output: weight}
        names = list(model.output_names)
        weights = dict(getattr(model, "output_loss_weights", None) or {})
        loss = {n: SparseCrossEntropy(t.label_smoothing) for n in names}
        extra["loss_weights"] = {n: float(weights.get(n, 1.0)) for n in names}
        metrics = {names[0]: metrics}  # accuracy of the first (main) output only
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=t.jit_compile, **extra)


def _read_history(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in (rows[0] if rows else {})}


def run_dir_for(cfg: ExperimentConfig) -> Path:
    return Path(cfg.training.run_dir.format(name=cfg.name))


def train(cfg: ExperimentConfig, run_dir: str | Path | None = None) -> TrainResult:
    """Train the experiment ``cfg``; write ``model.keras``, ``history.csv``, ``config.yaml`` in the run dir.

    Raises :class:`TrainingError` if the loss becomes NaN/inf (no model file is written then).
    """
    t = cfg.training
    info = tfdata.info(cfg.data.name)
    out = Path(run_dir) if run_dir is not None else run_dir_for(cfg)
    keras.utils.set_random_seed(t.seed)
    steps = _steps_per_epoch(cfg, info)
    train_ds, val_ds = _datasets(cfg, info)

    strategy = make_strategy(t.distribution)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_model(cfg.model.name, **model_kwargs(cfg, info))
        compile_model(model, cfg, steps, info.num_classes)

    checkpoint = EpochCheckpoint(str(out / "checkpoints")) if t.checkpoint else None
    initial_epoch = 0
    if t.resume:
        if checkpoint is None:
            raise ConfigError("training.resume needs training.checkpoint: true")
        initial_epoch = checkpoint.restore(model)
    nan_guard = StopOnNaN()
    callbacks: list[keras.callbacks.Callback] = [nan_guard, LearningRateLogger()]
    callbacks += [make_callback(c.name, c.options) for c in t.callbacks]
    callbacks.append(keras.callbacks.CSVLogger(str(out / "history.csv"), append=initial_epoch > 0))
    if checkpoint is not None:
        callbacks.append(checkpoint)
    if t.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False, profile_batch=0))

    try:  # only now: a bad config, dataset or model leaves no run dir
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create run folder {out}: {exc.strerror}") from None
    write_text_atomic(out / "config.yaml", dump_config(cfg))
    if initial_epoch < t.epochs:
        model.fit(train_ds, epochs=t.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                  validation_data=val_ds, validation_steps=t.validation_steps, callbacks=callbacks, verbose=t.verbose)
    if nan_guard.bad_epoch is not None:
        raise TrainingError(f"loss became NaN/inf at epoch {nan_guard.bad_epoch + 1}, batch {nan_guard.bad_batch + 1} "
                            f"of {cfg.name!r}; lower training.optimizer.learning_rate (now {t.optimizer.learning_rate})")
    with atomic_path(out / "model.keras") as tmp:
        model.save(str(tmp))
    return TrainResult(model, _read_history(out / "history.csv"), out)


def learning_rates(cfg: ExperimentConfig, steps_per_epoch: int) -> list[float]:
    """The learning rate at the start of every epoch (for plots and tests)."""
    s = cfg.training.schedule
    sched = EpochSchedule(s.name, cfg.training.optimizer.learning_rate, steps_per_epoch, cfg.training.epochs,
                          s.warmup_epochs, s.milestones, s.gamma, s.min_lr)
    return [sched.lr_at_epoch(e) for e in range(cfg.training.epochs)]


__all__ = ["TrainResult", "train", "make_strategy", "compile_model", "model_kwargs", "learning_rates", "run_dir_for"]
