"""HAWQ-V3 ILP bit allocation against ``vectors/hawq/ilp_cases.json`` + Hutchinson traces."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

import tfqnn.compress  # noqa: E402
from tfqnn.compress import bit_allocation as ba  # noqa: E402
from tfqnn.errors import ConfigError  # noqa: E402


@pytest.fixture
def ilp(vectors):
    return vectors("hawq").json("ilp_cases.json")


def _solve(ilp, arch, key):
    data = ilp["notebook_data"][arch]
    kind, ratio = key.rsplit("_", 1)
    gain, c4, c8 = ba.notebook_problem(data, kind)
    return ba.solve_ilp(gain, c4, c8, ba.ratio_budget(c4, c8, float(ratio)), data["tie_pairs_0based"]), data


@pytest.mark.conformance
def test_notebook_sensitivities_give_the_optimum_and_17_of_18_released(ilp):
    matches, diffs = 0, []
    for arch, sols in ilp["solutions"].items():
        for key, sol in sols.items():
            bits, data = _solve(ilp, arch, key)
            assert bits == sol["ilp_bits"], (arch, key)
            if bits == sol["bit_config_bits"]:
                matches += 1
            else:
                diffs.append((arch, key, [data["layer_order"][i] for i, (a, b) in enumerate(zip(bits, sol["bit_config_bits"])) if a != b]))
    assert matches == 17
    assert diffs == [("resnet50", "modelsize_0.25", ilp["solutions"]["resnet50"]["modelsize_0.25"]["diff_layers"])]


@pytest.mark.conformance
def test_tiny_cases_exhaustive_optimum(ilp):
    for case in ilp["tiny_cases"]:
        bits = ba.solve_ilp(case["sensitivity_gain_8bit"], case["cost4"], case["cost8"], case["budget"], case["tie_pairs"])
        assert bits == case["expected_bits"]
        y = np.array(bits) == 8
        assert np.dot(y, case["sensitivity_gain_8bit"]) == pytest.approx(case["expected_objective"], rel=1e-12)
        assert np.where(y, case["cost8"], case["cost4"]).sum() == pytest.approx(case["expected_cost"], rel=1e-12)
        assert ba.ratio_budget(case["cost4"], case["cost8"], case["ratio"]) == pytest.approx(case["budget"], rel=1e-12)


def test_hutchinson_exact_on_diagonal_quadratic():
    """For a diagonal Hessian every Rademacher probe gives zᵀHz = tr(H) exactly (per variable block)."""
    a = np.array([1.0, 2.0, 3.5, 0.25], np.float32)
    v1, v2 = tf.Variable(np.ones(2, np.float32)), tf.Variable(np.ones(2, np.float32))
    traces = ba.hutchinson_traces(lambda: 0.5 * tf.reduce_sum(a[:2] * v1**2) + 0.5 * tf.reduce_sum(a[2:] * v2**2),
                                  [v1, v2], n_samples=3)
    np.testing.assert_allclose(traces, [3.0, 3.75], rtol=1e-6)


def test_infeasible_budget_is_an_error():
    with pytest.raises(ConfigError, match="infeasible"):
        ba.solve_ilp([-1.0, -1.0], [1.0, 1.0], [2.0, 2.0], 1.0)


@pytest.mark.slow
def test_allocate_bits_on_a_cifar_resnet():
    """End to end on a small CIFAR ResNet (float, real-valued random batch): ties, budget, extremes."""
    from tfqnn.models.hawq import hawq_resnet20

    model = hawq_resnet20(bit_config="fp")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    res = tfqnn.compress.allocate_bits(model, (x, y), ratio=0.5, kind="bops", n_samples=2)
    assert len(res.layers) == 20 and "stem_conv" not in res.layers and "classifier" not in res.layers
    assert set(res.bits.values()) <= {4, 8} and 4 in res.bits.values() and 8 in res.bits.values()
    assert res.cost <= res.budget
    names = res.layers
    assert (names.index("stage2_block1_conv1"), names.index("stage2_block1_shortcut_conv")) in res.tie_pairs
    assert res.bits["stage2_block1_conv1"] == res.bits["stage2_block1_shortcut_conv"]
    assert np.all(res.delta4 > res.delta8)
    cfg = res.hawq_bit_config()
    assert cfg["stage2.unit1.quant_act"] == res.bits["stage2_block1_conv1"]
    q = hawq_resnet20(bit_config=cfg)  # the allocation builds a model
    assert q.get_layer("stage2_block1_conv2").kernel_quantizer.num_bits == res.bits["stage2_block1_conv2"]
    size4 = ba.allocate_bits(model, (x, y), ratio=0.0, kind="size", n_samples=1)
    assert set(size4.bits.values()) == {4}
    small = ba.allocate_bits(model, (x, y), budget={"size": 0.2}, n_samples=1)  # 0.2 MiB of weights in all
    assert small.cost <= small.budget and 4 in small.bits.values()


def test_budget_errors_list_kinds():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="valid: size, bops, latency"):
        ba.allocate_bits(model, (np.zeros((2, 4)), np.zeros(2)), budget={"energy": 1.0})
    with pytest.raises(ConfigError, match="exactly one"):
        ba.allocate_bits(model, (np.zeros((2, 4)), np.zeros(2)))
