"""ERN quantizers (BCWMS, BP2S, HWGQ): reference cases forward + backward, Larq usage, serialisation, errors."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.quantizers.binary import BinaryChannelWiseMeanScaling, BinaryPower2Scaling, sign_star
from tfqnn.quantizers.uniform import HWGQ

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfqnn  # noqa: E402

WEIGHT_QUANTIZERS = {"BinaryChannelWiseMeanScaling": BinaryChannelWiseMeanScaling, "BinaryPower2Scaling": BinaryPower2Scaling}


def _forward_backward(quantizer, x: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = quantizer(xt)
        loss = tf.reduce_sum(y * tf.constant(upstream))
    return y.numpy(), tape.gradient(loss, xt).numpy()


def _cases(vectors, kind: str) -> list[dict]:
    cases = [c for c in vectors("ern").json("quantizer_cases.json")["cases"] if (c["quantizer"] == "HWGQ") == (kind == "hwgq")]
    assert cases, f"no {kind} cases in quantizer_cases.json"
    return cases


@pytest.mark.conformance
def test_hwgq_reference_cases(vectors):
    for case in _cases(vectors, "hwgq"):
        q = HWGQ(bits=case["bit"], max_value=case["max_value"], post_scale=not case["disable_post_scale"],
                 ewgs_delta=case["ewgs_delta"])
        x = np.array(case["x"], np.float32)
        y, g = _forward_backward(q, x, np.array(case["upstream_grad"], np.float32))
        np.testing.assert_array_equal(y, np.array(case["y"], np.float32), err_msg=str({k: case[k] for k in case if k != "x"}))
        np.testing.assert_allclose(g, np.array(case["grad_x"], np.float32), atol=1e-6, rtol=1e-6)


@pytest.mark.conformance
def test_weight_binarizer_reference_cases(vectors):
    for case in _cases(vectors, "weights"):
        shape = case["shape_oihw"]

        def hwio(key: str) -> np.ndarray:
            return np.array(case[key], np.float32).reshape(shape).transpose(2, 3, 1, 0)

        q = WEIGHT_QUANTIZERS[case["quantizer"]](ewgs_delta=case["ewgs_delta"])
        y, g = _forward_backward(q, hwio("w"), hwio("upstream_grad"))
        if case["quantizer"] == "BinaryPower2Scaling":
            np.testing.assert_array_equal(y, hwio("y"))
        else:  # per-channel mean: summation order may change the last bit (vectors README)
            np.testing.assert_allclose(y, hwio("y"), rtol=1e-6, atol=0)
            alpha = q.scale(tf.constant(hwio("w"))).numpy().reshape(-1)
            np.testing.assert_allclose(alpha, case["alpha_per_out_channel"], rtol=1e-6)
        np.testing.assert_allclose(g, hwio("grad_w"), atol=1e-6, rtol=1e-6)


def test_sign_of_zero_is_plus_one():
    x = tf.constant([0.0, -0.0, -1e-30, 1e-30])
    np.testing.assert_array_equal(sign_star(x).numpy(), [1, 1, -1, 1])
    y = BinaryPower2Scaling()(x).numpy()
    np.testing.assert_array_equal(y, np.array([1, 1, -1, 1], np.float32) / 32)


def test_hwgq_rounds_half_up_not_to_even():
    # x = 1/3 and 5/3 map to x·1.5 = 0.5 and 2.5: half-up gives levels 1 and 3, round-half-even 0 and 2.
    q = HWGQ(post_scale=False)
    np.testing.assert_array_equal(q(tf.constant([np.float32(1 / 3), np.float32(5 / 3)])).numpy(), [1, 3])
    assert HWGQ().level_step == pytest.approx(2 / 3) and HWGQ(post_scale=False).level_step == 1.0


def _quant_conv_model(kernel_quantizer, input_quantizer) -> keras.Model:
    inputs = keras.Input((6, 6, 4))
    x = lq.layers.QuantConv2D(3, 3, kernel_quantizer=kernel_quantizer, input_quantizer=input_quantizer,
                              kernel_constraint=None, use_bias=False, name="qconv")(inputs)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_quantizers_in_quant_conv_round_trip(tmp_path, fmt):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 2.5, (2, 6, 6, 4)).astype(np.float32)
    for kq, iq in [(BinaryChannelWiseMeanScaling(ewgs_delta=0.01), HWGQ(ewgs_delta=0.01)),
                   (BinaryPower2Scaling(divisor=16), HWGQ(bits=3, max_value=1.5, post_scale=False))]:
        model = _quant_conv_model(kq, iq)
        path = tmp_path / ("m.keras" if fmt == "keras" else "m_saved")
        model.save(path, save_format=None if fmt == "keras" else "tf")
        again = tfqnn.load_model(path)
        np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
        layer = again.get_layer("qconv") if fmt == "keras" else None
        if layer is not None:
            assert layer.kernel_quantizer.get_config() == kq.get_config()
            assert layer.input_quantizer.get_config() == iq.get_config()


def test_precision_is_reported_to_larq_summary():
    model = _quant_conv_model(BinaryChannelWiseMeanScaling(), HWGQ())
    from tfqnn import metrics

    row = next(r for r in metrics.layer_table(model) if r.name == "qconv")
    assert (row.kernel_bits, row.input_bits) == (1, 2)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="ewgs_delta"):
        BinaryChannelWiseMeanScaling(ewgs_delta=-1)
    with pytest.raises(ConfigError, match="power of two"):
        BinaryPower2Scaling(divisor=30)
    with pytest.raises(ConfigError, match="bits"):
        HWGQ(bits=0)
    with pytest.raises(ConfigError, match="max_value"):
        HWGQ(max_value=0)
