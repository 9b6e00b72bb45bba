"""Conversion to float / int8 / LCE flatbuffers and the flatbuffer parser."""
from __future__ import annotations

import numpy as np
import pytest
from cvt_helpers import SHAPE, images, tiny_float_model

from converters import flatbuffer as fbuf
from converters.benchmark import compare_outputs
from converters.runtime import FlatbufferModel
from converters.tflite import TARGETS, convert
from tfqnn.errors import ConfigError, ConversionError, ModelFileError
from tfqnn.keras import keras


def test_float_matches_keras_and_has_the_expected_ops(float_model, float_fb):
    assert fbuf.op_histogram(float_fb) == {"CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1}
    assert fbuf.custom_ops(float_fb) == []
    assert compare_outputs(float_model, float_fb, images(8)) <= 1e-5


def test_op_list_reports_tensor_types_in_execution_order(float_fb):
    ops = fbuf.op_list(float_fb)
    assert [op.name for op in ops] == ["CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert ops[0].inputs == ("FLOAT32", "FLOAT32", "FLOAT32") and ops[0].outputs == ("FLOAT32",)
    assert any("conv" in name for name in ops[0].output_names[0].split("/"))


@pytest.fixture(scope="module")
def int8_pair(float_model):
    calib = images(64, seed=1)
    return convert(float_model, "int8", representative_data=calib), convert(
        float_model, "int8", representative_data=calib, int8_io=True
    )


def test_int8_is_full_integer(int8_pair):
    float_io, int8_io = int8_pair
    names = [op.name for op in fbuf.op_list(float_io)]
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE"
    for data in int8_pair:
        for op in fbuf.op_list(data):
            if op.name not in ("QUANTIZE", "DEQUANTIZE"):
                assert "FLOAT32" not in op.inputs + op.outputs, op
    fb = FlatbufferModel(int8_io)
    assert fb.input_dtype == np.int8 and fb.output_dtype == np.int8
    assert fb.input_quantization is not None and fb.output_quantization is not None


def test_int8_matches_keras_loosely(float_model, int8_pair):
    """PTQ error of this 4-channel model is a few % of the output range (~8 output steps)."""
    x = images(16, seed=2)
    ref = float_model.predict(x, verbose=0)
    step = FlatbufferModel(int8_pair[1]).output_quantization[0]
    for data in int8_pair:
        diff = compare_outputs(float_model, data, x)
        assert diff <= 0.05 * np.ptp(ref) and diff <= 16 * step
        got = FlatbufferModel(data).predict(x)
        assert np.mean(np.argmax(ref, 1) == np.argmax(got, 1)) >= 0.75


def test_lce_binary_model(binary_model, lce_fb):
    hist = fbuf.op_histogram(lce_fb)
    assert hist.get("LceBconv2d") == 1 and "LceQuantize" in hist
    assert fbuf.custom_ops(lce_fb) == ["LceBconv2d", "LceQuantize"]
    assert fbuf.has_lce_ops(lce_fb)
    assert compare_outputs(binary_model, lce_fb, images(8)) <= 1e-4


def test_int8_refuses_binary_layers(binary_model):
    with pytest.raises(ConversionError, match=r"layer 'bconv' \(class QuantConv2D\).*--target lce"):
        convert(binary_model, "int8", representative_data=images(4))


def test_lce_int8_io_needs_quantization_ops(float_model):
    with pytest.raises(ConversionError, match="int8 I/O"):
        convert(float_model, "lce", int8_io=True)


@pytest.mark.slow
def test_qat_model_converts_to_all_int8_and_matches_exactly():
    import tensorflow_model_optimization as tfmot

    keras.utils.set_random_seed(3)
    inp = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    qat = tfmot.quantization.keras.quantize_model(keras.Model(inp, keras.layers.Dense(5)(x)))
    qat.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x_train = images(16, seed=4)
    qat.fit(x_train, np.arange(16) % 5, epochs=1, batch_size=8, verbose=0)

    data = convert(qat, "int8", int8_io=True)  # no representative data needed for QAT
    ops = fbuf.op_list(data)
    assert [op.name for op in ops] == ["CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert all(set(op.outputs) == {"INT8"} for op in ops)
    step = FlatbufferModel(data).output_quantization[0]
    assert compare_outputs(qat, data, images(8, seed=5)) <= step * 1e-3
    with_calibration = convert(qat, "int8", representative_data=x_train, int8_io=True)
    assert compare_outputs(qat, with_calibration, images(8, seed=5)) <= step * 1e-3


def _model_with_unsupported_layer():
    import tensorflow as tf

    inp = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.Lambda(lambda t: tf.math.erfinv(tf.tanh(t)), name="odd_layer")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3)(x), name="odd")


@pytest.mark.parametrize("target", TARGETS)
def test_unsupported_layer_is_named_with_its_class(target):
    with pytest.raises(ConversionError) as info:
        convert(_model_with_unsupported_layer(), target, representative_data=images(4))
    msg = str(info.value)
    assert "layer 'odd_layer' (class Lambda)" in msg and f"to {target}" in msg
    assert "Erfinv" in msg and "\n" not in msg


def test_unknown_target_lists_valid_targets(float_model):
    with pytest.raises(ConfigError, match="float, int8, lce"):
        convert(float_model, "int4")


def test_int8_io_needs_an_integer_target(float_model):
    with pytest.raises(ConfigError, match="int8"):
        convert(float_model, "float", int8_io=True)


def test_int8_without_representative_data_fails_for_a_float_model(float_model):
    with pytest.raises(ConversionError, match="representative data"):
        convert(float_model, "int8")


def test_representative_data_of_the_wrong_shape():
    with pytest.raises(ConfigError, match="does not match the model input"):
        convert(tiny_float_model(), "int8", representative_data=np.zeros((4, 9, 9, 3), np.float32))


def test_check_flatbuffer_rejects_other_files():
    with pytest.raises(ModelFileError, match="weights.bin is not a TFLite flatbuffer"):
        fbuf.check_flatbuffer(b"PK\x03\x04 this is a zip, not a model", "weights.bin")
    with pytest.raises(ModelFileError, match="not a TFLite flatbuffer"):
        fbuf.check_flatbuffer(b"", "empty.tflite")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_check_flatbuffer_rejects_truncated_files(float_fb, fraction):
    fbuf.check_flatbuffer(float_fb, "ok.tflite")
    cut = float_fb[: int(len(float_fb) * fraction)]
    with pytest.raises(ModelFileError, match="cut.tflite"):
        fbuf.check_flatbuffer(cut, "cut.tflite")


def test_weight_report_has_no_theory_column_for_a_plain_float_model():
    """A post-training int8 file of an unquantized Keras model: no "theoretical" size from its 32-bit layers."""
    from converters.weight_report import weight_report
    from converters import tflite

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs))
    calib = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 3)).astype(np.float32)
    report = weight_report(tflite.convert(model, "int8", representative_data=calib), model)
    assert "INT8" in report and "theor" not in report
