"""Reference equivalence with clovaai/rexnet (vectors/rexnet): load_torch_state, logits and probes.

Case A: stored weights (ReXNet 0.5, 10 classes). Case B: full-size ReXNet 1.0 / ReXNet-lite 1.0 whose
weights are regenerated with the README's splitmix64 hash generator. Every setting (constructor,
shapes, tolerances' inputs) comes from the vector files.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.models.rexnet import build_rexnet, build_rexnet_lite, load_torch_state, probe_layers

LOGITS_TOL = {"case_a": 1e-4, "case_b": 2e-4}  # vectors README §4
PROBE_TOL = 1e-4  # relative to max(1, max|ref|), README §4


def _build(constructor: str, num_classes: int, hw: tuple[int, int]):
    width = float(re.search(r"(?:width_mult|multiplier)=([0-9.]+)", constructor).group(1))
    fn = build_rexnet_lite if constructor.startswith("ReXNetV1_lite") else build_rexnet
    return fn(num_classes, (*hw, 3), width_mult=width, normalization=None)


def _check(model, x_nchw: np.ndarray, ref: dict[str, np.ndarray], logits_tol: float) -> None:
    tags = probe_layers(model)
    probe_model = keras.Model(model.input, [model.output] + [model.get_layer(n).output for n in tags.values()])
    outs = [o.numpy() for o in probe_model(x_nchw.transpose(0, 2, 3, 1), training=False)]
    assert np.abs(outs[0] - ref["logits"]).max() <= logits_tol
    checked = 0
    for tag, out in zip(tags, outs[1:]):
        out = out.reshape(out.shape[0], -1) if out.ndim == 4 and out.shape[1:3] == (1, 1) and tag in ("pooled", "hidden") else out
        views = {"mean": out.mean((1, 2)), "first": out[:, 0, 0], "last": out[:, -1, -1]} if out.ndim == 4 else {"": out}
        for field, got in views.items():
            key = f"probe/{tag}/{field}" if field else f"probe/{tag}"
            want = ref[key]
            assert np.abs(got - want).max() <= PROBE_TOL * max(1.0, np.abs(want).max()), key
            checked += 1
    assert checked == sum(1 for k in ref if k.startswith("probe/"))


@pytest.mark.conformance
def test_case_a_stored_weights(vectors):
    vs = vectors("rexnet")
    meta = vs.json("e2e_cases.json")["case_stored_weights"]
    arrays = vs.npz(meta["file"])
    n, _, h, w = meta["input_shape_nchw"]
    classes = arrays["logits"].shape[1]
    model = load_torch_state(_build(meta["constructor"], classes, (h, w)), arrays, prefix="w/")
    assert len([k for k in arrays if k.startswith("w/")]) == len(meta["weight_order"])
    _check(model, arrays["input"], {k: v for k, v in arrays.items() if not k.startswith("w/")}, LOGITS_TOL["case_a"])


def hash_uniform(tid: int, n: int) -> np.ndarray:
    """The vectors README §3 generator: splitmix64 of (j + (tid+1)·golden) → float64 in [0, 1)."""
    off = np.uint64(((tid + 1) * 0x9E3779B97F4A7C15) % (1 << 64))
    x = np.arange(n, dtype=np.uint64) + off
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def hash_tensor(tid: int, kind: str, shape: list[int], gain: float) -> np.ndarray:
    u = hash_uniform(tid, int(np.prod(shape)))
    if kind == "conv_weight":
        values = (2 * u - 1) * np.sqrt(3 * gain / int(np.prod(shape[1:])))
    elif kind in ("conv_bias", "bn_bias", "bn_mean"):
        values = 0.1 * (2 * u - 1)
    elif kind in ("bn_weight", "bn_var"):
        values = 0.75 + 0.5 * u
    else:
        raise AssertionError(f"unknown tensor kind {kind!r} in e2e_cases.json")
    return values.reshape(shape).astype(np.float32)


@pytest.mark.conformance
def test_hash_generator_reproduces_manifest(vectors):
    vs = vectors("rexnet")
    cases = vs.json("e2e_cases.json")
    gen = cases["hash_generator"]
    x = (2 * hash_uniform(gen["input_tid"], int(np.prod(gen["input_shape_nchw"]))) - 1).astype(np.float32)
    np.testing.assert_allclose(x[:4], gen["input_first4"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(x.astype(np.float64).sum(), gen["input_sum"], rtol=1e-6)
    for case in cases["hash_cases"]:
        for t in case["tensors"][:: max(1, len(case["tensors"]) // 25)]:
            v = hash_tensor(t["tid"], t["kind"], t["shape"], gen["gain"])
            np.testing.assert_allclose(v.ravel()[:4], t["first4"], rtol=0, atol=1e-7)
            np.testing.assert_allclose(v.astype(np.float64).sum(), t["sum"], rtol=1e-5, atol=1e-4)


@pytest.mark.conformance
@pytest.mark.slow
def test_case_b_hash_weights_full_size(vectors):
    vs = vectors("rexnet")
    cases = vs.json("e2e_cases.json")
    gen = cases["hash_generator"]
    files = sorted(p.name for p in vs.folder.glob("e2e_hash_*.npz"))
    if not files:
        pytest.skip(reason=f"no e2e_hash_*.npz in {vs.folder}")
    arrays = vs.npz(files[0])
    _, _, h, w = gen["input_shape_nchw"]
    assert cases["hash_cases"]
    for case in cases["hash_cases"]:
        assert len(case["tensors"]) == case["num_tensors"]
        tag = case["name"]
        ref = {k[len(tag) + 1:]: v for k, v in arrays.items() if k.startswith(tag + "/")}
        state = {t["name"]: hash_tensor(t["tid"], t["kind"], t["shape"], gen["gain"]) for t in case["tensors"]}
        model = load_torch_state(_build(case["constructor"], ref["logits"].shape[1], (h, w)), state)
        _check(model, arrays["input"], ref, LOGITS_TOL["case_b"])
        assert list(ref["logits"].argmax(1)) == case["logits_argmax"]
        keras.backend.clear_session()


@pytest.mark.slow
def test_loader_rejects_missing_extra_and_misshaped_tensors():
    model = build_rexnet(10, (32, 32, 3), width_mult=0.25, small_input=True, normalization=None)
    state = {}
    from tfqnn.models.rexnet import torch_name_map

    rows = torch_name_map(model)
    for prefix, layer_name, kind in rows:
        layer = model.get_layer(layer_name)
        ws = layer.get_weights()
        if kind == "bn":
            for f, v in zip(("weight", "bias", "running_mean", "running_var"), ws):
                state[f"{prefix}.{f}"] = v
        else:
            k = ws[0]
            if kind == "dw":
                state[f"{prefix}.weight"] = k.transpose(2, 3, 0, 1)
            elif k.ndim == 2:
                state[f"{prefix}.weight"] = k.T[:, :, None, None]
            else:
                state[f"{prefix}.weight"] = k.transpose(3, 2, 0, 1)
            if len(ws) > 1:
                state[f"{prefix}.bias"] = ws[1]
    load_torch_state(model, dict(state))  # a full, consistent state loads
    with pytest.raises(ConfigError, match="missing tensor 'features.0.weight'"):
        load_torch_state(model, {k: v for k, v in state.items() if k != "features.0.weight"})
    with pytest.raises(ConfigError, match="1 unused tensors.*extra.weight"):
        load_torch_state(model, {**state, "extra.weight": np.zeros(1)})
    bad = dict(state)
    bad["features.0.weight"] = np.zeros((3, 3, 3, 3), np.float32)
    with pytest.raises(ConfigError, match="features.0.*stem_conv"):
        load_torch_state(model, bad)
