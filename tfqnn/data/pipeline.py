"""``load``: a ready-to-train ``tf.data.Dataset`` by tfds name; ``load_arrays``: the same as numpy.

Sources, in order:

1. a tfds ``data_dir`` (argument, else ``$TFDS_DATA_DIR``) where tfds has the dataset prepared
   (read with ``download=False`` semantics: tfds never downloads here);
2. the packed local copies (:mod:`tfqnn.data.packed`): ``cifar10``, ``tiny_imagenet``,
   ``fashion_mnist``, under ``data_dir``, ``$TFQNN_DATA_DIR`` or ``../shared/data``;
3. otherwise ``DataError`` naming the dataset, the places searched and the variables to set.

Packed splits are stored class-major. Before slicing, every packed split is put in one fixed
order: ``numpy.random.default_rng(PERMUTATION_SEED).permutation(N)`` (N = split size). So
``"train[:1000]"`` is class-mixed, ``"train[:90%]"`` and ``"train[90%:]"`` are disjoint, and the
order is the same in every run and on every machine. ``max_examples`` keeps the first N examples
after that. (Slices of the tfds route are tfds' own slices.)

Elements are ``(image float32 HWC raw 0..255, label int64)``; normalisation normally lives in
the model, ``normalize=True`` applies ``(x - mean) / std`` with :func:`tfqnn.data.info` constants.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402

from tfqnn.data import packed, tfds_source  # noqa: E402
from tfqnn.augment_policy import AugmentConfig, augment_config  # noqa: E402
from tfqnn.data.augment import augment_image  # noqa: E402
from tfqnn.data.catalog import DatasetInfo, static_info  # noqa: E402
from tfqnn.data.splits import SplitPart, parse_split, to_tfds  # noqa: E402
from tfqnn.errors import ConfigError, DataError  # noqa: E402

log = logging.getLogger(__name__)

PERMUTATION_SEED = 20240229
"""Seed of the fixed permutation applied to every packed split before slicing."""

TFDS_CACHE_LIMIT = 300_000
"""tfds splits larger than this are not cached in memory even with ``cache=True``."""

TFDS_SHUFFLE_BUFFER = 50_000
"""Shuffle buffer of the tfds route (tfds files are shuffled too); packed splits use the whole split."""

ImageSize = int | Sequence[int] | None


def _image_size(image_size: ImageSize) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (int(image_size), int(image_size)) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return int(size[0]), int(size[1])


def permutation(count: int) -> np.ndarray:
    """The fixed order of a packed split of ``count`` examples."""
    return np.random.default_rng(PERMUTATION_SEED).permutation(count)


def _not_found(name: str, data_dir: str | os.PathLike | None) -> DataError:
    tfds_dir = tfds_source.tfds_data_dir(data_dir)
    tfds_where = f"tfds data_dir {tfds_dir}" if tfds_dir else "tfds data_dir: none (no data_dir, $TFDS_DATA_DIR unset)"
    places = packed.candidates(name, data_dir)
    if places:
        packed_where = "packed files " + ", ".join(str(p) for p in places)
    else:
        roots = ", ".join(str(r) for r in packed.data_roots(data_dir))
        packed_where = f"packed data roots {roots} (tfqnn packs only {', '.join(sorted(packed.PACKED))})"
    return DataError(f"dataset {name!r} not found: looked in {tfds_where}; {packed_where}; "
                     f"set {packed.DATA_DIR_ENV} (folder with the packed files) or "
                     f"{tfds_source.TFDS_DATA_DIR_ENV} (a tfds data_dir where it is prepared); nothing is downloaded")


def _check_split_names(ds_info: DatasetInfo, parts: list[SplitPart], available: Sequence[str]) -> None:
    for part in parts:
        if part.name not in available:
            raise ConfigError(f"dataset {ds_info.name!r} has no split {part.name!r}; "
                              f"available: {', '.join(available)}")


def _packed_arrays(ds_info: DatasetInfo, parts: list[SplitPart], path,
                   max_examples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Permuted, sliced, truncated ``(x uint8, y int64)`` of the packed copy."""
    _check_split_names(ds_info, parts, list(packed.PACKED[ds_info.name].splits))
    xs, ys, remaining = [], [], max_examples
    for part in parts:
        y_all = packed.labels(ds_info.name, part.name, path)
        start, stop = part.bounds(len(y_all))
        rows = permutation(len(y_all))[start:stop]
        if remaining is not None:
            rows = rows[:remaining]
            remaining -= len(rows)
        xs.append(packed.images(ds_info.name, part.name, path, rows))
        ys.append(y_all[rows])
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    y = ys[0] if len(ys) == 1 else np.concatenate(ys)
    return x, y


def _is_train(ds_info: DatasetInfo, parts: list[SplitPart]) -> bool:
    return all(part.name == ds_info.train_split for part in parts)


def _source(name: str, split: str, data_dir, max_examples: int | None):
    """``("tfds", builder, tfds_split, count)`` or ``("packed", x, y)``."""
    ds_info = static_info(name)
    parts = parse_split(split)
    tfds_names = [name if "/" in name else ds_info.tfds_name] if ds_info.tfds_name else []
    if packed.PACKED.get(ds_info.name, None) is not None and packed.PACKED[ds_info.name].kind == "npz":
        tfds_names.append(f"tfqnn_{ds_info.name}")  # tfqnn.data.tfds_builders, prepared locally
    for tfds_name in tfds_names:
        builder = tfds_source.prepared_builder(tfds_name, data_dir)
        if builder is not None:
            tfds_split = to_tfds(parts)
            count = tfds_source.split_count(builder, tfds_split)
            if max_examples is not None:
                count = min(count, max_examples)
            return ds_info, parts, ("tfds", builder, tfds_split, count)
    path = packed.locate(ds_info.name, data_dir)
    if path is None:
        raise _not_found(ds_info.name, data_dir)
    return ds_info, parts, ("packed", *_packed_arrays(ds_info, parts, path, max_examples))


def _check_max_examples(max_examples: int | None) -> None:
    if max_examples is not None and (not isinstance(max_examples, (int, np.integer)) or max_examples < 0):
        raise ConfigError(f"max_examples must be a non-negative int or None, got {max_examples!r}")


def load(
    name: str,
    split: str,
    *,
    batch_size: int | None = None,
    augment: bool | str | dict | AugmentConfig = False,
    normalize: bool = False,
    shuffle: bool | None = None,
    seed: int = 0,
    cache: bool = True,
    prefetch: bool = True,
    data_dir: str | os.PathLike | None = None,
    max_examples: int | None = None,
    drop_remainder: bool = False,
    image_size: ImageSize = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Dataset ``name`` (tfds name, or ``tiny_imagenet``) split ``split`` as ``(image, label)``.

    Args:
      split: tfds syntax: ``"train"``, ``"test"``, ``"validation"``/``"val"``, ``"train[:1000]"``,
        ``"train[90%:]"``, ``"train+test"``. Packed splits are sliced after the fixed permutation
        (module docstring), so slices are class-mixed and disjoint.
      batch_size: batch the examples (``None`` = unbatched).
      augment: ``True``: 4-px (``size // 8``) zero pad + random crop + random horizontal flip;
        a policy name (``"simple"``, ``"randaugment"``, ...), a mapping or an
        :class:`~tfqnn.augment_policy.AugmentConfig` for the other recipes
        (:mod:`tfqnn.augment_policy`). Random numbers come from ``seed``, so the pipeline is
        reproducible, and differ per epoch.
      normalize: ``(x - mean) / std`` per channel with the dataset's published constants.
      shuffle: default ``True`` for the train split; buffer = whole split (packed),
        ``seed``-seeded and reshuffled each iteration.
      cache: cache decoded examples in memory (tfds route; packed data is always decoded once
        per process and cached on disk).
      image_size: ``int`` or ``(H, W)``: bilinear resize. Variable-size datasets are resized to
        ``info(name).image_shape`` when not given.
      max_examples: keep the first N examples of the (sliced) split.
      repeat: repeat forever (reshuffled and re-augmented every epoch).

    Returns: ``(float32 HWC raw 0..255 image, int64 label)`` (batched when ``batch_size``).
    Raises: ``DataError`` if the dataset is nowhere to be found; ``ConfigError`` for bad names.
    """
    _check_max_examples(max_examples)
    size = _image_size(image_size)
    policy = augment_config(augment)
    ds_info, parts, src = _source(name, split, data_dir, max_examples)
    if shuffle is None:
        shuffle = _is_train(ds_info, parts)
    if size is None and ds_info.variable_size:
        size = ds_info.image_shape[:2]

    if src[0] == "packed":
        _, x, y = src
        count = len(y)
        images, labels = tf.constant(x), tf.constant(y)
        ds = tf.data.Dataset.range(count)
        if shuffle and count > 1:
            ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)

        def fetch(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return tf.gather(images, index), tf.gather(labels, index)

        ds = ds.map(fetch)
    else:
        _, builder, tfds_split, count = src
        ds = tfds_source.as_dataset(builder, tfds_split, shuffle_files=bool(shuffle), seed=seed)
        if max_examples is not None:
            ds = ds.take(max_examples)
        if cache and count <= TFDS_CACHE_LIMIT:
            ds = ds.cache()
        elif cache:
            log.info("not caching %s %s in memory: %d examples", name, split, count)
        if shuffle and count > 1:
            ds = ds.shuffle(min(count, TFDS_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)

    if repeat:
        ds = ds.repeat()
    ds = _preprocess(ds, ds_info, augment=policy, normalize=normalize, size=size, seed=seed)
    if batch_size is not None:
        if int(batch_size) <= 0:
            raise ConfigError(f"batch_size must be positive, got {batch_size!r}")
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def _preprocess(ds: tf.data.Dataset, ds_info: DatasetInfo, *, augment: AugmentConfig, normalize: bool,
                size: tuple[int, int] | None, seed: int) -> tf.data.Dataset:
    """uint8 -> float32, resize (RandomResizedCrop instead, when the policy has it), augment,
    normalise (per example)."""
    mean = tf.constant(ds_info.mean, tf.float32)
    std = tf.constant(ds_info.std, tf.float32)
    crop_resizes = augment.random_resized_crop

    def convert(image: tf.Tensor, label: tf.Tensor, aug_seed: tf.Tensor | None = None):
        image = tf.cast(image, tf.float32)
        if size is not None and not (aug_seed is not None and crop_resizes):
            image = tf.image.resize(image, size, method="bilinear")
        if aug_seed is not None:
            image = augment_image(image, aug_seed, augment, size=size, mean=ds_info.mean, std=ds_info.std)
        if normalize:
            image = (image - mean) / std
        return image, tf.cast(label, tf.int64)

    if not augment.is_identity:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda xy, s: convert(xy[0], xy[1], s),
                                                  num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def load_arrays(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    max_examples: int | None = None,
    image_size: ImageSize = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8 NHWC, y int64)`` numpy arrays of a (sliced) split, in the same order as
    ``load(..., shuffle=False)`` (packed splits: the fixed permutation). For small subsets:
    representative datasets, tests, accuracy loops."""
    _check_max_examples(max_examples)
    size = _image_size(image_size)
    ds_info, _, src = _source(name, split, data_dir, max_examples)
    if src[0] == "packed":
        _, x, y = src
        if size is not None and tuple(x.shape[1:3]) != size:
            x = _to_uint8(tf.image.resize(tf.constant(x), size, method="bilinear"))
        return x, y
    ds = load(name, split, batch_size=256, shuffle=False, data_dir=data_dir, max_examples=max_examples,
              image_size=image_size, cache=False)
    xs, ys = [], []
    for images, labels in ds:
        xs.append(_to_uint8(images))
        ys.append(labels.numpy())
    if not xs:
        h, w, c = (*(size or ds_info.image_shape[:2]), ds_info.channels)
        return np.zeros((0, h, w, c), np.uint8), np.zeros((0,), np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def _to_uint8(images: tf.Tensor) -> np.ndarray:
    return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8).numpy()
