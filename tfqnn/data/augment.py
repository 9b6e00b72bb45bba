"""Training augmentation: zero pad + random crop back to size + random horizontal flip.

CIFAR-style (4-px pad for 32x32 images; ``size // 8`` in general). Uses stateless random ops
only, so an image's augmentation is a pure function of its ``seed`` tensor (shape ``[2]``); the
pipeline draws those seeds from ``tf.data.Dataset.random`` to make runs reproducible.
"""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402


def pad_size(height: int, width: int) -> int:
    """Zero padding per side: 4 for 32x32 (CIFAR), ``min(H, W) // 8`` in general (at least 1)."""
    return max(1, min(height, width) // 8)


def pad_crop_flip(image: tf.Tensor, seed: tf.Tensor, pad: int | None = None) -> tf.Tensor:
    """Randomly crop ``image`` (HWC, static H/W) from its zero-padded copy and maybe mirror it.

    ``seed`` is a shape-``[2]`` integer tensor; equal seeds give equal outputs. Dtype is kept.
    """
    height, width, channels = image.shape
    if height is None or width is None or channels is None:
        raise ValueError(f"pad_crop_flip needs a static image shape, got {image.shape}")
    pad = pad_size(height, width) if pad is None else pad
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2))
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    cropped = tf.image.stateless_random_crop(padded, size=[height, width, channels], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=flip_seed)


def pad_crop_flip_batch(images: tf.Tensor, seed: tf.Tensor, pad: int | None = None) -> tf.Tensor:
    """:func:`pad_crop_flip` on every image of an NHWC batch, one derived seed per image."""
    count = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=count)
    return tf.map_fn(lambda args: pad_crop_flip(args[0], args[1], pad), (images, seeds),
                     fn_output_signature=images.dtype)
