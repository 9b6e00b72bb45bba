"""RandAugment (Cubuk, Zoph, Shlens, Le, "RandAugment: Practical automated data augmentation with a
reduced search space", CVPR-W 2020): apply ``N`` ops drawn uniformly (with replacement) from a fixed
list, all at one magnitude ``M``. Two op tables are implemented, as the two libraries define them:

**torchvision** ``RandAugment(num_ops, magnitude, num_magnitude_bins=31)`` (ERN's recipes): 14 ops,
each applied always; magnitude = bin ``M`` of ``linspace(lo, hi, 31)``; "signed" ops negate it with
probability 0.5; nearest-neighbour resampling, fill 0.

| op | magnitude at bin M of 31 | signed |
|---|---|---|
| Identity, AutoContrast, Equalize | — | |
| ShearX, ShearY | 0.3·M/30 (shear factor) | yes |
| TranslateX, TranslateY | int(150/331·W·M/30), int(150/331·H·M/30) pixels | yes |
| Rotate | 30·M/30 degrees | yes |
| Brightness, Color, Contrast, Sharpness | factor 1 + 0.9·M/30 | yes |
| Posterize | 8 − round(M/7.5) bits | |
| Solarize | threshold 255·(1 − M/30) | |

**timm** ``rand-m{M}-mstd{S}`` (ReXNet's recipe; timm ``auto_augment.py``): 15 ops, each applied
with probability 0.5; per application the magnitude is ``clip(M + S·N(0,1), 0, 10)`` (no noise
when S = 0); ops that are signed negate their argument with probability 0.5; bilinear resampling
(timm picks bilinear or bicubic at random; TF's affine op has no bicubic), fill = the dataset mean.

| op | argument at magnitude m (0..10) | signed |
|---|---|---|
| AutoContrast, Equalize, Invert | — | |
| Rotate | 30·m/10 degrees | yes |
| Posterize | int(4·m/10) bits kept (0 bits: black) | |
| Solarize | threshold int(256·m/10) | |
| SolarizeAdd | add int(110·m/10) below 128 | |
| Color, Contrast, Brightness, Sharpness | factor 0.1 + 1.8·m/10 | |
| ShearX, ShearY | 0.3·m/10 | yes |
| TranslateXRel, TranslateYRel | 0.45·m/10 of W (H) pixels | yes |

Every op works on the integer levels 0..255 (inputs are rounded first, as PIL images are uint8).
Random numbers are stateless and derived from one shape-``[2]`` seed per image.
"""
from __future__ import annotations

import math
from typing import Callable

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow as tf  # noqa: E402

from tfqnn.data import geometry, image_ops as ops  # noqa: E402

Op = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (image, signed argument) -> image

TORCHVISION_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                   "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
TIMM_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
            "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")

TORCHVISION_SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                      "Sharpness"}
TIMM_SIGNED = {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"}


def torchvision_magnitude(name: str, bin_index: int, height: int, width: int, num_bins: int = 31) -> float:
    """Unsigned op argument of torchvision's table at ``bin_index`` (module table)."""
    frac = bin_index / (num_bins - 1)
    if name in ("ShearX", "ShearY"):
        return 0.3 * frac
    if name == "TranslateX":
        return float(int(150.0 / 331.0 * width * frac))
    if name == "TranslateY":
        return float(int(150.0 / 331.0 * height * frac))
    if name == "Rotate":
        return 30.0 * frac
    if name in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 0.9 * frac
    if name == "Posterize":
        return float(8 - int(math.floor(bin_index / ((num_bins - 1) / 4.0) + 0.5)))  # torch round: half to even
    if name == "Solarize":
        return 255.0 * (1.0 - frac)
    return 0.0


def timm_argument(name: str, level: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Unsigned op argument of timm's ``LEVEL_TO_ARG`` at magnitude ``level`` (0..10)."""
    x = level / 10.0
    if name == "Rotate":
        return 30.0 * x
    if name == "Posterize":
        return tf.floor(4.0 * x)
    if name == "Solarize":
        return tf.floor(256.0 * x)
    if name == "SolarizeAdd":
        return tf.floor(110.0 * x)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return 1.8 * x + 0.1
    if name in ("ShearX", "ShearY"):
        return 0.3 * x
    if name == "TranslateXRel":
        return 0.45 * x * width
    if name == "TranslateYRel":
        return 0.45 * x * height
    return tf.zeros_like(level)


def apply_op(name: str, image: tf.Tensor, arg: tf.Tensor, *, flavour: str, fill) -> tf.Tensor:
    """Apply op ``name`` with its (signed) argument; ``flavour`` picks the library's definition."""
    geo = {"interpolation": "NEAREST", "fill": 0.0} if flavour == "torchvision" else \
          {"interpolation": "BILINEAR", "fill": fill}
    one = tf.constant(1.0)
    if name == "Identity":
        out = image
    elif name == "ShearX":
        out = geometry.shear_x(image, arg, **geo)
    elif name == "ShearY":
        out = geometry.shear_y(image, arg, **geo)
    elif name in ("TranslateX", "TranslateXRel"):
        out = geometry.translate(image, arg, 0.0, **geo)
    elif name in ("TranslateY", "TranslateYRel"):
        out = geometry.translate(image, 0.0, arg, **geo)
    elif name == "Rotate":
        out = geometry.rotate(image, arg, **geo)
    elif name in ("Brightness", "Color", "Contrast", "Sharpness"):
        factor = one + arg if flavour == "torchvision" else arg
        fn = {"Brightness": ops.brightness, "Color": ops.saturation, "Contrast": ops.contrast,
              "Sharpness": ops.sharpness}[name]
        out = fn(image, factor)
    elif name == "Posterize":
        out = ops.posterize(image, arg)
    elif name == "Solarize":
        out = ops.solarize(image, arg)
    elif name == "SolarizeAdd":
        out = ops.solarize_add(image, arg)
    elif name == "AutoContrast":
        out = ops.autocontrast(image)
    elif name == "Equalize":
        out = ops.equalize(image)
    elif name == "Invert":
        out = ops.invert(image)
    else:
        raise ValueError(f"unknown RandAugment op {name!r}")
    return ops.to_uint8_range(out)


def _sign(seed: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.random.stateless_uniform([], seed) < 0.5, -1.0, 1.0)


def rand_augment(image: tf.Tensor, seed: tf.Tensor, *, flavour: str = "torchvision", num_ops: int = 2,
                 magnitude: float = 9, magnitude_std: float = 0.0, num_magnitude_bins: int = 31,
                 fill=(0.0, 0.0, 0.0)) -> tf.Tensor:
    """RandAugment on one HWC float32 image of levels 0..255 (module docstring for the tables).

    ``seed``: shape-``[2]`` integer tensor, equal seeds give equal results. ``fill``: the timm
    flavour's fill colour (raw pixels, e.g. the dataset mean); torchvision fills with 0.
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    names = TORCHVISION_OPS if flavour == "torchvision" else TIMM_OPS
    fill_t = tf.constant(fill, tf.float32)
    image = ops.to_uint8_range(image)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=max(1, num_ops))
    for layer in range(num_ops):
        s_choice, s_sign, s_noise, s_prob = tf.unstack(tf.random.experimental.stateless_split(seeds[layer], num=4))
        index = tf.random.stateless_uniform([], s_choice, 0, len(names), dtype=tf.int32)
        sign = _sign(s_sign)
        if flavour == "torchvision":
            def branch(name: str) -> Callable[[], tf.Tensor]:
                arg = torchvision_magnitude(name, int(magnitude), height, width, num_magnitude_bins)
                signed = sign * arg if name in TORCHVISION_SIGNED else tf.constant(arg)
                return lambda: apply_op(name, image, signed, flavour=flavour, fill=fill_t)
            image = tf.switch_case(index, [branch(n) for n in names])
        else:
            level = tf.constant(float(magnitude))
            if magnitude_std > 0:
                level = level + magnitude_std * tf.random.stateless_normal([], s_noise)
            level = tf.clip_by_value(level, 0.0, 10.0)

            def branch(name: str) -> Callable[[], tf.Tensor]:
                arg = timm_argument(name, level, height, width)
                signed = sign * arg if name in TIMM_SIGNED else arg
                return lambda: apply_op(name, image, signed, flavour=flavour, fill=fill_t)
            applied = tf.switch_case(index, [branch(n) for n in names])
            image = tf.where(tf.random.stateless_uniform([], s_prob) < 0.5, applied, image)
    return image


__all__ = ["TIMM_OPS", "TORCHVISION_OPS", "apply_op", "rand_augment", "timm_argument", "torchvision_magnitude"]
