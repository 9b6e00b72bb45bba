"""EpsilonGate (ε-ResNet): reference vectors bit for bit (eager + graph), gradients, state, round trips."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.layers import EpsilonGate

import tensorflow as tf  # noqa: E402


def _gate_cases(vectors):
    return vectors("epsresnet").json("cases.json")["gate_cases"]


def _run(case: dict, per_sample: bool, graph: bool):
    """(s, gate, gated residual, block output, dy/dF, dy/dshortcut) for one vector case."""
    layer = EpsilonGate(case["epsilon_float32"], case["L"], per_sample=per_sample)
    f = tf.constant(np.asarray(case["F"], np.float32))
    short = tf.constant(np.asarray(case["shortcut"], np.float32))
    layer.build(f.shape)

    def fn(f, short):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([f, short])
            gated = layer(f)
            y = gated + short
            total = tf.reduce_sum(y)
        return layer.max_excess(f), layer.gate(f), gated, y, tape.gradient(total, f), tape.gradient(total, short)

    return [t.numpy() for t in (tf.function(fn) if graph else fn)(f, short)]


@pytest.mark.conformance
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
def test_gate_cases_bit_exact(vectors, graph):
    for case in _gate_cases(vectors):
        exp = case["expected"]
        s, g, gated, y, dfdx, dshort = _run(case, per_sample=False, graph=graph)
        np.testing.assert_allclose(s, exp["max_excess_s_float32"], rtol=1e-7, err_msg=case["name"])
        if case["in_transition_band"]:
            assert 0.0 < float(g) < 1.0, case["name"]
            assert 0.0 < 1.0 - float(g) < 1.0, case["name"]
            continue
        assert float(g) == exp["gate_float32"], case["name"]
        np.testing.assert_array_equal(gated, np.asarray(exp["gated_residual_float32"], np.float32), err_msg=case["name"])
        np.testing.assert_array_equal(y, np.asarray(exp["block_output_float32"], np.float32), err_msg=case["name"])
        assert float(g == 0.0) == exp["is_discarded_cifar_style"], case["name"]
        assert 1.0 - float(g) == exp["is_discarded_imagenet_style"], case["name"]
        if "grad_sum_output_wrt_F" in exp:
            np.testing.assert_array_equal(dfdx, np.asarray(exp["grad_sum_output_wrt_F"], np.float32), err_msg=case["name"])
            np.testing.assert_array_equal(dshort, np.asarray(exp["grad_sum_output_wrt_shortcut"], np.float32),
                                          err_msg=case["name"])


@pytest.mark.conformance
def test_gate_per_sample_variant(vectors):
    for case in _gate_cases(vectors):
        _, g, *_ = _run(case, per_sample=True, graph=False)
        expected = np.asarray(case["expected"]["gate_per_sample_float32"], np.float32)
        if case["in_transition_band"]:
            assert np.all((g > 0) & (g < 1)), case["name"]
        else:
            np.testing.assert_array_equal(g.reshape(-1), expected, err_msg=case["name"])


@pytest.mark.conformance
def test_is_discarded_statistic_both_styles(vectors):
    for case in _gate_cases(vectors):
        exp = case["expected"]
        f = tf.constant(np.asarray(case["F"], np.float32))
        for style, key in (("cifar", "is_discarded_cifar_style"), ("imagenet", "is_discarded_imagenet_style")):
            layer = EpsilonGate(case["epsilon_float32"], case["L"], discard_style=style)
            value = float(layer.is_discarded(layer.gate(f)))
            if case["in_transition_band"] and style == "imagenet":
                assert 0.0 < value < 1.0, case["name"]
            else:
                assert value == exp[key], (case["name"], style)


def test_epsilon_is_cast_to_float32():
    """float32(2.1) < 2.1: an element equal to float32(2.1) is a tie (gate 0) with ε = 2.1."""
    f = tf.fill([1, 1, 1, 1], np.float32(2.1))
    assert float(EpsilonGate(2.1).gate(f)) == 0.0


def _ema_reference(values: list[float], decay: float = 0.95) -> float:
    """tensorpack add_moving_summary: EMA with num_updates warm-up, shadow initialised to 0 (spec §a.3)."""
    ema = 0.0
    for k, v in enumerate(values):
        d = min(decay, (1.0 + k) / (10.0 + k))
        ema -= (ema - v) * (1.0 - d)
    return ema


def test_training_updates_moving_average_and_inference_does_not():
    layer = EpsilonGate(1.0)
    small, big = tf.fill([2, 3, 3, 4], 0.5), tf.fill([2, 3, 3, 4], 3.0)
    pattern = [small] * 30 + [big] * 5 + [small] * 200
    for f in pattern:
        layer(f, training=True)
    expected = _ema_reference([1.0] * 30 + [0.0] * 5 + [1.0] * 200)
    np.testing.assert_allclose(float(layer.discarded_ema.numpy()), expected, rtol=1e-5)
    assert float(layer.num_updates.numpy()) == len(pattern)
    before = float(layer.discarded_ema.numpy())
    layer(big, training=False)
    layer(big)
    assert float(layer.discarded_ema.numpy()) == before and float(layer.last_gate.numpy()) == 0.0


def test_ema_of_constant_one_stays_below_one():
    """Spec §e: a float32 EMA fed 1.0 sticks just below 1.0; the discard threshold is 1 − 5e-6."""
    layer = EpsilonGate(1.0)
    for _ in range(400):
        layer(tf.zeros([1, 2, 2, 1]), training=True)
    value = float(layer.discarded_ema.numpy())
    assert 1.0 - 5e-6 <= value <= 1.0


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match="'g'.*discard_style"):
        EpsilonGate(1.0, discard_style="svhn", name="g")
    with pytest.raises(ConfigError, match="epsilon"):
        EpsilonGate(-1.0)


def _gate_model() -> keras.Model:
    x = keras.Input((4, 4, 3))
    f = keras.layers.Conv2D(3, 3, padding="same", name="conv")(x)
    y = keras.layers.Add()([x, EpsilonGate(0.3, per_sample=True, discard_style="imagenet", name="gate")(f)])
    return keras.Model(x, y)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_round_trip_identical_outputs_and_state(tmp_path, fmt):
    import tfqnn

    model = _gate_model()
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 3)).astype(np.float32)
    model(x, training=True)
    gate = model.get_layer("gate")
    path = tmp_path / ("m.keras" if fmt == "keras" else "m_saved")
    model.save(str(path), **({} if fmt == "keras" else {"save_format": "tf"}))
    loaded = tfqnn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    if fmt == "keras":
        lg = loaded.get_layer("gate")
        assert isinstance(lg, EpsilonGate)
        assert lg.get_config() == {**gate.get_config()}
        assert float(lg.discarded_ema.numpy()) == float(gate.discarded_ema.numpy())
        assert (lg.epsilon, lg.L, lg.per_sample, lg.discard_style) == (0.3, 1e6, True, "imagenet")
