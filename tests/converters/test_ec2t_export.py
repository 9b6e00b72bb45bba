"""EC2T deployment: plain-Keras export, int8 TFLite with exact ternary kernels, size report."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf

import tfqnn
from tfqnn.errors import ConfigError, ConversionError
from tfqnn.layers.ternary_conv import ec2t_layers
from tfqnn.models.micronet import load_torch_state, torch_name

from converters import ternary as ct


def _tiny_ternary(vectors):
    z = vectors("ec2t").npz("micronet_tiny.npz")
    tiny = [v for v in vectors("ec2t").json("micronet_builder.json")["variants"] if v["grid_d"] is None][0]
    model = tfqnn.build_model("micronet", d_multiplier=tiny["d_multiplier"], w_multiplier=tiny["w_multiplier"], ternary=True)
    load_torch_state(model, {k[len("torch/"):]: a for k, a in z.items() if k.startswith("torch/")})
    for layer in ec2t_layers(model):
        name = torch_name(layer.name) + ".weight"
        t = np.transpose(z[f"ternary/T/{name}"], (2, 3, 1, 0))
        a = np.transpose(z[f"ternary/assign/{name}"], (2, 3, 1, 0)).astype(np.int32)
        layer.centroids.assign([float(t[a == 2][0]), float(-t[a == 0][0])])
        layer.assignment.assign(a)
        layer.ec2t_active.assign(1.0)
    return z, model


def _run(fb: bytes, x: np.ndarray) -> np.ndarray:
    interp = tf.lite.Interpreter(model_content=fb)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    res = []
    for xi in x:
        interp.set_tensor(inp["index"], xi[None].astype(np.float32))
        interp.invoke()
        res.append(interp.get_tensor(out["index"])[0])
    return np.array(res)


@pytest.mark.conformance
@pytest.mark.parametrize("mode", ["merged", "split"])
def test_export_model_reproduces_ternary_logits(vectors, mode):
    z, model = _tiny_ternary(vectors)
    exported = ct.export_model(model, mode)
    assert not ec2t_layers(exported)
    np.testing.assert_allclose(exported(z["input_nhwc"], training=False).numpy(), z["ternary/logits"], atol=1e-3)


@pytest.mark.conformance
@pytest.mark.slow
def test_int8_split_export_is_exact_and_matches_keras(vectors):
    z, model = _tiny_ternary(vectors)
    x = z["input_nhwc"]
    ref = model(x, training=False).numpy()
    fb = ct.convert_int8(model, np.concatenate([x, z["train/x_nhwc"]]), mode="split")
    check = ct.check_kernels(model, fb)
    n_layers = len(ec2t_layers(model))
    assert check.tensors == 2 * n_layers and check.exact == check.tensors and check.max_abs_error <= 1e-5
    got = _run(fb, x)
    # int8 activations: logits within 5 % of their range, same top-1
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    rep = ct.size_report(model, fb)
    assert rep.ternary_weights == sum(int(np.prod(l.kernel.shape)) for l in ec2t_layers(model))
    assert rep.entropy_coded_bytes < rep.two_bit_bytes < rep.int8_bytes
    assert rep.flatbuffer_bytes == len(fb)
    assert "entropy-coded" in rep.table()


def test_proportional_check_detects_rounded_centroid():
    t = np.zeros((2, 1, 1, 4))
    t[0, 0, 0] = [0.3, -0.2, 0, 0.3]
    t[1, 0, 0] = [0, 0.3, -0.2, 0]
    assert ct._proportional_error(t * 2.0, t) == pytest.approx(0.0)
    rounded = t.copy()
    rounded[rounded < 0] = -0.3 * round(127 * 0.2 / 0.3) / 127
    assert ct._proportional_error(rounded, t) > 1e-3
    shifted = t.copy()
    shifted[0, 0, 0, 2] = 0.1
    assert ct._proportional_error(shifted, t) == np.inf


def test_entropy_bits():
    assert ct.entropy_bits(np.array([1, 1, 1, 1])) == 0.0
    assert ct.entropy_bits(np.array([0, 1, 2, 1])) == pytest.approx(1.5)


def test_bad_mode_and_no_ternary_layers():
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5)
    with pytest.raises(ConfigError, match="export mode"):
        ct.export_model(model, "packed")
    with pytest.raises(ConversionError, match="no active EC2T"):
        ct.size_report(model, b"0" * 10)
