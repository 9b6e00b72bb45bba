"""Augmentation ops on tiny known images: pixel ops against PIL, geometry by hand, RandAugment tables
against the numbers of torchvision's / timm's op tables, erasing and crop boxes within bounds.

Expected values come from PIL (the library the reference pipelines run), from the published op
tables (torchvision ``RandAugment._augmentation_space``, timm ``auto_augment.LEVEL_TO_ARG``) or are
worked out by hand — never from the code under test.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from tfqnn.keras import keras  # noqa: F401

import tensorflow as tf  # noqa: E402

from tfqnn.augment_policy import AUGMENT_POLICIES, augment_config  # noqa: E402
from tfqnn.data import geometry, image_ops  # noqa: E402
from tfqnn.data.augment import augment_image, color_jitter, random_grayscale, random_rotation  # noqa: E402
from tfqnn.data.erasing import random_erasing  # noqa: E402
from tfqnn.data.randaugment import (TIMM_OPS, TORCHVISION_OPS, apply_op, rand_augment,  # noqa: E402
                                    timm_argument, torchvision_magnitude)

RNG = np.random.default_rng(7)
IMG = RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)  # H != W catches swapped axes
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def t(x: np.ndarray) -> tf.Tensor:
    return tf.constant(x.astype(np.float32))


def pil(x: np.ndarray) -> Image.Image:
    return Image.fromarray(x.astype(np.uint8))


# ----------------------------------------------------------------------------- pixel ops vs PIL

@pytest.mark.parametrize("name, ours, theirs", [
    ("equalize", image_ops.equalize, ImageOps.equalize),
    ("autocontrast", image_ops.autocontrast, ImageOps.autocontrast),
    ("invert", image_ops.invert, ImageOps.invert),
    ("posterize3", lambda x: image_ops.posterize(x, 3), lambda p: ImageOps.posterize(p, 3)),
    ("posterize1", lambda x: image_ops.posterize(x, 1), lambda p: ImageOps.posterize(p, 1)),
    ("solarize128", lambda x: image_ops.solarize(x, 128), lambda p: ImageOps.solarize(p, 128)),
    ("grayscale", image_ops.to_grayscale, lambda p: p.convert("L").convert("RGB")),
])
def test_pixel_ops_equal_pil(name, ours, theirs):
    got = ours(t(IMG)).numpy()
    want = np.asarray(theirs(pil(IMG)), np.float32)
    np.testing.assert_array_equal(got, want, err_msg=name)


def test_equalize_on_skewed_histogram_equals_pil():
    skew = np.minimum(255, (RNG.random((16, 16, 3)) ** 3 * 200)).astype(np.uint8)
    np.testing.assert_array_equal(image_ops.equalize(t(skew)).numpy(), np.asarray(ImageOps.equalize(pil(skew)), np.float32))


@pytest.mark.parametrize("factor", [0.0, 0.1, 0.5, 1.0, 1.72, 1.9])
@pytest.mark.parametrize("name, ours, enhancer", [
    ("brightness", image_ops.brightness, ImageEnhance.Brightness),
    ("color", image_ops.saturation, ImageEnhance.Color),
    ("contrast", image_ops.contrast, ImageEnhance.Contrast),
    ("sharpness", image_ops.sharpness, ImageEnhance.Sharpness),
])
def test_enhance_ops_equal_pil(name, ours, enhancer, factor):
    got = ours(t(IMG), factor).numpy()
    want = np.asarray(enhancer(pil(IMG)).enhance(factor), np.float32)
    np.testing.assert_array_equal(got, want, err_msg=f"{name} {factor}")


def test_solarize_add_by_hand():
    x = np.array([[[0, 100, 127]], [[128, 200, 255]]], np.float32)
    np.testing.assert_array_equal(image_ops.solarize_add(tf.constant(x), 50).numpy(),
                                  [[[50, 150, 177]], [[128, 200, 255]]])
    np.testing.assert_array_equal(image_ops.solarize_add(tf.constant(x), 200).numpy()[0, 0], [200, 255, 255])


def test_hue_shift_of_pure_red():
    red = np.zeros((2, 2, 3), np.float32)
    red[..., 0] = 255
    np.testing.assert_array_equal(image_ops.hue(tf.constant(red), 1 / 3).numpy()[0, 0], [0, 255, 0])  # red → green
    np.testing.assert_array_equal(image_ops.hue(tf.constant(red), 0.0).numpy(), red)


@pytest.mark.parametrize("delta", [0.1, 0.5])
def test_hue_close_to_torchvision_pil_path(delta):
    # torchvision adjust_hue on a PIL image: PIL HSV (8-bit H, S, V), H += uint8(delta·255) mod 256, back to RGB;
    # its 8-bit HSV round trip is lossy, ours is float, so only closeness is expected
    big = RNG.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    h, s_, v = pil(big).convert("HSV").split()
    shifted = (np.asarray(h, np.uint16) + int(delta * 255)) % 256
    want = np.asarray(Image.merge("HSV", (Image.fromarray(shifted.astype(np.uint8), "L"), s_, v)).convert("RGB"), np.float32)
    diff = np.abs(image_ops.hue(t(big), delta).numpy() - want)
    assert diff.mean() < 2.5 and np.percentile(diff, 99) <= 12


# ----------------------------------------------------------------------------- geometry by hand

def test_rotate_zero_is_identity_and_90_is_rot90():
    sq = RNG.integers(0, 256, (9, 9, 3)).astype(np.float32)
    for interp in ("NEAREST", "BILINEAR"):
        np.testing.assert_allclose(geometry.rotate(tf.constant(sq), 0.0, interpolation=interp).numpy(), sq, atol=1e-3)
    np.testing.assert_array_equal(geometry.rotate(tf.constant(sq), 90.0).numpy(), np.rot90(sq))  # counter-clockwise
    np.testing.assert_array_equal(random_rotation(tf.constant(sq), tf.constant([1, 2]), 0.0).numpy(), sq)


def test_translate_moves_content_and_fills():
    out = geometry.translate(t(IMG), 3, 0).numpy()
    np.testing.assert_array_equal(out[:, 3:], IMG[:, :-3])
    assert (out[:, :3] == 0).all()
    out = geometry.translate(t(IMG), 0, -2, fill=(1.0, 2.0, 3.0)).numpy()
    np.testing.assert_array_equal(out[:-2], IMG[2:])
    np.testing.assert_array_equal(out[-2:], np.broadcast_to([1.0, 2.0, 3.0], out[-2:].shape))


def test_shear_origin_top_left():
    out = geometry.shear_x(t(IMG), 0.5).numpy()
    np.testing.assert_array_equal(out[0], IMG[0])  # row 0 does not move
    np.testing.assert_array_equal(out[2, :-1], IMG[2, 1:])  # row 2 samples x + 1
    np.testing.assert_array_equal(geometry.shear_y(t(IMG), 0.0).numpy(), IMG)


@pytest.mark.parametrize("op, arg, pil_data", [
    ("shear_x", 0.27, (1, 0.27, 0, 0, 1, 0)),
    ("shear_x", -0.3, (1, -0.3, 0, 0, 1, 0)),
    ("shear_y", 0.21, (1, 0, 0, 0.21, 1, 0)),
    ("translate", 5.0, (1, 0, -5.0, 0, 1, 0)),
])
def test_affine_ops_equal_pil_nearest(op, arg, pil_data):
    wide = RNG.integers(0, 256, (32, 40, 3)).astype(np.uint8)
    ours = geometry.translate(t(wide), arg, 0) if op == "translate" else getattr(geometry, op)(t(wide), arg)
    want = pil(wide).transform((40, 32), Image.AFFINE, pil_data, resample=Image.NEAREST)
    np.testing.assert_array_equal(ours.numpy(), np.asarray(want, np.float32))


@pytest.mark.parametrize("degrees", [27.0, -15.0, 7.0])
def test_rotate_matches_pil(degrees):
    wide = RNG.integers(0, 256, (32, 40, 3)).astype(np.uint8)
    near = geometry.rotate(t(wide), degrees).numpy()
    want = np.asarray(pil(wide).rotate(degrees, resample=Image.NEAREST), np.float32)
    assert np.mean(np.all(near == want, axis=-1)) >= 0.99  # ties at exactly .5 may round the other way
    bil = image_ops.to_uint8_range(geometry.rotate(t(wide), degrees, interpolation="BILINEAR")).numpy()
    want = np.asarray(pil(wide).rotate(degrees, resample=Image.BILINEAR), np.float32)
    inside = geometry.rotate(tf.ones([32, 40, 1]), degrees, interpolation="BILINEAR").numpy()[..., 0] >= 0.999
    assert inside.mean() > 0.8 and np.abs(bil - want)[inside].max() <= 1.0  # borders: TF blends with the fill


def test_random_resized_crop_boxes_within_bounds():
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    for i in range(40):
        top, left, h, w = geometry.random_resized_crop_box(tf.constant(40), tf.constant(60), tf.constant([i, 5]),
                                                           scale, ratio).numpy()
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 60 and h > 0 and w > 0
        assert 0.08 * 2400 * 0.8 <= h * w <= 2400  # rounding h and w to integers moves the area a little
        assert 0.75 * 0.85 <= w / h <= 4 / 3 * 1.15
    # whole-image crop back to the same size is the identity
    sq = RNG.integers(0, 256, (16, 16, 3)).astype(np.float32)
    out = geometry.random_resized_crop(tf.constant(sq), (16, 16), tf.constant([1, 1]), (1.0, 1.0), (1.0, 1.0))
    np.testing.assert_allclose(out.numpy(), sq, atol=1e-3)
    assert geometry.random_resized_crop(t(IMG), (7, 5), tf.constant([3, 4])).shape == (7, 5, 3)


def test_random_resized_crop_fallback_clamps_aspect():
    # a 10x100 strip cannot hold any draw of aspect <= 4/3 and area >= 8 %: centred crop, w = round(10·4/3)
    box = geometry.random_resized_crop_box(tf.constant(10), tf.constant(100), tf.constant([0, 0]), (0.5, 1.0)).numpy()
    np.testing.assert_array_equal(box, [0, (100 - 13) // 2, 10, 13])


# ----------------------------------------------------------------------------- RandAugment tables

def test_torchvision_table_at_magnitude_7_of_31():
    # torchvision: linspace(0, 0.3 | 30 | 0.9, 31)[7], 8 - round(7 / 7.5), linspace(255, 0, 31)[7]
    assert torchvision_magnitude("ShearX", 7, 12, 10) == pytest.approx(0.07)
    assert torchvision_magnitude("Rotate", 7, 12, 10) == pytest.approx(7.0)
    assert torchvision_magnitude("Brightness", 7, 12, 10) == pytest.approx(0.21)
    assert torchvision_magnitude("Posterize", 7, 12, 10) == 7
    assert torchvision_magnitude("Solarize", 7, 12, 10) == pytest.approx(195.5)
    assert torchvision_magnitude("TranslateX", 7, 256, 256) == 27  # int(150/331·256·7/30) = int(27.07)
    assert torchvision_magnitude("TranslateY", 30, 331, 100) == 150
    assert [torchvision_magnitude("Posterize", b, 8, 8) for b in (0, 30)] == [8, 4]
    assert len(TORCHVISION_OPS) == 14 and len(TIMM_OPS) == 15


def test_timm_table_at_magnitude_9():
    m = tf.constant(9.0)
    want = {"Rotate": 27.0, "Posterize": 3, "Solarize": 230, "SolarizeAdd": 99, "Color": 1.72, "Sharpness": 1.72,
            "ShearX": 0.27, "TranslateXRel": 0.405 * 10, "TranslateYRel": 0.405 * 12}
    for name, value in want.items():
        assert float(timm_argument(name, m, 12, 10)) == pytest.approx(value), name


def test_magnitude_zero_ops_are_identity_where_the_libraries_say_so():
    x = t(IMG)
    fill = tf.constant([124.0, 116.0, 104.0])
    for name in ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                 "Contrast", "Sharpness", "Posterize"):
        arg = torchvision_magnitude(name, 0, 12, 10)
        np.testing.assert_array_equal(apply_op(name, x, tf.constant(arg), flavour="torchvision", fill=fill).numpy(),
                                      IMG, err_msg=name)
    # torchvision Solarize at bin 0: threshold 255 inverts exactly the 255 levels
    out = apply_op("Solarize", x, tf.constant(255.0), flavour="torchvision", fill=fill).numpy()
    np.testing.assert_array_equal(out, np.where(IMG == 255, 0, IMG))
    # timm at m = 0: geometry and SolarizeAdd are identities; Posterize keeps 0 bits (black), Solarize inverts all
    level = tf.constant(0.0)
    for name in ("Rotate", "ShearX", "TranslateXRel", "SolarizeAdd"):
        got = apply_op(name, x, timm_argument(name, level, 12, 10), flavour="timm", fill=fill).numpy()
        np.testing.assert_allclose(got, IMG, atol=1e-3, err_msg=name)
    assert (apply_op("Posterize", x, timm_argument("Posterize", level, 12, 10), flavour="timm", fill=fill).numpy() == 0).all()
    np.testing.assert_array_equal(apply_op("Solarize", x, timm_argument("Solarize", level, 12, 10), flavour="timm",
                                           fill=fill).numpy(), 255 - IMG.astype(np.float32))


def test_rand_augment_deterministic_per_seed_and_in_range():
    x = t(IMG)
    for flavour, mag, std in (("torchvision", 7, 0.0), ("timm", 9, 0.5)):
        outs = [rand_augment(x, tf.constant([s, 0]), flavour=flavour, magnitude=mag, magnitude_std=std).numpy()
                for s in range(12)]
        again = rand_augment(x, tf.constant([3, 0]), flavour=flavour, magnitude=mag, magnitude_std=std).numpy()
        np.testing.assert_array_equal(outs[3], again)
        assert len({o.tobytes() for o in outs}) > 6, flavour  # different seeds, different ops
        for o in outs:
            assert o.shape == IMG.shape and o.min() >= 0 and o.max() <= 255 and (o == np.round(o)).all()
    np.testing.assert_array_equal(rand_augment(x, tf.constant([1, 2]), num_ops=0).numpy(), IMG)


# ----------------------------------------------------------------------------- jitter, grayscale, erasing

def test_color_jitter_zero_is_identity_and_grayscale_probabilities():
    x = t(IMG)
    np.testing.assert_array_equal(color_jitter(x, tf.constant([1, 2])).numpy(), IMG)
    jittered = color_jitter(x, tf.constant([1, 2]), 0.25, 0.25, 0.25, 0.5).numpy()
    assert jittered.shape == IMG.shape and not np.array_equal(jittered, IMG) and 0 <= jittered.min() <= jittered.max() <= 255
    g = random_grayscale(x, tf.constant([1, 2]), 1.0).numpy()
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    np.testing.assert_array_equal(random_grayscale(x, tf.constant([1, 2]), 0.0).numpy(), IMG)


def test_random_erasing_box_area_aspect_and_fill():
    flat = tf.fill([40, 50, 3], -1000.0)  # erased pixels are the only ones that change
    areas = []
    for i in range(60):
        out = random_erasing(flat, tf.constant([i, 1]), 1.0, MEAN, STD).numpy()
        rows, cols = np.nonzero((out != -1000.0).any(-1))
        assert rows.size, "probability 1 and a 40x50 image always fit a box"
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert rows.size == h * w and h < 40 and w < 50  # one solid rectangle
        areas.append(h * w / 2000)
        assert 0.3 * 0.7 <= w / h <= 1 / 0.3 / 0.7 or min(h, w) <= 3  # aspect bounds up to integer rounding
    assert 0.02 * 0.8 <= min(areas) and max(areas) <= 1 / 3 * 1.15
    big = random_erasing(tf.fill([64, 64, 3], -1000.0), tf.constant([0, 9]), 1.0, MEAN, STD,
                         area=(0.3, 0.3), aspect=(1.0, 1.0)).numpy()
    fill = big[(big != -1000.0).any(-1)]
    assert np.allclose(fill.mean(0), MEAN, atol=8) and np.allclose(fill.std(0), STD, rtol=0.15)  # mean + std·N(0,1)
    np.testing.assert_array_equal(random_erasing(t(IMG), tf.constant([1, 1]), 0.0, MEAN, STD).numpy(), IMG)
    applied = sum(bool((random_erasing(flat, tf.constant([i, 2]), 0.5, MEAN, STD).numpy() != -1000).any())
                  for i in range(100))
    assert 30 <= applied <= 70


# ----------------------------------------------------------------------------- composed policies

@pytest.mark.parametrize("policy", list(AUGMENT_POLICIES))
def test_every_policy_shape_dtype_range_and_determinism(policy):
    cfg = augment_config(policy)
    x = t(IMG)
    a = augment_image(x, tf.constant([4, 2]), cfg, mean=MEAN, std=STD)
    b = augment_image(x, tf.constant([4, 2]), cfg, mean=MEAN, std=STD)
    assert a.shape == IMG.shape and a.dtype == tf.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert 0 <= a.numpy().min() and a.numpy().max() <= 255
    if policy == "none":
        np.testing.assert_array_equal(a.numpy(), IMG)


def test_timm_recipe_with_crop_and_erasing_resizes():
    cfg = augment_config({"policy": "randaugment", "random_resized_crop": True, "random_erasing": 0.2})
    out = augment_image(t(IMG), tf.constant([0, 1]), cfg, size=(8, 6), mean=MEAN, std=STD)
    assert out.shape == (8, 6, 3)
