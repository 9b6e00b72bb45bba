"""Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020) as timm's
``RandomErasing(probability, mode="pixel", max_count=1)`` does it (``--reprob p --remode pixel``):

with probability ``p``, up to 10 draws of a box with area uniform in [2 %, 33.3 %] of the image and
aspect ratio log-uniform in [0.3, 1/0.3], ``h = round(√(area·r))``, ``w = round(√(area/r))``; the
first draw with ``h < H`` and ``w < W`` is placed uniformly (top in 0..H−h, left in 0..W−w) and
every pixel and channel in it is replaced by an independent N(0, 1) value *in normalised space*.

tfqnn models take raw pixels 0..255 and normalise in their first layer (``(x − mean) / std``), so
the fill here is ``mean_c + std_c · N(0, 1)`` in raw-pixel units: after the model's normalisation it
is exactly timm's N(0, 1). The fill is not clipped to 0..255 (timm does not clip either).
"""
from __future__ import annotations

import math

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402


def erasing_box(height: int, width: int, seed: tf.Tensor, area: tuple[float, float] = (0.02, 1 / 3),
                aspect: tuple[float, float] = (0.3, 1 / 0.3), attempts: int = 10) -> tuple[tf.Tensor, tf.Tensor]:
    """``([top, left, h, w], found)`` of one timm erasing box (``found`` False: no draw fitted)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    target = tf.random.stateless_uniform([attempts], seeds[0], area[0], area[1]) * float(height * width)
    ratio = tf.exp(tf.random.stateless_uniform([attempts], seeds[1], math.log(aspect[0]), math.log(aspect[1])))
    hs = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    ws = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    ok = (hs < height) & (ws < width)
    first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
    h, w = hs[first], ws[first]
    u = tf.random.stateless_uniform([2], seeds[2])
    top = tf.minimum(tf.cast(u[0] * tf.cast(height - h + 1, tf.float32), tf.int32), height - h)
    left = tf.minimum(tf.cast(u[1] * tf.cast(width - w + 1, tf.float32), tf.int32), width - w)
    return tf.stack([top, left, h, w]), tf.reduce_any(ok)


def random_erasing(image: tf.Tensor, seed: tf.Tensor, probability: float, mean, std,
                   area: tuple[float, float] = (0.02, 1 / 3), aspect: tuple[float, float] = (0.3, 1 / 0.3)) -> tf.Tensor:
    """Erase one box of ``image`` (HWC, raw pixels) with probability ``probability`` (module docstring).

    ``mean``, ``std``: the per-channel normalisation constants in raw-pixel units (the model's).
    """
    height, width, channels = (int(d) for d in image.shape)
    s_apply, s_box, s_fill = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3))
    box, found = erasing_box(height, width, s_box, area, aspect)
    top, left, h, w = tf.unstack(box)
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    apply = found & (tf.random.stateless_uniform([], s_apply) < probability)
    noise = tf.random.stateless_normal([height, width, channels], s_fill)
    fill = tf.constant(mean, tf.float32) + tf.constant(std, tf.float32) * noise
    return tf.where(inside & apply, tf.cast(fill, image.dtype), image)


__all__ = ["erasing_box", "random_erasing"]
