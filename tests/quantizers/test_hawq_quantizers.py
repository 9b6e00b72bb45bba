"""HAWQ-V3 quantizers against ``vectors/hawq/quant_cases.json`` (integers exact, scales rtol 3e-7)."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.quantizers import hawq as hq  # noqa: E402

RTOL = 3e-7


def _to_keras(w: np.ndarray) -> np.ndarray:
    """OIHW → HWIO, (out, in) → (in, out): the output channel goes last."""
    return np.transpose(w, (2, 3, 1, 0)) if w.ndim == 4 else w.T


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x


@pytest.fixture
def cases(vectors):
    return vectors("hawq").json("quant_cases.json")


@pytest.mark.conformance
def test_weight_cases_exact(cases):
    for i, case in enumerate(cases["weight"]):
        w = _to_keras(np.asarray(case["w"], np.float32))
        q, s = hq.quantize_weight(w, case["bits"], case["per_channel"])
        np.testing.assert_allclose(s.numpy().ravel(), np.asarray(case["expected_scale"], np.float32).ravel(), rtol=RTOL, err_msg=f"case {i}")
        np.testing.assert_array_equal(q.numpy(), _to_keras(np.asarray(case["expected_int"], np.float32)), err_msg=f"case {i}")
        quantizer = hq.HawqWeightQuantizer(case["bits"], case["per_channel"])
        out = quantizer(tf.constant(w), training=True, weights={})
        np.testing.assert_allclose(out.numpy(), _to_keras(np.asarray(case["expected_dequant"], np.float32)), rtol=RTOL, atol=0)


@pytest.mark.conformance
def test_reciprocal_witness(cases):
    wit = cases["reciprocal_witness"]
    case = cases["weight"][wit["case_index"]]
    w = np.asarray(case["w"], np.float32)
    q, _ = hq.quantize_weight(_to_keras(w), case["bits"], case["per_channel"])
    flat = _to_keras(np.asarray(case["expected_int"], np.float32))
    assert q.numpy()[np.where(_to_keras(w) == np.float32(wit["w"]))][0] == wit["reference_int"]
    assert np.round(np.float32(wit["w"]) / np.float32(wit["scale"])) == wit["division_int"]  # dividing would be wrong
    np.testing.assert_array_equal(q.numpy(), flat)


@pytest.mark.conformance
def test_activation_direct(cases):
    for case in cases["activation_direct"]:
        s = hq.activation_scale(case["x_min"], case["x_max"], case["bits"])
        np.testing.assert_allclose(s.numpy(), case["expected_scale"], rtol=RTOL)
        q = hq.quantize_activation(np.asarray(case["x"], np.float32), s, case["bits"])
        np.testing.assert_array_equal(q.numpy(), np.asarray(case["expected_int"], np.float32))
        if "computed_but_unused_zero_point" in case:
            assert hq.unused_zero_point(case["x_min"], s).numpy() == case["computed_but_unused_zero_point"]


class _Holder(keras.layers.Layer):
    """Minimal layer owning a quantizer's variables (what a QuantizeWrapper does)."""

    def __init__(self, quantizer, **kw):
        super().__init__(**kw)
        self.quantizer = quantizer

    def build(self, shape):
        self.qvars = self.quantizer.build(shape, "q", self)

    def call(self, x, training=None):
        return self.quantizer(x, training=training, weights=self.qvars)


@pytest.mark.conformance
def test_act_ema_sequences(cases):
    for case in cases["act_ema"]:
        quantizer = hq.HawqActQuantizer(case["bits"], momentum=case["act_range_momentum"], export_ops=False)
        holder = _Holder(quantizer)
        for step in case["steps"]:
            x = _nhwc(np.asarray(step["x"], np.float32))
            out = holder(tf.constant(x), training=not step["frozen"]).numpy()
            assert holder.qvars["x_min"].numpy() == np.float32(step["x_min_after"]), (case["bits"], step["step"])
            assert holder.qvars["x_max"].numpy() == np.float32(step["x_max_after"]), (case["bits"], step["step"])
            s = hq.activation_scale(step["x_min_after"], step["x_max_after"], case["bits"]).numpy()
            np.testing.assert_allclose(s, step["expected_scale"], rtol=RTOL)
            np.testing.assert_array_equal(np.round(out / s), _nhwc(np.asarray(step["expected_int"], np.float32)))
            np.testing.assert_allclose(out, _nhwc(np.asarray(step["expected_output"], np.float32)), rtol=RTOL)


@pytest.mark.conformance
def test_percentile(cases):
    for case in cases["percentile"]:
        lo, hi = hq.percentile_range(case["x"], case["lower_percentile"], case["upper_percentile"])
        assert np.float32(lo) == np.float32(case["expected_lower"])
        assert np.float32(hi) == np.float32(case["expected_upper"])


@pytest.mark.conformance
def test_ste_identity_gradient(cases):
    for case in cases["ste"]:
        x = tf.constant(np.asarray(case["x"], np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = hq.ste(x, hq.quantize_symmetric(x, case["scale"], case["bits"]) * np.float32(case["scale"]))
            loss = tf.reduce_sum(y * np.asarray(case["upstream_grad"], np.float32))
        np.testing.assert_allclose(y.numpy(), case["forward_dequant"], rtol=RTOL)
        np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), np.asarray(case["expected_grad_x"], np.float32))


@pytest.mark.conformance
def test_export_ops_same_integers_off_ties(cases):
    """The FakeQuant (convertible) inference path lands on the same integer grid, except on exact ties."""
    for case in cases["weight"][:8]:
        w = _to_keras(np.asarray(case["w"], np.float32))
        out = hq.fake_quant_weight_export(w, case["bits"], case["per_channel"]).numpy()
        s = np.asarray(case["expected_scale"], np.float32)
        np.testing.assert_array_equal(np.round(out / s), _to_keras(np.asarray(case["expected_int"], np.float32)))


def test_bad_bits_error_lists_choices():
    with pytest.raises(ConfigError, match="valid: 4, 8"):
        hq.HawqWeightQuantizer(3)
    with pytest.raises(ConfigError, match="valid: 4, 8, 16"):
        hq.HawqActQuantizer(2)


def test_configs_round_trip():
    for obj in (hq.HawqWeightQuantizer(4, False), hq.HawqActQuantizer(4, -1, 99.9), hq.HawqWeightQuantizeConfig(4), hq.HawqActQuantizeConfig(16)):
        name = keras.utils.get_registered_name(type(obj))
        assert name.startswith("tfqnn>")
        clone = type(obj).from_config(obj.get_config())
        assert clone.get_config() == obj.get_config()


def test_quantize_configs_on_tf_mot_model_round_trip(tmp_path):
    """``quantize_apply`` with the HAWQ configs; the QAT model reloads from .h5 with identical outputs."""
    import tensorflow_model_optimization as tfmot

    from tfqnn.serialization import load_model

    annotate = tfmot.quantization.keras.quantize_annotate_layer
    inp = keras.Input((8, 8, 3))
    x = annotate(keras.layers.Conv2D(4, 3, name="conv"), hq.HawqWeightQuantizeConfig(4))(inp)
    x = annotate(keras.layers.ReLU(name="relu"), hq.HawqActQuantizeConfig(4))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = annotate(keras.layers.Dense(3, name="fc"), hq.HawqWeightQuantizeConfig(8))(x)
    with tfmot.quantization.keras.quantize_scope({"HawqWeightQuantizeConfig": hq.HawqWeightQuantizeConfig,
                                                   "HawqActQuantizeConfig": hq.HawqActQuantizeConfig}):
        qat = tfmot.quantization.keras.quantize_apply(tfmot.quantization.keras.quantize_annotate_model(keras.Model(inp, x)))
    data = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32)
    qat(data, training=True)  # sets the activation range
    ref = qat(data, training=False).numpy()
    path = tmp_path / "qat.h5"
    qat.save(path)
    again = load_model(path)
    np.testing.assert_array_equal(again(data, training=False).numpy(), ref)
    relu = qat.get_layer("quant_relu")
    assert relu.quantize_config.get_output_quantizers(relu.layer)[0].num_bits == 4
