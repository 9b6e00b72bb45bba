"""ε-ResNet training: the adaptive learning-rate rule driven by the number of discarded blocks.

Reference: ``LearningRateSetter`` of the authors' code (spec §d.1). After every epoch ``e``
(1-based) the monitored value is the moving average (decay 0.95, kept per block by
:class:`~tfqnn.layers.epsilon_gate.EpsilonGate`) of ``discarded_cnt``. When it rose by at least
``threshold`` over the last ``last_k`` epochs, the LR schedule restarts: it is replaced by
``updated_schedule`` shifted by ``e`` and its first value takes effect from epoch ``e+1``.
Otherwise the current schedule is looked up at exactly ``e`` (entries are matched with ``==``).

Side supervision needs no callback: the builders add a second output ``side_classifier`` and
declare ``model.output_loss_weights`` (spec §c, ``CE_main + 0.1·CE_side``), which the trainer
honours for multi-output models.
"""
from __future__ import annotations

from typing import Any, Sequence

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError
from tfqnn.layers.epsilon_gate import gate_layers
from tfqnn.training.callbacks import register_callback

Schedule = list[tuple[int, float]]
#: "discarded" threshold on a block's moving average (spec §e: the log prints {:.5g}, so 1.0 ≙ ≥ 1 − 5e-6).
DISCARD_THRESHOLD = 1.0 - 5e-6


def _schedule(pairs: Sequence[Sequence[float]], what: str) -> Schedule:
    try:
        out = sorted((int(e), float(v)) for e, v in pairs)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a list of [epoch, learning_rate] pairs, got {pairs!r}") from None
    if not out:
        raise ConfigError(f"{what} must not be empty")
    return out


class AdaptiveLRRule:
    """The reference rule as plain Python: ``next_lr(e, history) -> lr or None`` (spec §d.1)."""

    def __init__(self, init_schedule: Sequence[Sequence[float]], updated_schedule: Sequence[Sequence[float]],
                 threshold: float = 1.0, last_k: int = 1) -> None:
        self.init_schedule = _schedule(init_schedule, "init_schedule")
        self.updated_schedule = _schedule(updated_schedule, "updated_schedule")
        if int(last_k) < 1:
            raise ConfigError(f"last_k must be ≥ 1, got {last_k!r}")
        self.threshold = float(threshold)
        self.last_k = int(last_k)
        self.schedule: Schedule = list(self.init_schedule)
        self.last_changed = 0
        self.resets: list[int] = []

    def _lookup(self, epoch: int) -> float | None:
        for e, v in self.schedule:
            if e == epoch:
                return v
        return None

    def next_lr(self, epoch: int, history: Sequence[float]) -> float | None:
        """LR for epoch ``epoch + 1`` given the monitored values of epochs 1..``epoch`` (None = keep)."""
        k = self.last_k
        if len(history) < k + 1 or epoch - self.last_changed < k:
            return self._lookup(epoch)
        window = list(history[-(k + 1):])
        if max(window) < window[0] + self.threshold:
            return self._lookup(epoch)
        self.last_changed = epoch
        self.resets.append(epoch)
        self.schedule = [(e + epoch, v) for e, v in self.updated_schedule]
        return self.schedule[0][1]


def discarded_count_ema(model: keras.Model) -> float:
    """``Σ_blocks EMA(is_discarded)`` = the EMA of ``discarded_cnt`` (the EMA is linear)."""
    return float(sum(float(g.discarded_ema.numpy()) for g in gate_layers(model)))


def discarded_blocks(model: keras.Model, threshold: float = DISCARD_THRESHOLD) -> list[str]:
    """Names of the gate layers whose moving-average ``is_discarded`` is ≥ ``threshold``."""
    return [g.name for g in gate_layers(model) if float(g.discarded_ema.numpy()) >= threshold]


def _make_lr_settable(optimizer: keras.optimizers.Optimizer, value: float) -> None:
    """Set the LR; an optimizer built with a schedule (the trainer's EpochSchedule) gets a plain
    LR variable instead, since a schedule cannot be assigned (tf-keras raises TypeError)."""
    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):  # noqa: SLF001
        optimizer._learning_rate = optimizer._build_learning_rate(float(value))  # noqa: SLF001
    else:
        optimizer.learning_rate = float(value)


@keras.utils.register_keras_serializable(package="tfqnn")
@register_callback("epsresnet_adaptive_lr")
class EpsResNetAdaptiveLR(keras.callbacks.Callback):
    """Adaptive LR of ε-ResNet (spec §d.1) + per-epoch logging of the discarded-block statistics.

    Keras ``on_epoch_end(epoch)`` is reference epoch ``epoch + 1``; the epoch-0 lookup runs in
    ``on_train_begin``. The monitored value is ``logs[monitor]`` if present, else the sum of the
    gates' moving averages. Logged each epoch: ``discarded_cnt`` (EMA), ``discarded_ratio``
    (``/ (blocks + ratio_offset)``, the CIFAR scripts divide by ``3n + 2``), ``discarded_blocks``
    (gates whose EMA ≥ ``discard_threshold``) and ``lr_next``. The rule's state is not
    checkpointed: ``--resume`` restarts it from ``init_schedule``.
    """

    def __init__(self, init_schedule: Sequence[Sequence[float]] = ((0, 0.1), (82, 0.01), (123, 0.001), (300, 0.0002)),
                 updated_schedule: Sequence[Sequence[float]] = ((0, 0.1), (41, 0.01), (61, 0.001), (150, 0.0002)),
                 threshold: float = 1.0, last_k: int = 1, monitor: str = "discarded_cnt", ratio_offset: int = 2,
                 discard_threshold: float = DISCARD_THRESHOLD) -> None:
        super().__init__()
        self.rule = AdaptiveLRRule(init_schedule, updated_schedule, threshold, last_k)
        self.monitor = str(monitor)
        self.ratio_offset = int(ratio_offset)
        self.discard_threshold = float(discard_threshold)
        self.history: list[float] = []

    @property
    def resets(self) -> list[int]:
        """Reference epochs after which the schedule was restarted."""
        return list(self.rule.resets)

    def current_lr(self) -> float:
        lr = self.model.optimizer.learning_rate
        return float(tf.convert_to_tensor(lr).numpy())

    def on_train_begin(self, logs: dict | None = None) -> None:
        lr = self.rule.next_lr(0, self.history)
        _make_lr_settable(self.model.optimizer, self.current_lr() if lr is None else lr)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        gates = gate_layers(self.model)
        value = float(logs[self.monitor]) if self.monitor in logs else discarded_count_ema(self.model)
        self.history.append(value)
        logs[self.monitor] = value
        if gates:
            logs["discarded_ratio"] = value / (len(gates) + self.ratio_offset)
            logs["discarded_blocks"] = float(len(discarded_blocks(self.model, self.discard_threshold)))
        lr = self.rule.next_lr(epoch + 1, self.history)
        if lr is not None:
            self.model.optimizer.learning_rate = lr
        logs["lr_next"] = self.current_lr()

    def get_config(self) -> dict[str, Any]:
        return {"init_schedule": [list(p) for p in self.rule.init_schedule],
                "updated_schedule": [list(p) for p in self.rule.updated_schedule],
                "threshold": self.rule.threshold, "last_k": self.rule.last_k, "monitor": self.monitor,
                "ratio_offset": self.ratio_offset, "discard_threshold": self.discard_threshold}


__all__ = ["AdaptiveLRRule", "DISCARD_THRESHOLD", "EpsResNetAdaptiveLR", "discarded_blocks", "discarded_count_ema"]
