"""ReXNet / ReXNet-lite builders: channel tables, params and MACs against configs.json (exact), layer
placement, padding, BN settings, initialisers, registry names and option errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tfqnn.keras import keras
import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.metrics import count_macs, count_params
from tfqnn.models.rexnet import build_rexnet, build_rexnet_lite, probe_layers
from tfqnn.models.rexnet_arch import make_divisible, rexnet_arch, rexnet_lite_arch


def _width(variant: dict) -> float:
    return float(re.search(r"(?:width_mult|multiplier)=([0-9.]+)", variant["constructor"]).group(1))


def _arch(variant: dict):
    fn = rexnet_arch if variant["family"] == "rexnet" else rexnet_lite_arch
    return fn(_width(variant))


def _model(variant: dict):
    fn = build_rexnet if variant["family"] == "rexnet" else build_rexnet_lite
    return fn(variant["head"]["classes"], (224, 224, 3), width_mult=_width(variant))


@pytest.mark.conformance
def test_channel_tables_equal_configs(vectors):
    variants = vectors("rexnet").json("configs.json")["variants"]
    assert variants
    for v in variants:
        arch = _arch(v)
        assert arch.block_dicts() == v["blocks"], v["name"]
        assert (arch.stem_ch, arch.pen_ch, arch.hidden) == (v["stem_ch"], v["pen_ch"], v["head"]["hidden"]), v["name"]


@pytest.mark.conformance
@pytest.mark.slow
def test_params_and_macs_equal_configs(vectors):
    for v in vectors("rexnet").json("configs.json")["variants"]:
        model = _model(v)
        assert count_params(model).trainable == v["trainable_params"], v["name"]
        assert count_macs(model) == v["conv_macs_224"], v["name"]
        keras.backend.clear_session()


@pytest.mark.conformance
def test_registered_variants_match_configs(vectors):
    published = vectors("rexnet").json("configs.json")["published_readme"]
    names = set(tfqnn.list_models(family="rexnet"))
    wanted = {n for n, text in published.items() if not text.startswith("not published")}
    assert wanted and wanted <= names
    assert {"rexnet", "rexnet_lite"} <= names


def test_registered_name_and_generic_width_build_the_same_table():
    a = tfqnn.build_model("rexnet_1.3", num_classes=10, input_shape=(64, 64, 3))
    b = tfqnn.build_model("rexnet", num_classes=10, input_shape=(64, 64, 3), width_mult=1.3)
    assert [l.output_shape for l in a.layers] == [l.output_shape for l in b.layers]
    assert count_params(a) == count_params(b)


def test_half_even_rounding_and_accumulation():
    # spec §2.3: w=1.0 block 2 is round(38.5)=38 and block 10 round(128.5)=128 (half-up gives 39, 129)
    outs = [b.out_ch for b in rexnet_arch(1.0).blocks]
    assert outs[2] == 38 and outs[10] == 128 and outs[-1] == 185
    # spec §2.3: at w=0.6 accumulating a block by block gives 84 / 111 (closed form: 83 / 110)
    w06 = rexnet_arch(0.6).blocks
    assert (w06[10].out_ch, w06[14].out_ch) == (84, 111)
    assert (w06[11].in_ch, w06[15].in_ch) == (84, 111)


def test_make_divisible():
    assert make_divisible(round(41.6)) == 40  # round(41.6) = 42 -> 40 (spec §3, lite 1.3 stem)
    assert make_divisible(3) == 8
    assert make_divisible(13) == 16  # 8 < 0.9·13 -> +8
    assert rexnet_lite_arch(1.3).stem_ch == 40


def test_generic_width_builds_and_runs():
    model = tfqnn.build_model("rexnet", num_classes=7, input_shape=(32, 32, 3), width_mult=0.6, small_input=True)
    y = model(np.zeros((2, 32, 32, 3), np.float32), training=False)
    assert y.shape == (2, 7)
    arch = rexnet_arch(0.6, small_input=True)
    assert model.get_layer("block_10_pw_conv").filters == arch.blocks[10].out_ch == 84


def _layer_chain(model, start: str, stop: str) -> list[str]:
    """Class names of the layers from ``start`` to ``stop`` following inbound nodes backwards."""
    chain, layer = [], model.get_layer(stop)
    while layer.name != start:
        chain.append(type(layer).__name__ + ":" + layer.name)
        inbound = layer.inbound_nodes[0].inbound_layers
        layer = inbound[0] if isinstance(inbound, list) else inbound
    return chain[::-1]


def test_v1_activation_placement_se_before_relu6():
    model = build_rexnet(10, (64, 64, 3), width_mult=0.5)
    names = [l.name for l in model.layers]
    b = "block_04"
    order = [names.index(f"{b}_{s}") for s in ("exp_conv", "exp_bn", "exp_act", "dw_conv", "dw_bn", "se_pool",
                                                 "se_scale", "dw_act", "pw_conv", "pw_bn", "add")]
    assert order == sorted(order)
    assert model.get_layer(f"{b}_exp_act").get_config()["activation"] == "swish"
    assert model.get_layer(f"{b}_dw_act").max_value == 6.0
    assert model.get_layer(f"{b}_se_gate").get_config()["activation"] == "sigmoid"
    assert model.get_layer(f"{b}_se_conv1").use_bias and model.get_layer(f"{b}_se_conv2").use_bias
    # the scale multiplies the depthwise BN output (no activation between them)
    scale_inputs = [l.name for l in model.get_layer(f"{b}_se_scale").inbound_nodes[0].inbound_layers]
    assert scale_inputs == [f"{b}_dw_bn", f"{b}_se_gate"]
    # block 0: no expansion, no shortcut (32 -> 16)
    assert "block_00_exp_conv" not in names and "block_00_add" not in names
    assert model.get_layer("stem_act").get_config()["activation"] == "swish"
    assert model.get_layer("pen_act").get_config()["activation"] == "swish"


def test_lite_activations_and_head():
    model = build_rexnet_lite(10, (64, 64, 3))
    names = [l.name for l in model.layers]
    assert not any("_se_" in n for n in names)
    for n in ("stem_act", "block_03_exp_act", "block_03_dw_act", "pen_act", "head_act"):
        assert model.get_layer(n).max_value == 6.0, n
    assert model.get_layer("head_conv").filters == 1024 and model.get_layer("head_conv").use_bias
    order = [names.index(n) for n in ("global_pool", "head_conv", "head_bn", "head_act", "dropout", "classifier")]
    assert order == sorted(order)


def test_stride2_uses_symmetric_torch_padding():
    model = build_rexnet(10, (224, 224, 3), width_mult=0.5)
    assert model.get_layer("stem_pad").padding == ((1, 0), (1, 0))  # PyTorch pad 1, unused row trimmed
    assert model.get_layer("stem_conv").padding == "valid"
    assert model.get_layer("block_01_dw_conv").padding == "valid"
    assert model.get_layer("block_02_dw_conv").padding == "same"
    assert "block_02_dw_pad" not in [l.name for l in model.layers]


def test_batchnorm_and_initialisers():
    model = build_rexnet(10, (64, 64, 3), width_mult=0.5)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(l.epsilon == 1e-5 and l.momentum == 0.9 for l in bns)
    dw = model.get_layer("block_08_dw_conv")
    init = dw.depthwise_initializer
    assert (init.mode, init.scale) == ("fan_out", 2.0)
    # fan_out of a (3,3,C,1) depthwise kernel is 9 -> std sqrt(2/9), independent of C
    std = float(np.std(dw.depthwise_kernel.numpy()))
    assert abs(std - np.sqrt(2 / 9)) < 0.05


def test_probe_tags_cover_blocks():
    tags = probe_layers(build_rexnet(10, (64, 64, 3), width_mult=0.5))
    assert tags["block_00"] == "block_00_pw_bn" and tags["block_02"] == "block_02_add"
    assert len([t for t in tags if t.startswith("block_")]) == 16


@pytest.mark.slow
def test_keras_roundtrip_identical_outputs(tmp_path):
    model = build_rexnet(5, (32, 32, 3), width_mult=0.25, small_input=True, normalization="cifar10")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    path = tmp_path / "rx.keras"
    model.save(path)
    loaded = tfqnn.load_model(path)
    np.testing.assert_array_equal(model(x, training=False).numpy(), loaded(x, training=False).numpy())


def test_option_errors_name_the_problem():
    with pytest.raises(ConfigError, match="width_mult"):
        tfqnn.build_model("rexnet", width_mult=0)
    with pytest.raises(ConfigError, match="quantization"):
        tfqnn.build_model("rexnet", num_classes=3, input_shape=(32, 32, 3), quantization="int4")
    with pytest.raises(ConfigError, match="kernel_conf"):
        tfqnn.build_model("rexnet_lite", kernel_conf="33")
    with pytest.raises(ConfigError, match="dropout"):
        tfqnn.build_model("rexnet_1.0", dropout=1.5)
    with pytest.raises(ConfigError, match="widht_mult"):
        tfqnn.build_model("rexnet_1.0", widht_mult=1.0)
