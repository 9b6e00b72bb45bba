"""Hand-built LCE flatbuffers (no converter): the smoke-test model and single-op test models.

Used by the loader's smoke test and by the kernel tests, which compare our kernels with LCE's
reference kernel on models whose every option and shape is chosen by the test (property tests,
fuzzing). Tensors, buffers and op codes follow the TFLite schema
(``tensorflow.lite.python.schema_py_generated``); custom options are flexbuffers maps of ints
as LCE 0.16 writes them (specs/x86-kernels.md §2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

FLOAT32, INT32, INT8, BOOL = "FLOAT32", "INT32", "INT8", "BOOL"


@dataclass
class Tensor:
    """One tensor: shape, TensorType name, optional constant data, optional (scale, zero point)."""

    shape: Sequence[int]
    type: str
    data: np.ndarray | None = None
    quant: tuple[float, int] | None = None


@dataclass
class Op:
    """One custom op: name, input / output tensor indices (-1 = absent), custom options bytes."""

    name: str
    inputs: Sequence[int]
    outputs: Sequence[int]
    options: bytes = b""


@dataclass
class Graph:
    tensors: list[Tensor] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def add(self, tensor: Tensor) -> int:
        self.tensors.append(tensor)
        return len(self.tensors) - 1


def flex_options(values: dict[str, int]) -> bytes:
    """A flexbuffers map of ints (LCE custom options)."""
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps({k: int(v) for k, v in values.items()}))


def pack(graph: Graph) -> bytes:
    """Serialise ``graph`` to a TFLite flatbuffer (file identifier ``TFL3``)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT()
    m.version = 3
    m.buffers = [schema.BufferT()]
    names = sorted({op.name for op in graph.ops})
    m.operatorCodes = []
    for name in names:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = name.encode()
        code.version = 1
        m.operatorCodes.append(code)
    sg = schema.SubGraphT()
    sg.tensors = []
    for i, t in enumerate(graph.tensors):
        tt = schema.TensorT()
        tt.shape = list(int(d) for d in t.shape)
        tt.type = getattr(schema.TensorType, t.type)
        tt.name = f"t{i}".encode()
        tt.buffer = 0
        if t.data is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(t.data).tobytes(), dtype=np.uint8)
            m.buffers.append(buf)
            tt.buffer = len(m.buffers) - 1
        if t.quant is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(t.quant[0])], [int(t.quant[1])]
            tt.quantization = q
        sg.tensors.append(tt)
    sg.operators = []
    for op in graph.ops:
        o = schema.OperatorT()
        o.opcodeIndex = names.index(op.name)
        o.inputs, o.outputs = list(op.inputs), list(op.outputs)
        if op.options:
            o.customOptions = list(op.options)
        sg.operators.append(o)
    sg.inputs, sg.outputs = list(graph.inputs), list(graph.outputs)
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def smoke_model() -> bytes:
    """float [1,1,1,40] → LceQuantize → LceDequantize → float [1,1,1,40]."""
    g = Graph()
    x = g.add(Tensor([1, 1, 1, 40], FLOAT32))
    p = g.add(Tensor([1, 1, 1, 2], INT32))
    y = g.add(Tensor([1, 1, 1, 40], FLOAT32))
    g.ops = [Op("LceQuantize", [x], [p]), Op("LceDequantize", [p], [y])]
    g.inputs, g.outputs = [x], [y]
    return pack(g)


@dataclass(frozen=True)
class BconvCase:
    """One LceBconv2d configuration (input is bitpacked int32 [n, h, w, ceil(cin/32)])."""

    n: int = 1
    h: int = 5
    w: int = 5
    cin: int = 40
    cout: int = 8
    kh: int = 3
    kw: int = 3
    groups: int = 1
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: int = 0  # 0 SAME, 1 VALID
    pad_values: int = 1
    activation: int = 0
    out: str = "float"  # float | int8 | bitpacked
    seed: int = 0


def pack_bits(signs_negative: np.ndarray) -> np.ndarray:
    """Bool array [..., C] (True = -1) → int32 [..., ceil(C/32)], LSB first."""
    c = signs_negative.shape[-1]
    words = -(-c // 32)
    padded = np.zeros((*signs_negative.shape[:-1], words * 32), dtype=np.uint64)
    padded[..., :c] = signs_negative
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    packed = (padded.reshape(*signs_negative.shape[:-1], words, 32) * weights).sum(-1)
    return packed.astype(np.uint32).view(np.int32)


def bconv_model(case: BconvCase) -> tuple[bytes, np.ndarray]:
    """A one-op LceBconv2d flatbuffer with random filter / post-ops, and a random input batch."""
    rng = np.random.default_rng(case.seed)
    words = -(-case.cin // 32)
    cin_pg = case.cin // case.groups
    words_pg = words // case.groups
    filt_signs = rng.random((case.cout, case.kh, case.kw, cin_pg)) < 0.5
    filt = pack_bits(filt_signs)
    assert filt.shape[-1] == words_pg
    x = pack_bits(rng.random((case.n, case.h, case.w, case.cin)) < 0.5)
    g = Graph()
    xi = g.add(Tensor([case.n, case.h, case.w, words], INT32))
    fi = g.add(Tensor(filt.shape, INT32, filt))
    ins = [xi, fi, -1, -1, -1]
    if case.out == "bitpacked":
        k = case.kh * case.kw * cin_pg
        ins[4] = g.add(Tensor([case.cout], INT32, rng.integers(-1, k + 1, case.cout).astype(np.int32)))
        out = Tensor([case.n, 1, 1, -(-case.cout // 32)], INT32)
    else:
        ins[2] = g.add(Tensor([case.cout], FLOAT32, rng.normal(0, 0.3, case.cout).astype(np.float32)))
        ins[3] = g.add(Tensor([case.cout], FLOAT32, rng.normal(0, 2.0, case.cout).astype(np.float32)))
        quant = (float(rng.uniform(0.02, 0.3)), int(rng.integers(-20, 20))) if case.out == "int8" else None
        out = Tensor([case.n, 1, 1, case.cout], INT8 if case.out == "int8" else FLOAT32, quant=quant)
    yi = g.add(out)
    opts = flex_options({
        "channels_in": case.cin, "dilation_height_factor": case.dilation[0],
        "dilation_width_factor": case.dilation[1], "fused_activation_function": case.activation,
        "pad_values": case.pad_values, "padding": case.padding, "stride_height": case.stride[0],
        "stride_width": case.stride[1],
    })
    g.ops = [Op("LceBconv2d", ins, [yi], opts)]
    g.inputs, g.outputs = [xi], [yi]
    return pack(g), x
