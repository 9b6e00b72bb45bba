"""Run a TFLite flatbuffer: our x86 LCE kernels, the LCE interpreter, or ``tf.lite.Interpreter``.

Interpreter flags follow ``specs/stack.md`` §2.5 (x86): a model with LCE ops runs with
``use_indirect_bgemm=True`` (the default bconv path is ~7× slower), any other model with
the XNNPACK delegate. Both are what the benchmarks must use, or every ratio is wrong.
Runtime ``tfqnn`` runs the LCE ops with our own kernels (:mod:`converters.kernels`) inside TF's
TFLite interpreter (float ops on XNNPACK); :func:`choose_runtime` makes it the default for
flatbuffers with LCE ops when its smoke test passes, and otherwise falls back to ``lce``.

Batches: the LCE interpreter has a fixed batch of 1 (the flatbuffer's input shape is
``[1, H, W, C]``; its shape signature ``[-1, H, W, C]`` cannot be used because the wrapper
cannot resize), so :meth:`FlatbufferModel.predict` runs the examples one at a time.
``tf.lite.Interpreter`` is resized to the batch (chunks of at most ``max_batch``) when the
signature has a free batch dimension, else it loops too.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters import flatbuffer as fbuf
from tfqnn.errors import ModelFileError, RuntimeInputError

RUNTIMES = ("lce", "tfqnn", "tflite")
TFL_API_RUNTIMES = ("tflite", "tfqnn")  # driven through tf.lite.Interpreter's set/invoke/get API


def load_flatbuffer(path: str | os.PathLike) -> bytes:
    """Read and validate a ``.tflite`` file; :class:`ModelFileError` naming it otherwise."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"flatbuffer file {p} does not exist")
    if p.is_dir():
        raise ModelFileError(f"{p} is a folder, not a .tflite flatbuffer")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {p}: {exc.strerror}") from None
    fbuf.check_flatbuffer(data, p)
    return data


@dataclass(frozen=True)
class InterpreterFlags:
    """How a flatbuffer is run; reported by the benchmark next to its numbers."""

    runtime: str
    num_threads: int
    use_indirect_bgemm: bool = False
    use_xnnpack: bool = False
    use_reference_bconv: bool = False
    kernels: str = ""  # tfqnn runtime: the kernel path (avx512 / avx2 / scalar)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interpreter_flags(data: bytes, num_threads: int = 1, runtime: str = "lce") -> InterpreterFlags:
    """The fastest correct flags on x86 for ``data`` (stack.md §2.5)."""
    if runtime not in RUNTIMES:
        raise RuntimeInputError(f"unknown runtime '{runtime}' (valid: {', '.join(RUNTIMES)})")
    if num_threads < 1:
        raise RuntimeInputError(f"num_threads must be >= 1, got {num_threads}")
    if runtime == "tflite":  # tf.lite.Interpreter applies XNNPACK by default
        return InterpreterFlags("tflite", num_threads, use_xnnpack=True)
    if runtime == "tfqnn":
        from converters.kernels import status

        return InterpreterFlags("tfqnn", num_threads, use_xnnpack=True, kernels=status().path)
    lce = fbuf.has_lce_ops(data)
    return InterpreterFlags("lce", num_threads, use_indirect_bgemm=lce, use_xnnpack=not lce)


def choose_runtime(data: bytes) -> tuple[str, str]:
    """Default runtime for ``data`` and a one-line note when the preferred one is unavailable.

    Flatbuffers with LCE ops run on our kernels (``tfqnn``) when their smoke test passes,
    else on the LCE interpreter (the note says why); any other flatbuffer on ``lce``.
    """
    if not fbuf.has_lce_ops(data):
        return "lce", ""
    from converters.kernels import status

    st = status()
    if st.available:
        return "tfqnn", ""
    return "lce", f"{st.reason}; using the LCE interpreter"


def _check_custom_ops(data: bytes, runtime: str, name: str) -> None:
    known = fbuf.LCE_CUSTOM_OPS if runtime in ("lce", "tfqnn") else frozenset()
    unknown = fbuf.unknown_custom_ops(data, known)
    if unknown:
        hint = " (use --runtime lce, or tfqnn for our kernels)" if runtime == "tflite" and set(unknown) & fbuf.LCE_CUSTOM_OPS else ""
        raise ModelFileError(
            f"{name} uses custom op(s) {', '.join(unknown)} that the {runtime} interpreter does not implement{hint}"
        )


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def make_interpreter(data: bytes, num_threads: int = 1, runtime: str = "lce", *, name: str = "flatbuffer"):
    """A ready interpreter for ``data``: LCE's ``Interpreter``, ``tf.lite.Interpreter``, or
    (``tfqnn``) TF's ``InterpreterWithCustomOps`` with our kernels registered.

    Custom ops the chosen interpreter does not implement raise :class:`ModelFileError`
    naming them, before the interpreter is built.
    """
    fbuf.check_flatbuffer(data, name)
    flags = interpreter_flags(data, num_threads, runtime)
    _check_custom_ops(data, runtime, name)
    try:
        if runtime == "lce":
            from larq_compute_engine.tflite.python.interpreter import Interpreter

            return Interpreter(
                data,
                num_threads=num_threads,
                use_reference_bconv=flags.use_reference_bconv,
                use_indirect_bgemm=flags.use_indirect_bgemm,
                use_xnnpack=flags.use_xnnpack,
            )
        if runtime == "tfqnn":
            from converters.kernels import make_interpreter as kernels_interpreter

            return kernels_interpreter(data, num_threads)
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated ..."
            interp = tf.lite.Interpreter(model_content=data, num_threads=num_threads)
        interp.allocate_tensors()
        return interp
    except (RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{name} cannot be loaded by the {runtime} interpreter: {_first_line(exc)}") from None


@dataclass(frozen=True)
class TensorSpec:
    """Shape (batch ``None``), dtype and quantization ``(scale, zero_point)`` or ``None``."""

    shape: tuple[int | None, ...]
    dtype: np.dtype
    quantization: tuple[float, int] | None


def io_specs(data: bytes) -> tuple[TensorSpec, TensorSpec]:
    from tensorflow.lite.python import schema_py_generated as schema

    sg = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    if sg.InputsLength() != 1 or sg.OutputsLength() != 1:
        raise ModelFileError(
            f"flatbuffer has {sg.InputsLength()} inputs and {sg.OutputsLength()} outputs; only 1 and 1 are supported"
        )
    dtypes = {"FLOAT32": np.float32, "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "INT32": np.int32}

    def spec(index: int) -> TensorSpec:
        t = sg.Tensors(index)
        type_name = fbuf.tensor_type_name(t.Type())
        if type_name not in dtypes:
            raise ModelFileError(f"flatbuffer input/output type {type_name} is not supported")
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        batch_free: tuple[int | None, ...] = ((None,) + tuple(shape[1:])) if shape else ()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() == 1 and q.ZeroPointLength() == 1 and type_name != "FLOAT32":
            quant = (float(q.Scale(0)), int(q.ZeroPoint(0)))
        return TensorSpec(batch_free, np.dtype(dtypes[type_name]), quant)

    return spec(int(sg.Inputs(0))), spec(int(sg.Outputs(0)))


class FlatbufferModel:
    """A flatbuffer ready to run: I/O description and a validating :meth:`predict`.

    ``FlatbufferModel(data, num_threads=1, runtime="lce")``; ``runtime="tflite"`` uses
    ``tf.lite.Interpreter`` (no LCE ops), ``runtime="tfqnn"`` our kernels for the LCE ops.
    """

    def __init__(self, data: bytes, *, num_threads: int = 1, runtime: str = "lce", name: str = "flatbuffer",
                 max_batch: int = 64):
        self.data = data
        self.name = name
        self.runtime = runtime
        self.flags = interpreter_flags(data, num_threads, runtime)
        self._interp = make_interpreter(data, num_threads, runtime, name=name)
        self.input_spec, self.output_spec = io_specs(data)
        self._max_batch = max(1, int(max_batch))
        self._batch = 1
        if runtime in TFL_API_RUNTIMES:
            detail = self._interp.get_input_details()[0]
            self._in_index = detail["index"]
            sig = detail.get("shape_signature")
            self._resizable = sig is not None and len(sig) > 0 and int(sig[0]) == -1
            self._out_index = self._interp.get_output_details()[0]["index"]

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> "FlatbufferModel":
        return cls(load_flatbuffer(path), name=str(path), **kwargs)

    # --- I/O description -------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return self.input_spec.shape

    @property
    def input_dtype(self) -> np.dtype:
        return self.input_spec.dtype

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        return self.input_spec.quantization

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        return self.output_spec.shape

    @property
    def output_dtype(self) -> np.dtype:
        return self.output_spec.dtype

    @property
    def output_quantization(self) -> tuple[float, int] | None:
        return self.output_spec.quantization

    # --- running ---------------------------------------------------------------------
    def prepare_input(self, x: Any) -> np.ndarray:
        """Validate ``x`` and convert it to the model's input dtype.

        Shape: the batch dimension is free, the others must match. Dtype: any real
        number array. For an integer-input (int8) model, an ``int8`` array is taken as
        quantized codes; any other dtype as real values, quantized with the input scale
        and zero point (so float or uint8 raw pixels can be given to an int8-I/O model).
        """
        x = np.asarray(x)
        if x.dtype.kind not in "biuf" or x.dtype.kind == "b":
            raise RuntimeInputError(f"input dtype {x.dtype} is not a real number type (model expects {self.input_dtype})")
        want = self.input_shape
        if x.ndim != len(want) or tuple(x.shape[1:]) != tuple(want[1:]):
            raise RuntimeInputError(f"input shape {tuple(x.shape)} does not match the model's {want}")
        dtype = self.input_dtype
        if dtype.kind == "f":
            return x.astype(dtype, copy=False)
        if x.dtype == dtype:
            return x
        if self.input_quantization is None:
            raise RuntimeInputError(f"{self.name} has {dtype} input without quantization parameters; pass {dtype} codes")
        scale, zero = self.input_quantization
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float64) / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        """Integer output codes → float32 with the output scale and zero point."""
        if self.output_dtype.kind == "f":
            return np.asarray(y, dtype=np.float32)
        if self.output_quantization is None:
            return np.asarray(y)
        scale, zero = self.output_quantization
        return ((np.asarray(y, dtype=np.float32) - zero) * scale).astype(np.float32)

    def invoke_one(self, x1: np.ndarray) -> np.ndarray:
        """Run one already-prepared example batch of shape ``(1, ...)``; raw output codes.

        This is the lowest-overhead path (LCE: one C++ call that sets the input, invokes
        and copies the output); the benchmark times it.
        """
        if self.runtime == "lce":
            return self._interp.interpreter.predict([x1])[0]
        self._resize(1)
        self._interp.set_tensor(self._in_index, x1)
        self._interp.invoke()
        return self._interp.get_tensor(self._out_index)

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self._interp.resize_tensor_input(self._in_index, [n, *self.input_shape[1:]], strict=True)
            self._interp.allocate_tensors()
            self._batch = n

    def predict_raw(self, xq: np.ndarray) -> np.ndarray:
        """Run prepared inputs (any batch size); raw output codes."""
        n = len(xq)
        if n == 0:
            return np.zeros((0, *self.output_shape[1:]), dtype=self.output_dtype)
        if self.runtime in TFL_API_RUNTIMES and self._resizable:
            outs = []
            for start in range(0, n, self._max_batch):
                chunk = xq[start:start + self._max_batch]
                self._resize(len(chunk))
                self._interp.set_tensor(self._in_index, np.ascontiguousarray(chunk))
                self._interp.invoke()
                outs.append(self._interp.get_tensor(self._out_index).copy())
            return np.concatenate(outs)
        return np.concatenate([self.invoke_one(np.ascontiguousarray(xq[i:i + 1])) for i in range(n)])

    def predict(self, x: Any, *, dequantize: bool = True) -> np.ndarray:
        """Outputs for a batch ``x`` (see :meth:`prepare_input` for accepted inputs).

        Integer outputs are dequantized to float32 unless ``dequantize=False``.
        """
        y = self.predict_raw(self.prepare_input(x))
        return self.dequantize_output(y) if dequantize else y
