"""Ten-crop test-time augmentation as in ERN (arXiv:2410.11553 §4.1; LeapMind/ERN ``Classifier.validation_step``).

1. squash-resize every image to exactly ``resize × resize`` (aspect ratio not kept; 308 for ERNs18/50/101, 306 for
   ERNs34), bilinear with antialiasing, then integer pixels (truncation, as ``ToTensor → ×255 → .int()``);
2. torchvision ``TenCrop(crop)``: top-left, top-right, bottom-left, bottom-right, centre of the image, then the same
   five (by top/left) of the horizontally flipped image; the centre offset is Python's ``round((H − crop) / 2)``
   (half to even);
3. run the network on the crops stacked crop-major (``10·N`` images), average the 10 logit vectors of each image
   (logits first, then softmax/top-k).

TF's bilinear antialiased resize is not bit-identical to PIL's; the crop geometry and order are exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tfqnn.keras import keras  # noqa: F401  (legacy Keras before TensorFlow)

import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402

CROP_NAMES = ("tl", "tr", "bl", "br", "center")
ERN_DEFAULT_RESIZE, ERN_CROP = 308, 288


@dataclass(frozen=True)
class CropBox:
    """One crop in network order: ``top``/``left`` in the (possibly flipped) image that is cropped."""

    index: int
    name: str
    flipped: bool
    top: int
    left: int
    height: int
    width: int


def tencrop_boxes(image_hw: tuple[int, int], crop: int | tuple[int, int]) -> list[CropBox]:
    """The 10 crop boxes of torchvision ``TenCrop(crop)`` (``vertical_flip=False``) for an ``image_hw`` image."""
    h, w = image_hw
    ch, cw = (crop, crop) if isinstance(crop, int) else crop
    if ch > h or cw > w or ch < 1 or cw < 1:
        raise ConfigError(f"ten-crop size {ch}x{cw} does not fit an image of {h}x{w}")
    five = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), (int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)))]
    boxes = []
    for flipped in (False, True):
        for (top, left), name in zip(five, CROP_NAMES):
            boxes.append(CropBox(len(boxes), f"hflip_{name}" if flipped else name, flipped, top, left, ch, cw))
    return boxes


def integer_pixels(images: tf.Tensor) -> tf.Tensor:
    """Reference conversion of 0..255 images: ``trunc((round(x) / 255) · 255)`` in float32 (ToTensor, ×255, ``.int()``)."""
    x = tf.clip_by_value(tf.round(tf.cast(images, tf.float32)), 0.0, 255.0)
    return tf.floor(x / 255.0 * 255.0)


def resize_squash(images: tf.Tensor, size: int | tuple[int, int]) -> tf.Tensor:
    """Bilinear antialiased resize to exactly ``size`` (no aspect preservation), rounded to uint8 like PIL."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    out = tf.image.resize(tf.cast(images, tf.float32), hw, method="bilinear", antialias=True)
    return tf.clip_by_value(tf.round(out), 0.0, 255.0)


def ten_crop(images: tf.Tensor, crop: int | tuple[int, int]) -> tf.Tensor:
    """``(N, H, W, C)`` → ``(10·N, crop, crop, C)``, crop-major (all images' crop 0 first)."""
    h, w = int(images.shape[1]), int(images.shape[2])
    flipped = tf.reverse(images, axis=[2])
    crops = [
        (flipped if b.flipped else images)[:, b.top:b.top + b.height, b.left:b.left + b.width, :]
        for b in tencrop_boxes((h, w), crop)
    ]
    return tf.concat(crops, axis=0)


def tencrop_logits(predict: Callable[[Any], Any], images: Any, *, resize: int | tuple[int, int] | None,
                   crop: int | tuple[int, int]) -> np.ndarray:
    """Average logits over the 10 crops: ``predict`` maps a batch ``(10·N, crop, crop, C)`` to logits ``(10·N, K)``.

    ``resize=None`` skips the squash resize (images already ``S × S``).
    """
    x = tf.convert_to_tensor(images)
    if resize is not None:
        x = resize_squash(x, resize)
    x = integer_pixels(x)
    n = int(x.shape[0])
    logits = np.asarray(predict(ten_crop(x, crop)))
    return logits.reshape(10, n, -1).mean(axis=0)


def default_resize(crop: int) -> int:
    """The reference's resize for ``crop`` scaled from 308→288 (ERNs18/50/101): ``round(crop · 308 / 288)``."""
    return int(round(crop * ERN_DEFAULT_RESIZE / ERN_CROP))


__all__ = ["CropBox", "default_resize", "integer_pixels", "resize_squash", "ten_crop", "tencrop_boxes", "tencrop_logits"]
