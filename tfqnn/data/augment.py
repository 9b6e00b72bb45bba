"""Training augmentation of one image: the stages of a resolved ``data.augment`` policy.

``pad_crop_flip`` is the CIFAR recipe (zero pad ``size // 8``, random crop back, horizontal flip);
:func:`augment_image` runs any :class:`tfqnn.augment_policy.AugmentConfig` in the reference
pipelines' order: crop → flip → ColorJitter → RandomGrayscale → RandomRotation → RandAugment
(:mod:`tfqnn.data.randaugment`) → random erasing (:mod:`tfqnn.data.erasing`).

Only stateless random ops are used, so an image's augmentation is a pure function of its ``seed``
tensor (shape ``[2]``); the pipeline draws those seeds from ``tf.data.Dataset.random`` to make runs
reproducible.
"""
from __future__ import annotations

from typing import Sequence

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402

from tfqnn.augment_policy import AugmentConfig  # noqa: E402
from tfqnn.data import geometry, image_ops  # noqa: E402
from tfqnn.data.erasing import random_erasing  # noqa: E402
from tfqnn.data.randaugment import rand_augment  # noqa: E402


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


def color_jitter(image: tf.Tensor, seed: tf.Tensor, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0, hue: float = 0.0) -> tf.Tensor:
    """torchvision ``ColorJitter``: factors uniform in ``[max(0, 1 − b), 1 + b]`` (hue: ``[−h, h]``),
    the four adjustments applied in a random order; zero strengths are skipped."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    order = tf.argsort(tf.random.stateless_uniform([4], seeds[0]))
    factors = [tf.random.stateless_uniform([], seeds[1 + i], max(0.0, 1.0 - v), 1.0 + v)
               for i, v in enumerate((brightness, contrast, saturation))]
    delta = tf.random.stateless_uniform([], seeds[4], -hue, hue)
    fns = [lambda x: image_ops.brightness(x, factors[0]) if brightness else x,
           lambda x: image_ops.contrast(x, factors[1]) if contrast else x,
           lambda x: image_ops.saturation(x, factors[2]) if saturation else x,
           lambda x: image_ops.hue(x, delta) if hue else x]
    image = image_ops.to_uint8_range(image)
    for position in range(4):
        image = tf.switch_case(order[position], [lambda f=f, x=image: f(x) for f in fns])
    return image


def random_grayscale(image: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """torchvision ``RandomGrayscale(p)``: the 3-channel grey image with probability ``p``."""
    apply = tf.random.stateless_uniform([], tf.cast(seed, tf.int64)) < probability
    return tf.where(apply, image_ops.to_grayscale(image), image)


def random_rotation(image: tf.Tensor, seed: tf.Tensor, degrees: float) -> tf.Tensor:
    """torchvision ``RandomRotation(degrees)``: angle uniform in ``[−degrees, degrees]``, nearest, fill 0."""
    angle = tf.random.stateless_uniform([], tf.cast(seed, tf.int64), -degrees, degrees)
    return geometry.rotate(image, angle, interpolation="NEAREST", fill=0.0)


def augment_image(image: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig, *, size: Sequence[int] | None = None,
                  mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)) -> tf.Tensor:
    """Augment one float32 HWC image of raw pixels with the resolved policy ``cfg``.

    ``size``: output (H, W) of ``random_resized_crop`` (default: the image's static size); the
    other stages keep the input size. ``mean``/``std``: the model's normalisation constants in raw
    pixels (erasing fill and timm's RandAugment fill). ``seed``: shape ``[2]``; equal seeds give
    equal outputs.
    """
    cfg = cfg.resolved()
    seed = tf.cast(seed, tf.int64)
    only_cifar = (cfg.pad_crop and cfg.flip and not cfg.random_resized_crop and not any(cfg.color_jitter)
                  and not cfg.grayscale and not cfg.rotation and cfg.randaugment == "none" and not cfg.random_erasing)
    if only_cifar:  # bit-identical to the original CIFAR pipeline
        return pad_crop_flip(image, seed)
    s = tf.unstack(tf.random.experimental.stateless_split(seed, num=7))
    if cfg.random_resized_crop:
        out_size = tuple(size) if size is not None else tuple(int(d) for d in image.shape[:2])
        image = geometry.random_resized_crop(image, out_size, s[0], tuple(cfg.scale), tuple(cfg.ratio))
    elif cfg.pad_crop:
        height, width, channels = image.shape
        pad = pad_size(height, width)
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(padded, size=[height, width, channels], seed=s[0])
    if cfg.flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=s[1])
    if any(cfg.color_jitter):
        image = color_jitter(image, s[2], *cfg.color_jitter)
    if cfg.grayscale:
        image = random_grayscale(image, s[3], cfg.grayscale)
    if cfg.rotation:
        image = random_rotation(image, s[4], cfg.rotation)
    if cfg.randaugment != "none" and cfg.num_ops > 0:
        image = rand_augment(image, s[5], flavour=cfg.randaugment, num_ops=cfg.num_ops, magnitude=cfg.magnitude,
                             magnitude_std=cfg.magnitude_std, num_magnitude_bins=cfg.num_magnitude_bins,
                             fill=tuple(float(round(m)) for m in mean))
    if cfg.random_erasing:
        image = random_erasing(image, s[6], cfg.random_erasing, mean, std)
    return image
