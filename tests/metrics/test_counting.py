"""tfqnn.metrics: MACs / params / size against published numbers and hand computations."""
from __future__ import annotations

import larq as lq
import pytest

from tfqnn.keras import keras
from tfqnn import build_model
from tfqnn.errors import ConfigError
from tfqnn.metrics import count_macs, count_params, layer_table, model_size_bytes, summary_table

L = keras.layers


# ---------------------------------------------------------------- published ImageNet numbers
@pytest.mark.parametrize("name,variant,published", [
    ("resnet50", "v1.5", 4.09e9),  # torchvision model table, "GFLOPS" = multiply-adds
    ("resnet50", "v1", 3.86e9),    # stride on the 1x1 (pytorchcv / Keras applications): 3.858 G
    ("resnet18", "v1.5", 1.81e9),  # torchvision model table
])
def test_imagenet_macs_match_published(name, variant, published):
    model = build_model(name, variant=variant)
    assert abs(count_macs(model) - published) / published < 0.01


def test_imagenet_param_counts():
    pc = count_params(build_model("resnet18"))
    assert pc.trainable == 11_689_512
    # BN moving mean + variance over 64 + 4·64 + 5·128 + 5·256 + 5·512 = 4,800 BN channels
    assert pc.non_trainable == 2 * 4800
    assert pc.total == pc.trainable + pc.non_trainable


# ---------------------------------------------------------------- tiny model, by hand
def tiny_model() -> keras.Model:
    inp = keras.Input((8, 8, 3), name="x")
    x = L.Conv2D(4, 3, padding="same", name="conv_a")(inp)                        # 8x8x4
    x = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="dw")(x)  # 4x4x8
    x = L.Conv2D(8, 1, groups=2, use_bias=False, name="grouped")(x)                # 4x4x8
    x = lq.layers.QuantConv2D(6, 3, use_bias=False, kernel_quantizer="ste_sign", input_quantizer="ste_sign",
                              kernel_constraint="weight_clip", name="qconv")(x)     # 2x2x6
    x = L.BatchNormalization(name="bn")(x)
    x = L.Flatten(name="flat")(x)                                                   # 24
    out = L.Dense(5, name="fc")(x)
    return keras.Model(inp, out)


# Hand computations (H_out·W_out·k_h·k_w·C_in/groups·C_out etc.):
TINY_MACS = {
    "conv_a": 8 * 8 * 3 * 3 * 3 * 4,       # 6,912
    "dw": 4 * 4 * 3 * 3 * 4 * 2,           # 1,152
    "grouped": 4 * 4 * 1 * 1 * (8 // 2) * 8,  # 512
    "qconv": 2 * 2 * 3 * 3 * 8 * 6,        # 1,728
    "fc": 24 * 5,                          # 120
}


def test_larq_layers_subclass_keras_layers():
    assert issubclass(lq.layers.QuantConv2D, L.Conv2D)
    assert issubclass(lq.layers.QuantDepthwiseConv2D, L.DepthwiseConv2D)
    assert issubclass(lq.layers.QuantDense, L.Dense)


def test_tiny_model_macs_and_rows():
    model = tiny_model()
    rows = {r.name: r for r in layer_table(model)}
    assert {n: r.macs for n, r in rows.items() if r.macs} == TINY_MACS
    assert count_macs(model) == 10_424 == sum(TINY_MACS.values())
    assert [rows[n].kind for n in ("conv_a", "dw", "grouped", "qconv", "bn", "fc")] == [
        "conv", "depthwise", "conv", "conv", "other", "dense"]
    assert rows["dw"].output_shape == (1, 4, 4, 8)
    assert (rows["conv_a"].trainable_params, rows["conv_a"].kernel_weights) == (108 + 4, 108)
    assert (rows["bn"].trainable_params, rows["bn"].non_trainable_params) == (12, 12)
    assert rows["qconv"].class_name == "QuantConv2D"
    assert (rows["qconv"].kernel_bits, rows["qconv"].input_bits) == (1, 1)
    assert (rows["conv_a"].kernel_bits, rows["conv_a"].input_bits) == (32, 32)
    assert rows["bn"].kernel_bits is None


def test_larq_precisions_and_dense_over_sequence():
    inp = keras.Input((3, 7))
    x = lq.layers.QuantDense(4, input_quantizer=lq.quantizers.DoReFa(k_bit=2, mode="activations"),
                             kernel_quantizer=None, name="qd")(inp)
    model = keras.Model(inp, x)
    (row,) = [r for r in layer_table(model) if r.name == "qd"]
    assert row.macs == 3 * 7 * 4  # in_features·units × the extra leading dim 3
    assert (row.kernel_bits, row.input_bits) == (32, 2)


def test_tfmot_wrapped_model_has_the_same_macs():
    import tensorflow_model_optimization as tfmot

    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inp)
    x = L.BatchNormalization(name="b1")(x)
    x = L.ReLU(name="r1")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(3, name="fc")(x)
    model = keras.Model(inp, out)
    qat = tfmot.quantization.keras.quantize_model(model)
    expected = 8 * 8 * 27 * 4 + 4 * 4 * 9 * 4 + 4 * 3
    assert count_macs(model) == count_macs(qat) == expected
    rows = {r.name: r for r in layer_table(qat)}
    wrapped = [r for r in rows.values() if r.kind != "other"]
    assert len(wrapped) == 3 and all(r.class_name.startswith("QuantizeWrapper") for r in wrapped)
    assert rows["quant_dw"].kind == "depthwise" and rows["quant_dw"].macs == 4 * 4 * 9 * 4
    assert count_params(qat).trainable == count_params(model).trainable


def test_nested_model_and_input_shape_override():
    inner_in = keras.Input((None, None, 3))
    inner = keras.Model(inner_in, L.Conv2D(4, 3, padding="same", name="conv")(inner_in), name="inner")
    inp = keras.Input((8, 8, 3))
    x = inner(inp)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(2, name="fc")(x)
    outer = keras.Model(inp, out)
    rows = {r.name: r for r in layer_table(outer)}
    assert rows["inner/conv"].macs == 8 * 8 * 27 * 4
    assert rows["inner/conv"].output_shape == (1, 8, 8, 4)
    assert count_macs(outer) == 8 * 8 * 27 * 4 + 4 * 2
    with pytest.raises(ConfigError, match="unknown dimensions"):
        count_macs(inner)
    assert count_macs(inner, input_shape=(5, 6, 3)) == 5 * 6 * 27 * 4


def test_shared_layer_counts_each_call():
    dense = L.Dense(3, name="shared")
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], L.Add()([dense(a), dense(b)]))
    assert count_macs(model) == 2 * 4 * 3
    assert count_params(model).trainable == 4 * 3 + 3


def test_resnet_macs_at_other_input_size():
    # CIFAR ResNet-8 at width 4 on 16x16: stem + 2 convs per stage + FC, by hand.
    model = build_model("cifar_resnet", depth=8, base_width=4, input_shape=(16, 16, 3))
    expected = (16 * 16 * 27 * 4 + 2 * 16 * 16 * 9 * 4 * 4
                + 8 * 8 * 9 * 4 * 8 + 8 * 8 * 9 * 8 * 8
                + 4 * 4 * 9 * 8 * 16 + 4 * 4 * 9 * 16 * 16 + 16 * 10)
    assert count_macs(model) == expected


# ---------------------------------------------------------------- size
def test_model_size_bytes_mixed_bits():
    model = tiny_model()
    bits = {"conv_a": 8, "qconv": 1}
    expected_bits = (
        108 * 8 + 4 * 32          # conv_a: kernel at 8 bits, bias at 32
        + 72 * 32 + 8 * 32        # dw: kernel at the default 32, bias
        + 32 * 32                 # grouped: kernel only
        + 432 * 1                 # qconv: binary kernel
        + 24 * 32                 # bn: gamma, beta, moving mean, moving variance
        + 120 * 32 + 5 * 32       # fc
    )
    assert model_size_bytes(model, bits) == expected_bits / 8 == 1222
    assert model_size_bytes(model, bits, include_non_trainable=False) == (expected_bits - 12 * 32) / 8
    assert model_size_bytes(model, 4, other_bits=16) == ((108 + 72 + 32 + 432 + 120) * 4 + (4 + 8 + 24 + 5) * 16) / 8
    assert model_size_bytes(model) == (count_params(model).total * 32) / 8


def test_model_size_bad_names_and_bits():
    with pytest.raises(ConfigError, match="'bn'.*valid: conv_a, dw, fc, grouped, qconv"):
        model_size_bytes(tiny_model(), {"bn": 8})
    with pytest.raises(ConfigError, match="weight_bits"):
        model_size_bytes(tiny_model(), 0)


def test_summary_table_has_rows_and_totals():
    text = summary_table(tiny_model())
    assert "qconv" in text and "QuantConv2D" in text and "w1a1" in text
    assert "MACs (conv/dense, batch 1): 10,424" in text
    trainable = 112 + 80 + 32 + 432 + 12 + 125
    assert f"trainable {trainable:,}, non-trainable 12" in text
