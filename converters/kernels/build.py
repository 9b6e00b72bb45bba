"""Build ``libtfqnn_lce.so`` from ``src/`` with the system C++ compiler (no download).

Each kernel path is its own translation unit with its own ISA flags (specs/x86-kernels.md §4):
``bconv_scalar.cc`` baseline x86-64, ``bconv_avx2.cc`` ``-mavx2 -mpopcnt``, ``bconv_avx512.cc``
``-mavx512f -mavx512vpopcntdq ...``, ``bconv_amx.cc`` ``-mamx-tile -mamx-int8`` + AVX-512BW; the glue (``ops.cc``, ``flexmap.cc``) is baseline and picks a
path at run time. ``-ffp-contract=off`` keeps LCE's multiply-then-add output transform exact.

``python -m converters.kernels.build [--asan] [--out DIR]``; exit code 0 on success, 1 when
no compiler is found or compilation fails (the message says which).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
BUILD = HERE / "build"
LIB_NAME = "libtfqnn_lce.so"
COMMON = ["-std=c++17", "-fPIC", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wextra",
          "-Wno-unused-parameter"]
UNITS: dict[str, list[str]] = {
    "ops.cc": [],
    "flexmap.cc": [],
    "bconv_scalar.cc": [],
    "bconv_avx2.cc": ["-mavx2", "-mpopcnt"],
    "bconv_avx512.cc": ["-mavx2", "-mpopcnt", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
                        "-mavx512vpopcntdq"],
    "bconv_amx.cc": ["-mavx2", "-mpopcnt", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mamx-tile",
                     "-mamx-int8"],
}


class BuildError(RuntimeError):
    """The library could not be built (no compiler, or a compile/link error)."""


def compiler() -> str | None:
    """The C++ compiler: ``$CXX``, else ``g++``, else ``c++``, else ``clang++``; None if none exists."""
    for name in [os.environ.get("CXX"), "g++", "c++", "clang++"]:
        if name and shutil.which(name):
            return name
    return None


def sources() -> list[Path]:
    return sorted(p for p in SRC.iterdir() if p.suffix in {".cc", ".h"})


def library_path(asan: bool = False) -> Path:
    return (BUILD / "asan" if asan else BUILD) / LIB_NAME


def is_stale(lib: Path) -> bool:
    """True when ``lib`` is missing or older than any source file."""
    if not lib.exists():
        return True
    mtime = lib.stat().st_mtime
    return any(p.stat().st_mtime > mtime for p in sources())


def build(out: Path | None = None, *, asan: bool = False, verbose: bool = False) -> Path:
    """Compile and link the library to ``out`` (atomically renamed into place); its path."""
    cxx = compiler()
    if cxx is None:
        raise BuildError("no C++ compiler found (set CXX or install g++)")
    out = out or library_path(asan)
    out.parent.mkdir(parents=True, exist_ok=True)
    opt = ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"] if asan else ["-O3"]
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out.parent) as tmp:
        objs = []
        for unit, flags in UNITS.items():
            obj = Path(tmp) / (unit + ".o")
            cmd = [cxx, *COMMON, *opt, *flags, "-c", str(SRC / unit), "-o", str(obj)]
            _run(cmd, verbose)
            objs.append(str(obj))
        tmp_lib = Path(tmp) / LIB_NAME
        _run([cxx, "-shared", *opt, *objs, "-o", str(tmp_lib), "-ldl", "-lpthread"], verbose)
        os.replace(tmp_lib, out)
    return out


def _run(cmd: list[str], verbose: bool) -> None:
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:300])
        raise BuildError(f"{Path(cmd[0]).name} failed: {first}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m converters.kernels.build", description=__doc__.splitlines()[0])
    p.add_argument("--asan", action="store_true", help="AddressSanitizer build into build/asan/")
    p.add_argument("--out", type=Path, help="output library path")
    p.add_argument("-v", "--verbose", action="store_true", help="print the compiler commands")
    args = p.parse_args(argv)
    try:
        path = build(args.out, asan=args.asan, verbose=args.verbose)
    except BuildError as exc:
        print(f"tfqnn kernels not built: {exc}", file=sys.stderr)
        return 1
    print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
