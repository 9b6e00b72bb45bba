"""Dyadic requantization against ``vectors/hawq/dyadic_cases.json`` (all integers exact)."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras  # noqa: F401
from tfqnn.compress import dyadic  # noqa: E402
from tfqnn.errors import ConfigError  # noqa: E402


def _cl(x) -> np.ndarray:
    """NCHW → NHWC (2-D NC stays)."""
    x = np.asarray(x, np.float32)
    return np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x


@pytest.fixture
def cases(vectors):
    return vectors("hawq").json("dyadic_cases.json")


@pytest.mark.conformance
def test_frexp(cases):
    for case in cases["frexp"]:
        b, c = dyadic.frexp_dyadic(case["M"])
        assert (int(b), int(c)) == (case["b"], case["c"]), case["M"]
        assert int(b) / 2.0 ** int(c) == case["approx"]


@pytest.mark.conformance
def test_requant_case0(cases):
    for i, case in enumerate(cases["requant_case0"]):
        m = dyadic.real_multiplier(case["S_in"], case["S_w"], case["S_out"])
        np.testing.assert_array_equal(m, np.asarray(case["multiplier"], np.float64), err_msg=f"case {i}")
        b, c = dyadic.frexp_dyadic(m)
        np.testing.assert_array_equal(b, case["b"])
        np.testing.assert_array_equal(c, case["c"])
        z = _cl(case["z_float"])
        np.testing.assert_array_equal(dyadic.recover_int(z, case["S_in"], case["S_w"]), _cl(case["z_int_recovered"]))
        q = dyadic.requantize(z, case["S_in"], case["S_w"], case["S_out"], case["bits"], case["mode"])
        np.testing.assert_array_equal(q, _cl(case["expected_q"]), err_msg=f"case {i}: {case['note']}")
        qs = dyadic.requantize(z, case["S_in"], case["S_w"], case["S_out"], case["bits"], case["mode"], integer_shift=True)
        np.testing.assert_array_equal(qs, _cl(case["integer_shift_variant_q"]), err_msg=f"case {i} (shift)")


@pytest.mark.conformance
def test_requant_case1_residual(cases):
    for i, case in enumerate(cases["requant_case1"]):
        q = dyadic.requantize_residual(
            _cl(case["z_float"]), _cl(case["identity_float"]), case["S_in"], case["S_w"],
            case["S_identity_act"], case["S_identity_weight"], case["S_out"],
        )
        np.testing.assert_array_equal(q, _cl(case["expected_q"]).astype(np.float32), err_msg=f"case {i}: {case['note']}")


def test_bad_mode_lists_choices():
    with pytest.raises(ConfigError, match="valid: symmetric, asymmetric"):
        dyadic.clamp(np.zeros(2), 8, "unsigned")
