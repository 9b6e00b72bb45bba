"""Our x86 kernels for the four LCE ops, run inside TensorFlow's own TFLite interpreter.

C++ sources in ``src/`` (AMX-INT8, AVX-512 VPOPCNTDQ, AVX2 and scalar paths, picked at run time or by
``TFQNN_KERNELS=scalar|avx2|avx512|amx``), built by ``make setup`` or lazily on first use
(:mod:`converters.kernels.build`), loaded and smoke-tested by :mod:`converters.kernels.loader`.
See ``docs/x86_kernels.md`` and ``specs/x86-kernels.md``.
"""
from __future__ import annotations

_LOADER_NAMES = ("KernelStatus", "KernelUnavailableError", "amx_peak_gmacs", "cpu_paths", "kernel_path", "make_interpreter", "status")
__all__ = list(_LOADER_NAMES)


def __getattr__(name: str):  # lazy, so `python -m converters.kernels.build` needs no TensorFlow
    if name in _LOADER_NAMES:
        from converters.kernels import loader

        return getattr(loader, name)
    raise AttributeError(name)
