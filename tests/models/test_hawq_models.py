"""HAWQ-V3 ResNets: bit configs (vs ``vectors/hawq/bit_configs.json``), wiring, errors, round trip."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.layers.hawq import HawqConvBN, HawqDense, HawqQuantAct  # noqa: E402
from tfqnn.metrics import count_macs, count_params  # noqa: E402
from tfqnn.models import hawq  # noqa: E402
from tfqnn.models.hawq_bit_configs import BITS, NAMES  # noqa: E402
from tfqnn.registry import build_model  # noqa: E402


@pytest.fixture
def bitcfg(vectors):
    return vectors("hawq").json("bit_configs.json")


@pytest.mark.conformance
def test_packaged_configs_equal_reference(bitcfg):
    for arch, schemes in bitcfg["configs"].items():
        assert set(schemes) == set(BITS[arch])
        for scheme, cfg in schemes.items():
            assert dict(zip(NAMES[arch], BITS[arch][scheme])) == cfg, (arch, scheme)


@pytest.mark.conformance
def test_module_names_follow_q_resnet(bitcfg):
    r18 = hawq.module_names([2, 2, 2, 2], "basic", [(2, 1), (3, 1), (4, 1)], "quant_init_block_convbn")
    r50 = hawq.module_names([3, 4, 6, 3], "bottleneck", [(1, 1), (2, 1), (3, 1), (4, 1)], "quant_init_convbn")
    assert r18 == tuple(bitcfg["configs"]["resnet18"]["uniform8"])
    assert r50 == tuple(bitcfg["configs"]["resnet50"]["uniform8"])
    for arch, names in (("resnet18", r18), ("resnet50", r50)):
        assert hawq.uniform_config(names, 4) == bitcfg["configs"][arch]["uniform4"]
        assert hawq.uniform_config(names, 8) == bitcfg["configs"][arch]["uniform8"]


@pytest.mark.conformance
def test_resnet18_layers_carry_the_scheme_bits(bitcfg):  # noqa: D103
    """Every conv/fc and every QuantAct of the built model has the bits of the reference entry."""
    scheme = "bops_0.5"
    cfg = bitcfg["configs"]["resnet18"][scheme]
    model = build_model("hawq_resnet18", bit_config="bops0.5")  # README-style alias
    seen = set()
    for layer in model.layers:
        if isinstance(layer, (HawqConvBN, HawqDense)):
            module, act = hawq.keras_to_module(layer.name, "quant_init_block_convbn")
            assert layer.kernel_quantizer.num_bits == cfg[module], layer.name
            assert layer.input_quantizer.num_bits == cfg[act], layer.name
            seen.update({module, act})
        elif isinstance(layer, HawqQuantAct):
            module, _ = hawq.keras_to_module(layer.name, "quant_init_block_convbn")
            assert layer.num_bits == cfg[module] == 16
            seen.add(module)
    assert seen == set(cfg)
    layers = {row["name"]: row for row in bitcfg["layers"]["resnet18"]}
    assert count_macs(model) == sum(row["macs"] for row in layers.values())


def test_float_scheme_is_plain_resnet18_v1():
    model = hawq.hawq_resnet(18, bit_config="fp")
    assert count_params(model).trainable == 11_689_512
    assert not any(isinstance(layer, HawqConvBN) for layer in model.layers)


@pytest.mark.slow
def test_resnet50_macs_v1_layout(bitcfg):
    model = hawq.hawq_resnet(50, bit_config="uniform4")
    assert count_macs(model) == sum(row["macs"] for row in bitcfg["layers"]["resnet50"])
    assert {l.kernel_quantizer.num_bits for l in model.layers if isinstance(l, HawqConvBN) and l.name != "stem_conv"} == {4}


def test_errors_list_valid_choices():
    with pytest.raises(ConfigError, match="valid: fp, uniform8"):
        hawq.hawq_resnet20(bit_config="uniform2")
    with pytest.raises(ConfigError, match="unknown HAWQ module.*valid: quant_input"):
        hawq.hawq_resnet20(bit_config={"stage9.unit1.quant_act": 4})
    with pytest.raises(ConfigError, match="valid: 4, 8"):
        hawq.hawq_resnet20(bit_config={"stage1.unit1.quant_convbn1": 2})
    with pytest.raises(ConfigError, match="resnet18/resnet50 only"):
        hawq.hawq_resnet20(bit_config="bops_0.5")
    with pytest.raises(ConfigError, match="valid: 18, 50"):
        hawq.hawq_resnet(34)


def test_dict_config_on_cifar_model():
    model = hawq.hawq_resnet20(bit_config={"stage2.unit1.quant_act": 4, "stage2.unit1.quant_convbn1": 4})
    conv = model.get_layer("stage2_block1_conv1")
    short = model.get_layer("stage2_block1_shortcut_conv")
    assert (conv.kernel_quantizer.num_bits, conv.input_quantizer.num_bits) == (4, 4)
    assert short.input_quantizer.num_bits == 4 and short.kernel_quantizer.num_bits == 8
    assert model.get_layer("stage3_block1_conv1").kernel_quantizer.num_bits == 8


def test_float_weights_transfer_and_folding():
    """BN folded with running stats reproduces the float model's inference output (quantization off)."""
    float_model = hawq.hawq_resnet20(bit_config="fp")
    rng = np.random.default_rng(1)
    for layer in float_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c), rng.uniform(0.5, 2, c)])
    q = hawq.hawq_resnet20(bit_config="uniform8")
    assert hawq.transfer_float_weights(float_model, q) == 22
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    ref = float_model(x, training=False).numpy()
    q(x, training=True)  # initialise the activation ranges
    out = q(x, training=False).numpy()
    assert np.abs(out - ref).max() < 0.1 * np.abs(ref).max()  # 8-bit fake quant stays close
    assert not np.array_equal(out, ref)


@pytest.mark.slow
def test_hawq_layers_round_trip_h5_and_savedmodel(tmp_path):
    """HawqConvBN / HawqQuantAct / HawqDense reload (custom objects, TF-MOT scope) with identical outputs."""
    from tfqnn.serialization import load_model

    inp = keras.Input((8, 8, 3))
    x = HawqConvBN(4, 3, padding="same", weight_bits=4, act_bits=8, name="c1")(inp)
    x = HawqQuantAct(16, relu=True, name="a")(x)
    x = HawqConvBN(4, 1, weight_bits=8, act_bits=4, use_bias=True, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, HawqDense(3, weight_bits=8, act_bits=8, name="fc")(x))
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype(np.float32)
    model(x, training=True)
    ref = model(x, training=False).numpy()
    for path in (tmp_path / "m.h5", tmp_path / "sm"):
        model.save(path)
        again = load_model(path)
        assert again.get_layer("c1").kernel_quantizer.num_bits == 4
        np.testing.assert_array_equal(again(x, training=False).numpy(), ref)
