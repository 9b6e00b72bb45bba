"""MicroNet-challenge scorer against ``vectors/ec2t/scoring_cases.json`` and ``scoring_published.json``."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tfqnn.keras import keras  # noqa: F401

import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.metrics import micronet_accounting as acc
from tfqnn.metrics.micronet_score import micronet_score, published_score
from tfqnn.models.efficientnet import block_specs
from tfqnn.models.micronet import micronet_plan, torch_name

MFLOP_RTOL = 1e-9  # README: integers exact, mflop rel 1e-9


def _cases(vectors):
    return vectors("ec2t").json("scoring_cases.json")["cases"]


def _case(vectors, name, add_bits):
    return [c for c in _cases(vectors) if c["name"] == name and c["add_bits"] == add_bits][0]


def _summary(vectors, case):
    ls = case.get("layer_summary")
    if isinstance(ls, list):
        return ls
    # "same as the add_bits=16 case" / the _fp32params variant: the summary of the base synthetic case
    base = [c for c in _cases(vectors) if isinstance(c.get("layer_summary"), list) and case["name"].startswith(c["name"])]
    return base[0]["layer_summary"]


def _check_parts(got: dict, case: dict):
    assert set(got) == set(case["parts"]), case["name"]
    for name, exp in case["parts"].items():
        p = got[name]
        assert p.params == exp["params"], (case["name"], name)
        assert p.scoring_params == exp["scoring_params"], (case["name"], name)
        assert p.megabytes == pytest.approx(exp["megabytes"], rel=MFLOP_RTOL, abs=1e-12), (case["name"], name)
        assert p.mflop == pytest.approx(exp["mflop"], rel=MFLOP_RTOL, abs=1e-12), (case["name"], name)


def _check_totals(report, case):
    assert report.total_params == case["total_params"]
    assert report.total_scoring_params == case["total_scoring_params"]
    assert report.total_mflop == pytest.approx(case["total_mflop"], rel=MFLOP_RTOL)
    key = "score_cifar100" if "score_cifar100" in case else "score_imagenet"
    assert report.score == pytest.approx(case[key], rel=MFLOP_RTOL)


def _densify(model):
    """The dense cases have nnz = numel in every kernel; a random init can draw an exact 0.0 now and then."""
    for layer in model.layers:
        for var in layer.trainable_weights:
            if "kernel" in var.name:
                a = var.numpy()
                if not a.all():
                    var.assign(np.where(a == 0, np.float32(1e-3), a))
    return model


def _micronet_grid(case_name: str):
    head = case_name.split("_")[1:4]  # d1.4 w1.2 phi3.5
    return float(head[0][1:]), float(head[1][1:]), float(head[2][3:])


@pytest.mark.conformance
def test_micronet_synthetic_ternary_from_layer_summary(vectors):
    """The synthetic 90 %-sparse model is given as per-layer summaries: feed them to the accounting."""
    for case in _cases(vectors):
        if not case["name"].startswith("micronet_d") or "synthetic" not in case["name"]:
            continue
        d, w, phi = _micronet_grid(case["name"])
        _, widths = micronet_plan(d, w, phi)
        nb, mb, ab, s = case["num_bits"], case["mul_bits"], case["add_bits"], case["image_size"]
        t = [acc.TernarySpec(l["c_in"], l["c_out"], l["k"], l["c_in"] * l["c_out"] * l["k"] ** 2, l["alive_in"], l["alive_out"], l["nnz_alive"])
             for l in _summary(vectors, case)]
        parts = {
            "stem_conv": acc.count_stem(acc.ConvSpec(3, widths[0], 3, 1, 27 * widths[0]), s, nb, mb, ab),
            "shortcut_convs": acc.count_shortcuts([acc.ConvSpec(widths[0], widths[1], 1, 2, widths[0] * widths[1]),
                                                   acc.ConvSpec(widths[1], widths[2], 1, 2, widths[1] * widths[2])], s, nb, mb, ab),
            "ternary_block_convs": acc.count_ternary_blocks(t, s, nb, mb, ab),
            "fc": acc.count_fc(acc.ConvSpec(widths[2], 100, 1, 1, widths[2] * 100), nb, mb, ab),
        }
        _check_parts(parts, case)


@pytest.mark.conformance
@pytest.mark.slow
def test_micronet_dense_cases_on_built_model(vectors):
    cases = [c for c in _cases(vectors) if c["name"].startswith("micronet_d") and ("dense" in c["name"] or "fp32params" in c["name"])]
    dense = [c for c in cases if "dense" in c["name"]]
    d, w, phi = _micronet_grid(dense[0]["name"])
    model = _densify(tfqnn.build_model("micronet", d=d, w=w, phi=phi, num_classes=100))
    for case in dense:
        rep = micronet_score(model, "reference", add_bits=case["add_bits"], num_bits=case["num_bits"], mul_bits=case["mul_bits"],
                             image_size=case["image_size"])
        _check_parts(rep.parts, case)
        _check_totals(rep, case)
        assert rep.sparsity == pytest.approx(case["sparsity_all_named_parameters"], rel=1e-9)


def _tiny_with_ternary(vectors, dead_channels: bool):
    z = vectors("ec2t").npz("micronet_tiny.npz")
    builder = vectors("ec2t").json("micronet_builder.json")
    tiny = [v for v in builder["variants"] if v["grid_d"] is None][0]
    model = tfqnn.build_model("micronet", d_multiplier=tiny["d_multiplier"], w_multiplier=tiny["w_multiplier"])
    from tfqnn.models.micronet import load_torch_state

    load_torch_state(model, {k[len("torch/"):]: a for k, a in z.items() if k.startswith("torch/")})
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and f"ternary/T/{torch_name(layer.name)}.weight" in z:
            layer.kernel.assign(np.transpose(z[f"ternary/T/{torch_name(layer.name)}.weight"], (2, 3, 1, 0)))
    return model


@pytest.mark.conformance
@pytest.mark.parametrize("name", ["micronet_tiny_ternary", "micronet_tiny_ternary_dead_channels"])
def test_micronet_tiny_cases_on_real_tensors(vectors, name):
    cases = [c for c in _cases(vectors) if c["name"] == name]
    model = _tiny_with_ternary(vectors, "dead" in name)
    summary = cases[0]["layer_summary"]
    if "dead" in name:
        # the description names the zeroed output channels; take them from the layer summary
        for layer_sum in summary:
            dead = layer_sum["dead_out_channels"]
            if dead:
                from tfqnn.models.micronet import keras_name

                layer = model.get_layer(keras_name(layer_sum["name"].rsplit(".", 1)[0]))
                k = layer.kernel.numpy()
                k[..., dead] = 0.0
                layer.kernel.assign(k)
    from tfqnn.metrics.micronet_score import _oihw, effective_kernel

    kernels = [_oihw(effective_kernel(model.get_layer(n))) for n in
               [l.name for l in model.layers if l.name.startswith("stage") and (l.name.endswith("_conv1") or l.name.endswith("_conv2"))]]
    specs = acc.ternary_specs_from_kernels(kernels)
    for spec, ref in zip(specs, summary):
        assert (spec.alive_in, spec.alive_out, spec.nnz_alive) == (ref["alive_in"], ref["alive_out"], ref["nnz_alive"]), ref["name"]
    for case in cases:
        rep = micronet_score(model, "reference", add_bits=case["add_bits"], num_bits=case["num_bits"], mul_bits=case["mul_bits"])
        _check_parts(rep.parts, case)
        _check_totals(rep, case)
        assert rep.sparsity == pytest.approx(case["sparsity_all_named_parameters"], rel=1e-9)


def _effnet_specs(summary):
    """ConvSpecs per part from the reference's per-tensor summary + B1 strides."""
    blocks = block_specs()
    parts: dict[str, list] = {}
    kinds = {"_expand_conv": "expand_conv", "_depthwise_conv": "depthwise_conv", "_se_reduce": "se_reduce_conv",
             "_se_expand": "se_expand_conv", "_project_conv": "project_conv"}
    for l in summary:
        shape = l["shape"]
        if l["name"] == "_fc.weight":
            parts["fc"] = acc.ConvSpec(shape[1], shape[0], 1, 1, l["numel"], l["nnz"])
            continue
        if l["name"] == "_conv_stem.weight":
            parts.setdefault("conv_stem", []).append(acc.ConvSpec(shape[1], shape[0], shape[2], 2, l["numel"], l["nnz"]))
            continue
        if l["name"] == "_conv_head.weight":
            parts.setdefault("conv_head", []).append(acc.ConvSpec(shape[1], shape[0], 1, 1, l["numel"], l["nnz"]))
            continue
        idx = int(l["name"].split(".")[1])
        kind = kinds[l["name"].split(".")[2]]
        c_in = shape[0] if kind == "depthwise_conv" else shape[1]
        stride = blocks[idx].stride if kind == "depthwise_conv" else 1
        parts.setdefault(kind, []).append(acc.ConvSpec(c_in, shape[0], shape[2], stride, l["numel"], l["nnz"]))
    return parts


@pytest.mark.conformance
def test_efficientnet_synthetic_from_layer_summary(vectors):
    for case in _cases(vectors):
        if not case["name"].startswith("efficientnet") or "synthetic" not in case["name"]:
            continue
        specs = _effnet_specs(_summary(vectors, case))
        nb, mb, ab, s = case["num_bits"], case["mul_bits"], case["add_bits"], case["image_size"]
        got = {k: acc.count_efficientnet_convs(k, v, s, nb, mb, ab) for k, v in specs.items() if k != "fc"}
        got["fc"] = acc.count_efficientnet_fc(specs["fc"], nb, mb, ab)
        got["residual_adds"] = acc.efficientnet_residual_adds([(b.c_in, b.c_out, b.repeat) for b in block_specs()], s, ab)
        _check_parts(got, case)


@pytest.mark.conformance
@pytest.mark.slow
def test_efficientnet_dense_cases_on_built_model(vectors):
    model = _densify(tfqnn.build_model("efficientnet_b1", ternary=True))
    from tfqnn.training.ec2t import initialize_ec2t

    for case in _cases(vectors):
        if not case["name"].startswith("efficientnet") or "dense" not in case["name"]:
            continue
        rep = micronet_score(model, "reference", add_bits=case["add_bits"], num_bits=case["num_bits"], mul_bits=case["mul_bits"],
                             image_size=case["image_size"])
        _check_parts(rep.parts, case)
        _check_totals(rep, case)
        assert rep.sparsity == pytest.approx(case["sparsity_all_named_parameters"], rel=1e-9)
    # the reference's layer table: every weight tensor of the synthetic case, shape by shape
    summary = _summary(vectors, [c for c in _cases(vectors) if "synthetic" in c["name"] and c["name"].startswith("efficientnet")][0])
    from tfqnn.models.efficientnet import reference_name

    ours = {}
    for layer in model.layers:
        ref = reference_name(layer.name)
        if ref:
            k = layer.depthwise_kernel.numpy() if isinstance(layer, keras.layers.DepthwiseConv2D) else layer.kernel.numpy()
            ours[ref] = (tuple(np.transpose(k, (2, 3, 0, 1)).shape) if isinstance(layer, keras.layers.DepthwiseConv2D)
                         else tuple(np.transpose(k, (3, 2, 0, 1)).shape) if k.ndim == 4 else tuple(k.T.shape))
    assert sorted(ours) == sorted(l["name"] for l in summary)
    for l in summary:
        assert ours[l["name"]] == tuple(l["shape"]), l["name"]
    n_expand = sum(1 for b in block_specs() if b.expand != 1)
    assert initialize_ec2t(model, 0.2) == n_expand + len(block_specs()) + 1  # expand + project + head are EC2T


@pytest.mark.conformance
def test_published_arithmetic(vectors):
    pub = vectors("ec2t").json("scoring_published.json")
    for row in pub["challenge_rows"]:
        task = "cifar100" if row["task"] == "CIFAR-100" else "imagenet"
        pt, ot, sc = published_score(row["scoring_params_M"], row["mflop"], task)
        assert pt == pytest.approx(row["param_term"], rel=1e-12)
        assert ot == pytest.approx(row["op_term"], rel=1e-12)
        assert sc == pytest.approx(row["score_from_rounded_components"], rel=1e-12)
        lo, hi = row["scoring_params_M_interval_implied_by_score"]
        mid = published_score((lo + hi) / 2, row["mflop"], task)[2]
        assert round(mid, 4) == pytest.approx(row["score_published"], abs=1e-9)
        for sp in (lo, hi):  # the interval ends sit on the rounding boundaries of the published score
            assert abs(published_score(sp, row["mflop"], task)[2] - row["score_published"]) == pytest.approx(5e-5, abs=1e-9)
    for task, split in pub["ops_split"].items():
        adds = 2 * (split["mflop_adds32"] - split["mflop_adds16"])
        mults = 2 * split["mflop_adds16"] - adds
        assert adds == pytest.approx(split["raw_adds_M"]) and mults == pytest.approx(split["raw_mults_M"])
    ex = pub["writeup_example"]
    n_out, k = 32 * 32 * 32, 3 * 3 * 32
    assert k * n_out == ex["dense_mults"] and (k - 1) * n_out == ex["dense_adds"]
    assert 2 * n_out == ex["ternary_mults"]
    assert (k * 0.1 - 1) * n_out == pytest.approx(ex["ternary_adds"])


def test_rules_mode_counts_what_reference_omits():
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5)
    from tfqnn.training.ec2t import initialize_ec2t  # noqa: F401

    ref16 = micronet_score(model, "reference", add_bits=16)
    ref32 = micronet_score(model, "reference", add_bits=32)
    rules = micronet_score(model, "rules")
    assert rules.add_bits == 32 and "residual_adds" in rules.parts and rules.parts["residual_adds"].mflop > 0
    assert ref32.total_mflop > ref16.total_mflop
    # rules mode counts true (smaller) stride-2 outputs but adds residual adds / pools: same order of magnitude
    assert 0.5 < rules.total_mflop / ref32.total_mflop < 2.0
    assert rules.raw_adds > 0 and rules.raw_mults > 0
    assert "score =" in rules.table() and "rules mode" in rules.table()


def test_ternary_model_scores_lower_than_dense():
    dense = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, ternary=True)
    tern = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, ternary=True)
    from tfqnn.training.ec2t import initialize_ec2t

    initialize_ec2t(tern, 0.45)
    for mode in ("reference", "rules"):
        a, b = micronet_score(dense, mode), micronet_score(tern, mode)
        # reference mode stores block convs as ternary either way (the script assumes it); ops drop with sparsity
        assert b.total_mflop < a.total_mflop and b.score < a.score
        assert b.sparsity > a.sparsity
        if mode == "rules":
            assert b.total_scoring_params < a.total_scoring_params


def test_bad_arguments():
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5)
    with pytest.raises(ConfigError, match="scoring mode"):
        micronet_score(model, "bogus")
    with pytest.raises(ConfigError, match="task"):
        micronet_score(model, task="mnist")
    generic = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="rules"):
        micronet_score(generic, "reference")
    assert micronet_score(generic, "rules").total_scoring_params > 0


def test_module_is_callable():
    from tfqnn.metrics import micronet_score as fn

    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5)
    assert fn(model).score == micronet_score(model).score


@pytest.mark.slow
def test_cli_prints_table_and_fails_cleanly(tmp_path):
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, ternary=True)
    from tfqnn.training.ec2t import initialize_ec2t

    initialize_ec2t(model, 0.45)
    path = tmp_path / "m.keras"
    model.save(path)
    out = subprocess.run([sys.executable, "-m", "tfqnn.cli.score", str(path), "--add-bits", "32"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for word in ("ternary_block_convs", "scoring params", "MFLOP", "score =", "sparsity", "adds 32-bit"):
        assert word in out.stdout
    bad = subprocess.run([sys.executable, "-m", "tfqnn.cli.score", str(tmp_path / "missing.keras")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
