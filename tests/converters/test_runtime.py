"""Running flatbuffers (LCE and TFLite interpreters) and benchmarking them."""
from __future__ import annotations

import numpy as np
import pytest
from cvt_helpers import images

import tfqnn.data
from converters import flatbuffer as fbuf
from converters.benchmark import benchmark, topk_accuracy
from converters.runtime import FlatbufferModel, interpreter_flags, load_flatbuffer, make_interpreter
from converters.tflite import convert
from tfqnn.errors import ModelFileError, RuntimeInputError


def _rename_custom_op(data: bytes, old: str, new: str) -> bytes:
    """Re-pack ``data`` with custom op ``old`` renamed to ``new`` (a model no runtime can run)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    for code in model.operatorCodes:
        if code.customCode == old.encode():
            code.customCode = new.encode()
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=fbuf.FILE_IDENTIFIER)
    return bytes(builder.Output())


def test_load_flatbuffer_errors_name_the_file(tmp_path, float_fb):
    missing = tmp_path / "missing.tflite"
    with pytest.raises(ModelFileError, match="missing.tflite does not exist"):
        load_flatbuffer(missing)
    text = tmp_path / "notes.tflite"
    text.write_text("hello, not a model")
    with pytest.raises(ModelFileError, match="notes.tflite is not a TFLite flatbuffer"):
        load_flatbuffer(text)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(float_fb[: len(float_fb) // 2])
    with pytest.raises(ModelFileError, match="cut.tflite is truncated or corrupt"):
        load_flatbuffer(cut)
    good = tmp_path / "good.tflite"
    good.write_bytes(float_fb)
    assert load_flatbuffer(good) == float_fb


def test_interpreter_flags_follow_the_model_kind(float_fb, lce_fb):
    f = interpreter_flags(float_fb)
    assert (f.use_xnnpack, f.use_indirect_bgemm) == (True, False)
    b = interpreter_flags(lce_fb, num_threads=2)
    assert (b.use_xnnpack, b.use_indirect_bgemm, b.num_threads) == (False, True, 2)
    assert interpreter_flags(float_fb, runtime="tflite").runtime == "tflite"
    with pytest.raises(RuntimeInputError, match="unknown runtime 'onnx'"):
        interpreter_flags(float_fb, runtime="onnx")


def test_unknown_custom_op_is_named(lce_fb):
    crafted = _rename_custom_op(lce_fb, "LceBconv2d", "LceMystery")
    fbuf.check_flatbuffer(crafted, "crafted")
    assert "LceMystery" in fbuf.custom_ops(crafted)
    with pytest.raises(ModelFileError, match="custom op\\(s\\) LceMystery"):
        make_interpreter(crafted, name="crafted.tflite")
    with pytest.raises(ModelFileError, match="LceBconv2d, LceQuantize .*--runtime lce"):
        FlatbufferModel(lce_fb, runtime="tflite")


@pytest.mark.parametrize("runtime", ["lce", "tflite"])
def test_predict_any_batch_matches_keras(float_model, float_fb, runtime):
    fb = FlatbufferModel(float_fb, runtime=runtime)
    assert fb.input_shape == (None, 8, 8, 3) and fb.output_shape == (None, 5)
    assert fb.input_dtype == np.float32 and fb.input_quantization is None
    x = images(5)
    out = fb.predict(x)
    assert out.shape == (5, 5)
    np.testing.assert_allclose(out, float_model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(fb.predict(x[:1]), out[:1], atol=1e-6)
    np.testing.assert_array_equal(fb.predict(x.astype(np.uint8)).shape, (5, 5))  # uint8 pixels accepted


def test_lce_model_runs_with_indirect_bgemm_and_float_ops(binary_model, lce_fb):
    fb = FlatbufferModel(lce_fb)
    assert fb.flags.use_indirect_bgemm and not fb.flags.use_xnnpack
    x = images(4, seed=7)
    np.testing.assert_allclose(fb.predict(x), binary_model.predict(x, verbose=0), atol=1e-4)


def test_wrong_input_shape_and_dtype(float_fb):
    fb = FlatbufferModel(float_fb)
    with pytest.raises(RuntimeInputError) as info:
        fb.predict(np.zeros((1, 28, 28, 3), np.float32))
    assert str(info.value) == "input shape (1, 28, 28, 3) does not match the model's (None, 8, 8, 3)"
    with pytest.raises(RuntimeInputError, match="does not match"):
        fb.predict(np.zeros((8, 8, 3), np.float32))  # batch dimension missing
    with pytest.raises(RuntimeInputError, match="complex64"):
        fb.predict(np.zeros((1, 8, 8, 3), np.complex64))
    with pytest.raises(RuntimeInputError, match="not a real number type"):
        fb.predict(np.full((1, 8, 8, 3), "a"))


def test_int8_io_model_takes_floats_or_codes(float_model):
    data = convert(float_model, "int8", representative_data=images(32, seed=1), int8_io=True)
    fb = FlatbufferModel(data)
    x = images(4, seed=3)
    scale, zero = fb.input_quantization
    codes = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(fb.prepare_input(x), codes)
    raw = fb.predict(codes, dequantize=False)
    assert raw.dtype == np.int8
    out_scale, out_zero = fb.output_quantization
    np.testing.assert_allclose(fb.predict(x), (raw.astype(np.float32) - out_zero) * out_scale, rtol=1e-6)


def test_benchmark_reports_ordered_latencies(lce_fb):
    res = benchmark(lce_fb, threads=(1, 2), runs=7, warmup=1, progress=False, runtime="lce")
    d = res.to_dict()
    assert set(d) >= {"model", "size_bytes", "runtime", "flags", "ops", "latency", "accuracy", "input_shape"}
    assert d["size_bytes"] == len(lce_fb) and d["ops"]["LceBconv2d"] == 1
    assert d["flags"]["use_indirect_bgemm"] is True and d["accuracy"] is None
    assert [lat["threads"] for lat in d["latency"]] == [1, 2]
    for lat in d["latency"]:
        assert lat["runs"] == 7
        assert 0 < lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"]


def test_benchmark_rejects_bad_settings(float_fb):
    with pytest.raises(RuntimeInputError, match="thread counts"):
        benchmark(float_fb, threads=(0,), progress=False)
    with pytest.raises(RuntimeInputError, match="runs"):
        benchmark(float_fb, runs=0, progress=False)


def test_benchmark_accuracy_on_a_dataset(monkeypatch, float_model, float_fb):
    x = np.random.default_rng(5).integers(0, 256, (30, 8, 8, 3)).astype(np.uint8)
    pred = float_model.predict(x.astype(np.float32), verbose=0)
    y = np.argmax(pred, 1).astype(np.int64)
    y[:6] = (y[:6] + 1) % 5  # 6 of 30 wrong for top-1

    class Info:
        test_split = "test"

    calls = []

    def fake_load_arrays(name, split, max_examples=None, **kwargs):
        calls.append((name, split, max_examples))
        return x[:max_examples], y[:max_examples]

    monkeypatch.setattr(tfqnn.data, "info", lambda name, **kw: Info(), raising=False)
    monkeypatch.setattr(tfqnn.data, "load_arrays", fake_load_arrays, raising=False)
    res = benchmark(float_fb, runs=2, warmup=0, data="fake10", progress=False).to_dict()
    assert calls == [("fake10", "test", None)]
    acc = res["accuracy"]
    assert acc["dataset"] == "fake10" and acc["split"] == "test" and acc["examples"] == 30
    assert acc["top1"] == pytest.approx(24 / 30)
    assert acc["top5"] == pytest.approx(topk_accuracy(pred, y, 5)) and acc["top5"] == 1.0


def test_topk_accuracy():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert topk_accuracy(scores, np.array([1, 1]), 1) == 0.5
    assert topk_accuracy(scores, np.array([1, 1]), 2) == 1.0
