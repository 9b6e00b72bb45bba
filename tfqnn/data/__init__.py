"""Datasets by tfds name (``cifar10``, ``fashion_mnist``, ``imagenette``, ...) plus ``tiny_imagenet``.

``load`` gives a ``tf.data.Dataset`` of ``(float32 raw 0..255 image, int64 label)``; it reads a
prepared tfds ``data_dir`` when there is one and otherwise the packed real data in
``$TFQNN_DATA_DIR`` / ``../shared/data`` (never downloads). ``load_arrays`` gives numpy arrays,
``info`` the dataset facts (classes, shape, splits, normalisation constants).
"""
from __future__ import annotations

from tfqnn.data.catalog import DatasetInfo, info, known_names
from tfqnn.data.pipeline import PERMUTATION_SEED, load, load_arrays
from tfqnn.data.augment import pad_crop_flip, pad_crop_flip_batch
from tfqnn.data.packed import clear_memory_cache
from tfqnn.data.splits import split_size as _split_size


def split_size(name: str, split: str, data_dir: str | None = None) -> int:
    """Number of examples in ``split`` (tfds slicing allowed) of dataset ``name``."""
    return _split_size(split, dict(info(name, data_dir=data_dir).splits))

__all__ = [
    "DatasetInfo",
    "PERMUTATION_SEED",
    "clear_memory_cache",
    "info",
    "known_names",
    "load",
    "load_arrays",
    "pad_crop_flip",
    "pad_crop_flip_batch",
    "split_size",
]
