"""ε-ResNet adaptive learning rate: reference vectors through the Keras callback, trainer wiring."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.training import EpochSchedule, make_callback
from tfqnn.training.epsresnet import AdaptiveLRRule, EpsResNetAdaptiveLR

import tensorflow as tf  # noqa: E402


def _tiny_model(learning_rate) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def _lr(model: keras.Model) -> float:
    return float(tf.convert_to_tensor(model.optimizer.learning_rate).numpy())


@pytest.mark.conformance
def test_lr_setter_cases_through_the_callback(vectors):
    for case in vectors("epsresnet").json("cases.json")["lr_setter_cases"]:
        model = _tiny_model(case["initial_lr_variable"])
        cb = EpsResNetAdaptiveLR(case["init_schedule"], case["updated_schedule"], case["threshold"], case["last_k"])
        cb.set_model(model)
        cb.on_train_begin()
        used = []
        for epoch, value in enumerate(case["monitored_history"]):  # Keras epoch e = reference epoch e + 1
            used.append(_lr(model))
            logs = {"discarded_cnt": value}
            cb.on_epoch_end(epoch, logs)
            assert logs["discarded_cnt"] == value and "lr_next" in logs
        np.testing.assert_allclose(used, case["expected_lr_used_during_epoch"], rtol=1e-6, err_msg=case["name"])
        assert cb.resets == case["expected_reset_epochs"], case["name"]
        runs = []
        for e, lr in enumerate(used, start=1):  # the same information as [first, last, lr] runs
            if runs and np.isclose(runs[-1][2], lr, rtol=1e-6):
                runs[-1][1] = e
            else:
                runs.append([e, e, lr])
        assert [r[:2] for r in runs] == [r[:2] for r in case["expected_lr_runs"]], case["name"]


@pytest.mark.conformance
def test_rule_in_plain_python_matches_vectors(vectors):
    for case in vectors("epsresnet").json("cases.json")["lr_setter_cases"]:
        rule = AdaptiveLRRule(case["init_schedule"], case["updated_schedule"], case["threshold"], case["last_k"])
        lr = rule.next_lr(0, []) or case["initial_lr_variable"]
        used, hist = [], []
        for e, value in enumerate(case["monitored_history"], start=1):
            used.append(lr)
            hist.append(value)
            lr = rule.next_lr(e, hist) or lr
        assert used == case["expected_lr_used_during_epoch"], case["name"]
        assert rule.resets == case["expected_reset_epochs"], case["name"]


def test_callback_replaces_a_schedule_and_fit_uses_its_lr():
    """The trainer compiles with an EpochSchedule; the callback must still control the LR."""
    model = _tiny_model(EpochSchedule("constant", 0.5, steps_per_epoch=2, epochs=4))
    cb = EpsResNetAdaptiveLR([[0, 0.2], [1, 0.05]], [[0, 0.1]])
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(_lr(self.model))

    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    w0 = model.get_weights()[0].copy()
    hist = model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[cb, Record()])
    np.testing.assert_allclose(seen, [0.2, 0.05, 0.05], rtol=1e-6)
    assert hist.history["discarded_cnt"] == [0.0, 0.0, 0.0]  # no gates in this model
    assert not np.allclose(model.get_weights()[0], w0)


def test_registered_for_configs_and_config_round_trip():
    cb = make_callback("epsresnet_adaptive_lr", {"init_schedule": [[1, 0.1], [20, 0.01]],
                                                 "updated_schedule": [[1, 0.1], [10, 0.01]]})
    assert isinstance(cb, EpsResNetAdaptiveLR)
    clone = EpsResNetAdaptiveLR(**cb.get_config())
    assert clone.get_config() == cb.get_config()
    assert keras.utils.get_registered_object("tfqnn>EpsResNetAdaptiveLR") is EpsResNetAdaptiveLR
    with pytest.raises(ConfigError, match="init_schedule"):
        EpsResNetAdaptiveLR(init_schedule=[[0]])
    with pytest.raises(ConfigError, match="last_k"):
        EpsResNetAdaptiveLR(last_k=0)


@pytest.mark.slow
@pytest.mark.e2e
def test_train_config_end_to_end_logs_discards_and_compresses(tmp_path):
    """tfqnn-train on real CIFAR-10 (a few batches): two outputs weighted 1/0.1, gates closed by a
    huge ε are logged as discarded, and the compressed model converts to TFLite."""
    from tfqnn.config import load_config
    from tfqnn.compress import remove_discarded_blocks
    from tfqnn.training.trainer import train

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs/epsresnet/epsresnet_cifar_cpu.yaml", [
        "model.name=epsresnet_cifar_20", "model.options.epsilon=1000.0", "model.options.weight_decay=0.0", "training.epochs=2",
        "data.max_train_examples=512", "data.max_eval_examples=256", "data.batch_size=64",
        "training.tensorboard=false", "training.verbose=0"])
    result = train(cfg, run_dir=tmp_path)
    h = result.history
    assert {"classifier_loss", "side_classifier_loss", "lr", "discarded_cnt", "discarded_blocks"} <= set(h)
    np.testing.assert_allclose(np.asarray(h["loss"]) - np.asarray(h["classifier_loss"]),
                               0.1 * np.asarray(h["side_classifier_loss"]), rtol=1e-4, atol=1e-5)
    assert h["discarded_cnt"][-1] > 8.9 and h["discarded_blocks"][-1] == 9.0
    plain, report = remove_discarded_blocks(result.model)
    assert report["blocks_removed"] == 9 and report["kept_blocks_per_stage"] == [0, 0, 0]
    from converters import tflite

    assert len(tflite.convert_float(plain)) > 0
