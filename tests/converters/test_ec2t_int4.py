"""EC2T ternary → TFLite with real INT4 weight tensors (HAWQ's 4-bit mechanism), size report, CLI."""
from __future__ import annotations

import numpy as np
import pytest
from test_ec2t_export import _run, _tiny_ternary

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

import tfqnn
import tfqnn.data
from tfqnn.errors import ConfigError, ConversionError
from tfqnn.layers.ternary_conv import TernaryDense, ec2t_layers
from tfqnn.training.ec2t import initialize_ec2t

from converters import ternary as ct
from converters import ternary_int4 as c4
from converters.cli import convert_main
from converters.weight_report import weight_rows


def _small_ternary(num_classes: int = 10) -> keras.Model:
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=num_classes, ternary=True)
    initialize_ec2t(model, 0.45)
    return model


@pytest.mark.conformance
@pytest.mark.slow
def test_int4_split_stores_exact_ternary_kernels_and_matches_keras(vectors):
    z, model = _tiny_ternary(vectors)
    x = z["input_nhwc"]
    ref = model(x, training=False).numpy()
    fb = c4.convert_int4(model, np.concatenate([x, z["train/x_nhwc"]]), "split")
    n_layers = len(ec2t_layers(model))
    rows = [r for r in weight_rows(fb) if r.weight_type == "INT4"]
    assert len(rows) == 2 * n_layers  # w_p·M_p and −w_n·M_n kernels of every ternary conv
    assert all(r.bytes == (r.weights + 1) // 2 for r in rows)  # two 4-bit codes per byte on disk
    assert {r.weight_type for r in weight_rows(fb)} == {"INT4", "INT8"}  # stem, shortcuts, FC: int8
    check = ct.check_kernels(model, fb)  # folded BN = one factor per output channel; codes {0, ±7}
    assert check.tensors == check.exact == 2 * n_layers and check.max_abs_error <= 1e-5
    assert check.dtypes == {"INT4": 2 * n_layers, "INT8": 3}
    got = _run(fb, x)
    # int8 activations, exact weights: logits within 5 % of their range (measured: 0.91 on logits up to 45), same top-1
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
    np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    rep = ct.size_report(model, fb)
    assert rep.flatbuffer_bytes == len(fb)
    assert rep.entropy_coded_bytes < rep.two_bit_bytes < rep.int4_bytes < rep.int8_bytes
    assert "INT4 ternary" in rep.table()


def test_keras_int4_model_folds_bn_and_round_trips(tmp_path):
    model = _small_ternary()
    x = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    for layer in model.layers:  # non-trivial BN statistics, so folding is exercised
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.5, c), rng.uniform(0.5, 2, c)])
    ref = model(x, training=False).numpy()
    exported = c4.export_int4(model, x, "split")
    assert not ec2t_layers(exported)
    int4 = [layer for layer in exported.layers if isinstance(layer, c4.Int4TernaryConv)]
    assert len(int4) == len(ec2t_layers(model))
    folded = [layer.name for layer in exported.layers if isinstance(layer, keras.layers.Activation) and "_bn" in layer.name]
    assert len(folded) == len(int4)  # bn2 / bn3 after every ternary conv became identities
    out = exported(x, training=False).numpy()
    # simulated 8-bit activations + exact 4-bit ternary codes: within 5 % of the logit range
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()
    path = tmp_path / "int4.keras"
    exported.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), out)
    cfg = int4[0].get_config()
    assert cfg["split"] is True and c4.Int4TernaryConv.from_config(cfg).get_config() == cfg


def test_errors():
    model = _small_ternary()
    x = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(ConfigError, match="INT4 ternary export mode"):
        c4.export_int4(model, x, "packed")
    with pytest.raises(ConversionError, match="no active EC2T"):
        c4.export_int4(tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, ternary=True), x)
    with pytest.raises(ConfigError, match="representative data"):
        c4.convert_int4(model, np.zeros((32, 32, 3), np.float32))
    inp = keras.Input((8,))
    dense = TernaryDense(3, name="tdense")
    dense_model = keras.Model(inp, dense(inp))
    initialize_ec2t(dense_model, 0.45)
    with pytest.raises(ConversionError, match="'tdense' .*TernaryDense"):
        c4.export_int4(dense_model, np.zeros((2, 8), np.float32))


def _fake_data(monkeypatch):
    rng = np.random.default_rng(0)

    class Info:
        train_split, test_split = "train", "test"

    def load_arrays(name, split, max_examples=None, **kwargs):
        n = max_examples or 16
        return rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8), rng.integers(0, 10, n)

    monkeypatch.setattr(tfqnn.data, "info", lambda name, **kw: Info(), raising=False)
    monkeypatch.setattr(tfqnn.data, "load_arrays", load_arrays, raising=False)


@pytest.mark.slow
def test_cli_int4_merged_reports_weights_and_sizes(tmp_path, capsys, monkeypatch):
    _fake_data(monkeypatch)
    model = _small_ternary()
    path = tmp_path / "ec2t.keras"
    model.save(path)
    out = tmp_path / "ec2t.int4.tflite"
    rc = convert_main([str(path), "--target", "int4", "--ternary-mode", "merged", "--data", "fake",
                       "--calibration-samples", "8", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    assert "INT4" in stdout and "entropy-coded ternary" in stdout and "max |Keras - TFLite|" in stdout
    assert f"{out.stat().st_size:,} B  (1.000x flatbuffer)" in stdout
    fb = out.read_bytes()
    n_layers = len(ec2t_layers(model))
    assert sum(r.weight_type == "INT4" for r in weight_rows(fb)) == n_layers  # merged: one kernel per layer
    check = ct.check_kernels(model, fb)  # the smaller centroid of a channel is rounded to the 4-bit grid
    assert check.tensors == n_layers and check.exact < n_layers and check.max_abs_error > 1e-3


def test_cli_int4_errors(tmp_path, capsys, monkeypatch):
    path = tmp_path / "fp.keras"
    tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10).save(path)
    rc = convert_main([str(path), "--target", "int4", "-o", str(tmp_path / "a.tflite")])  # no data
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--data" in err[0]
    _fake_data(monkeypatch)
    rc = convert_main([str(path), "--target", "int4", "--data", "fake", "-o", str(tmp_path / "b.tflite")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no active EC2T" in err[0]
    assert not list(tmp_path.glob("*.tflite*"))
