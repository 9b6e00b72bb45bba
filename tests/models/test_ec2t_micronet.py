"""MicroNet builder (compound scaling) against ``vectors/ec2t/micronet_builder.json`` and ``micronet_tiny``."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf

import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.layers.ternary_conv import TernaryConv2D, ec2t_layers
from tfqnn.models.micronet import keras_name, load_torch_state, reference_param_count, round_filters, round_repeats, torch_name

ATOL = 1e-3  # README: eval logits / intermediates atol 1e-3


def _builder(vectors):
    return vectors("ec2t").json("micronet_builder.json")


def _variant_kwargs(v):
    return {"d_multiplier": v["d_multiplier"], "w_multiplier": v["w_multiplier"]}


def test_headline_cifar100_model_param_count():
    model = tfqnn.build_model("micronet", d=1.4, w=1.2, phi=3.5, num_classes=100)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == 8_055_124


@pytest.mark.conformance
def test_rounding_cases(vectors):
    b = _builder(vectors)
    for c in b["rounding_filters_cases"]:
        assert round_filters(c["filters"], c["w_multiplier"]) == c["result"], c
    for c in b["rounding_repeats_cases"]:
        assert round_repeats(c["repeats"], c["d_multiplier"]) == c["result"], c


def _check_variant(model, v, ternary):
    layers = {l.name: l for l in model.layers}
    tern = ec2t_layers(model) if ternary else [l for l in model.layers if isinstance(l, keras.layers.Conv2D) and "_conv" in l.name and "stage" in l.name and "shortcut" not in l.name]
    assert len(tern) == v["n_ternary_layers"]
    assert sum(int(np.prod(l.kernel.shape)) for l in tern) == v["ternary_params"]
    assert reference_param_count(model) == v["total_params"]
    assert int(model.get_layer("stage1_block1_conv1").filters) == v["widths"][0]
    assert [layers[f"stage{s}_block1_conv1"].filters for s in (1, 2, 3)] == v["widths"]
    assert f"stage1_block{v['blocks_per_stage']}_add" in layers and f"stage1_block{v['blocks_per_stage'] + 1}_add" not in layers


def _check_layer_table(model, v, ternary):
    order = []
    for ref in v["layers"]:
        layer = model.get_layer(keras_name(ref["name"]))
        order.append(model.layers.index(layer))
        assert torch_name(layer.name) == ref["name"]
        out = tuple(layer.output_shape[1:])
        if len(ref["in_shape_nchw"]) == 3 and ref["type"] != "Conv2d":
            ci, hi, wi = ref["in_shape_nchw"]
            assert tuple(layer.input_shape[1:]) == (hi, wi, ci), ref["name"]
        c, h, w = ref["out_shape_nchw"] if len(ref["out_shape_nchw"]) == 3 else (ref["out_shape_nchw"][0], None, None)
        if ref["type"] == "Conv2d":
            assert isinstance(layer, keras.layers.Conv2D) and not layer.use_bias
            assert out == (h, w, c), ref["name"]
            assert layer.kernel.shape == (ref["k"], ref["k"], ref["c_in"], ref["c_out"])
            assert layer.strides == (ref["stride"], ref["stride"])
            is_block_conv = "_conv" in layer.name and "shortcut" not in layer.name and layer.name.startswith("stage")
            assert (isinstance(layer, TernaryConv2D) if ternary else is_block_conv) == ref["ternary"], ref["name"]
            assert int(np.prod(layer.kernel.shape)) == ref["params"]
        elif ref["type"] == "BatchNorm2d":
            assert isinstance(layer, keras.layers.BatchNormalization)
            assert out == (h, w, c)
            assert layer.epsilon == pytest.approx(ref["eps"]) and layer.momentum == pytest.approx(1 - ref["momentum_torch"])
            assert sum(int(np.prod(t.shape)) for t in layer.trainable_weights) == ref["params"]
        elif ref["type"] == "Linear":
            assert isinstance(layer, keras.layers.Dense) and out == (ref["c_out"],)
            assert layer.kernel.shape == (ref["c_in"], ref["c_out"]) and layer.count_params() == ref["params"]
        elif ref["type"] == "Dropout":
            assert isinstance(layer, keras.layers.Dropout) and layer.rate == pytest.approx(ref["p"]) and out == (h, w, c)
        else:
            raise AssertionError(ref["type"])
    assert len(set(order)) == len(v["layers"])  # one Keras layer per reference module


def _variant_ids():
    import json

    from vectors_support import vectors_root

    path = vectors_root() / "ec2t" / "micronet_builder.json"
    return list(range(len(json.loads(path.read_text())["variants"]))) if path.exists() else [0]


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize("index", _variant_ids())
def test_builder_variant(vectors, index):
    v = _builder(vectors)["variants"][index]
    if v["grid_d"] is not None:  # the (d, w, phi) call plans the same network as the multipliers
        from tfqnn.models.micronet import micronet_plan

        assert micronet_plan(v["grid_d"], v["grid_w"], v["phi"]) == (v["blocks_per_stage"], v["widths"])
    # big variants are built float (faster) and their block convs identified by name
    ternary = v["n_ternary_layers"] <= 48
    model = tfqnn.build_model("micronet", num_classes=100, ternary=ternary, **_variant_kwargs(v))
    _check_variant(model, v, ternary=ternary)
    if v["layers"]:
        _check_layer_table(model, v, ternary)


def _tiny(vectors, **kw):
    z = vectors("ec2t").npz("micronet_tiny.npz")
    tiny = [v for v in _builder(vectors)["variants"] if v["grid_d"] is None][0]
    model = tfqnn.build_model("micronet", **_variant_kwargs(tiny), **kw)
    load_torch_state(model, {k[len("torch/"):]: a for k, a in z.items() if k.startswith("torch/")})
    return z, model


@pytest.mark.conformance
def test_tiny_float_logits_and_intermediates(vectors):
    z, model = _tiny(vectors)
    taps = {"fp/stem_out_nhwc": "stem_relu"}
    n = max(int(k.split("_block")[1].split("_")[0]) for k in (l.name for l in model.layers) if "_block" in k)
    for s in (1, 2, 3):
        taps[f"fp/layer{s}_out_nhwc"] = f"stage{s}_block{n}_add"
    probe = keras.Model(model.input, [model.get_layer(v).output for v in taps.values()] + [model.output])
    outs = probe(z["input_nhwc"], training=False)
    for key, out in zip(list(taps) + ["fp/logits"], outs):
        np.testing.assert_allclose(out.numpy(), z[key], atol=ATOL, err_msg=key)


@pytest.mark.conformance
def test_tiny_ternary_logits(vectors):
    z, model = _tiny(vectors, ternary=True)
    for layer in ec2t_layers(model):
        name = torch_name(layer.name) + ".weight"
        t = np.transpose(z[f"ternary/T/{name}"], (2, 3, 1, 0))
        a = np.transpose(z[f"ternary/assign/{name}"], (2, 3, 1, 0)).astype(np.int32)
        w_p, w_n = float(t[a == 2][0]), float(-t[a == 0][0])
        layer.centroids.assign([w_p, w_n])
        layer.assignment.assign(a)
        layer.ec2t_active.assign(1.0)
        np.testing.assert_array_equal(layer.ternary_kernel().numpy(), t)
    np.testing.assert_allclose(model(z["input_nhwc"], training=False).numpy(), z["ternary/logits"], atol=ATOL)


@pytest.mark.slow
def test_ternary_model_round_trips(tmp_path):
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10, ternary=True)
    from tfqnn.training.ec2t import initialize_ec2t

    assert initialize_ec2t(model, 0.45) == 12
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    ref = model(x, training=False).numpy()
    model.save(tmp_path / "m.keras")
    again = tfqnn.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again(x, training=False).numpy(), ref)
    assert [l.prune for l in ec2t_layers(again)] == [False] * 12
    model.save(tmp_path / "sm", save_format="tf")
    sm = tfqnn.load_model(tmp_path / "sm")
    np.testing.assert_allclose(sm(x, training=False).numpy(), ref, atol=1e-6)


def test_inactive_ternary_layer_is_the_float_conv():
    fp = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10)
    tern = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10, ternary=True)
    for layer in fp.layers:
        if layer.weights:
            tl = tern.get_layer(layer.name)
            for v, src in zip(tl.weights, layer.get_weights()):
                v.assign(src)
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(tern(x).numpy(), fp(x).numpy(), atol=1e-5)


def test_bad_options():
    with pytest.raises(ConfigError, match="dropout"):
        tfqnn.build_model("micronet", dropout=1.5)
    with pytest.raises(ConfigError, match="unknown option"):
        tfqnn.build_model("micronet", depth=3)


def test_compound_scaling_grid_reports_params_and_accuracy():
    import tfqnn.compress

    seen = []

    def fake_eval(model):  # records what was built; the grid's own bookkeeping is under test
        seen.append(model.name)
        return 0.5

    rows = tfqnn.compress.compound_scaling_grid(pairs=[(0.25, 0.5), (1.0, 1.0)], phi=1.0, max_params=100_000, evaluate=fake_eval)
    assert [r.params for r in rows][1] > 100_000 and rows[1].accuracy is None  # over budget: not trained
    assert rows[0].accuracy == 0.5 and len(seen) == 1
    assert rows[0].blocks_per_stage == 2 and rows[0].widths == (8, 16, 32)
    from tfqnn.compress.compound_scaling import format_grid

    assert "params" in format_grid(rows)
    with pytest.raises(ConfigError, match="> 0"):
        tfqnn.compress.compound_scaling_grid(pairs=[(0.0, 1.0)], data=None)
    # a shrunken base: (d, w) = (2, 1.4) on base (0.25, 0.5) is micronet(d_multiplier=0.5, w_multiplier=0.7)
    (scaled,) = tfqnn.compress.compound_scaling_grid(pairs=[(2.0, 1.4)], base_d_multiplier=0.25, base_w_multiplier=0.5, data=None)
    direct = tfqnn.build_model("micronet", d_multiplier=0.5, w_multiplier=0.7, num_classes=10)
    assert scaled.blocks_per_stage == 4 and scaled.widths == (16, 24, 48)
    assert scaled.params == sum(int(v.shape.num_elements()) for v in direct.trainable_weights) and scaled.accuracy is None
    with pytest.raises(ConfigError, match="base multipliers"):
        tfqnn.compress.compound_scaling_grid(pairs=[(1.0, 1.0)], base_w_multiplier=0.0, data=None)
