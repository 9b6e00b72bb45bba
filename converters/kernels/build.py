"""Build ``libtfqnn_lce.so`` from ``src/`` with the system C++ compiler (no download).

Each kernel path is its own translation unit with its own ISA flags (specs/x86-kernels.md §4):
``bconv_scalar.cc`` baseline x86-64, ``bconv_avx2.cc`` ``-mavx2 -mpopcnt``, ``bconv_avx512.cc``
``-mavx512f -mavx512vpopcntdq ...``, ``bconv_amx.cc`` ``-mamx-tile -mamx-int8`` + AVX-512BW; the glue (``ops.cc``, ``flexmap.cc``) is baseline and picks a
path at run time. ``-ffp-contract=off`` keeps LCE's multiply-then-add output transform exact.

Where it goes (:func:`library_path`): ``converters/kernels/build/`` in a writable source tree
(editable installs, ``make setup``); otherwise (``pip install .``, a wheel, read-only site-packages) a
per-user cache, ``$TFQNN_CACHE_DIR/kernels`` or ``$XDG_CACHE_HOME/tfqnn/kernels`` or
``~/.cache/tfqnn/kernels``, in a subfolder named by a hash of the shipped sources.

``python -m converters.kernels.build [--asan] [--out DIR]``; exit code 0 on success, 1 when
no compiler is found or compilation fails (the message says which).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
BUILD = HERE / "build"
ROOT = HERE.parents[1]  # the repository in a source tree; site-packages (or --target) when installed
CACHE_ENV = "TFQNN_CACHE_DIR"  # the tfqnn cache root, shared with tfqnn.data.packed
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


def sources(src: Path | None = None) -> list[Path]:
    """The ``*.cc``/``*.h`` files in ``src`` (default ``src/``); :class:`BuildError` if it is missing."""
    src = src or SRC
    if not src.is_dir():
        raise BuildError(f"kernel sources missing: {src} (the install lacks tfqnn's package data)")
    return sorted(p for p in src.iterdir() if p.suffix in {".cc", ".h"})


def source_key(src: Path | None = None) -> str:
    """Short SHA-256 of the kernel sources' names and contents (the cache subfolder name)."""
    digest = hashlib.sha256()
    for p in sources(src):
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Per-user kernel cache: ``$TFQNN_CACHE_DIR/kernels``, else ``$XDG_CACHE_HOME/tfqnn/kernels``,
    else ``~/.cache/tfqnn/kernels`` (``TFQNN_CACHE_DIR=off`` only disables the data cache)."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env and env.lower() not in ("0", "off", "none", "false"):
        return Path(env).expanduser() / "kernels"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "tfqnn" / "kernels"


def in_source_tree() -> bool:
    """True when this package runs from its repository (a ``pyproject.toml`` beside ``converters/``)
    and ``build/`` can be written there."""
    if not (ROOT / "pyproject.toml").is_file():
        return False
    target = BUILD if BUILD.exists() else HERE
    return os.access(target, os.W_OK | os.X_OK)


def library_path(asan: bool = False) -> Path:
    """``build/[asan/]libtfqnn_lce.so`` in a writable source tree, else the per-user cache
    (``<cache_dir>/<source_key>/[asan/]libtfqnn_lce.so``)."""
    base = BUILD if in_source_tree() else cache_dir() / source_key()
    return (base / "asan" if asan else base) / LIB_NAME


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
    p.add_argument("--asan", action="store_true", help="AddressSanitizer build (into .../asan/)")
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
