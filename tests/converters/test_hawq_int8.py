"""HAWQ-V3 models → int8 TFLite: fully integer (uniform8), real INT4 weight tensors (mixed), and the
TFLite integer conv output against our dyadic integer pipeline (tfqnn.compress)."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

from tfqnn.compress import bn_folding, dyadic  # noqa: E402
from tfqnn.layers.hawq import HawqConvBN  # noqa: E402
from tfqnn.models.hawq import hawq_cifar_resnet  # noqa: E402


def _calibrated(model, seed=0, n=8):
    x = np.random.default_rng(seed).uniform(0, 255, (n, *model.inputs[0].shape[1:])).astype(np.float32)
    model(x, training=True)  # one QAT step's worth of range statistics
    return x


@pytest.mark.slow
def test_uniform8_and_mixed_resnet8_convert():
    from converters import flatbuffer, tflite
    from converters.weight_report import weight_report, weight_rows

    q8 = hawq_cifar_resnet(8, bit_config="uniform8")
    x = _calibrated(q8)
    data = tflite.convert(q8, "int8", representative_data=x)  # raises if any op stays float
    assert {t for op in flatbuffer.op_list(data) for t in op.inputs if t} <= {"INT8", "INT32"} | {"FLOAT32"}
    assert all(r.weight_type == "INT8" for r in weight_rows(data))

    mixed = {"stage3.unit1.quant_act": 4, "stage3.unit1.quant_convbn1": 4, "stage3.unit1.quant_identity_convbn": 4,
             "stage3.unit1.quant_act1": 4, "stage3.unit1.quant_convbn2": 4}
    qm = hawq_cifar_resnet(8, bit_config=mixed)
    x = _calibrated(qm)
    data = tflite.convert(qm, "int8", representative_data=x)
    rows = {r.layer.split(";")[-1].split("/")[1]: r for r in weight_rows(data)}
    for name in ("stage3_block1_conv1", "stage3_block1_conv2", "stage3_block1_shortcut_conv"):
        assert rows[name].weight_type == "INT4", name
        assert rows[name].bytes == (rows[name].weights + 1) // 2  # two weights per byte
    assert rows["stage2_block1_conv1"].weight_type == "INT8"
    report = weight_report(data, qm)
    assert "INT4" in report and "theoretical" in report


def _single_conv(weight_bits: int) -> keras.Model:
    inp = keras.Input((6, 6, 3))
    conv = HawqConvBN(4, 3, padding="same", weight_bits=weight_bits, act_bits=8, output_range=True, name="conv")
    model = keras.Model(inp, conv(inp))
    rng = np.random.default_rng(3)
    conv.set_weights([w if w.ndim != 1 else rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in conv.get_weights()])
    return model


@pytest.mark.slow
def test_tflite_integers_vs_dyadic_pipeline():
    """Same W_int, b_int and scales: TFLite's int8 output equals our dyadic requantization of the INT32
    accumulator bit for bit on this block (2304 outputs). In general they may differ by one step on exact
    ties: TFLite's fixed-point multiplier rounds ties away from zero, HAWQ's b/2^c rounds half-even."""
    from converters import tflite

    model = _single_conv(8)
    x = _calibrated(model, seed=4, n=16) / 40.0 - 3.0
    model(x, training=True)
    data = tflite.convert(model, "int8", representative_data=x, int8_io=True)
    it = tf.lite.Interpreter(model_content=data)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    s_in, zp_in = inp["quantization"]
    s_out, zp_out = out["quantization"]
    assert zp_in == 0 and zp_out == 0  # HAWQ: symmetric, no zero point
    details = {d["name"]: d for d in it.get_tensor_details()}
    w_d = next(d for n, d in details.items() if "conv" in n and len(d["shape"]) == 4 and d["shape"][0] == 4 and d["dtype"] == np.int8)
    b_d = next(d for d in details.values() if d["dtype"] == np.int32 and len(d["shape"]) == 1 and d["shape"][0] == 4)
    w_int = np.transpose(it.get_tensor(w_d["index"]).astype(np.int64), (1, 2, 3, 0))  # OHWI → HWIO
    s_w = w_d["quantization_parameters"]["scales"].astype(np.float32)
    b_int = it.get_tensor(b_d["index"]).astype(np.int64)

    x_int = np.clip(np.round(x / s_in), -128, 127).astype(np.int8)
    got = []
    for i in range(len(x_int)):
        it.set_tensor(inp["index"], x_int[i : i + 1])
        it.invoke()
        got.append(it.get_tensor(out["index"]))
    got = np.concatenate(got).astype(np.int64)

    acc = bn_folding.folded_conv_accumulator(x_int, w_int, b_int, 1, 1)
    b, c = dyadic.frexp_dyadic(dyadic.real_multiplier(s_in, s_w, s_out))
    ours = dyadic.clamp(dyadic.apply_dyadic(acc, b, c), 8, "symmetric").astype(np.int64)
    np.testing.assert_array_equal(ours, got)
