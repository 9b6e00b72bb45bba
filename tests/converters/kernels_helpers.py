"""Run a flatbuffer through our kernels (one forced path) and through LCE's reference kernel."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from converters.kernels import cpu_paths, kernel_path, make_interpreter


def run_ours(fb: bytes, inputs: Sequence[np.ndarray], path: str, threads: int = 1) -> list[np.ndarray]:
    old = os.environ.get("TFQNN_KERNELS")
    os.environ["TFQNN_KERNELS"] = path
    try:
        interp = make_interpreter(fb, num_threads=threads)
        assert kernel_path() == path
    finally:
        if old is None:
            os.environ.pop("TFQNN_KERNELS", None)
        else:
            os.environ["TFQNN_KERNELS"] = old
    details = interp.get_input_details()
    resized = False
    for d, x in zip(details, inputs):
        if tuple(d["shape"]) != x.shape:
            interp.resize_tensor_input(d["index"], x.shape)
            resized = True
    if resized:
        interp.allocate_tensors()
    for d, x in zip(details, inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()]


def run_lce_reference(fb: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interp = Interpreter(fb, use_reference_bconv=True)
    return [np.asarray(y) for y in interp.interpreter.predict(list(inputs))]  # one whole batch


def assert_bit_exact(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
        assert x.tobytes() == y.tobytes(), f"max |diff| {np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))}"


def supported_paths() -> list[str]:
    return cpu_paths()
