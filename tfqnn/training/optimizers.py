"""Optimizers and weight decay from an :class:`~tfqnn.config.OptimizerConfig`."""
from __future__ import annotations

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.config import OptimizerConfig
from tfqnn.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")
WEIGHT_DECAY_MODES = ("l2", "decoupled")


def make_optimizer(cfg: OptimizerConfig, learning_rate) -> keras.optimizers.Optimizer:
    """SGD (momentum, Nesterov), Adam or AdamW. Decoupled weight decay goes to the optimizer;
    ``l2`` weight decay is added to the loss by :func:`add_l2_weight_decay` instead."""
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.name!r}; valid: {', '.join(OPTIMIZERS)}")
    if cfg.weight_decay_mode not in WEIGHT_DECAY_MODES:
        raise ConfigError(f"unknown weight_decay_mode {cfg.weight_decay_mode!r}; valid: {', '.join(WEIGHT_DECAY_MODES)}")
    decoupled = cfg.weight_decay if (cfg.weight_decay_mode == "decoupled" and cfg.weight_decay > 0) else None
    common = {"learning_rate": learning_rate, "clipnorm": cfg.clipnorm}
    if cfg.epsilon is not None and cfg.name == "sgd":
        raise ConfigError("optimizer.epsilon applies to adam/adamw only")
    if cfg.name == "sgd":
        return keras.optimizers.SGD(momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=decoupled, **common)
    if cfg.epsilon is not None:
        common["epsilon"] = cfg.epsilon
    if cfg.name == "adam":
        return keras.optimizers.Adam(weight_decay=decoupled, **common)
    return keras.optimizers.AdamW(weight_decay=cfg.weight_decay, **common)


def add_l2_weight_decay(model: keras.Model, weight_decay: float) -> None:
    """Add ``weight_decay/2 · Σ w²`` over all trainable weights to the model's losses.

    Its gradient is ``weight_decay · w``, i.e. PyTorch's coupled SGD ``weight_decay`` that the
    reference implementations use (applied to every parameter, BN included, as PyTorch does).
    """
    if weight_decay <= 0:
        return
    weights = list(model.trainable_weights)
    model.add_loss(lambda: 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(w, tf.float32))) for w in weights]))
