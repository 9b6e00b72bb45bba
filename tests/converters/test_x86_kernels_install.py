"""The x86 kernel runtime from a non-editable install: sources shipped as package data, library built
into the per-user cache (docs/x86_kernels.md)."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from converters.kernels import build as kbuild

REPO = Path(__file__).resolve().parents[2]


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TFQNN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert kbuild.cache_dir() == tmp_path / "home" / ".cache" / "tfqnn" / "kernels"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # XDG spec: relative paths are invalid
    assert kbuild.cache_dir() == tmp_path / "home" / ".cache" / "tfqnn" / "kernels"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kbuild.cache_dir() == tmp_path / "xdg" / "tfqnn" / "kernels"
    monkeypatch.setenv("TFQNN_CACHE_DIR", "off")  # disables the data cache only
    assert kbuild.cache_dir() == tmp_path / "xdg" / "tfqnn" / "kernels"
    monkeypatch.setenv("TFQNN_CACHE_DIR", str(tmp_path / "tc"))
    assert kbuild.cache_dir() == tmp_path / "tc" / "kernels"


def test_source_key_follows_contents(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(kbuild.SRC, src)
    key = kbuild.source_key(src)
    assert key == kbuild.source_key(kbuild.SRC) and len(key) == 16
    (src / "ops.cc").write_text((src / "ops.cc").read_text() + "\n// changed\n")
    assert kbuild.source_key(src) != key
    (src / "ops.cc").unlink()
    assert kbuild.source_key(src) != key
    with pytest.raises(kbuild.BuildError, match="kernel sources missing"):
        kbuild.source_key(tmp_path / "nowhere")


def test_source_tree_builds_into_build_dir():
    assert kbuild.in_source_tree()  # these tests run from the repository
    assert kbuild.library_path() == kbuild.BUILD / kbuild.LIB_NAME
    assert kbuild.library_path(asan=True) == kbuild.BUILD / "asan" / kbuild.LIB_NAME


_PROBE = """
import json, converters, converters.kernels as k
s = k.status()
print(json.dumps({"module": converters.__file__, "available": s.available, "reason": s.reason,
                  "library": s.library}))
"""


def _install_copy(tmp_path: Path) -> Path:
    """``pip install --no-deps --no-build-isolation --target`` of a copy of the package sources (offline)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src)
    ignore = shutil.ignore_patterns("build", "__pycache__", "*.egg-info", "*.so")
    for pkg in ("tfqnn", "converters"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=ignore)
    stale = src / "converters" / "kernels" / "build" / kbuild.LIB_NAME  # build outputs must not ship
    stale.parent.mkdir()
    stale.write_bytes(b"not a library")
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(src)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return target


def _make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        Path(dirpath).chmod(0o555)


def _make_writable(root: Path) -> None:
    for dirpath, _, _ in os.walk(root):
        Path(dirpath).chmod(0o755)


@pytest.mark.slow
@pytest.mark.skipif(kbuild.compiler() is None, reason="no C++ compiler (g++/c++/clang++ or $CXX)")
def test_non_editable_install_builds_into_user_cache(tmp_path):
    target = _install_copy(tmp_path)
    shipped = target / "converters" / "kernels"
    assert sorted(p.name for p in (shipped / "src").iterdir()) == sorted(p.name for p in kbuild.sources())
    assert not (shipped / "build").exists()
    assert not list(target.rglob("*.so"))

    home, xdg, cwd = tmp_path / "home", tmp_path / "xdg", tmp_path / "elsewhere"
    for d in (home, xdg, cwd):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TFQNN_CACHE_DIR", "TFQNN_KERNELS_LIB", "TFQNN_KERNELS")}
    env.update(PYTHONPATH=str(target), HOME=str(home), XDG_CACHE_HOME=str(xdg), TF_CPP_MIN_LOG_LEVEL="3")
    _make_read_only(target)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=600)
    finally:
        _make_writable(target)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["module"]).resolve().is_relative_to(target.resolve())  # not the editable source tree
    assert out["available"], out["reason"]
    lib = Path(out["library"])
    assert lib.parent.parent == xdg / "tfqnn" / "kernels" and lib.name == kbuild.LIB_NAME
    assert re.fullmatch(r"[0-9a-f]{16}", lib.parent.name)  # keyed by the sources' hash
    assert lib.parent.name == kbuild.source_key(shipped / "src") == kbuild.source_key()
    assert lib.is_file() and lib.stat().st_size > 10_000
    assert not (shipped / "build").exists()  # nothing written into the install
    assert not list(lib.parent.glob(".build-*"))  # temp folder cleaned up
