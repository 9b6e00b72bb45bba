"""ε-ResNet block removal: reference bookkeeping vectors, parameter arithmetic, exact logits."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.compress import remove_discarded_blocks
from tfqnn.compress.epsresnet import keras_prefix, plan_compression
from tfqnn.errors import ConfigError
from tfqnn.layers import EpsilonGate, ZeroPadShortcut
from tfqnn.models.epsresnet import epsresnet_cifar, epsresnet_imagenet


def _cases(vectors):
    data = vectors("epsresnet").json("cases.json")
    return data["compress_cases"], data["cifar_param_counts"]


def _trainable(model: keras.Model) -> int:
    return int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))


def _per_block_key(name: str) -> str:
    stage, index = name[3:].split(".")
    return f"stage{stage}_first" if index == "0" else f"stage{stage}"


def _randomise(model: keras.Model, discarded: list[str], seed: int) -> None:
    """Random BN statistics everywhere; discarded blocks get a zero last conv, so F = 0 and g = 0."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape), rng.normal(0, 0.2, m.shape),
                               rng.uniform(0.5, 2.0, v.shape)])
    for name in discarded:
        last = next(s for s in ("_conv3", "_conv2") if keras_prefix(name) + s in {x.name for x in model.layers})
        conv = model.get_layer(keras_prefix(name) + last)
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])


@pytest.mark.conformance
def test_bookkeeping_matches_vectors(vectors):
    cases, _ = _cases(vectors)
    for case in cases:
        plan = plan_compression([case["n"]] * 3, case["discarded_blocks"])
        assert plan.name_mapping == case["expected_name_mapping"], case["name"]
        assert plan.discard_first_block == case["expected_discard_first_block"], case["name"]
        assert plan.kept_blocks_per_stage == case["expected_kept_blocks_per_stage"], case["name"]
        assert plan.blocks_built_per_stage == case["expected_blocks_built_per_stage"], case["name"]


@pytest.mark.conformance
@pytest.mark.slow
def test_compressed_models_params_structure_and_exact_logits(vectors):
    cases, counts = _cases(vectors)
    for case in cases:
        row = next(r for r in counts if r["n"] == case["n"] and r["classes"] == 10)
        model = epsresnet_cifar(case["depth"], num_classes=row["classes"], epsilon=1e-3, side_supervision=True,
                                normalization=None)
        _randomise(model, case["discarded_blocks"], seed=case["n"])
        # bit-for-bit copy of the gated computation (the dead-channel BN rewrite changes rounding)
        plain, report = remove_discarded_blocks(model, case["discarded_blocks"], neutralise_dead_channels=False)
        expected = row["trainable_params"] - sum(row["per_block_trainable_params"][_per_block_key(b)]
                                                 for b in case["discarded_blocks"])
        assert _trainable(plain) == report["params_compressed"] == expected, case["name"]
        assert report["params_full"] == row["trainable_params"], case["name"]
        assert not [x for x in plain.layers if isinstance(x, EpsilonGate) or x.name.startswith("side")], case["name"]
        assert len(plain.outputs) == 1
        x = np.random.default_rng(1).normal(0, 1, (8, 32, 32, 3)).astype(np.float32)
        gated = model.predict(x, batch_size=8, verbose=0)[0]
        np.testing.assert_allclose(plain.predict(x, batch_size=8, verbose=0), gated, rtol=0, atol=1e-5,
                                   err_msg=case["name"])
        deployed, _ = remove_discarded_blocks(model, case["discarded_blocks"])  # these logits are ~1e6: relative
        np.testing.assert_allclose(deployed.predict(x, batch_size=8, verbose=0), gated, rtol=0,
                                   atol=1e-4 * np.abs(gated).max(), err_msg=case["name"])
        if case["expected_discard_first_block"][0]:  # res1.0 removed: stage-1 slot 0 is the identity
            assert not [x for x in plain.layers if x.name.startswith("stage1_block1_")]
        for s, kept in enumerate(case["expected_kept_blocks_per_stage"], start=1):
            if kept == 0 and s > 1:  # a whole stage removed: avgpool + pad only, no parameters
                stage = [x for x in plain.layers if x.name.startswith(f"stage{s}_")]
                assert [type(x) for x in stage] == [ZeroPadShortcut] and not stage[0].weights


def test_discarded_blocks_read_from_the_gates_moving_average():
    model = epsresnet_cifar(20, epsilon=1e-3, normalization=None)
    model.get_layer("stage2_block1_gate").discarded_ema.assign(1.0)
    model.get_layer("stage3_block3_gate").discarded_ema.assign(0.999999)  # ≥ 1 − 5e-6: printed as 1 by the reference
    model.get_layer("stage1_block2_gate").discarded_ema.assign(0.99)
    _, report = remove_discarded_blocks(model)
    assert report["discarded"] == ["res2.0", "res3.2"]
    _, report = remove_discarded_blocks(model, threshold=0.5)
    assert report["discarded"] == ["res1.1", "res2.0", "res3.2"]


def test_unknown_block_names_and_ungated_models_are_errors():
    with pytest.raises(ConfigError, match="res4.0"):
        plan_compression([3, 3, 3], ["res4.0"])
    with pytest.raises(ConfigError, match="res1.3"):
        plan_compression([3, 3, 3], ["res1.3"])
    with pytest.raises(ConfigError, match="no EpsilonGate"):
        remove_discarded_blocks(epsresnet_cifar(20, gated=False))


@pytest.mark.slow
def test_imagenet_block0_removed_keeps_projection_and_preact():
    """Spec §e: a discarded block0 leaves convshortcut(BNReLU(x)) (groups 1–3) or convshortcut(x) (group 0)."""
    model = epsresnet_imagenet(50, num_classes=7, input_shape=(64, 64, 3), normalization=None, epsilon=1e-3)
    discarded = ["res1.0", "res2.0", "res3.1", "res4.2"]
    _randomise(model, discarded, seed=3)
    plain, report = remove_discarded_blocks(model, discarded)
    assert report["discard_first_block"] == [1, 1, 0, 0]
    names = {x.name for x in plain.layers}
    assert {"stage1_block1_shortcut_conv", "stage2_block1_bn1", "stage2_block1_shortcut_conv"} <= names
    assert "stage1_block1_bn1" not in names and "stage2_block1_conv1" not in names
    x = np.random.default_rng(2).normal(0, 1, (4, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_compressed_model_round_trips_and_converts(tmp_path):
    import tfqnn
    from converters import tflite
    from converters.runtime import FlatbufferModel

    model = epsresnet_cifar(20, epsilon=1e-3, normalization="cifar10")
    _randomise(model, ["res1.0", "res2.0"], seed=5)
    plain, _ = remove_discarded_blocks(model, ["res1.0", "res2.0"])
    plain.save(str(tmp_path / "c.keras"))
    loaded = tfqnn.load_model(tmp_path / "c.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))
    flat = FlatbufferModel(tflite.convert_float(plain))
    out = flat.predict(x)
    np.testing.assert_allclose(out, plain.predict(x, verbose=0), atol=1e-4)


def test_bn_channels_fed_only_by_zero_padding_are_neutralised():
    """A discarded stage-2 block 0 leaves avgpool + zero-pad (16 → 32 channels: 0-7 and 24-31 are zero).

    The next BN's dead channels get γ = 0 and the constant folded into β; outputs are unchanged even
    when those channels' variance is tiny (the case that breaks per-tensor int8 MUL ranges).
    """
    model = epsresnet_cifar(20, epsilon=1e-3)
    _randomise(model, ["res2.0"], seed=7)
    bn = model.get_layer("stage2_block2_bn1")
    g, b, m, v = bn.get_weights()
    v[:8] = 1e-9  # dead channels: trained variance collapses to ~0
    bn.set_weights([g, b, m, v])
    plain, _ = remove_discarded_blocks(model, ["res2.0"])
    dead = list(range(8)) + list(range(24, 32))
    live = list(range(8, 24))
    gamma, beta, _, _ = plain.get_layer("stage2_block2_bn1").get_weights()
    np.testing.assert_array_equal(gamma[dead], 0.0)
    np.testing.assert_array_equal(gamma[live], g[live])
    np.testing.assert_allclose(beta[dead], b[dead] - m[dead] * g[dead] / np.sqrt(v[dead] + 1e-5), rtol=1e-6)
    assert not np.any(plain.get_layer("stage3_block1_bn1").get_weights()[0] == 0.0)  # reads live channels only
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    gated = keras.Model(model.input, model.outputs[0])
    want = gated.predict(x, verbose=0)
    np.testing.assert_allclose(plain.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_frozen_gates_give_batch_independent_outputs_equal_to_the_compressed_model(tmp_path):
    """Spec §h.1: export a gated model with each gate frozen (0 discarded, else 1)."""
    import tfqnn
    from tfqnn.compress.epsresnet import freeze_gates

    model = epsresnet_cifar(20, epsilon=1e-3, side_supervision=True)
    _randomise(model, ["res1.1", "res3.0"], seed=11)
    for name in ("stage1_block2_gate", "stage3_block1_gate"):
        model.get_layer(name).discarded_ema.assign(1.0)
    frozen = freeze_gates(model)
    gamma = frozen.get_layer("stage3_block2_bn1").get_weights()[0]  # reads pad + 0·F of res3.0: 0-15, 48-63 dead
    np.testing.assert_array_equal(gamma[:16], 0.0)
    np.testing.assert_array_equal(gamma[48:], 0.0)
    assert np.all(gamma[16:48] != 0.0)
    assert [g.frozen for g in frozen.layers if isinstance(g, EpsilonGate)] == [1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="frozen"):
        EpsilonGate(frozen=0.5)
    x = np.random.default_rng(2).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    plain, _ = remove_discarded_blocks(model, neutralise_dead_channels=False)
    batch = frozen.predict(x, verbose=0)[0]
    one = np.concatenate([frozen.predict(x[i:i + 1], verbose=0)[0] for i in range(4)])
    np.testing.assert_allclose(one, batch, rtol=1e-5, atol=1e-5 * np.abs(batch).max())
    np.testing.assert_allclose(plain.predict(x, verbose=0), batch, rtol=1e-5, atol=1e-5 * np.abs(batch).max())
    frozen.save(str(tmp_path / "f.keras"))
    assert [g.frozen for g in tfqnn.load_model(tmp_path / "f.keras").layers if isinstance(g, EpsilonGate)][6] == 0.0
