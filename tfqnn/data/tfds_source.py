"""The TensorFlow Datasets route: datasets already prepared in a tfds ``data_dir``.

Never downloads: a dataset is used only if ``tfds.builder(name, data_dir=...).is_prepared()``.
``data_dir`` defaults to ``$TFDS_DATA_DIR``; with neither set this route is skipped (tfds is
not even imported, it is slow to import).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402

from tfqnn.errors import DataError  # noqa: E402

log = logging.getLogger(__name__)

TFDS_DATA_DIR_ENV = "TFDS_DATA_DIR"


def tfds_data_dir(data_dir: str | os.PathLike | None = None) -> str | None:
    """The tfds data_dir to try: ``data_dir`` or ``$TFDS_DATA_DIR`` (``None`` = skip tfds)."""
    chosen = data_dir or os.environ.get(TFDS_DATA_DIR_ENV)
    return os.fspath(chosen) if chosen else None


def prepared_builder(name: str, data_dir: str | os.PathLike | None = None) -> Any | None:
    """A tfds builder for ``name`` whose data is prepared in the data_dir, else ``None``."""
    folder = tfds_data_dir(data_dir)
    if folder is None or not os.path.isdir(os.path.join(folder, name.split(":")[0].split("/")[0])):
        return None  # checked first: tfds.builder would create empty folders in data_dir
    import tensorflow_datasets as tfds

    if name.startswith("tfqnn_"):
        import tfqnn.data.tfds_builders  # noqa: F401  (registers the local builders)
    try:
        builder = tfds.builder(name, data_dir=folder, try_gcs=False)
    except Exception as exc:  # tfds raises many types for unknown/incomplete datasets
        log.debug("tfds has no builder for %s in %s: %s", name, folder, exc)
        return None
    return builder if builder.is_prepared() else None


def split_count(builder: Any, split: str) -> int:
    """Number of examples of a (possibly sliced) tfds split."""
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError, TypeError) as exc:
        available = ", ".join(builder.info.splits.keys())
        raise DataError(f"dataset {builder.info.name!r} in {builder.data_dir} has no split {split!r} "
                        f"(available: {available}): {exc}") from None


def as_dataset(builder: Any, split: str, shuffle_files: bool, seed: int) -> tf.data.Dataset:
    """``(image uint8 HWC, label int64)`` pairs of a prepared tfds split, read from local files."""
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
    try:
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle_files,
                                read_config=read_config)
    except Exception as exc:  # tfds wraps file and split errors in several types
        raise DataError(f"cannot read tfds dataset {builder.info.name!r} split {split!r} from "
                        f"{builder.data_dir}: {exc}") from None
    return ds.map(lambda x, y: (tf.ensure_shape(x, [None, None, None]), tf.cast(y, tf.int64)))
