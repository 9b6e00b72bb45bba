"""BN folding, the unfolded training path and the three integer residual blocks against
``vectors/hawq/bn_block_cases.{json,npz}`` (integers exact, scales rtol 3e-7)."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras  # noqa: F401
from tfqnn.compress import bn_folding, hawq_integer  # noqa: E402
from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.quantizers.hawq import activation_scale  # noqa: E402

RTOL = 3e-7


def hwio(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.transpose(x, (0, 2, 3, 1))


@pytest.fixture
def data(vectors):
    vs = vectors("hawq")
    return vs.json("bn_block_cases.json"), vs.npz("bn_block_cases.npz")


@pytest.mark.conformance
def test_folded_conv_cases(data):
    meta, arr = data
    for case in meta["cases"]:
        p = case["prefix"]
        bias = arr.get(p + "conv_bias") if case["conv_has_bias"] else None
        w_fold, b_fold = bn_folding.fold_bn(hwio(arr[p + "conv_weight_OIHW"]), bias, arr[p + "bn_gamma"], arr[p + "bn_beta"],
                                            arr[p + "bn_running_mean"], arr[p + "bn_running_var"], case["bn_eps"])
        np.testing.assert_allclose(w_fold, hwio(arr[p + "folded_weight_OIHW"]), rtol=RTOL, err_msg=p)
        np.testing.assert_allclose(b_fold, arr[p + "folded_bias"], rtol=RTOL, atol=1e-7, err_msg=p)
        w_int, s_w = bn_folding.quantize_weight(w_fold, case["weight_bits"])
        np.testing.assert_allclose(s_w, arr[p + "weight_scale"], rtol=RTOL, err_msg=p)
        np.testing.assert_array_equal(w_int, hwio(arr[p + "weight_int_OIHW"]), err_msg=p)
        b_int = bn_folding.quantize_bias(b_fold, s_w, case["input_act_scale"])
        np.testing.assert_array_equal(b_int, arr[p + "bias_int"], err_msg=p)
        x_int = np.round(nhwc(arr[p + "input_NCHW"]) / np.float32(case["input_act_scale"]))
        acc = bn_folding.folded_conv_accumulator(x_int, w_int, b_int, case["stride"], case["padding_symmetric"])
        np.testing.assert_array_equal(acc, nhwc(arr[p + "output_acc_int_NCHW"]), err_msg=p)
        # float image with the reference's S_w (ours may differ by 1 ulp: torch's float32 sqrt, README);
        # the reference convolves the float x/S_a in float32, hence ±1 ulp on small outputs
        conv = hawq_integer.IntegerConv(w_int, arr[p + "weight_scale"], b_int, case["stride"], case["padding_symmetric"])
        np.testing.assert_allclose(conv.image(x_int, case["input_act_scale"]), nhwc(arr[p + "output_NCHW"]), rtol=RTOL, atol=6e-8, err_msg=p)


@pytest.mark.conformance
def test_unfolded_training_path(data):
    meta, arr = data
    case, p = meta["unfolded_case"], meta["unfolded_case"]["prefix"]
    w = arr[p + "conv_weight_OIHW"]
    res = bn_folding.unfolded_train_step(
        nhwc(arr[p + "input_NCHW"]), hwio(w), arr[p + "bn_gamma"], arr[p + "bn_beta"],
        arr[p + "running_mean_before"], arr[p + "running_var_before"],
        bits=case["weight_bits"], stride=1, padding=(w.shape[-1] // 2), eps=case["bn_eps"],
    )
    np.testing.assert_allclose(res["output"], nhwc(arr[p + "output_NCHW"]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res["returned_scale"], arr[p + "returned_scale"].ravel(), rtol=1e-5)
    np.testing.assert_allclose(res["running_mean"], arr[p + "running_mean_after"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res["running_var"], arr[p + "running_var_after"], rtol=1e-5)


def _block_convs(block, arr, act_scales):
    p = block["prefix"]
    feeds = {"quant_convbn1": "quant_act", "quant_identity_convbn": "quant_act", "quant_convbn2": "quant_act1", "quant_convbn3": "quant_act2"}
    convs = {}
    for name, geo in block["modules"].items():
        if not name.startswith("quant_") or "convbn" not in name:
            continue
        q = p + name + "_"
        ours = hawq_integer.integer_conv_from_float(
            hwio(arr[q + "conv_weight_OIHW"]), None, arr[q + "bn_gamma"], arr[q + "bn_beta"], arr[q + "bn_running_mean"],
            arr[q + "bn_running_var"], bits=geo["bits"], act_scale=act_scales[feeds[name]], stride=geo["stride"], padding=geo["padding"],
        )
        np.testing.assert_allclose(ours.s_w, arr[q + "weight_scale"].ravel(), rtol=RTOL, err_msg=q)
        np.testing.assert_array_equal(ours.w_int, hwio(arr[q + "weight_int_OIHW"]), err_msg=q)
        np.testing.assert_array_equal(ours.b_int, arr[q + "bias_int"].ravel(), err_msg=q)
        # path (a): the reference's scales (a correctly rounded sqrt may move S_w by 1 ulp)
        convs[name] = hawq_integer.IntegerConv(hwio(arr[q + "weight_int_OIHW"]), arr[q + "weight_scale"].ravel(),
                                               arr[q + "bias_int"].ravel(), geo["stride"], geo["padding"])
    return convs


@pytest.mark.conformance
def test_residual_blocks_every_integer(data):
    meta, arr = data
    for block in meta["blocks"]:
        p = block["prefix"]
        acts = {n: m for n, m in block["modules"].items() if "convbn" not in n}
        for name, m in acts.items():
            np.testing.assert_allclose(activation_scale(m["x_min"], m["x_max"], m["bits"]).numpy(), m["scale"], rtol=RTOL, err_msg=p + name)
        scales = {n: m["scale"] for n, m in acts.items()}
        convs = _block_convs(block, arr, scales)
        x_int = np.round(nhwc(arr[p + "input_NCHW"]) / np.float32(block["input_scale"]))
        res = hawq_integer.integer_residual_block(x_int, block["input_scale"], block["kind"], convs, scales,
                                                  {n: m["bits"] for n, m in acts.items()})
        for name in acts:
            np.testing.assert_array_equal(res[name], nhwc(arr[f"{p}{name}_int_NCHW"]), err_msg=p + name)
        assert np.float32(res["output_scale"]) == np.float32(arr[p + "output_scale"]).ravel()[0]
        np.testing.assert_array_equal(res["output"], nhwc(arr[p + "output_NCHW"]), err_msg=p + "output")


def test_unknown_block_kind():
    with pytest.raises(ConfigError, match="valid: basic, bottleneck"):
        hawq_integer.integer_residual_block(np.zeros((1, 2, 2, 1)), 1.0, "inverted", {}, {}, {})


@pytest.mark.conformance
def test_residual_blocks_calibration_path_b(data):
    """Path (b): fresh ranges, the 3 calibration batches in 'training with fix-BN' mode (EMA 0.99, first
    batch initialises, bias re-quantized with the current input scale), freeze, run the test input."""
    from tfqnn.quantizers.hawq import ema_update

    meta, arr = data
    for block in meta["blocks"]:
        p = block["prefix"]
        acts = {n: m for n, m in block["modules"].items() if "convbn" not in n}
        bits = {n: m["bits"] for n, m in acts.items()}
        ranges = {n: (np.float32(0), np.float32(0)) for n in acts}

        def track(name, z):
            lo, hi = ema_update(*ranges[name], z.min(), z.max(), 0.99)
            ranges[name] = (np.float32(lo.numpy()), np.float32(hi.numpy()))
            return activation_scale(*ranges[name], bits[name]).numpy()

        def make_conv(name, act_scale):
            q, geo = p + name + "_", block["modules"][name]
            return hawq_integer.integer_conv_from_float(
                hwio(arr[q + "conv_weight_OIHW"]), None, arr[q + "bn_gamma"], arr[q + "bn_beta"], arr[q + "bn_running_mean"],
                arr[q + "bn_running_var"], bits=geo["bits"], act_scale=act_scale, stride=geo["stride"], padding=geo["padding"])

        for batch in arr[p + "calib_inputs_NCHW"]:
            hawq_integer.integer_residual_block(None, block["input_scale"], block["kind"], make_conv, track, bits,
                                                resize_identity=block["resize_identity"], x_float=nhwc(batch))
        for name, m in acts.items():
            assert ranges[name] == (np.float32(m["x_min"]), np.float32(m["x_max"])), (p, name, ranges[name])
        scales = {n: activation_scale(*ranges[n], bits[n]).numpy() for n in acts}
        x_int = np.round(nhwc(arr[p + "input_NCHW"]) / np.float32(block["input_scale"]))
        res = hawq_integer.integer_residual_block(x_int, block["input_scale"], block["kind"], lambda n, s: make_conv(n, scales[
            {"quant_convbn1": "quant_act", "quant_identity_convbn": "quant_act", "quant_convbn2": "quant_act1", "quant_convbn3": "quant_act2"}[n]]),
            scales, bits, resize_identity=block["resize_identity"])
        for name in acts:
            np.testing.assert_array_equal(res[name], nhwc(arr[f"{p}{name}_int_NCHW"]), err_msg=p + name)
