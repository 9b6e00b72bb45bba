"""ERN pixel embedding: every pixel value, colour-major channel order, float input path, round trip."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.layers.pixel_embedding import PixelEmbedding, embedding_constants

import tfqnn  # noqa: E402


@pytest.fixture
def cases(vectors):
    return vectors("ern").json("pixel_embedding_cases.json")


def _layer(cases) -> PixelEmbedding:
    levels = np.array(cases["levels_by_pixel"])
    return PixelEmbedding(expansion=levels.shape[1], bits=int(np.ceil(np.log2(levels.max() + 1))))


@pytest.mark.conformance
def test_constants(cases):
    levels = np.array(cases["levels_by_pixel"])
    w, b = embedding_constants(expansion=levels.shape[1])
    np.testing.assert_array_equal(w, np.array(cases["w"], np.float32))
    np.testing.assert_array_equal(b, np.array(cases["b_total"], np.float32))


@pytest.mark.conformance
def test_every_pixel_value(cases):
    levels = np.array(cases["levels_by_pixel"])
    pixels = np.arange(levels.shape[0], dtype=np.float32)
    x = np.repeat(pixels.reshape(1, 1, -1, 1), 3, axis=-1)
    out = _layer(cases)(x).numpy()[0, 0]  # (256, 3·k)
    k = levels.shape[1]
    for c in range(3):
        np.testing.assert_array_equal(out[:, c * k:(c + 1) * k], levels)
    as_int = _layer(cases)(x.astype(np.int32)).numpy()[0, 0]
    np.testing.assert_array_equal(as_int, out)


@pytest.mark.conformance
def test_channel_order_is_colour_major(cases):
    check = cases["channel_order_check"]
    n, c, h, w = check["input_shape_nchw"]
    x = np.stack([np.array(check[f"input_{col}"], np.float32).reshape(n, h, w) for col in "RGB"], axis=-1)
    out = _layer(cases)(x).numpy()
    ref = np.array(check["output_nchw_flat"], np.float32).reshape(check["output_shape_nchw"]).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.conformance
def test_float_input_path(cases):
    levels = np.array(cases["levels_by_pixel"])
    pixels = np.arange(levels.shape[0], dtype=np.float32).reshape(1, 1, -1, 1)
    layer = PixelEmbedding(expansion=levels.shape[1], input_scale=255.0)
    out = layer(pixels / np.float32(255.0)).numpy()[0, 0]
    mismatches = int(np.sum(out != levels))
    assert mismatches == cases["float_input_path"]["mismatches"]


def test_round_trip_and_no_weights(tmp_path):
    inputs = keras.Input((4, 5, 3))
    model = keras.Model(inputs, PixelEmbedding(name="pe")(inputs))
    assert model.output_shape == (None, 4, 5, 30) and model.count_params() == 0
    x = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(tfqnn.load_model(tmp_path / "m.keras")(x).numpy(), model(x).numpy())
    dyn = keras.Model(i := keras.Input((None, None, 3)), PixelEmbedding()(i))
    np.testing.assert_array_equal(dyn(x).numpy(), model(x).numpy())


def test_bad_arguments():
    with pytest.raises(ConfigError, match="expansion"):
        PixelEmbedding(expansion=0)
