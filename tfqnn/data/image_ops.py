"""Pixel-value operations on one float32 HWC RGB image of raw pixels 0..255.

The colour / tone ops of RandAugment (Cubuk et al. 2020, Table 1 and its AutoAugment op list) and
torchvision's ColorJitter, with the definitions PIL ``ImageOps`` / ``ImageEnhance`` and
torchvision use on uint8 images:

- blend (``ImageEnhance``): ``degenerate + factor · (image − degenerate)``, clipped to 0..255 and
  truncated to an integer (PIL's ``Image.blend``; torchvision's uint8 blend truncates too);
  brightness: degenerate = 0; color (saturation): the grey image; contrast: the mean grey level
  (rounded);
  sharpness: the image smoothed by ``[[1,1,1],[1,5,1],[1,1,1]] / 13`` with the border pixels kept.
- grey = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2 luma, PIL ``convert("L")``).
- posterize(bits): keep the ``bits`` most significant bits; solarize(t): ``255 − x`` where
  ``x ≥ t``; solarize_add(a, t=128): ``min(255, x + a)`` where ``x < t`` (timm); invert: ``255 − x``.
- autocontrast: per channel, map [min, max] linearly onto [0, 255] (unchanged when max = min).
- equalize: per channel histogram equalisation with PIL's look-up table
  ``lut[i] = (step // 2 + Σ_{j<i} hist[j]) // step``, ``step = (N − hist[last non-zero]) // 255``
  (identity when ``step = 0``).
- hue shift by a fraction of the colour circle (torchvision ``adjust_hue``).

Integer-valued inputs give integer-valued outputs where the PIL op does (results are rounded like
PIL's uint8 images); the functions take and return float32 so they sit inside a tf.data map.
"""
from __future__ import annotations

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402

LUMA = (0.299, 0.587, 0.114)


def to_uint8_range(image: tf.Tensor) -> tf.Tensor:
    """Round and clip to the integer levels 0..255 (what a PIL uint8 image holds), float32."""
    return tf.clip_by_value(tf.round(image), 0.0, 255.0)


def grayscale(image: tf.Tensor) -> tf.Tensor:
    """Luma ``0.299 R + 0.587 G + 0.114 B`` (unrounded), shape ``[H, W, 1]``."""
    return tf.reduce_sum(image * tf.constant(LUMA, image.dtype), axis=-1, keepdims=True)


def to_grayscale(image: tf.Tensor) -> tf.Tensor:
    """The rounded grey image repeated on 3 channels (torchvision ``Grayscale(3)``)."""
    return tf.repeat(to_uint8_range(grayscale(image)), 3, axis=-1)


def blend(image: tf.Tensor, degenerate: tf.Tensor, factor: tf.Tensor | float) -> tf.Tensor:
    """``degenerate + factor · (image − degenerate)``, clipped to 0..255 and truncated (PIL ``Image.blend``)."""
    return tf.floor(tf.clip_by_value(degenerate + tf.cast(factor, image.dtype) * (image - degenerate), 0.0, 255.0))


def brightness(image: tf.Tensor, factor: tf.Tensor | float) -> tf.Tensor:
    return blend(image, tf.zeros_like(image), factor)


def saturation(image: tf.Tensor, factor: tf.Tensor | float) -> tf.Tensor:
    """PIL ``ImageEnhance.Color`` / torchvision ``adjust_saturation``: blend with the (rounded) grey image."""
    return blend(image, to_grayscale(image), factor)


def contrast(image: tf.Tensor, factor: tf.Tensor | float) -> tf.Tensor:
    """Blend with the mean grey level, rounded to an integer (PIL ``ImageEnhance.Contrast``)."""
    mean = tf.floor(tf.reduce_mean(to_uint8_range(grayscale(image))) + 0.5)
    return blend(image, tf.fill(tf.shape(image), mean), factor)


def sharpness(image: tf.Tensor, factor: tf.Tensor | float) -> tf.Tensor:
    """Blend with the 3×3 smoothed image (PIL ``ImageFilter.SMOOTH``), border pixels unchanged."""
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    channels = image.shape[-1] or 3
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, strides=[1, 1, 1, 1], padding="VALID")[0]
    smooth = to_uint8_range(smooth)
    inner = tf.pad(tf.ones_like(smooth), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.where(inner > 0, tf.pad(smooth, [[1, 1], [1, 1], [0, 0]]), image)
    return blend(image, degenerate, factor)


def hue(image: tf.Tensor, delta: tf.Tensor | float) -> tf.Tensor:
    """Rotate the hue by ``delta`` of the colour circle (``delta`` in [-0.5, 0.5])."""
    return to_uint8_range(tf.image.adjust_hue(image / 255.0, delta) * 255.0)


def invert(image: tf.Tensor) -> tf.Tensor:
    return 255.0 - image


def posterize(image: tf.Tensor, bits: tf.Tensor | int) -> tf.Tensor:
    """Keep the ``bits`` (0..8) most significant bits of each level."""
    step = tf.pow(2.0, 8.0 - tf.cast(bits, tf.float32))
    return tf.floor(to_uint8_range(image) / step) * step


def solarize(image: tf.Tensor, threshold: tf.Tensor | float) -> tf.Tensor:
    """Invert the levels ``>= threshold``."""
    return tf.where(image >= tf.cast(threshold, image.dtype), 255.0 - image, image)


def solarize_add(image: tf.Tensor, addition: tf.Tensor | float, threshold: float = 128.0) -> tf.Tensor:
    """Add ``addition`` to the levels ``< threshold``, clipped at 255 (timm ``SolarizeAdd``)."""
    added = tf.minimum(255.0, image + tf.cast(addition, image.dtype))
    return tf.where(image < threshold, added, image)


def autocontrast(image: tf.Tensor) -> tf.Tensor:
    """Per channel: ``(x − min) · 255 / (max − min)``, truncated like PIL's table; flat channels unchanged."""
    lo = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    hi = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    span = hi - lo
    stretched = tf.floor((image - lo) * 255.0 / tf.where(span > 0, span, 1.0))
    return tf.where(span > 0, tf.clip_by_value(stretched, 0.0, 255.0), image)


def _equalize_channel(channel: tf.Tensor) -> tf.Tensor:
    levels = tf.cast(channel, tf.int32)
    hist = tf.math.bincount(tf.reshape(levels, [-1]), minlength=256, maxlength=256, dtype=tf.int32)
    last_nonzero = tf.gather(hist, tf.reduce_max(tf.where(hist > 0)[:, 0]))
    step = (tf.reduce_sum(hist) - last_nonzero) // 255
    safe = tf.maximum(step, 1)
    lut = tf.minimum((step // 2 + tf.cumsum(hist, exclusive=True)) // safe, 255)
    return tf.where(step > 0, tf.cast(tf.gather(lut, levels), channel.dtype), channel)


def equalize(image: tf.Tensor) -> tf.Tensor:
    """Per-channel histogram equalisation (PIL ``ImageOps.equalize`` = torchvision ``equalize``)."""
    image = to_uint8_range(image)
    channels = tf.unstack(image, axis=-1)
    return tf.stack([_equalize_channel(c) for c in channels], axis=-1)


__all__ = ["LUMA", "autocontrast", "blend", "brightness", "contrast", "equalize", "grayscale", "hue", "invert",
           "posterize", "saturation", "sharpness", "solarize", "solarize_add", "to_grayscale", "to_uint8_range"]
