"""EC2T quantizer kernels against the reference vectors (``vectors/ec2t/quantizer_cases.json``)."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras  # noqa: F401
import tensorflow as tf

from tfqnn.errors import ConfigError
from tfqnn.quantizers import ternary as q

RTOL = 1e-5  # README: T / pmf / lambda rtol 1e-5


def _cases(vectors, key):
    return vectors("ec2t").json("quantizer_cases.json")[key]


def _case_ids(key):
    import json

    from vectors_support import vectors_root

    path = vectors_root() / "ec2t" / "quantizer_cases.json"
    if not path.exists():
        return [0]
    data = json.loads(path.read_text())[key]
    return list(range(len(data)))


@pytest.mark.conformance
@pytest.mark.parametrize("index", _case_ids("quantize_cases"))
def test_quantize_cases(vectors, index):
    case = _cases(vectors, "quantize_cases")[index]
    exp = case["expected"]
    w = np.asarray(case["W"], np.float32).reshape(case["shape"])
    res = q.ec2t_quantize(w, case["w_p"], case["w_n"], case["lambda_max_divider"], case["lambda_in"], case["lambda_decay"], case["prune"])
    np.testing.assert_array_equal(res.prelim_assignment.numpy().ravel(), exp["prelim_assignment"], err_msg=case["name"])
    np.testing.assert_allclose(res.pmf.numpy(), exp["pmf"], rtol=RTOL, err_msg=case["name"])
    np.testing.assert_allclose(res.info_bits.numpy(), exp["info_bits"], rtol=RTOL, err_msg=case["name"])
    np.testing.assert_allclose(res.lambda_n_max.numpy(), exp["lambda_n_max"], rtol=RTOL, err_msg=case["name"])
    np.testing.assert_allclose(res.lambda_p_max.numpy(), exp["lambda_p_max"], rtol=RTOL, err_msg=case["name"])
    np.testing.assert_array_equal(res.assignment.numpy().ravel(), exp["assignment"], err_msg=case["name"])
    np.testing.assert_allclose(res.lambda_out.numpy(), exp["lambda_out"], rtol=RTOL, err_msg=case["name"])
    np.testing.assert_allclose(res.T.numpy().ravel(), exp["T"], rtol=RTOL, err_msg=case["name"])
    counts = np.bincount(res.assignment.numpy().ravel(), minlength=3)
    assert counts.tolist() == exp["counts_neg_zero_pos"], case["name"]


@pytest.mark.conformance
@pytest.mark.parametrize("index", _case_ids("pmf_cases"))
def test_pmf_cases(vectors, index):
    case = _cases(vectors, "pmf_cases")[index]
    pmf = q.cluster_pmf(np.asarray(case["prelim_assignment"], np.int32)).numpy()
    np.testing.assert_allclose(pmf, case["expected_pmf"], rtol=RTOL, err_msg=case["name"])


@pytest.mark.conformance
@pytest.mark.parametrize("index", _case_ids("grad_cases"))
def test_grad_cases_through_custom_gradient(vectors, index):
    """The backward of :func:`ternarize` (what training uses) gives the reference gradients."""
    case = _cases(vectors, "grad_cases")[index]
    shape = case["shape"]
    a = np.asarray(case["assignment"], np.int32).reshape(shape)
    g = np.asarray(case["t_grad"], np.float32).reshape(shape)
    w = tf.Variable(np.zeros(shape, np.float32))
    c = tf.Variable([case["w_p"], case["w_n"]], dtype=tf.float32)
    with tf.GradientTape() as tape:
        t = q.ternarize(w, c, a)
        loss = tf.reduce_sum(t * g)  # dL/dT = g
    dw, dc = tape.gradient(loss, [w, c])
    exp = case["expected"]
    np.testing.assert_allclose(dw.numpy().ravel(), exp["fp_grad"], rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(dc.numpy(), [exp["w_p_grad"], exp["w_n_grad"]], rtol=RTOL)
    # forward of the same call is the ternary tensor of the assignment
    expected_t = np.where(a == 2, case["w_p"], np.where(a == 0, -case["w_n"], 0.0)).astype(np.float32)
    np.testing.assert_array_equal(t.numpy(), expected_t)


@pytest.mark.conformance
@pytest.mark.parametrize("index", _case_ids("clamp_cases"))
def test_clamp_cases(vectors, index):
    case = _cases(vectors, "clamp_cases")[index]
    clamped, threshold = q.clamp_centroids(np.asarray(case["W"], np.float32), case["centroids_in"])
    exp = case["expected"]
    np.testing.assert_allclose(threshold.numpy(), exp["threshold"], rtol=RTOL)
    np.testing.assert_allclose(clamped.numpy(), [exp["w_p"], exp["w_n"]], rtol=RTOL)
    if not np.isclose(exp["threshold"], exp["biased_std_times_0675"], rtol=RTOL, atol=0):
        assert not np.isclose(threshold.numpy(), exp["biased_std_times_0675"], rtol=RTOL, atol=0)


@pytest.mark.conformance
def test_lambda_decay(vectors):
    dec = vectors("ec2t").json("quantizer_cases.json")["lambda_decay"]
    np.testing.assert_allclose(q.layer_decay(dec["layer_numel"], "mc"), dec["delta_mc"], rtol=1e-12)
    np.testing.assert_allclose(q.layer_decay(dec["layer_numel"], "ecnn"), dec["delta_ecnn"], rtol=1e-12)


def test_decay_rejects_unknown_formula():
    with pytest.raises(ConfigError, match="decay formula"):
        q.layer_decay([1, 2], "bogus")


def test_argmin_tie_break_lowest_index():
    cost = tf.constant([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [0.5, 0.5, 0.1], [3.0, 2.0, 1.0]])
    assert q.argmin3(cost).numpy().tolist() == [0, 1, 2, 2]


def test_ternarize_prune_keeps_fp_values():
    w = np.array([0.3, -0.2, 0.01], np.float32)
    t = q.ternarize(w, [0.1, 0.1], np.array([2, 0, 1]), prune=True)
    np.testing.assert_array_equal(t.numpy(), np.array([0.3, -0.2, 0.0], np.float32))
