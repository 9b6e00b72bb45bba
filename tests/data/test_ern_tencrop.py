"""Ten-crop TTA (tfqnn.data.tencrop): boxes and order vs tencrop_boxes.json, crop pixels, logit averaging, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.data.tencrop import default_resize, integer_pixels, ten_crop, tencrop_boxes, tencrop_logits
from tfqnn.errors import ConfigError


@pytest.mark.conformance
def test_boxes_match_reference(vectors):
    for case in vectors("ern").json("tencrop_boxes.json")["cases"]:
        boxes = tencrop_boxes(tuple(case["image_hw"]), case["crop"])
        assert len(boxes) == len(case["crops"])
        for ours, ref in zip(boxes, case["crops"]):
            assert (ours.index, ours.name, ours.flipped, ours.top, ours.left, ours.height, ours.width) == (
                ref["index"], ref["name"], ref["flipped"], ref["top"], ref["left"], ref["height"], ref["width"]), case["image_hw"]


@pytest.mark.conformance
def test_crop_pixels_are_the_reference_boxes(vectors):
    """Each crop equals the original-image box of the file (mirrored for flipped crops), crop-major order."""
    for case in vectors("ern").json("tencrop_boxes.json")["cases"]:
        h, w = case["image_hw"]
        if h * w > 100_000:
            continue  # the geometry test above covers the large cases; keep this one fast
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (2, h, w, 3)).astype(np.float32)
        crops = ten_crop(images, case["crop"]).numpy()
        assert crops.shape[0] == 10 * 2
        for ref in case["crops"]:
            t, l, b, r = ref["orig_box_top_left_bottom_right"]
            box = images[:, t:b, l:r, :]
            if ref["flipped"]:
                box = box[:, :, ::-1, :]
            np.testing.assert_array_equal(crops[ref["index"] * 2:(ref["index"] + 1) * 2], box)


def test_logits_are_averaged_per_image_before_softmax():
    images = np.random.default_rng(1).integers(0, 256, (3, 12, 12, 3)).astype(np.float32)

    def predict(x):  # logit = per-crop mean pixel and its negative: averaging is linear
        m = np.asarray(x).mean(axis=(1, 2, 3))
        return np.stack([m, -m], axis=1)

    out = tencrop_logits(predict, images, resize=None, crop=8)
    crops = ten_crop(images, 8).numpy().reshape(10, 3, 8, 8, 3)
    np.testing.assert_allclose(out[:, 0], crops.mean(axis=(0, 2, 3, 4)), rtol=1e-5)
    assert out.shape == (3, 2)


def test_integer_pixels_truncate_like_reference():
    x = np.arange(256, dtype=np.float32)
    ints = integer_pixels(x).numpy()
    np.testing.assert_array_equal(ints, x)  # float32 (k/255)·255 truncates back to k for every k
    assert default_resize(288) == 308 and default_resize(32) == 34


def test_bad_crop():
    with pytest.raises(ConfigError, match="does not fit"):
        tencrop_boxes((10, 10), 11)


@pytest.mark.slow
def test_cli_tencrop(tmp_path, capsys):
    from tfqnn.cli.evaluate import main

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.save(tmp_path / "m.keras")
    try:
        code = main([str(tmp_path / "m.keras"), "--data", "cifar10", "--max-examples", "20", "--tta", "tencrop", "--json"])
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    if code == 2 and "not found" in out.err:
        pytest.skip(reason=f"cifar10 not available: {out.err.strip()}")
    assert code == 0, out.err
    res = json.loads(out.out.strip().splitlines()[-1])
    assert res["examples"] == 20 and 0.0 <= res["top1"] <= 1.0
