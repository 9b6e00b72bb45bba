"""``tfqnn-convert`` / ``tfqnn-bench`` in-process success paths (bad inputs: tests/test_bad_inputs.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cvt_helpers import SHAPE, tiny_float_model

import tfqnn.data
from converters.cli import bench_main, convert_main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "model.keras"
    tiny_float_model().save(path)
    return path


@pytest.fixture(scope="module")
def flatbuffer_file(tmp_path_factory, float_fb):
    path = tmp_path_factory.mktemp("fb") / "model.tflite"
    path.write_bytes(float_fb)
    return path


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tflite" in p.name)


def test_convert_float_writes_and_reports(saved_model, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert convert_main([str(saved_model), "--target", "float", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert out.read_bytes()[4:8] == b"TFL3"
    for text in ("CONV_2D", "FULLY_CONNECTED", f"file size: {out.stat().st_size:,} bytes", "max |Keras - TFLite|"):
        assert text in stdout
    diff = float(stdout.split("uniform 0..255): ")[1].split()[0])
    assert diff <= 1e-5
    assert _leftovers(tmp_path) == ["m.tflite"]  # no temporary file left


def test_convert_default_output_is_beside_the_model(tmp_path, capsys):
    model = tmp_path / "net.keras"
    tiny_float_model().save(model)
    assert convert_main([str(model), "--target", "float"]) == 0
    assert (tmp_path / "net.float.tflite").is_file()
    capsys.readouterr()


def test_convert_int8_reads_the_dataset_from_config_yaml(tmp_path, capsys, monkeypatch):
    model = tmp_path / "model.keras"
    tiny_float_model().save(model)
    (tmp_path / "config.yaml").write_text("model:\n  name: tiny\ndata:\n  name: fake10\n  batch_size: 4\n")
    rng = np.random.default_rng(0)
    calls = []

    class Info:
        train_split, test_split = "train", "test"

    def fake_load_arrays(name, split, max_examples=None, **kwargs):
        calls.append((name, split, max_examples))
        n = max_examples or 50
        return rng.integers(0, 256, (n, *SHAPE)).astype(np.uint8), rng.integers(0, 5, n)

    monkeypatch.setattr(tfqnn.data, "info", lambda name, **kw: Info(), raising=False)
    monkeypatch.setattr(tfqnn.data, "load_arrays", fake_load_arrays, raising=False)
    out = tmp_path / "model.int8.tflite"
    rc = convert_main([str(model), "--target", "int8", "--int8-io", "--calibration-samples", "20", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert calls == [("fake10", "train", 20), ("fake10", "test", 8)]
    stdout = capsys.readouterr().out
    assert "8 fake10 test images" in stdout and "output quantization step" in stdout
    assert out.is_file()


def test_bench_json(flatbuffer_file, capsys):
    assert bench_main([str(flatbuffer_file), "--runs", "3", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["size_bytes"] == flatbuffer_file.stat().st_size
    assert result["ops"] == {"CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1}
    assert result["flags"]["use_xnnpack"] is True
    (lat,) = result["latency"]
    assert lat["threads"] == 1 and lat["runs"] == 3 and lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"]


def test_bench_table(flatbuffer_file, capsys):
    assert bench_main([str(flatbuffer_file), "--runs", "2", "--threads", "1,2", "--runtime", "tflite"]) == 0
    out = capsys.readouterr().out
    assert "latency (ms" in out and "FULLY_CONNECTED" in out and "runtime:  tflite" in out
