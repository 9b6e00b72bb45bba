"""ERN builders: counts vs the reference (model_counts.json), topology rules, options, round trip."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn import metrics
from tfqnn.metrics.packed_size import packed_size
from tfqnn.quantizers.binary import BinaryPower2Scaling
from tfqnn.quantizers.uniform import HWGQ

import larq as lq  # noqa: E402

import tfqnn  # noqa: E402

#: reference variant name (model_counts.json) → our registered builder
VARIANTS = {"ERNs18-0.75x": "ern18_075x", "ERNs18": "ern18", "ERNs34": "ern34", "ERNs50": "ern50", "ERNs101": "ern101"}
SIZE = 256  # model_counts.json: MACs "at 256x256 input" (its `fields.macs_256`)


def _convs(model):
    return [l for l in model.layers if isinstance(l, lq.layers.QuantConv2D)]


def _unused_reference_bn(model) -> int:
    """γ+β of the reference's ``last_bn_layer3/2`` (registered, never used in the forward): stage 3 and 2 widths."""
    widths = {s: int(model.get_layer(f"stage{s}_block1_add").output.shape[-1]) for s in (2, 3)}
    return 2 * (widths[2] + widths[3])


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_counts_match_reference(vectors, variant):
    ref = vectors("ern").json("model_counts.json")["variants"][variant]
    num_classes = 1000  # the counts file is for ImageNet heads (README: "for num_classes=1000")
    model = tfqnn.build_model(VARIANTS[variant], num_classes=num_classes, input_shape=(SIZE, SIZE, 3))
    rows = [r for r in metrics.layer_table(model) if r.kind == "conv"]
    assert len(rows) == ref["num_quantizable_conv2d"]
    assert sum(r.kernel_weights for r in rows) == ref["conv_weight_params"]
    assert sum(-(-r.kernel_weights // 8) for r in rows) == ref["weight_bytes_ref"]
    assert all(r.kernel_bits == 1 and r.input_bits == 2 for r in rows)
    assert metrics.count_macs(model) == ref["macs_256"]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == ref["num_batchnorm2d"] - 2  # last_bn_layer3/2 are not built
    affine = sum(int(np.prod(l.gamma.shape)) * 2 for l in bns)
    assert affine == ref["bn_affine_params"] - _unused_reference_bn(model)
    trainable = metrics.count_params(model).trainable
    assert trainable == ref["trainable_parameters"] - _unused_reference_bn(model)  # the PE has no weights here
    # packed size (item 5): the reference's byte counter, and the README column in the unit that reproduces it
    size = packed_size(model)
    assert size.weight_bytes == ref["weight_bytes_ref"]
    assert size.weight_mib == pytest.approx(ref["model_size_MiB"]) and size.weight_mb == pytest.approx(ref["model_size_MB_1e6"])
    published = ref["readme_model_size_MB_published"]
    decimals = len(str(published).split(".")[1])
    assert (round(size.weight_mib, decimals) == published) == ref["size_MiB_rounded_matches_readme"]
    assert (round(size.weight_mb, decimals) == published) == ref["size_1e6_rounded_matches_readme"]
    # deployable total: + float per-channel BCWMS scales and folded BN (2 per channel), no biases
    scales = sum(l.filters for l in _convs(model) if not isinstance(l.kernel_quantizer, BinaryPower2Scaling))
    assert size.float_bytes == 4 * (scales + affine)


def test_topology_rules_of_the_spec():
    model = tfqnn.build_model("ern18", num_classes=10, input_shape=(64, 64, 3))
    convs = {l.name: l for l in _convs(model)}
    # every conv: binary weights, 2-bit input quantizer, no bias
    assert all(not l.use_bias and isinstance(l.input_quantizer, HWGQ) for l in convs.values())
    # only the first block of each stage owns a 1x1 BP2S shortcut conv (also stage 1) → integer act0
    for s in range(1, 5):
        sc = convs[f"stage{s}_block1_shortcut_conv"]
        assert isinstance(sc.kernel_quantizer, BinaryPower2Scaling) and sc.kernel_size == (1, 1)
        assert not convs[f"stage{s}_block1_conv1"].input_quantizer.post_scale
        assert f"stage{s}_block2_shortcut_conv" not in convs
        assert convs[f"stage{s}_block2_conv1"].input_quantizer.post_scale
        assert isinstance(convs[f"stage{s}_block2_conv2"].kernel_quantizer, BinaryPower2Scaling)
    # EWGS only where the reference forwards it (spec §1.6); ern18's best config has none
    assert all(l.kernel_quantizer.ewgs_delta == 0 for l in convs.values())
    m = tfqnn.build_model("ern18_075x", num_classes=10, input_shape=(64, 64, 3))
    deltas = {l.name: l.kernel_quantizer.ewgs_delta for l in _convs(m)}
    assert deltas["stem_conv1"] == deltas["classifier"] == deltas["stage2_block1_shortcut_conv"] == 0.01
    assert deltas["stage2_block1_conv1"] == deltas["stage2_block1_conv2"] == 0.0
    every = tfqnn.build_model("ern18_075x", num_classes=10, input_shape=(64, 64, 3), ewgs_reach="all")
    assert {l.kernel_quantizer.ewgs_delta for l in _convs(every)} == {0.01}
    # head: BN → classifier conv → average pool (no dense); conv1_2 is 1x1 with nothing after it but the stage
    assert isinstance(m.layers[-1], keras.layers.GlobalAveragePooling2D) and m.layers[-2].name == "classifier"
    assert m.get_layer("stage4_block2_add").output.shape[-1] == 384


@pytest.mark.parametrize("shape,classes", [((32, 32, 3), 10), ((64, 64, 3), 200)])
def test_small_inputs(shape, classes):
    model = tfqnn.build_model("ern18_075x", num_classes=classes, input_shape=shape)
    x = np.random.default_rng(0).integers(0, 256, (2, *shape)).astype(np.float32)
    assert model(x).shape == (2, classes)
    strided = tfqnn.build_model("ern18_075x", num_classes=classes, input_shape=shape, stem_strides=(1, 1))
    assert strided.get_layer("post_bn").output.shape[1] == shape[0] // 8


@pytest.mark.slow
def test_round_trip_identical_outputs(tmp_path):
    model = tfqnn.build_model("ern50", num_classes=5, input_shape=(32, 32, 3), blocks=[1, 1, 1, 1])
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    x = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    for fmt, path in (("keras", tmp_path / "m.keras"), ("tf", tmp_path / "m_saved")):
        model.save(path, save_format=None if fmt == "keras" else "tf")
        np.testing.assert_array_equal(tfqnn.load_model(path)(x).numpy(), model(x).numpy())


def test_registry_and_errors():
    assert set(VARIANTS.values()) <= set(tfqnn.list_models(family="ern"))
    with pytest.raises(ConfigError, match="depth"):
        tfqnn.build_model("ern18", depth=20)
    with pytest.raises(ConfigError, match="blocks"):
        tfqnn.build_model("ern18", blocks=[1, 2])
    with pytest.raises(ConfigError, match="last_channels"):
        tfqnn.build_model("ern50", last_channels=384)
    with pytest.raises(ConfigError, match="ewgs_reach"):
        tfqnn.build_model("ern18", ewgs_reach="some")


def test_recipe_options_weight_decay_on_kernels_only_and_adam_epsilon():
    from tfqnn.config import OptimizerConfig
    from tfqnn.training.optimizers import make_optimizer

    wd = 1e-5
    model = tfqnn.build_model("ern18", num_classes=3, input_shape=(32, 32, 3), weight_decay=wd)
    convs = _convs(model)
    assert len(model.losses) == len(convs)  # one L2 term per conv kernel, none for BN γ/β
    kernel = convs[0].kernel.numpy()
    # PyTorch's coupled decay: gradient wd·w, i.e. loss wd/2·Σw²
    np.testing.assert_allclose(float(convs[0].losses[0]), wd / 2 * float(np.sum(kernel.astype(np.float64) ** 2)), rtol=1e-4)
    opt = make_optimizer(OptimizerConfig(name="adam", learning_rate=4e-4, epsilon=1e-4), 4e-4)
    assert opt.get_config()["epsilon"] == pytest.approx(1e-4)
    with pytest.raises(ConfigError, match="epsilon"):
        make_optimizer(OptimizerConfig(name="sgd", epsilon=1e-4), 0.1)


def test_shipped_configs_load():
    from pathlib import Path

    from tfqnn.config import load_config

    folder = Path(__file__).resolve().parents[2] / "configs" / "ern"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        cfg = load_config(path)
        assert cfg.model.name in tfqnn.list_models(family="ern")
        assert cfg.training.optimizer.weight_decay == 0.0 and cfg.model.options["weight_decay"] > 0
