"""A flatbuffer is untrusted input: malformed LCE ops end in an interpreter error, never a crash.

Bad options, shapes, channel counts and truncated models must raise from the interpreter
(our Prepare reports one line naming the op and the problem); fuzzed option maps and shapes
must either run or raise. ``make asan`` runs this file under AddressSanitizer too.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converters.kernels import build as kbuild

if kbuild.compiler() is None:
    pytest.skip(reason="no C++ compiler: the tfqnn kernels cannot be built here", allow_module_level=True)

from converters.kernels import make_interpreter, modelgen as mg  # noqa: E402

BASE = mg.BconvCase(h=5, w=5, cin=40, cout=8)
KEYS = ("channels_in", "dilation_height_factor", "dilation_width_factor", "fused_activation_function",
        "pad_values", "padding", "stride_height", "stride_width")


def _graph(case: mg.BconvCase = BASE, options: dict | None = None, raw_options: bytes | None = None) -> mg.Graph:
    """The one-op graph of ``mg.bconv_model`` (rebuilt so tests can edit it before packing)."""
    fb, _ = mg.bconv_model(case)
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(fb, 0)
    sg = m.subgraphs[0]
    g = mg.Graph()
    for t in sg.tensors:
        data = None if m.buffers[t.buffer].data is None else np.asarray(m.buffers[t.buffer].data, np.uint8)
        quant = None
        if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale):
            quant = (float(t.quantization.scale[0]), int(t.quantization.zeroPoint[0]))
        g.add(mg.Tensor(list(t.shape), mg.__dict__[{0: "FLOAT32", 2: "INT32", 9: "INT8"}[t.type]], data, quant))
    op = sg.operators[0]
    opts = bytes(op.customOptions)
    if options is not None:
        opts = mg.flex_options(options) if all(isinstance(v, int) for v in options.values()) else _flex_any(options)
    if raw_options is not None:
        opts = raw_options
    g.ops = [mg.Op("LceBconv2d", list(op.inputs), list(op.outputs), opts)]
    g.inputs, g.outputs = list(sg.inputs), list(sg.outputs)
    return g


def _flex_any(values: dict) -> bytes:
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps(values))


def _options(**changes) -> dict:
    base = {"channels_in": 40, "dilation_height_factor": 1, "dilation_width_factor": 1, "fused_activation_function": 0,
            "pad_values": 1, "padding": 0, "stride_height": 1, "stride_width": 1}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _run(fb: bytes) -> None:
    """Build, allocate and invoke once on random input (raises on any interpreter error)."""
    interp = make_interpreter(fb)
    for d in interp.get_input_details():
        shape = tuple(int(s) for s in d["shape"])
        x = np.random.default_rng(0).integers(-2**31, 2**31, shape, dtype=np.int64).astype(d["dtype"])
        interp.set_tensor(d["index"], x)
    interp.invoke()


def _refused(fb: bytes, *needles: str) -> str:
    with pytest.raises((RuntimeError, ValueError)) as info:
        _run(fb)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, msg
    return msg


@pytest.fixture(autouse=True)
def _best_path():
    os.environ.pop("TFQNN_KERNELS", None)


def test_valid_base_model_runs():
    _run(mg.pack(_graph()))


@pytest.mark.parametrize("changes,needle", [
    ({"stride_height": None}, "option 'stride_height' is missing"),
    ({"channels_in": None}, "option 'channels_in' is missing"),
    ({"stride_width": 0}, "strides and dilations must be >= 1"),
    ({"dilation_height_factor": -3}, "out of range"),
    ({"padding": 2}, "padding must be 0 (SAME) or 1 (VALID)"),
    ({"pad_values": 5}, "pad_values must be 0 or 1"),
    ({"fused_activation_function": 9}, "fused_activation_function must be 0..3"),
    ({"channels_in": 100}, "does not match"),
    ({"channels_in": 1 << 40}, "out of range"),
    ({"stride_height": "2"}, "option 'stride_height' is missing or not an integer"),
    ({"padding": 1.5}, "option 'padding' is missing or not an integer"),
    ({"pad_values": 0, "fused_activation_function": 1}, "fused activations need VALID or one-padding"),
])
def test_bad_bconv_options_are_refused(changes, needle):
    _refused(mg.pack(_graph(options=_options(**changes))), "LceBconv2d", needle)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x01\x02\x03", b"\xff" * 40, bytes(range(200))])
def test_garbage_option_bytes_are_refused(raw):
    _refused(mg.pack(_graph(raw_options=raw)), "LceBconv2d")


def _edit(g: mg.Graph, index: int, **fields) -> mg.Graph:
    t = g.tensors[index]
    for k, v in fields.items():
        setattr(t, k, v)
    return g


@pytest.mark.parametrize("index,fields,needle", [
    (0, {"shape": [1, 5, 5]}, "input and filter must be 4-D"),
    (0, {"shape": [1, 5, 5, 3]}, "does not match"),
    (0, {"shape": [1, 0, 5, 2]}, "input and filter must be 4-D"),
    (0, {"type": "FLOAT32"}, "input must be bitpacked int32"),
    (2, {"shape": [7], "data": np.zeros(7, np.float32)}, "post_activation_multiplier must have shape [8]"),
    (3, {"type": "INT32"}, "post_activation_bias has the wrong type"),
    (4, {"type": "INT8"}, "int8 output needs per-tensor quantization"),
    (4, {"type": "BOOL"}, "output must be float32, int8 or bitpacked int32"),
    (1, {"data": None}, "filter must be a constant tensor"),
])
def test_bad_bconv_tensors_are_refused(index, fields, needle):
    _refused(mg.pack(_edit(_graph(), index, **fields)), "LceBconv2d", needle)


def test_filter_depth_not_dividing_input_is_refused():
    g = _graph(mg.BconvCase(cin=96, cout=8))
    filt = g.tensors[1]
    filt.shape = [8, 3, 3, 2]
    filt.data = np.zeros((8, 3, 3, 2), np.int32)
    _refused(mg.pack(g), "LceBconv2d", "does not divide")


def test_missing_optional_inputs_are_refused():
    g = _graph()
    g.ops[0].inputs = [0, 1, -1, -1, -1]
    _refused(mg.pack(g), "LceBconv2d", "post_activation_multiplier is missing")
    g.ops[0].inputs = [0, 1]
    _refused(mg.pack(g), "LceBconv2d", "needs 5 inputs")


def test_bad_dequantize_and_maxpool_are_refused():
    g = mg.Graph()
    x = g.add(mg.Tensor([1, 2, 2, 2], mg.INT32))
    y = g.add(mg.Tensor([1, 2, 2, 70], mg.FLOAT32))
    g.ops, g.inputs, g.outputs = [mg.Op("LceDequantize", [x], [y])], [x], [y]
    _refused(mg.pack(g), "LceDequantize", "do not match")
    g.tensors[1] = mg.Tensor([1, 2, 2, 40], mg.INT8)  # int8 without quantization
    _refused(mg.pack(g), "LceDequantize", "needs per-tensor quantization")
    g.tensors[1] = mg.Tensor([1, 1, 1, 2], mg.INT32)
    g.ops = [mg.Op("LceBMaxPool2d", [x], [y], mg.flex_options({"padding": 1, "stride_height": 1}))]
    _refused(mg.pack(g), "LceBMaxPool2d", "option 'stride_width' is missing")
    g.ops = [mg.Op("LceBMaxPool2d", [x], [y], mg.flex_options(
        {"padding": 1, "stride_height": 1, "stride_width": 1, "filter_height": 9, "filter_width": 1}))]
    _refused(mg.pack(g), "LceBMaxPool2d", "filter larger than the input")


def test_truncated_flatbuffers_are_refused():
    fb = mg.pack(_graph())
    for cut in (8, len(fb) // 3, len(fb) // 2, len(fb) - 9):
        with pytest.raises((RuntimeError, ValueError)):
            _run(fb[:cut])


def _no_crash(fb: bytes) -> None:
    try:
        _run(fb)
    except (RuntimeError, ValueError):
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_option_bytes_never_crash(data):
    opts = bytearray(mg.flex_options(_options()))
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["set", "truncate", "extend"]))
        if kind == "set" and opts:
            opts[data.draw(st.integers(0, len(opts) - 1))] = data.draw(st.integers(0, 255))
        elif kind == "truncate" and opts:
            del opts[data.draw(st.integers(0, len(opts) - 1)):]
        else:
            opts += bytes(data.draw(st.lists(st.integers(0, 255), max_size=8)))
    _no_crash(mg.pack(_graph(raw_options=bytes(opts))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_shapes_and_options_never_crash(data):
    case = mg.BconvCase(h=4, w=4, cin=data.draw(st.sampled_from([8, 40, 64])), cout=data.draw(st.integers(1, 40)),
                        out=data.draw(st.sampled_from(["float", "int8", "bitpacked"])))
    opts = {k: data.draw(st.integers(-2, 70)) if data.draw(st.booleans()) else v for k, v in _options(
        channels_in=case.cin).items()}
    g = _graph(case, options=opts)
    for _ in range(data.draw(st.integers(0, 3))):
        t = g.tensors[data.draw(st.integers(0, len(g.tensors) - 1))]
        rank = data.draw(st.integers(0, 5))
        t.shape = [data.draw(st.integers(-1, 70)) for _ in range(rank)]
    _no_crash(mg.pack(g))
