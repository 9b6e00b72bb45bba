from __future__ import annotations

import math

import numpy as np
import pytest

from tfqnn.errors import ConfigError
from tfqnn.keras import keras
from tfqnn.training import EpochSchedule, SparseCrossEntropy


def test_step_schedule_values():
    s = EpochSchedule("step", 0.1, steps_per_epoch=10, epochs=10, milestones=[3, 6], gamma=0.1)
    assert s.lr_at_epoch(0) == pytest.approx(0.1)
    assert s.lr_at_epoch(2.9) == pytest.approx(0.1)
    assert s.lr_at_epoch(3) == pytest.approx(0.01)
    assert s.lr_at_epoch(6) == pytest.approx(0.001)


def test_cosine_with_warmup():
    s = EpochSchedule("cosine", 1.0, steps_per_epoch=100, epochs=11, warmup_epochs=1, min_lr=0.0)
    assert float(s(0)) == pytest.approx(0.01)          # (0+1)/100 of the base
    assert float(s(49)) == pytest.approx(0.5)
    assert s.lr_at_epoch(1) == pytest.approx(1.0)      # end of warm-up: the base
    assert s.lr_at_epoch(6) == pytest.approx(0.5, abs=1e-6)  # half-way through the cosine
    assert s.lr_at_epoch(11) == pytest.approx(0.0, abs=1e-7)
    assert s.lr_at_epoch(3.5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)), rel=1e-5)


def test_schedule_round_trip_and_bad_name():
    s = EpochSchedule("step", 0.1, 5, 4, milestones=[2])
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert again.get_config() == s.get_config()
    with pytest.raises(ConfigError, match="'linear'"):
        EpochSchedule("linear", 0.1, 5, 4)


def _numpy_ce(logits, labels, eps):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    k = logits.shape[1]
    target = np.full_like(logits, eps / k)
    target[np.arange(len(labels)), labels] += 1 - eps
    return float(np.mean(-(target * logp).sum(axis=1)))


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_matches_numpy(eps):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 3
    labels = rng.integers(0, 5, size=6)
    ours = float(SparseCrossEntropy(eps)(labels, logits))
    assert ours == pytest.approx(_numpy_ce(logits.astype(np.float64), labels, eps), rel=1e-5)
    if eps == 0.0:
        ref = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        assert ours == pytest.approx(float(ref), rel=1e-5)
