"""Atomic file output: write to a temporary name in the target folder, rename at the end."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from tfqnn.errors import OutputPathError


def check_output_path(path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Fail early (``OutputPathError``) if ``path`` cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputPathError(f"output path {path} already exists (pass --overwrite to replace it)")
    if path.exists() and path.is_dir():
        raise OutputPathError(f"output path {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists() and not ancestor.is_dir():
            raise OutputPathError(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"cannot create folder {parent} for {path}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"output folder {parent} is not writable")
    try:  # a real probe: os.access says yes to root, also where no file can be created (/proc, read-only mounts)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Works for files and directories (SavedModel). On any exception the temporary
    path is removed, so nothing half-written is left on disk.
    """
    target = check_output_path(path, overwrite=overwrite)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent or ".")
    except OSError as exc:
        raise OutputPathError(f"cannot write {target}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)
