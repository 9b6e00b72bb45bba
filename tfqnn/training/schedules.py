"""Learning-rate schedules defined in epochs, evaluated per optimizer step.

``EpochSchedule`` covers what the families need: constant, step decay (multiply by ``gamma``
at each milestone epoch) and cosine annealing (Loshchilov & Hutter 2017, eq. 5, without
restarts), each with an optional linear warm-up from ``base_lr / warmup_steps`` (Goyal et al.
2017 §2.2).
"""
from __future__ import annotations

import math
from typing import Sequence

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError

SCHEDULES = ("constant", "step", "cosine")


@keras.utils.register_keras_serializable(package="tfqnn")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) for schedule ``name`` with epochs measured as ``step / steps_per_epoch``."""

    def __init__(
        self,
        name: str,
        base_lr: float,
        steps_per_epoch: int,
        epochs: int,
        warmup_epochs: float = 0.0,
        milestones: Sequence[float] = (),
        gamma: float = 0.1,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if name not in SCHEDULES:
            raise ConfigError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
        if steps_per_epoch <= 0 or epochs <= 0:
            raise ConfigError(f"schedule needs steps_per_epoch > 0 and epochs > 0, got {steps_per_epoch}, {epochs}")
        self.name = name
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.warmup_epochs = float(warmup_epochs)
        self.milestones = [float(m) for m in milestones]
        self.gamma = float(gamma)
        self.min_lr = float(min_lr)

    def lr_at_epoch(self, epoch: float) -> float:
        """Plain-Python value at a (fractional) epoch; used for logging and tests."""
        return float(self(tf.constant(epoch * self.steps_per_epoch, tf.float32)))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        epoch = step / float(self.steps_per_epoch)
        base = tf.constant(self.base_lr, tf.float32)
        if self.name == "constant":
            lr = base
        elif self.name == "step":
            passed = tf.add_n([tf.cast(epoch >= m, tf.float32) for m in self.milestones]) if self.milestones else 0.0
            lr = base * tf.pow(self.gamma, passed)
        else:  # cosine over the epochs after warm-up
            span = max(self.epochs - self.warmup_epochs, 1e-8)
            t = tf.clip_by_value((epoch - self.warmup_epochs) / span, 0.0, 1.0)
            lr = self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + tf.cos(math.pi * t))
        if self.warmup_epochs > 0:
            warm_steps = self.warmup_epochs * self.steps_per_epoch
            warm = base * (step + 1.0) / warm_steps
            lr = tf.where(step < warm_steps, tf.minimum(warm, base), lr)
        return lr

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "base_lr": self.base_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "warmup_epochs": self.warmup_epochs,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
            "min_lr": self.min_lr,
        }
