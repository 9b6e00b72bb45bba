"""Reading the packed real data that ships beside the project (no download, ever).

* ``cifar10``       -> ``cifar10_jpeg.npz``      (JPEG bytes, splits ``train``/``test``)
* ``tiny_imagenet`` -> ``tinyimagenet_jpeg.npz`` (JPEG bytes, splits ``train`` = 20000-image
  subset, ``validation`` = the file's ``val``)
* ``fashion_mnist`` -> gzipped idx files in ``<root>/fashion-mnist/`` or the Debian package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), images 28x28x1.

Roots: ``$TFQNN_DATA_DIR`` if set, else ``../shared/data`` relative to the project root (the
folder holding ``pyproject.toml``) and to the current directory. Arrays returned here are in
**file order** (class-major); the pipeline applies the fixed permutation.

JPEGs are decoded with Pillow once per process (memory cache) and the decoded split is cached
on disk as ``.npy`` under ``$TFQNN_CACHE_DIR`` (default ``~/.cache/tfqnn``; ``off`` disables it),
keyed by the source file's path, size and mtime and the Pillow version.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import logging
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tfqnn.errors import DataError

log = logging.getLogger(__name__)

DATA_DIR_ENV = "TFQNN_DATA_DIR"
CACHE_DIR_ENV = "TFQNN_CACHE_DIR"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_DECODE_FULL_FRACTION = 0.25  # decode (and cache) the whole split when asked for more than this


@dataclasses.dataclass(frozen=True)
class PackedSpec:
    """Where a dataset lives locally and how public split names map to the file's keys."""

    kind: str  # "npz" | "idx"
    filename: str  # npz file name, or idx folder name
    splits: dict[str, str]


PACKED: dict[str, PackedSpec] = {
    "cifar10": PackedSpec("npz", "cifar10_jpeg.npz", {"train": "train", "test": "test"}),
    "tiny_imagenet": PackedSpec("npz", "tinyimagenet_jpeg.npz", {"train": "train", "validation": "val"}),
    "fashion_mnist": PackedSpec("idx", "fashion-mnist", {"train": "train", "test": "t10k"}),
}

_MEMO: dict[tuple, np.ndarray] = {}


def clear_memory_cache() -> None:
    """Forget decoded arrays kept in this process."""
    _MEMO.clear()


# ----------------------------------------------------------------------------- locating files
def project_root() -> Path | None:
    """The folder containing ``pyproject.toml`` above this package, if any."""
    here = Path(__file__).resolve().parent
    for parent in (here, *here.parents):
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for packed files, in order (``data_dir`` first when given)."""
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append(Path(env).expanduser())
    else:
        proj = project_root()
        if proj is not None:
            roots.append(proj.parent / "shared" / "data")
        roots.append(Path.cwd().parent / "shared" / "data")
    unique: list[Path] = []
    for root in roots:
        resolved = root.resolve() if root.exists() else root.absolute()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def candidates(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every path where the packed copy of ``name`` is looked for."""
    spec = PACKED.get(name)
    if spec is None:
        return []
    paths = [root / spec.filename for root in data_roots(data_dir)]
    if name == "fashion_mnist":
        paths.append(DEBIAN_FASHION_MNIST)
    return paths


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first existing packed file/folder of ``name``, or ``None``."""
    spec = PACKED.get(name)
    for path in candidates(name, data_dir):
        if spec is not None and spec.kind == "npz" and path.is_file():
            return path
        if spec is not None and spec.kind == "idx" and (path / "train-labels-idx1-ubyte.gz").is_file():
            return path
    return None


def file_key(name: str, split: str) -> str:
    """Public split name (``validation``) -> key inside the packed file (``val``)."""
    spec = PACKED[name]
    if split not in spec.splits:
        raise DataError(f"dataset {name!r} has no split {split!r} locally; available: {', '.join(spec.splits)}")
    return spec.splits[split]


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


# ----------------------------------------------------------------------------- npz (JPEG bytes)
def _npz_read(path: Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    """Read arrays ``keys`` of an npz; any failure becomes a ``DataError`` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(f"packed file {path} is missing array(s) {', '.join(missing)}; "
                                f"re-copy it or set {DATA_DIR_ENV}")
            return [npz[k] for k in keys]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"packed file {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                        f"re-copy it or set {DATA_DIR_ENV}") from None


def _check_labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"packed file {path}: y_{key} must be a 1-D integer array, got {y.dtype} {y.shape}")
    return y.astype(np.int64, copy=False)


def npz_labels(path: Path, key: str) -> np.ndarray:
    memo_key = ("y", *_stamp(path), key)
    if memo_key not in _MEMO:
        (y,) = _npz_read(path, (f"y_{key}",))
        _MEMO[memo_key] = _check_labels(y, path, key)
    return _MEMO[memo_key]


def _decode_one(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def decode_jpegs(buf: np.ndarray, offsets: np.ndarray, indices: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Decode images ``indices`` of a concatenated-JPEG buffer into one uint8 NHWC array."""
    raw = buf.tobytes()
    out: np.ndarray | None = None
    for j, i in enumerate(indices):
        try:
            img = _decode_one(raw[offsets[i]:offsets[i + 1]])
        except (OSError, ValueError, SyntaxError) as exc:  # Pillow raises all three on bad data
            raise DataError(f"packed file {path}: cannot decode JPEG #{i} of split {key!r} "
                            f"({type(exc).__name__}: {exc})") from None
        if out is None:
            out = np.empty((len(indices), *img.shape), np.uint8)
        elif img.shape != out.shape[1:]:
            raise DataError(f"packed file {path}: JPEG #{i} of split {key!r} has shape {img.shape}, "
                            f"expected {out.shape[1:]}")
        out[j] = img
    return out if out is not None else np.empty((0, 0, 0, 3), np.uint8)


def cache_dir() -> Path | None:
    """Folder of the on-disk decode cache, or ``None`` when disabled (``TFQNN_CACHE_DIR=off``)."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env is not None and env.strip().lower() in ("", "0", "off", "none", "false"):
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tfqnn"


def _cache_prefix(path: Path, key: str) -> str:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{path.stem}-{digest}.{key}."


def _cache_file(path: Path, key: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    import PIL

    _, size, mtime = _stamp(path)
    return folder / f"{_cache_prefix(path, key)}{size}-{mtime}.pillow{PIL.__version__}.npy"


def _cache_load(file: Path | None, count: int) -> np.ndarray | None:
    if file is None or not file.is_file():
        return None
    try:
        x = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("ignoring unreadable cache file %s: %s", file, exc)
        return None
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[0] != count:
        log.warning("ignoring cache file %s with unexpected shape %s", file, x.shape)
        return None
    return x


def _cache_store(file: Path | None, x: np.ndarray, prefix: str) -> None:
    """Atomically write ``x`` to ``file`` (tmp + rename) and drop stale versions; never fails."""
    if file is None:
        return
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, x)
            os.chmod(tmp, 0o644)
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in file.parent.glob(f"{prefix}*.npy"):
            if old != file:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not write decode cache %s: %s", file, exc)


def npz_images(path: Path, key: str, indices: np.ndarray | None = None) -> np.ndarray:
    """Decoded images of split ``key`` (file order), optionally only rows ``indices``.

    The whole split is decoded and cached (memory + disk) unless only a small part is asked for
    and no cached copy exists, in which case just those images are decoded.
    """
    memo_key = ("x", *_stamp(path), key)
    full = _MEMO.get(memo_key)
    if full is None:
        count = len(npz_labels(path, key))
        file = _cache_file(path, key)
        full = _cache_load(file, count)
        if full is None:
            if indices is not None and len(indices) <= _DECODE_FULL_FRACTION * count:
                buf, offsets = npz_jpegs(path, key, count)
                return decode_jpegs(buf, offsets, np.asarray(indices), path, key)
            buf, offsets = npz_jpegs(path, key, count)
            full = decode_jpegs(buf, offsets, np.arange(count), path, key)
            _cache_store(file, full, _cache_prefix(path, key))
        _MEMO[memo_key] = full
    return full if indices is None else full[np.asarray(indices)]


def npz_jpegs(path: Path, key: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated JPEG bytes and validated offsets of split ``key`` (``count`` images)."""
    buf, offsets = _npz_read(path, (f"jpeg_{key}", f"offsets_{key}"))
    offsets = offsets.astype(np.int64, copy=False)
    if (offsets.ndim != 1 or len(offsets) != count + 1 or offsets[0] != 0 or offsets[-1] != buf.size
            or np.any(np.diff(offsets) <= 0)):
        raise DataError(f"packed file {path}: offsets_{key} do not match jpeg_{key} / y_{key}")
    return buf, offsets


def npz_label_names(path: Path) -> tuple[str, ...]:
    (names,) = _npz_read(path, ("label_names",))
    return tuple(str(n) for n in names)


# ----------------------------------------------------------------------------- idx (Fashion-MNIST)
def _read_idx(file: Path, magic: int, ndim: int) -> np.ndarray:
    try:
        with gzip.open(file, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"idx file {file} is corrupt or unreadable ({type(exc).__name__}: {exc})") from None
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">i", data[:4])[0] != magic:
        raise DataError(f"idx file {file} has a bad header (expected magic {magic})")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if len(data) - header != int(np.prod(dims)):
        raise DataError(f"idx file {file} is truncated: header says {dims}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def idx_labels(folder: Path, key: str) -> np.ndarray:
    file = folder / f"{key}-labels-idx1-ubyte.gz"
    memo_key = ("y", *_stamp(file), key)
    if memo_key not in _MEMO:
        _MEMO[memo_key] = _read_idx(file, 2049, 1).astype(np.int64)
    return _MEMO[memo_key]


def idx_images(folder: Path, key: str, indices: np.ndarray | None = None) -> np.ndarray:
    file = folder / f"{key}-images-idx3-ubyte.gz"
    memo_key = ("x", *_stamp(file), key)
    if memo_key not in _MEMO:
        x = _read_idx(file, 2051, 3)[..., None]
        if len(x) != len(idx_labels(folder, key)):
            raise DataError(f"idx files in {folder}: {key} images and labels differ in count")
        _MEMO[memo_key] = x
    full = _MEMO[memo_key]
    return full if indices is None else full[np.asarray(indices)]


# ----------------------------------------------------------------------------- dataset-level API
def labels(name: str, split: str, path: Path) -> np.ndarray:
    """int64 labels of public ``split`` of ``name`` in file order."""
    key = file_key(name, split)
    return npz_labels(path, key) if PACKED[name].kind == "npz" else idx_labels(path, key)


def images(name: str, split: str, path: Path, indices: np.ndarray | None = None) -> np.ndarray:
    """uint8 NHWC images of public ``split`` of ``name`` (file order, or rows ``indices``)."""
    key = file_key(name, split)
    if PACKED[name].kind == "npz":
        return npz_images(path, key, indices)
    return idx_images(path, key, indices)


def local_summary(
    name: str, data_dir: str | os.PathLike | None = None
) -> tuple[dict[str, int], tuple[str, ...]] | None:
    """(split counts, label names) of the local packed copy, or ``None`` if absent/unreadable."""
    path = locate(name, data_dir)
    if path is None:
        return None
    try:
        splits = {split: len(labels(name, split, path)) for split in PACKED[name].splits}
        names = npz_label_names(path) if PACKED[name].kind == "npz" else ()
    except DataError:
        return None
    return splits, names
