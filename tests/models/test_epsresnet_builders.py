"""ε-ResNet builders: parameter counts (vectors + spec formula), structure, side head, round trips."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.layers import EpsilonGate, ZeroPadShortcut
from tfqnn.models.epsresnet import epsresnet_cifar, epsresnet_imagenet


def _trainable(model: keras.Model) -> int:
    return int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))


def _side_params(model: keras.Model) -> int:
    return sum(_trainable(model.get_layer(n)) for n in ("side_bn", "side_classifier"))


def _rows(vectors):
    return vectors("epsresnet").json("cases.json")["cifar_param_counts"]


@pytest.mark.conformance
def test_cifar_param_counts_small(vectors):
    for row in [r for r in _rows(vectors) if r["n"] <= 18]:
        model = epsresnet_cifar(row["depth"], num_classes=row["classes"], side_supervision=True)
        assert _trainable(model) == row["trainable_params_with_side_head"], row
        assert _trainable(model) - _side_params(model) == row["trainable_params"], row


@pytest.mark.conformance
@pytest.mark.slow
def test_cifar_param_counts_deep(vectors):
    """One build per deep n (its first row); building every row would take minutes on 2 cores."""
    deep = {}
    for r in _rows(vectors):
        if r["n"] > 18:
            deep.setdefault(r["n"], r)
    for row in deep.values():
        keras.backend.clear_session()
        model = epsresnet_cifar(row["depth"], num_classes=row["classes"], side_supervision=True)
        assert _trainable(model) == row["trainable_params_with_side_head"], row
        assert _trainable(model) - _side_params(model) == row["trainable_params"], row


@pytest.mark.conformance
def test_per_block_counts(vectors):
    row = _rows(vectors)[0]
    n, per = row["n"], row["per_block_trainable_params"]
    model = epsresnet_cifar(row["depth"], num_classes=row["classes"])

    def block(s: int, b: int) -> int:
        return sum(_trainable(x) for x in model.layers if x.name.startswith(f"stage{s}_block{b}_"))

    for s in (1, 2, 3):
        assert block(s, 1) == per[f"stage{s}_first"]
        assert {block(s, b) for b in range(2, n + 1)} == {per[f"stage{s}"]}


def test_structure_gates_shortcuts_and_side_position():
    n = 5  # odd n: side head after res2.{n // 2} = res2.2 (the Python-3 n/2 pitfall builds none)
    model = epsresnet_cifar(6 * n + 2, side_supervision=True, epsilon=2.1)
    gates = [x for x in model.layers if isinstance(x, EpsilonGate)]
    assert len(gates) == 3 * n and {g.epsilon for g in gates} == {2.1} and {g.discard_style for g in gates} == {"cifar"}
    pads = [x for x in model.layers if isinstance(x, ZeroPadShortcut)]
    assert [p.name for p in pads] == ["stage2_block1_shortcut_pad", "stage3_block1_shortcut_pad"]
    assert {p.pool for p in pads} == {"avg"}
    names = {x.name for x in model.layers}
    assert "stage1_block1_bn1" not in names and "stage2_block1_bn1" in names  # res1.0 is "first"
    side_bn = model.get_layer("side_bn")
    assert side_bn.input.name.startswith("stage2_block3_add")
    assert model.output_names == ["classifier", "side_classifier"]
    assert model.output_loss_weights == {"classifier": 1.0, "side_classifier": 0.1}
    bns = [x for x in model.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert {(b.momentum, b.epsilon) for b in bns} == {(0.9, 1e-5)}
    convs = [x for x in model.layers if isinstance(x, keras.layers.Conv2D)]
    assert {c.padding for c in convs} == {"same"} and all(c.kernel_regularizer.l2 == pytest.approx(1e-4) for c in convs)


def test_transition_shortcut_is_avgpool_and_symmetric_pad():
    model = epsresnet_cifar(20, normalization=None, epsilon=1e-3)
    sub = keras.Model(model.get_layer("stage2_block1_bn1").input, model.get_layer("stage2_block1_shortcut_pad").output)
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 16)).astype(np.float32)
    pooled = x.reshape(1, 16, 2, 16, 2, 16).mean(axis=(2, 4))
    expected = np.concatenate([np.zeros((1, 16, 16, 8)), pooled, np.zeros((1, 16, 16, 8))], axis=-1)
    np.testing.assert_allclose(sub(x).numpy(), expected, atol=1e-6)


def test_registered_names_and_errors():
    names = set(tfqnn.list_models("epsresnet"))
    for depth in (20, 56, 110, 200, 500, 752):
        assert f"epsresnet_cifar_{depth}" in names
    assert {"epsresnet101", "epsresnet152"} <= names
    with pytest.raises(ConfigError, match="6n\\+2"):
        tfqnn.build_model("epsresnet_cifar", depth=21)
    with pytest.raises(ConfigError, match="ImageNet depth"):
        epsresnet_imagenet(34)
    with pytest.raises(ConfigError, match="epsilon"):
        epsresnet_cifar(20, epsilon=-1.0)


@pytest.mark.slow
def test_imagenet_counts_and_side_head_position():
    """Spec §b.2/§c formula values: ResNet-101 44,541,480, side head +1,027,048 after group2/block8."""
    model = epsresnet_imagenet(101, side_supervision=True)
    assert _trainable(model) - _side_params(model) == 44_541_480
    assert _side_params(model) == 1_027_048
    assert model.get_layer("side_bn").input.name.startswith("stage3_block9_add")
    gates = [x for x in model.layers if isinstance(x, EpsilonGate)]
    assert len(gates) == 33 and {g.discard_style for g in gates} == {"imagenet"}
    assert {g.epsilon for g in gates} == {2.0}
    assert "stage2_block1_shortcut_conv" in {x.name for x in model.layers}


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_round_trip_identical_outputs(tmp_path, fmt):
    model = epsresnet_cifar(20, side_supervision=True, epsilon=0.5)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    path = tmp_path / ("m.keras" if fmt == "keras" else "m_saved")
    model.save(str(path), **({} if fmt == "keras" else {"save_format": "tf"}))
    loaded = tfqnn.load_model(path)
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
