"""Geometric augmentations on one float32 HWC image: affine maps and RandomResizedCrop.

An affine op is given as PIL's ``Image.transform(AFFINE, (a, b, c, d, e, f))`` defines it: the
output point ``(x, y)`` samples the input point ``(a·x + b·y + c, d·x + e·y + f)`` in continuous
coordinates whose origin is the top-left *corner* (pixel ``i`` covers ``[i, i + 1)``, its centre is
``i + 0.5``); TensorFlow's ``ImageProjectiveTransformV3`` works on pixel indices, so the matrix is
shifted by half a pixel before the call. Points outside the image take ``fill`` (a scalar or one value
per channel). The RandAugment ops (Cubuk et al. 2020; torchvision and timm both call PIL):

- shear_x(m): input ``(x + m·y, y)``; shear_y(m): input ``(x, y + m·x)`` (origin top-left corner).
- translate(dx, dy): the content moves by ``(dx, dy)`` pixels.
- rotate(θ): counter-clockwise by θ degrees about the image centre ``(W/2, H/2)`` (PIL ``rotate``).

With nearest resampling the results equal PIL's (tests); bilinear ones equal PIL's within one level
inside the image, while at the border TF blends with ``fill`` where PIL switches to it.
"""
from __future__ import annotations

import math

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402


def affine(image: tf.Tensor, matrix: list, *, interpolation: str = "NEAREST",
           fill: tf.Tensor | float | tuple = 0.0) -> tf.Tensor:
    """Resample ``image`` (HWC) with PIL's output→input map ``[a0, a1, a2, b0, b1, b2]``:
    input ``(a0·x + a1·y + a2, b0·x + b1·y + b2)`` (continuous coordinates); outside points are ``fill``."""
    fill = tf.cast(tf.convert_to_tensor(fill), image.dtype)
    a0, a1, a2, b0, b1, b2 = (tf.cast(v, tf.float32) for v in matrix)
    # pixel indices: in_idx = A·(out_idx + 0.5) + t − 0.5
    a2 = a2 + 0.5 * (a0 + a1) - 0.5
    b2 = b2 + 0.5 * (b0 + b1) - 0.5
    coeffs = tf.stack([a0, a1, a2, b0, b1, b2, tf.constant(0.0), tf.constant(0.0)])
    shape = tf.shape(image)[:2]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=(image - fill)[None], transforms=coeffs[None], output_shape=shape, fill_value=0.0,
        interpolation=interpolation, fill_mode="CONSTANT")[0]
    return out + fill


def shear_x(image: tf.Tensor, factor, **kw) -> tf.Tensor:
    return affine(image, [1.0, factor, 0.0, 0.0, 1.0, 0.0], **kw)


def shear_y(image: tf.Tensor, factor, **kw) -> tf.Tensor:
    return affine(image, [1.0, 0.0, 0.0, factor, 1.0, 0.0], **kw)


def translate(image: tf.Tensor, dx, dy, **kw) -> tf.Tensor:
    """Move the content by ``(dx, dy)`` pixels (right, down)."""
    return affine(image, [1.0, 0.0, -tf.cast(dx, tf.float32), 0.0, 1.0, -tf.cast(dy, tf.float32)], **kw)


def rotate(image: tf.Tensor, degrees, **kw) -> tf.Tensor:
    """Rotate counter-clockwise by ``degrees`` about the centre (torchvision ``rotate``, PIL ``rotate``)."""
    theta = tf.cast(degrees, tf.float32) * (math.pi / 180.0)
    c, s = tf.cos(theta), tf.sin(theta)
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    cx, cy = w / 2.0, h / 2.0
    # input = centre + [[c, -s], [s, c]] · (output − centre)
    return affine(image, [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy], **kw)


def random_resized_crop_box(height: tf.Tensor, width: tf.Tensor, seed: tf.Tensor,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10) -> tf.Tensor:
    """``[top, left, h, w]`` of torchvision's ``RandomResizedCrop.get_params``: up to 10 draws of
    area ∈ ``scale``·H·W and log-uniform aspect ∈ ``ratio`` (``w = round(√(area·r))``,
    ``h = round(√(area/r))``); the first that fits is placed uniformly; otherwise the centred crop
    of the whole image with its aspect clamped to ``ratio``."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = tf.random.stateless_uniform([attempts], seeds[0], scale[0], scale[1]) * h_f * w_f
    log_r = tf.random.stateless_uniform([attempts], seeds[1], math.log(ratio[0]), math.log(ratio[1]))
    aspect = tf.exp(log_r)
    ws = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    hs = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    ok = (ws > 0) & (ws <= width) & (hs > 0) & (hs <= height)
    first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
    found = tf.reduce_any(ok)
    h_try, w_try = hs[first], ws[first]
    u = tf.random.stateless_uniform([2], seeds[2])
    top_try = tf.minimum(tf.cast(u[0] * tf.cast(height - h_try + 1, tf.float32), tf.int32), height - h_try)
    left_try = tf.minimum(tf.cast(u[1] * tf.cast(width - w_try + 1, tf.float32), tf.int32), width - w_try)
    # fallback: whole image, aspect clamped to the ratio range, centred
    in_ratio = w_f / h_f
    w_fb = tf.where(in_ratio < ratio[0], width,
                    tf.where(in_ratio > ratio[1], tf.cast(tf.round(h_f * ratio[1]), tf.int32), width))
    h_fb = tf.where(in_ratio < ratio[0], tf.cast(tf.round(w_f / ratio[0]), tf.int32), height)
    box_try = tf.stack([top_try, left_try, h_try, w_try])
    box_fb = tf.stack([(height - h_fb) // 2, (width - w_fb) // 2, h_fb, w_fb])
    return tf.where(found, box_try, box_fb)


def random_resized_crop(image: tf.Tensor, size: tuple[int, int], seed: tf.Tensor,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tf.Tensor:
    """Crop :func:`random_resized_crop_box` out of ``image`` (any H×W) and resize it to ``size``
    (bilinear, antialiased like PIL's resize)."""
    shape = tf.shape(image)
    top, left, h, w = tf.unstack(random_resized_crop_box(shape[0], shape[1], seed, scale, ratio))
    crop = tf.slice(image, tf.stack([top, left, 0]), tf.stack([h, w, -1]))
    out = tf.image.resize(crop, size, method="bilinear", antialias=True)
    return tf.ensure_shape(out, [size[0], size[1], image.shape[-1]])


__all__ = ["affine", "random_resized_crop", "random_resized_crop_box", "rotate", "shear_x", "shear_y", "translate"]
