"""tfqnn-bench --runtime {lce,tfqnn,tflite}: our kernels are the default for LCE flatbuffers,
with a one-line fallback to the LCE interpreter when they are unavailable."""
from __future__ import annotations

import numpy as np
import pytest

from converters.kernels import build as kbuild

if kbuild.compiler() is None:
    pytest.skip(reason="no C++ compiler: the tfqnn kernels cannot be built here", allow_module_level=True)

from converters.cli import bench_main  # noqa: E402
from converters.kernels import modelgen as mg  # noqa: E402
from converters.runtime import FlatbufferModel, choose_runtime, interpreter_flags  # noqa: E402


@pytest.fixture()
def lce_file(tmp_path):
    fb, _ = mg.bconv_model(mg.BconvCase(h=6, w=6, cin=64, cout=32))
    path = tmp_path / "bconv.tflite"
    path.write_bytes(fb)
    return path


def test_tfqnn_is_the_default_for_lce_flatbuffers(lce_file, float_fb):
    assert choose_runtime(lce_file.read_bytes()) == ("tfqnn", "")
    assert choose_runtime(float_fb) == ("lce", "")
    flags = interpreter_flags(lce_file.read_bytes(), runtime="tfqnn")
    assert flags.kernels in ("scalar", "avx2", "avx512", "amx")


def test_bench_default_runtime_is_tfqnn(lce_file, capsys):
    assert bench_main([str(lce_file), "--runs", "2", "--warmup", "0"]) == 0
    out, err = capsys.readouterr()
    assert "runtime:  tfqnn" in out and "LceBconv2d" in out and "note:" not in err


@pytest.mark.parametrize("runtime", ["lce", "tfqnn"])
def test_bench_explicit_runtime(lce_file, capsys, runtime):
    assert bench_main([str(lce_file), "--runs", "2", "--warmup", "0", "--runtime", runtime]) == 0
    assert f"runtime:  {runtime}" in capsys.readouterr().out


def test_unavailable_kernels_fall_back_in_one_line(lce_file, capsys, monkeypatch):
    monkeypatch.setenv("TFQNN_KERNELS", "vax")  # registration refuses it → smoke test fails
    assert bench_main([str(lce_file), "--runs", "2", "--warmup", "0"]) == 0
    out, err = capsys.readouterr()
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "TFQNN_KERNELS" in notes[0] and "using the LCE interpreter" in notes[0]
    assert "runtime:  lce" in out


def test_explicit_tfqnn_when_unavailable_is_a_one_line_error(lce_file, capsys, monkeypatch):
    monkeypatch.setenv("TFQNN_KERNELS", "vax")
    assert bench_main([str(lce_file), "--runs", "1", "--runtime", "tfqnn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "TFQNN_KERNELS" in err[0]


def test_flatbuffer_model_tfqnn_matches_lce_on_converted_model(lce_fb):
    x = np.random.default_rng(0).uniform(0, 255, (3, *FlatbufferModel(lce_fb).input_shape[1:])).astype(np.float32)
    ours = FlatbufferModel(lce_fb, runtime="tfqnn").predict(x)
    np.testing.assert_allclose(ours, FlatbufferModel(lce_fb, runtime="lce").predict(x), rtol=1e-5, atol=1e-4)


def test_missing_library_reports_unavailable_and_bench_falls_back(lce_file, capsys, monkeypatch, tmp_path):
    from converters.kernels import status

    monkeypatch.setenv("TFQNN_KERNELS_LIB", str(tmp_path / "nope.so"))
    st = status()
    assert not st.available and "could not be loaded" in st.reason
    assert bench_main([str(lce_file), "--runs", "1", "--warmup", "0"]) == 0
    out, err = capsys.readouterr()
    assert "runtime:  lce" in out and err.count("note:") == 1


def test_build_without_compiler_fails_cleanly(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kbuild, "compiler", lambda: None)
    with pytest.raises(kbuild.BuildError, match=r"no C\+\+ compiler"):
        kbuild.build(tmp_path / "lib.so")
    assert kbuild.main(["--out", str(tmp_path / "lib.so")]) == 1
    assert "not built: no C++ compiler" in capsys.readouterr().err
    assert not (tmp_path / "lib.so").exists()
