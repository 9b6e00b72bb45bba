"""Read a TFLite flatbuffer without running it: validity, op histogram, tensor types.

Uses TensorFlow's generated schema reader (``tensorflow.lite.python.schema_py_generated``),
which reads fields lazily from the bytes, so nothing is unpacked beyond what is asked for.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from tfqnn.errors import ModelFileError

FILE_IDENTIFIER = b"TFL3"
CUSTOM = "CUSTOM"
# Custom ops implemented by the LCE interpreter (larq-compute-engine 0.16).
LCE_CUSTOM_OPS = frozenset({"LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d"})


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


@lru_cache(maxsize=None)
def _enum_names(enum_name: str) -> dict[int, str]:
    enum = getattr(_schema(), enum_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def tensor_type_name(code: int) -> str:
    """``TensorType`` code → name (``0`` → ``"FLOAT32"``)."""
    return _enum_names("TensorType").get(code, f"TYPE_{code}")


@dataclass(frozen=True)
class OpInfo:
    """One operator in execution order, with the types of its tensors.

    ``inputs`` and ``outputs`` are ``TensorType`` names; an optional (absent) input is ``None``.
    ``output_names`` are the output tensor names, which carry the Keras layer path
    (``model/stage1_conv/Conv2D``).
    """

    name: str
    inputs: tuple[str | None, ...]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]


def _label(path: str | os.PathLike | None) -> str:
    return str(path) if path is not None else "flatbuffer"


def _root(data: bytes):
    return _schema().Model.GetRootAs(data, 0)


def check_flatbuffer(data: bytes, path: str | os.PathLike | None = None) -> None:
    """Raise :class:`ModelFileError` naming ``path`` unless ``data`` is a complete TFLite model.

    Checks the ``TFL3`` file identifier, that every table (op codes, subgraphs, operators,
    tensors) can be read, and that every constant buffer lies inside ``data`` (catches
    truncated files).
    """
    name = _label(path)
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelFileError(f"{name} is not a TFLite flatbuffer (no 'TFL3' file identifier)")
    try:
        model = _schema().ModelT.InitFromPackedBuf(data, 0)  # reads every field
        if not model.subgraphs:
            raise ValueError("no subgraph")
        n_codes = len(model.operatorCodes or [])
        n_buffers = len(model.buffers or [])
        for sg in model.subgraphs:
            n_tensors = len(sg.tensors or [])
            for tensor in sg.tensors or []:
                if tensor.buffer >= max(n_buffers, 1):
                    raise ValueError("tensor buffer index out of range")
            for op in sg.operators or []:
                if op.opcodeIndex >= n_codes:
                    raise ValueError("opcode index out of range")
                for idx in list(op.inputs if op.inputs is not None else []) + list(
                    op.outputs if op.outputs is not None else []
                ):
                    if idx >= n_tensors:
                        raise ValueError("tensor index out of range")
        for buf in model.buffers or []:
            if buf.offset > 1 and buf.offset + buf.size > len(data):
                raise ValueError("buffer beyond end of file")
    except ModelFileError:
        raise
    except Exception as exc:  # struct.error, IndexError, ValueError from a damaged file
        raise ModelFileError(f"{name} is truncated or corrupt ({type(exc).__name__}: {exc})") from None


def _op_code_names(model) -> list[str]:
    names = _enum_names("BuiltinOperator")
    out = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == CUSTOM:
            custom = code.CustomCode()
            name = custom.decode("utf-8", "replace") if custom else CUSTOM
        out.append(name)
    return out


def op_list(data: bytes) -> list[OpInfo]:
    """Every operator of every subgraph (main graph first), in execution order."""
    model = _root(data)
    codes = _op_code_names(model)
    ops: list[OpInfo] = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)

        def ttype(i: int) -> str | None:
            return None if i < 0 else tensor_type_name(sg.Tensors(int(i)).Type())

        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            outs = [int(i) for i in op.OutputsAsNumpy()]
            ops.append(
                OpInfo(
                    name=codes[op.OpcodeIndex()],
                    inputs=tuple(ttype(int(i)) for i in op.InputsAsNumpy()),
                    outputs=tuple(ttype(i) or "" for i in outs),
                    output_names=tuple(sg.Tensors(i).Name().decode("utf-8", "replace") for i in outs),
                )
            )
    return ops


def op_histogram(data: bytes) -> dict[str, int]:
    """Op name → count, keyed in the order each op type is first executed."""
    hist: dict[str, int] = {}
    for op in op_list(data):
        hist[op.name] = hist.get(op.name, 0) + 1
    return hist


def custom_ops(data: bytes) -> list[str]:
    """Names (``custom_code``) of the custom op types the model declares, sorted."""
    builtin = set(_enum_names("BuiltinOperator").values())
    return sorted({n for n in _op_code_names(_root(data)) if n not in builtin})


def unknown_custom_ops(data: bytes, known: frozenset[str] = LCE_CUSTOM_OPS) -> list[str]:
    """Custom op types that no interpreter of ours implements (``Flex*``, ``Erfinv``, ...)."""
    return [name for name in custom_ops(data) if name not in known]


def has_lce_ops(data: bytes) -> bool:
    """True if the model uses any Larq Compute Engine custom op."""
    return any(name in LCE_CUSTOM_OPS for name in custom_ops(data))


def tensor_types(data: bytes) -> dict[str, int]:
    """TensorType name → number of tensors of that type in the main subgraph."""
    sg = _root(data).Subgraphs(0)
    counts: dict[str, int] = {}
    for t in range(sg.TensorsLength()):
        name = tensor_type_name(sg.Tensors(t).Type())
        counts[name] = counts.get(name, 0) + 1
    return counts
