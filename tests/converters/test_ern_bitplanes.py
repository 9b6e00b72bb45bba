"""Bit-plane pass (converters/bitplanes.py): w1aK QuantConv2D → K LceBconv2d; ERN fully binary in LCE."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from converters.bitplanes import BitplaneConv2D, rewrite_bitplanes
from converters.flatbuffer import op_histogram, op_list
from converters.lce import convert_lce
from converters.runtime import FlatbufferModel
from tfqnn.metrics.packed_size import packed_size

import larq as lq  # noqa: E402

import tfqnn  # noqa: E402


def _dorefa_model(bits: int, padding: str, stride: int, size: int = 9) -> keras.Model:
    inputs = keras.Input((size, size, 40))
    x = lq.layers.QuantConv2D(24, 3, strides=stride, padding=padding, use_bias=True,
                              input_quantizer=lq.quantizers.DoReFa(k_bit=bits, mode="activations"),
                              kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="w1a")(inputs)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(bits)
    model.get_layer("w1a").set_weights([rng.normal(size=(3, 3, 40, 24)).astype(np.float32),
                                        rng.normal(size=24).astype(np.float32)])
    return model


def _randomise_bn(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0.3, 0.3, b.shape),
                               rng.normal(0, 2, m.shape), rng.uniform(4, 40, v.shape)])


@pytest.mark.parametrize("bits,padding,stride", [(2, "same", 1), (3, "same", 2), (4, "valid", 2), (2, "same", 2)])
def test_dorefa_layer_becomes_k_binary_convs(bits, padding, stride):
    model = _dorefa_model(bits, padding, stride)
    x = np.random.default_rng(7).uniform(-0.3, 1.3, (4, 9, 9, 40)).astype(np.float32)
    rewritten, report = rewrite_bitplanes(model)
    assert report.rewritten == {"w1a": bits} and isinstance(rewritten.get_layer("w1a"), BitplaneConv2D)
    ref = model(x).numpy()
    np.testing.assert_allclose(rewritten(x).numpy(), ref, atol=2e-5, rtol=1e-5)
    fb = convert_lce(model)
    hist = op_histogram(fb)
    assert hist.get("LceBconv2d") == bits and "CONV_2D" not in hist, hist
    np.testing.assert_allclose(FlatbufferModel(fb).predict(x), ref, atol=2e-5, rtol=1e-5)
    plain = op_histogram(convert_lce(model, bitplanes=False))  # what LCE does on its own (stack.md §2.3)
    assert "CONV_2D" in plain and "LceBconv2d" not in plain


def test_non_eligible_layers_are_left_alone():
    inputs = keras.Input((6, 6, 8))
    x = lq.layers.QuantConv2D(4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="w1a1")(inputs)
    x = lq.layers.QuantConv2D(4, 1, input_quantizer=lq.quantizers.DoReFa(2), kernel_quantizer=None, name="w32a2")(x)
    model = keras.Model(inputs, x)
    rewritten, report = rewrite_bitplanes(model)
    assert rewritten is model and not report.rewritten
    assert set(report.skipped) == {"w1a1", "w32a2"}
    assert "input quantizer" in report.skipped["w1a1"] and "kernel quantizer" in report.skipped["w32a2"]


@pytest.mark.parametrize("fmt", ["keras", "tf"])
def test_bitplane_layer_round_trips(tmp_path, fmt):
    rewritten, _ = rewrite_bitplanes(_dorefa_model(2, "same", 2))
    x = np.random.default_rng(1).uniform(0, 1, (2, 9, 9, 40)).astype(np.float32)
    path = tmp_path / ("m.keras" if fmt == "keras" else "m_saved")
    rewritten.save(path, save_format=None if fmt == "keras" else "tf")
    np.testing.assert_array_equal(tfqnn.load_model(path)(x).numpy(), rewritten(x).numpy())


@pytest.mark.slow
def test_ern_is_fully_binary_in_lce():
    """Every conv of an ERN (stem, body, shortcuts, classifier) → 2 LceBconv2d; no float conv; BN folded."""
    model = tfqnn.build_model("ern18_075x", num_classes=10, input_shape=(32, 32, 3))
    _randomise_bn(model)
    x = np.random.default_rng(3).integers(0, 256, (16, 32, 32, 3)).astype(np.float32)
    rewritten, report = rewrite_bitplanes(model)
    convs = [l.name for l in model.layers if isinstance(l, lq.layers.QuantConv2D)]
    assert report.rewritten == {n: 2 for n in convs} and not report.skipped
    assert report.folded  # e.g. stem_bn1 and every block's bn after conv1
    ref = model(x).numpy()
    np.testing.assert_allclose(rewritten(x).numpy(), ref, atol=1e-4, rtol=1e-4)
    fb = convert_lce(model)
    hist = op_histogram(fb)
    assert hist["LceBconv2d"] == 2 * len(convs)
    assert not any(op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") for op in op_list(fb)), hist
    assert "FLOOR_MOD" not in hist  # the low planes are built from ops XNNPACK runs (signed_plane)
    out = FlatbufferModel(fb).predict(x)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    assert np.array_equal(out.argmax(1), ref.argmax(1))
    # size within 10 % of the deployable packed size (weights at 1 bit, BN/scales float)
    assert len(fb) <= 1.10 * packed_size(model).total_bytes


def test_batchnorm_is_folded_even_when_shared_with_another_model():
    inputs = keras.Input((6, 6, 8))
    conv = lq.layers.QuantConv2D(4, 3, padding="same", input_quantizer=lq.quantizers.DoReFa(2),
                                 kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="c")
    bn = keras.layers.BatchNormalization(name="bn")
    model = keras.Model(inputs, bn(conv(inputs)))
    _randomise_bn(model, seed=5)
    keras.Model(other := keras.Input((6, 6, 4)), bn(other))  # the BN layer now has a node outside `model`
    rewritten, report = rewrite_bitplanes(model)
    assert report.folded == ["bn"]
    x = np.random.default_rng(2).uniform(0, 1, (3, 6, 6, 8)).astype(np.float32)
    np.testing.assert_allclose(rewritten(x).numpy(), model(x).numpy(), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("bits", [2, 3])
def test_signed_planes_equal_the_bits_of_floor_levels_at_every_boundary(bits):
    """sign(signed_plane) (0 → +1) = bit j of floor(z) as ±1, checked against integer arithmetic on a grid
    of eighths and the float32 neighbours of every integer and half-integer in [0, 2^bits)."""
    import tensorflow as tf

    from converters.bitplanes import signed_plane

    top = 2**bits
    grid = np.arange(0, 8 * top, dtype=np.float32) / 8
    marks = np.arange(0, 2 * top, dtype=np.float32) / 2
    z = np.unique(np.concatenate([grid, marks, np.nextafter(marks, np.float32(-1)), np.nextafter(marks, np.float32(top))]))
    z = z[(z >= 0) & (z < top)].astype(np.float32)
    levels = np.floor(z).astype(np.int64)
    for j in range(bits):
        got = signed_plane(tf.constant(z), j, bits).numpy()
        want = np.where((levels >> j) & 1 == 1, 1.0, -1.0)
        np.testing.assert_array_equal(np.where(got >= 0, 1.0, -1.0), want, err_msg=f"plane {j}")
