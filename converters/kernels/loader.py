"""Load ``libtfqnn_lce.so``, smoke-test its registration, build interpreters that use it.

The library is loaded with ``RTLD_GLOBAL`` so that ``InterpreterWithCustomOps`` (TF 2.21,
``tensorflow.lite.python.interpreter``, not exported under ``tf.lite``) finds the registerer
``TfqnnRegisterLceOps`` by name; the registerer calls ``tflite::MutableOpResolver::AddCustom``
from ``libtensorflow_cc.so.2`` (specs/x86-kernels.md §1). :func:`status` runs a smoke test once
per process: a two-op in-memory model (LceQuantize → LceDequantize) must run and give ±1. If
anything fails (no compiler, no library, missing symbol, wrong result) the runtime reports itself
unavailable with a one-line reason and callers fall back to the LCE interpreter.

``TFQNN_KERNELS_LIB`` overrides the library path (used by ``make asan``); otherwise it is
:func:`converters.kernels.build.library_path` (``build/`` in a source tree, else a per-user cache).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from converters.kernels import build as kbuild
from tfqnn.errors import TfqnnError

REGISTERER = "TfqnnRegisterLceOps"
PATHS = ("scalar", "avx2", "avx512", "amx")


class KernelUnavailableError(TfqnnError):
    """Our kernel library cannot be built, loaded or registered on this machine."""


@dataclass(frozen=True)
class KernelStatus:
    """Result of the one-time smoke test: ``available``, a one-line ``reason`` when not,
    the library file and the kernel path (``amx`` / ``avx512`` / ``avx2`` / ``scalar``) it selected."""

    available: bool
    reason: str = ""
    library: str | None = None
    path: str = ""


def _library_file() -> Path:
    override = os.environ.get("TFQNN_KERNELS_LIB")
    if override:
        return Path(override)
    lib = kbuild.library_path()  # build/ in a writable source tree, else the per-user cache
    if kbuild.is_stale(lib):  # build lazily, one process at a time
        try:
            lib.parent.mkdir(parents=True, exist_ok=True)
            lock = open(lib.parent / ".lock", "w")
        except OSError as exc:
            raise kbuild.BuildError(f"cannot write {lib.parent} ({exc.strerror}); set TFQNN_CACHE_DIR") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if kbuild.is_stale(lib):
                kbuild.build(lib)
    return lib


@lru_cache(maxsize=None)
def _load(path: str) -> ctypes.CDLL:
    import tensorflow  # noqa: F401  (libtensorflow_cc.so.2 must be loaded before registration)

    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    lib.TfqnnRegisterLceOps.argtypes = [ctypes.c_void_p]
    lib.TfqnnLastError.restype = ctypes.c_char_p
    lib.TfqnnKernelPath.restype = ctypes.c_char_p
    lib.TfqnnCpuPaths.restype = ctypes.c_int
    lib.TfqnnAmxPeakGmacs.restype = ctypes.c_double
    lib.TfqnnAmxPeakGmacs.argtypes = [ctypes.c_double]
    return lib


def library() -> ctypes.CDLL:
    """The loaded library (built first if needed); :class:`KernelUnavailableError` otherwise."""
    try:
        return _load(str(_library_file()))
    except kbuild.BuildError as exc:
        raise KernelUnavailableError(f"tfqnn kernels could not be built: {exc}") from None
    except OSError as exc:
        raise KernelUnavailableError(f"tfqnn kernels could not be loaded: {exc}") from None


def cpu_paths() -> list[str]:
    """Kernel paths this CPU can run (``scalar`` always)."""
    bits = library().TfqnnCpuPaths()
    return [name for i, name in enumerate(PATHS) if bits & (1 << i)]


def amx_peak_gmacs(seconds: float = 0.2) -> float:
    """Measured one-thread AMX TMUL throughput (G int8 MACs/s, random ±1 tiles); 0.0 without AMX."""
    return float(library().TfqnnAmxPeakGmacs(seconds))


def kernel_path() -> str:
    """The path chosen by the last registration (``TFQNN_KERNELS`` or the best available)."""
    return library().TfqnnKernelPath().decode()


def make_interpreter(data: bytes, num_threads: int = 1):
    """An allocated ``InterpreterWithCustomOps`` running ``data`` with our LCE op kernels.

    Builtin float ops get TF's default XNNPACK delegate. :class:`KernelUnavailableError`
    when the registration fails (its reason, e.g. an unsupported ``TFQNN_KERNELS``).
    """
    lib = library()
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated ..."
            interp = InterpreterWithCustomOps(model_content=data, custom_op_registerers=[REGISTERER],
                                              num_threads=num_threads)
        interp.allocate_tensors()
    except (RuntimeError, ValueError):
        err = lib.TfqnnLastError().decode()
        if err:
            raise KernelUnavailableError(f"tfqnn kernels not registered: {err}") from None
        raise
    return interp


def smoke_test() -> str:
    """Run :func:`converters.kernels.modelgen.smoke_model` through our kernels; the kernel path name, or raise."""
    from converters.kernels.modelgen import smoke_model

    interp = make_interpreter(smoke_model())
    x = np.linspace(-2.0, 2.0, 40, dtype=np.float32).reshape(1, 1, 1, 40)
    x[0, 0, 0, 0] = 0.0
    x[0, 0, 0, 1] = -0.0
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    if not np.array_equal(y, np.where(x < 0, -1.0, 1.0).astype(np.float32)):
        raise KernelUnavailableError("tfqnn kernels smoke test gave wrong values")
    return kernel_path()


_STATUS: dict[str, KernelStatus] = {}


def status(refresh: bool = False) -> KernelStatus:
    """Build/load/register/smoke-test once per process (or again with ``refresh``)."""
    key = os.environ.get("TFQNN_KERNELS", "") + "|" + os.environ.get("TFQNN_KERNELS_LIB", "")
    if refresh or key not in _STATUS:
        try:
            lib_file = str(_library_file())
            path = smoke_test()
            _STATUS[key] = KernelStatus(True, "", lib_file, path)
        except KernelUnavailableError as exc:
            _STATUS[key] = KernelStatus(False, str(exc))
        except kbuild.BuildError as exc:
            _STATUS[key] = KernelStatus(False, f"tfqnn kernels could not be built: {exc}")
        except Exception as exc:  # any other failure of the mechanism: report, never crash
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _STATUS[key] = KernelStatus(False, f"tfqnn kernels smoke test failed: {first}")
    return _STATUS[key]
