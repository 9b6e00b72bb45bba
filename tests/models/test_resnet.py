"""Shared ResNet builders: published parameter counts, names, options, extension hooks,
`.keras` round-trip and TFLite conversion of tiny CIFAR ResNets."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn import build_model, list_models, load_model
from tfqnn.errors import ConfigError
from tfqnn.models import resnet as R

import tensorflow as tf  # noqa: E402


def trainable(model: keras.Model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers]


# ---------------------------------------------------------------- hand formulas (CIFAR)
def conv_bn(cin: int, cout: int, k: int, bn: bool = True) -> int:
    return k * k * cin * cout + (2 * cout if bn else 0)


def cifar_params(n: int, w: int = 16, classes: int = 10, shortcut: str = "A") -> int:
    """He et al. §4.2 net, bias-free convs + BN(γ, β) + FC with bias, counted by hand."""
    total = conv_bn(3, w, 3)  # stem
    cin = w
    for c in (w, 2 * w, 4 * w):
        for b in range(n):
            total += conv_bn(cin if b == 0 else c, c, 3) + conv_bn(c, c, 3)
            if b == 0 and cin != c and shortcut == "B":
                total += conv_bn(cin, c, 1)
        cin = c
    return total + 4 * w * classes + classes


def preact_cifar_params(n: int, w: int = 16, classes: int = 10) -> int:
    """Pre-activation net, option A: stem conv-BN, per block BN(in)+conv+BN+conv (the very first
    block has no pre-BN), final BN, FC."""
    total = conv_bn(3, w, 3)
    cin = w
    for s, c in enumerate((w, 2 * w, 4 * w)):
        for b in range(n):
            c_in = cin if b == 0 else c
            pre_bn = 0 if (s == 0 and b == 0) else 2 * c_in
            total += pre_bn + conv_bn(c_in, c, 3) + 9 * c * c
        cin = c
    return total + 2 * 4 * w + 4 * w * classes + classes


def test_hand_formula_reproduces_published_numbers():
    # Option B ResNet-20 = 272,474 (bias-free convs + BN + FC); paper Table 6: 0.27M / 0.85M / 1.7M.
    assert cifar_params(3, shortcut="B") == 272_474
    assert round(cifar_params(3) / 1e6, 2) == 0.27
    assert round(cifar_params(9) / 1e6, 2) == 0.85
    assert round(cifar_params(18) / 1e6, 1) == 1.7


@pytest.mark.parametrize("shortcut,expected", [("A", 269_722), ("B", 272_474)])
def test_resnet20_params(shortcut, expected):
    model = build_model("resnet20", shortcut=shortcut)
    assert cifar_params(3, shortcut=shortcut) == expected
    assert trainable(model) == expected


def test_resnet56_and_preact_params():
    assert trainable(build_model("resnet56")) == cifar_params(9)
    assert trainable(build_model("preact_resnet20")) == preact_cifar_params(3)
    tiny = R.cifar_resnet(8, base_width=4, num_classes=3, block="preact")
    assert trainable(tiny) == preact_cifar_params(1, w=4, classes=3)


# ---------------------------------------------------------------- ImageNet (torchvision numbers)
@pytest.mark.parametrize("name,variant,expected", [
    ("resnet18", "v1.5", 11_689_512),
    ("resnet50", "v1.5", 25_557_032),
    ("resnet50", "v1", 25_557_032),
])
def test_imagenet_params_match_torchvision(name, variant, expected):
    assert trainable(build_model(name, variant=variant)) == expected


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("resnet34", 21_797_672), ("resnet101", 44_549_160), ("resnet152", 60_192_808)])
def test_deeper_imagenet_params_match_torchvision(name, expected):
    assert trainable(build_model(name)) == expected


def test_variant_moves_the_stride():
    v1 = R.imagenet_resnet(50, base_width=8, input_shape=(64, 64, 3), num_classes=5, variant="v1")
    v15 = R.imagenet_resnet(50, base_width=8, input_shape=(64, 64, 3), num_classes=5, variant="v1.5")
    assert v1.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert v1.get_layer("stage2_block1_conv2").strides == (1, 1)
    assert v15.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert v15.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert "stage2_block1_pad2" in names(v15) and "stage2_block1_pad2" not in names(v1)
    assert v1.output_shape == v15.output_shape == (None, 5)


# ---------------------------------------------------------------- names, options, errors
def test_layer_names_are_deterministic():
    first = names(R.cifar_resnet(8, base_width=4, shortcut="B"))
    second = names(R.cifar_resnet(8, base_width=4, shortcut="B"))
    assert first == second
    for n in ("input", "normalize", "stem_conv", "stem_bn", "stem_relu", "stage1_block1_conv1", "stage1_block1_bn2",
              "stage1_block1_add", "stage1_block1_out", "stage2_block1_pad1", "stage2_block1_shortcut_conv",
              "stage2_block1_shortcut_bn", "stage3_block1_relu1", "global_pool", "classifier"):
        assert n in first, n
    net = R.imagenet_resnet(18, base_width=4, input_shape=(64, 64, 3), num_classes=3)
    for n in ("stem_pad", "stem_conv", "stem_pool_pad", "stem_pool", "stage4_block2_out", "stage4_block1_shortcut_conv"):
        assert n in names(net), n
    assert "stage1_block1_shortcut_conv" not in names(net)  # 64 -> 64, stride 1: identity


def test_classifier_outputs_logits_and_include_top_false():
    model = R.cifar_resnet(8, base_width=4, num_classes=7)
    head = model.get_layer("classifier")
    assert head.activation is keras.activations.linear and head.units == 7
    body = R.cifar_resnet(8, base_width=4, include_top=False)
    assert "classifier" not in names(body) and "global_pool" not in names(body)
    assert body.output_shape == (None, 8, 8, 16)


def test_normalization_option():
    assert "normalize" not in names(R.cifar_resnet(8, base_width=4, normalization=None))
    custom = R.cifar_resnet(8, base_width=4, normalization=([1, 2, 3], [4, 5, 6]))
    assert custom.get_layer("normalize").std == [4.0, 5.0, 6.0]
    imagenet = R.imagenet_resnet(18, base_width=4, input_shape=(32, 32, 3))
    np.testing.assert_allclose(imagenet.get_layer("normalize").mean, [123.675, 116.28, 103.53])


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="6n\\+2"):
        build_model("cifar_resnet", depth=21)
    with pytest.raises(ConfigError, match="v1.*v1.5"):
        build_model("resnet50", variant="v2")
    with pytest.raises(ConfigError, match="valid: 18, 34, 50, 101, 152"):
        R.imagenet_resnet(42)
    with pytest.raises(ConfigError, match="shortcut 'C'"):
        build_model("resnet20", shortcut="C")
    with pytest.raises(ConfigError, match="block 'wide'"):
        build_model("resnet20", block="wide")
    with pytest.raises(ConfigError, match="unknown normalization 'mnist'"):
        build_model("resnet20", normalization="mnist")
    with pytest.raises(ConfigError, match="unknown option 'stride_on'"):
        build_model("resnet50", stride_on="1x1")


def test_registered_names():
    expected = {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "preact_resnet20", "preact_resnet56",
                "preact_resnet110", "cifar_resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
    assert expected <= set(list_models())
    assert build_model("resnet32", base_width=4).name == "resnet32"
    assert len([n for n in names(build_model("resnet32", base_width=4)) if n.endswith("_add")]) == 15


def test_unknown_spatial_input_shape():
    model = R.cifar_resnet(8, base_width=4, input_shape=(None, None, 3))
    out = model(np.zeros((1, 20, 12, 3), np.float32))
    assert out.shape == (1, 10)


# ---------------------------------------------------------------- extension points
def test_conv_factory_and_residual_hook():
    import larq as lq

    def qconv(**kw):
        return lq.layers.QuantConv2D(use_bias=False, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", **kw)

    seen = []

    def hook(x, block_name):
        seen.append(block_name)
        return keras.layers.Rescaling(0.5, name=f"{block_name}_gate")(x)

    inp = keras.Input((8, 8, 4))
    out = R.basic_block(inp, 8, 2, "stage2_block1", conv=qconv, residual_hook=hook, shortcut="B")
    model = keras.Model(inp, out)
    convs = [l for l in model.layers if "conv" in l.name]
    assert {type(l).__name__ for l in convs} == {"QuantConv2D"} and len(convs) == 3
    assert seen == ["stage2_block1"]
    gate = model.get_layer("stage2_block1_gate")
    add = model.get_layer("stage2_block1_add")
    assert gate.output.ref() in {t.ref() for t in add.input}


def test_build_resnet_generic_stage_spec():
    model = R.build_resnet(
        [R.StageSpec(1, 4, 1), R.StageSpec(2, 6, 2)], R.basic_block, stem=R.cifar_stem, stem_filters=4,
        input_shape=(8, 8, 3), num_classes=2, block_kwargs={"shortcut": "A"}, name="custom",
    )
    assert model.name == "custom" and model.output_shape == (None, 2)
    assert model.get_layer("stage2_block2_out").output_shape == (None, 4, 4, 6)
    assert "stage2_block1_shortcut_pad" in names(model)


def _numpy_conv3x3_s2_pad1(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """PyTorch-style 3x3 stride-2 conv with symmetric zero padding 1 (NHWC / HWIO)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h = (x.shape[1] + 2 - 3) // 2 + 1
    wd = (x.shape[2] + 2 - 3) // 2 + 1
    out = np.zeros((x.shape[0], h, wd, w.shape[-1]))
    for i in range(h):
        for j in range(wd):
            patch = xp[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
            out[:, i, j, :] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def test_strided_conv_pads_symmetrically_like_pytorch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 6, 6, 2)).astype(np.float32)
    inp = keras.Input((6, 6, 2))
    model = keras.Model(inp, R.padded_conv(inp, 3, 3, 2, "c", "p"))
    w = model.get_layer("c").kernel.numpy()
    np.testing.assert_allclose(model(x).numpy(), _numpy_conv3x3_s2_pad1(x, w), atol=1e-5)


# ---------------------------------------------------------------- serialisation and conversion
def _randomise_bn(model: keras.Model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if i in (0, 3)
                               else rng.normal(0, 0.2, w.shape).astype(np.float32)
                               for i, w in enumerate(layer.get_weights())])


@pytest.mark.parametrize("block,shortcut", [("basic", "A"), ("basic", "B"), ("preact", "A"), ("preact", "B")])
def test_keras_roundtrip(tmp_path, block, shortcut):
    model = R.cifar_resnet(8, base_width=4, block=block, shortcut=shortcut, input_shape=(16, 16, 3))
    _randomise_bn(model)
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    assert names(loaded) == names(model)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("block", ["basic", "preact"])
def test_tflite_conversion_matches_keras(block):
    model = R.cifar_resnet(8, base_width=4, block=block, shortcut="A", input_shape=(16, 16, 3))
    _randomise_bn(model, seed=2)
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    interp = tf.lite.Interpreter(model_content=flatbuffer)
    interp.allocate_tensors()
    ops = {op["op_name"] for op in interp._get_ops_details()}  # noqa: SLF001
    assert {"MUL", "ADD", "PAD", "STRIDED_SLICE", "CONV_2D", "FULLY_CONNECTED"} <= ops, ops
    assert not any("FLEX" in op.upper() or "CUSTOM" in op.upper() for op in ops), ops
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rng = np.random.default_rng(3)
    for _ in range(2):
        x = rng.uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(out["index"]), model(x, training=False).numpy(), atol=1e-4)


@pytest.mark.parametrize(
    "size,k,s,p,expected",
    [
        (32, 3, 2, 1, (1, 0)),   # even input: PyTorch's trailing pad row is read by no window
        (33, 3, 2, 1, (1, 1)),   # odd input: it is read
        (224, 7, 2, 3, (3, 2)),  # ImageNet stem conv
        (112, 3, 2, 1, (1, 0)),  # ImageNet stem max pool
        (32, 3, 1, 1, (1, 1)),   # stride 1 keeps the symmetric pad
        (None, 3, 2, 1, (1, 1)),  # unknown size: symmetric
    ],
)
def test_torch_padding_trims_unread_rows(size, k, s, p, expected):
    assert R.torch_padding(size, k, s, p) == expected
    if size is not None:  # same output size as PyTorch's symmetric padding
        before, after = expected
        assert (size + before + after - k) // s + 1 == (size + 2 * p - k) // s + 1


@pytest.mark.slow
def test_lce_conversion_of_strided_resnet_matches_keras():
    """Regression: LCE's pad fusion turned (1,1)+valid stride-2 convs into TF 'same' (0,1)."""
    import larq_compute_engine as lce
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    model = R.cifar_resnet(8, base_width=4, shortcut="B", input_shape=(16, 16, 3), normalization=None)
    _randomise_bn(model, seed=4)
    x = np.random.default_rng(5).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    out = Interpreter(lce.convert_keras_model(model)).predict(x)
    np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4, rtol=1e-4)
