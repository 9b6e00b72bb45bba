"""The config-driven trainer on real CIFAR-10 (tiny model, a few steps)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from tfqnn.config import config_from_dict
from tfqnn.errors import ConfigError
from tfqnn.serialization import load_model
from tfqnn.training.trainer import learning_rates, train


def _cfg(run_dir, **training):
    raw = {
        "name": "tiny",
        "model": {"name": "cifar_resnet", "options": {"depth": 8, "base_width": 4}},
        "data": {"name": "cifar10", "batch_size": 32, "eval_batch_size": 64, "max_train_examples": 128,
                 "max_eval_examples": 64},
        "training": {"epochs": 2, "tensorboard": False, "run_dir": str(run_dir), "verbose": 0,
                     "optimizer": {"name": "sgd", "learning_rate": 0.05, "weight_decay": 1e-4},
                     "schedule": {"name": "step", "milestones": [1], "gamma": 0.5}, **training},
    }
    return config_from_dict(raw)


@pytest.mark.slow
def test_train_writes_model_history_config_and_logs_lr(tmp_path):
    result = train(_cfg(tmp_path / "run", tensorboard=True))
    run = tmp_path / "run"
    assert (run / "model.keras").exists() and (run / "config.yaml").exists()
    assert any((run / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == pytest.approx([0.05, 0.025])
    assert all(np.isfinite(float(r["loss"])) for r in rows) and "val_accuracy" in rows[0]
    reloaded = load_model(run / "model.keras")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(reloaded(x).numpy(), result.model(x, training=False).numpy(), atol=1e-6)
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "temporary files left behind"


@pytest.mark.slow
def test_resume_continues_at_next_epoch(tmp_path):
    run = tmp_path / "run"
    train(_cfg(run, epochs=1))
    result = train(_cfg(run, epochs=2, resume=True))
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert result.model.optimizer.iterations.numpy() == 2 * (128 // 32)


def test_bad_distribution_and_optimizer_are_config_errors(tmp_path):
    cfg = _cfg(tmp_path / "r", distribution="tpu_pod")
    with pytest.raises(ConfigError, match="tpu_pod"):
        train(cfg)
    cfg = _cfg(tmp_path / "r2")
    cfg.training.optimizer.name = "lion"
    with pytest.raises(ConfigError, match="lion"):
        train(cfg)


def test_learning_rates_helper():
    cfg = _cfg("unused", epochs=3)
    assert learning_rates(cfg, steps_per_epoch=4) == pytest.approx([0.05, 0.025, 0.025])


@pytest.mark.slow
def test_mirrored_strategy_trains(tmp_path):
    result = train(_cfg(tmp_path / "run", epochs=1, distribution="mirrored", checkpoint=False))
    assert np.isfinite(result.history["loss"][-1])
