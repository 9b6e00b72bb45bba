"""ReXNet deployment: float TFLite equals Keras; TF-MOT 8-bit QAT converts to an all-int8 graph
(custom QuantizeConfigs for the SE multiply and the partial residual); int8 top-1 agrees with the
float model on real CIFAR-10 images; QAT models round-trip through .h5."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tfqnn
from tfqnn import data as tfdata
from tfqnn.errors import ConversionError
from tfqnn.quantizers.rexnet_qat import calibrate_ranges, is_rexnet, quantize_rexnet, snap_range

from converters.cli import convert_main
from converters.diagnose import check_int8_window, float_ops_inside
from converters.flatbuffer import op_histogram, op_list
from converters.runtime import FlatbufferModel
from converters.tflite import convert

TINY = dict(num_classes=10, input_shape=(32, 32, 3), width_mult=0.25, small_input=True, normalization="cifar10")


def _cifar(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = tfdata.load_arrays("cifar10", split, max_examples=n)
    except tfqnn.errors.DataError as exc:
        pytest.skip(reason=f"CIFAR-10 not available: {exc}")
    return x.astype(np.float32), y


def _float_ops(fb: bytes) -> list[str]:
    return [op.name for op in op_list(fb) if op.name not in ("QUANTIZE", "DEQUANTIZE")
            and "FLOAT32" in op.inputs + op.outputs]


@pytest.mark.slow
def test_float_tflite_matches_keras():
    model = tfqnn.build_model("rexnet", **TINY)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    fb = convert(model, "float")
    got = FlatbufferModel(fb).predict(x)
    np.testing.assert_allclose(got, model(x, training=False).numpy(), atol=1e-4)


def test_quantization_option_wraps_every_layer_and_rejects_plain_multiply():
    qat = tfqnn.build_model("rexnet", **TINY, quantization="tfmot8")
    wrapped = {type(l).__name__ for l in qat.layers}
    assert "QuantizeWrapperV2" in wrapped and "QuantizeLayer" in wrapped
    inner = {type(l.layer).__name__: l.quantize_config for l in qat.layers if hasattr(l, "quantize_config")}
    assert type(inner["SEScale"]).__name__ == "SEScaleQuantizeConfig"
    assert type(inner["PartialResidualAdd"]).__name__ == "PartialResidualQuantizeConfig"
    # the default registry alone refuses the SE multiply (why the custom configs exist)
    import tensorflow_model_optimization as tfmot

    a = keras.Input((4, 4, 3))
    plain = keras.Model(a, keras.layers.Multiply()([a, a]))
    with pytest.raises(RuntimeError, match="not supported"):
        tfmot.quantization.keras.quantize_model(plain)


@pytest.mark.slow
def test_qat_model_roundtrips_through_h5(tmp_path):
    qat = tfqnn.build_model("rexnet", **TINY, quantization="tfmot8")
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    path = tmp_path / "qat.h5"
    qat.save(path)
    loaded = tfqnn.load_model(path)
    np.testing.assert_array_equal(qat(x, training=False).numpy(), loaded(x, training=False).numpy())


@pytest.mark.slow
def test_cli_int8_takes_the_qat_path_and_writes_an_all_int8_lite(tmp_path, capsys):
    """``tfqnn-convert --target int8`` on a float ReXNet-lite .keras: QAT path, no float op inside;
    the 32×32 CIFAR-10 images are resized to the model's 48×48 input."""
    _cifar("test", 8)  # skips without the data
    path = tmp_path / "lite.keras"
    tfqnn.build_model("rexnet_lite", **{**TINY, "input_shape": (48, 48, 3)}).save(path)
    out = tmp_path / "lite.int8.tflite"
    rc = convert_main([str(path), "--target", "int8", "--data", "cifar10", "--calibration-samples", "32", "-o", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "ReXNet TF-MOT QAT, ranges from 32 images" in stdout and "on 8 cifar10 test images" in stdout
    fb = out.read_bytes()
    assert float_ops_inside(fb) == [] and _float_ops(fb) == []
    hist = op_histogram(fb)
    assert hist["QUANTIZE"] == 1 and hist["DEQUANTIZE"] == 1  # only at the float input / output
    assert hist["ADD"] >= 1 and hist["PAD"] >= 1 and hist["DEPTHWISE_CONV_2D"] == 16


def _sine_hybrid_flatbuffer() -> bytes:
    """conv → sin → conv, int8 where TFLite can: the SIN stays float between DEQUANTIZE and QUANTIZE."""
    import tensorflow as tf

    a = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(a)
    x = keras.layers.Lambda(tf.math.sin, name="sine")(x)
    model = keras.Model(a, keras.layers.Conv2D(4, 3, name="c2")(x), name="sine_net")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)] for _ in range(4))
    return bytes(conv.convert())


def test_int8_window_check_rejects_a_float_op_inside():
    fb = _sine_hybrid_flatbuffer()
    assert float_ops_inside(fb) == ["DEQUANTIZE", "SIN", "QUANTIZE"]
    with pytest.raises(ConversionError, match="SIN"):
        check_int8_window(keras.Model(name="sine_net"), fb)


def test_int8_window_counts_a_float_requantize_round_trip(monkeypatch):
    """A DEQUANTIZE → QUANTIZE pair after the input (what a 1-ulp input-scale mismatch produced) is
    float work inside the int8 graph; QUANTIZE/DEQUANTIZE at the ends are not."""
    import converters.flatbuffer as fbuf

    def op(name, i, o):
        return fbuf.OpInfo(name, (i,), (o,), (name.lower(),))

    edges = [op("QUANTIZE", "FLOAT32", "INT8"), op("MUL", "INT8", "INT8"), op("DEQUANTIZE", "INT8", "FLOAT32")]
    monkeypatch.setattr(fbuf, "op_list", lambda data: edges)
    assert float_ops_inside(b"") == []
    round_trip = [edges[0], op("DEQUANTIZE", "INT8", "FLOAT32"), op("QUANTIZE", "FLOAT32", "INT8"), *edges[1:]]
    monkeypatch.setattr(fbuf, "op_list", lambda data: round_trip)
    assert float_ops_inside(b"") == ["DEQUANTIZE", "QUANTIZE"]


@pytest.mark.parametrize("lo,hi", [(0.0, 254.99767), (0.0, 1e-3), (-3.2, 7.7), (-1.0, 0.0), (-0.5, 300.1)])
def test_snap_range_gives_a_short_exact_step_and_integer_zero_point(lo, hi):
    a, b = snap_range(lo, hi)
    step = (b - a) / 255
    exponent = np.floor(np.log2(step))
    assert a <= lo and b >= hi
    assert (b - a) - (hi - lo) <= 2 * step  # at most ~one step wider (integer zero point) ...
    if lo == 0.0:
        assert (b - a) / (hi - lo) - 1 < 2.0**-10  # ... and only the mantissa rounding when lo = 0
    assert float(np.float32(step)) == step and float(np.float32(a)) == a and float(np.float32(b)) == b
    assert (step / 2.0 ** (exponent - 10)).is_integer()  # 11 significant bits
    assert (-a / step).is_integer()  # zero is a grid point
    if lo == 0.0 and hi == 254.99767:
        assert (a, b) == (0.0, 255.0)  # step 0.99999… rounds up to 1 on the 2^-11 grid


def test_is_rexnet_tells_rexnets_from_other_models():
    assert is_rexnet(tfqnn.build_model("rexnet", **TINY)) and is_rexnet(tfqnn.build_model("rexnet_lite", **TINY))
    assert not is_rexnet(tfqnn.build_model("resnet20", num_classes=10))


@pytest.mark.slow
def test_v1_int8_agrees_with_float_on_real_images():
    """Train a tiny ReXNet briefly on real CIFAR-10, convert via QAT to int8, compare top-1."""
    x_train, y_train = _cifar("train", 2048)
    x_test, _ = _cifar("test", 256)
    keras.utils.set_random_seed(0)
    model = tfqnn.build_model("rexnet", **TINY)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
    qat = quantize_rexnet(model)
    calibrate_ranges(qat, model, [x_train[i:i + 64] for i in range(0, 256, 64)])
    fb = convert(qat, "int8", representative_data=x_train[:8], calibration_samples=8)
    assert _float_ops(fb) == []  # SE MUL, LOGISTIC, partial-residual PAD/ADD all int8
    hist = op_histogram(fb)
    assert hist["LOGISTIC"] >= 1 and hist["MUL"] >= 1 and hist["PAD"] >= 1
    float_top1 = model.predict(x_test, verbose=0).argmax(1)
    int8_top1 = FlatbufferModel(fb).predict(x_test).argmax(1)
    agreement = float((float_top1 == int8_top1).mean())
    assert agreement >= 0.8, agreement  # measured 0.82 (barely trained, small logit margins)


@pytest.mark.slow
def test_calibrate_ranges_sets_float_activation_ranges_and_keeps_weights():
    float_model = tfqnn.build_model("rexnet", **TINY)
    x = np.random.default_rng(3).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    qat = quantize_rexnet(float_model)
    before = {w.name: w.numpy().copy() for w in qat.weights if "min" not in w.name and "max" not in w.name
              and "optimizer_step" not in w.name}
    assert calibrate_ranges(qat, float_model, [x[:4], x[4:]]) == 2
    after = {w.name: w.numpy() for w in qat.weights if w.name in before}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    stem = keras.Model(float_model.input, float_model.get_layer("block_02_add").output)(x).numpy()
    wrapper = qat.get_layer("quant_block_02_add")
    lo, hi = (float(v.numpy()) for v in (wrapper._output_quantizer_vars["min_var"], wrapper._output_quantizer_vars["max_var"]))
    np.testing.assert_allclose([lo, hi], [min(0.0, stem.min()), max(0.0, stem.max())], rtol=1e-5)
    # with real ranges the QAT simulation stays close to the float model (it is far off at TF-MOT's ±6 defaults)
    err = np.abs(qat(x, training=False).numpy() - float_model(x, training=False).numpy()).max()
    scale = np.abs(float_model(x, training=False).numpy()).max()
    assert err < 0.25 * scale, (err, scale)
