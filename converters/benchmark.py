"""Latency, size and accuracy of a flatbuffer; Keras-vs-TFLite output comparison.

Latency is measured on this machine's interpreter with the flags of
:func:`converters.runtime.interpreter_flags` (LCE ``use_indirect_bgemm`` for binary models,
XNNPACK otherwise), batch 1 unless asked, by timing the raw set-input/invoke/get-output
call. The numbers are x86 numbers: they say nothing about ARM latency (stack.md §2.4–2.5).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from converters import flatbuffer as fbuf
from converters.runtime import FlatbufferModel, choose_runtime, io_specs, load_flatbuffer
from tfqnn.errors import DataError, ModelFileError, RuntimeInputError

PROGRESS_MIN_ITEMS = 20  # below this, no progress bar


@dataclass(frozen=True)
class Latency:
    """Latency statistics in milliseconds for one thread count."""

    threads: int
    runs: int
    min_ms: float
    median_ms: float
    p90_ms: float
    mean_ms: float


@dataclass
class BenchResult:
    """What ``tfqnn-bench`` reports; :meth:`to_dict` is the ``--json`` output."""

    model: str
    size_bytes: int
    runtime: str
    flags: dict[str, Any]
    input_shape: list[int | None]
    input_dtype: str
    batch_size: int
    ops: dict[str, int]
    latency: list[Latency] = field(default_factory=list)
    accuracy: dict[str, Any] | None = None
    runtime_note: str = ""  # why the default runtime fell back (e.g. tfqnn kernels unavailable)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled or total < PROGRESS_MIN_ITEMS:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, unit="run" if "latency" in desc else "img")


def latency_stats(times_ms: Sequence[float], threads: int) -> Latency:
    """min / median / p90 / mean of per-run times (ms)."""
    t = np.asarray(times_ms, dtype=np.float64)
    return Latency(threads, int(t.size), float(t.min()), float(np.median(t)), float(np.percentile(t, 90)), float(t.mean()))


def random_input(fb: FlatbufferModel, batch_size: int = 1, seed: int = 0) -> np.ndarray:
    """Prepared random input: raw pixels 0..255 (float models) or int8 codes (int8-I/O models)."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, *fb.input_shape[1:])
    if fb.input_dtype.kind == "f":
        return rng.uniform(0, 255, shape).astype(fb.input_dtype)
    info = np.iinfo(fb.input_dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(fb.input_dtype)


def time_model(fb: FlatbufferModel, *, runs: int = 50, warmup: int = 5, batch_size: int = 1,
               progress: bool = True) -> Latency:
    """Time ``runs`` invocations of one batch after ``warmup`` untimed ones."""
    if runs < 1:
        raise RuntimeInputError(f"runs must be >= 1, got {runs}")
    x = random_input(fb, batch_size)
    run = (lambda: fb.invoke_one(x)) if batch_size == 1 else (lambda: fb.predict_raw(x))
    for _ in range(max(0, warmup)):
        run()
    times = []
    desc = f"latency {fb.flags.num_threads} thread(s)"
    for _ in _progress(range(runs), runs, desc, progress):
        start = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return latency_stats(times, fb.flags.num_threads)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` largest scores."""
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels.reshape(-1, 1), axis=1)))


def predict_batches(fb: FlatbufferModel, x: np.ndarray, *, chunk: int = 256, progress: bool = True) -> np.ndarray:
    """``fb.predict`` over ``x`` in chunks, with a progress bar on stderr."""
    outs = []
    bar = None
    if progress and len(x) >= PROGRESS_MIN_ITEMS:
        from tqdm import tqdm

        bar = tqdm(total=len(x), desc="accuracy", leave=False, unit="img")
    for start in range(0, len(x), chunk):
        outs.append(fb.predict(x[start:start + chunk]))
        if bar is not None:
            bar.update(len(outs[-1]))
    if bar is not None:
        bar.close()
    return np.concatenate(outs) if outs else np.zeros((0,))


def load_test_split(name: str, max_examples: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, split)`` of dataset ``name``'s test split through ``tfqnn.data``."""
    import tfqnn.data as tdata

    if not hasattr(tdata, "load_arrays") or not hasattr(tdata, "info"):
        raise DataError("tfqnn.data.load_arrays is not available")
    split = tdata.info(name).test_split
    x, y = tdata.load_arrays(name, split, max_examples=max_examples)
    return np.asarray(x), np.asarray(y), split


def accuracy(fb: FlatbufferModel, x: np.ndarray, y: np.ndarray, *, progress: bool = True) -> dict[str, Any]:
    """Top-1 (and top-5 when there are at least 5 classes) accuracy of ``fb`` on ``(x, y)``."""
    scores = predict_batches(fb, x, progress=progress).reshape(len(x), -1)
    result: dict[str, Any] = {"examples": int(len(x)), "top1": topk_accuracy(scores, y, 1)}
    if scores.shape[1] >= 5:
        result["top5"] = topk_accuracy(scores, y, 5)
    return result


def benchmark(
    model: str | os.PathLike | bytes,
    *,
    threads: Sequence[int] = (1,),
    runs: int = 50,
    warmup: int = 5,
    data: str | None = None,
    max_examples: int | None = None,
    batch_size: int = 1,
    runtime: str | None = None,
    progress: bool = True,
) -> BenchResult:
    """Benchmark a flatbuffer (path or bytes): latency per thread count, size, ops, accuracy.

    ``runtime=None`` picks :func:`converters.runtime.choose_runtime` (our kernels for LCE ops
    when available, else the LCE interpreter; the reason lands in ``runtime_note``).

    Accuracy is measured on ``data``'s test split (at most ``max_examples``) when given.
    """
    if isinstance(model, (bytes, bytearray)):
        raw, name = bytes(model), "<bytes>"
        fbuf.check_flatbuffer(raw, name)
    else:
        raw, name = load_flatbuffer(model), str(model)
    if not threads or any(int(t) < 1 for t in threads):
        raise RuntimeInputError(f"thread counts must be >= 1, got {list(threads)}")
    if batch_size < 1:
        raise RuntimeInputError(f"batch size must be >= 1, got {batch_size}")
    if data is not None:  # load and check the images before building an interpreter: a mismatch fails fast
        x, y, split = load_test_split(data, max_examples)
        want = tuple(io_specs(raw)[0].shape[1:])
        if tuple(x.shape[1:]) != want:
            raise RuntimeInputError(f"{data} {split} images have shape {tuple(x.shape[1:])} but {name} expects {want}")
    note = ""
    if runtime is None:
        unknown = fbuf.unknown_custom_ops(raw, fbuf.LCE_CUSTOM_OPS)
        if unknown:  # before choose_runtime, whose kernel smoke test would print interpreter lines
            raise ModelFileError(f"{name} uses custom op(s) {', '.join(unknown)} that no runtime here implements "
                                 f"(lce, tfqnn, tflite)")
        runtime, note = choose_runtime(raw)
    first = FlatbufferModel(raw, num_threads=int(threads[0]), runtime=runtime, name=name)
    flags = first.flags.to_dict()
    flags.pop("num_threads")
    result = BenchResult(
        model=name,
        size_bytes=len(raw),
        runtime=runtime,
        flags=flags,
        input_shape=list(first.input_shape),
        input_dtype=str(first.input_dtype),
        batch_size=batch_size,
        ops=fbuf.op_histogram(raw),
        runtime_note=note,
    )
    for n in threads:
        fb = first if int(n) == first.flags.num_threads else FlatbufferModel(raw, num_threads=int(n), runtime=runtime, name=name)
        result.latency.append(time_model(fb, runs=runs, warmup=warmup, batch_size=batch_size, progress=progress))
    if data is not None:
        acc = accuracy(first, x, y, progress=progress)
        result.accuracy = {"dataset": data, "split": split, **acc}
    return result


def compare_outputs(model: Any, fb_bytes: bytes, x: np.ndarray, runtime: str = "lce") -> float:
    """max |Keras − TFLite| on batch ``x`` (int8 outputs are dequantized first)."""
    keras_out = np.asarray(model(np.asarray(x, dtype=np.float32), training=False), dtype=np.float32)
    tfl_out = FlatbufferModel(fb_bytes, runtime=runtime).predict(x).astype(np.float32)
    return float(np.max(np.abs(keras_out.reshape(tfl_out.shape) - tfl_out))) if tfl_out.size else 0.0
