"""PartialResidualAdd and SEScale: numerics against numpy, errors, config and .keras round trips."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.layers.rexnet_blocks import PartialResidualAdd, SEScale


def test_partial_residual_adds_to_first_channels_only():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(2, 3, 4, 7)).astype(np.float32)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    out = PartialResidualAdd()([y, x]).numpy()
    np.testing.assert_allclose(out[..., :5], y[..., :5] + x, rtol=1e-6)
    np.testing.assert_array_equal(out[..., 5:], y[..., 5:])


def test_partial_residual_equal_widths_is_plain_add():
    rng = np.random.default_rng(1)
    y, x = (rng.normal(size=(1, 2, 2, 3)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(PartialResidualAdd()([y, x]).numpy(), y + x, rtol=1e-6)


def test_partial_residual_errors_name_the_layer():
    with pytest.raises(ConfigError, match="'pr'.*shortcut has 8 channels.*4"):
        PartialResidualAdd(name="pr")([keras.Input((4, 4, 4)), keras.Input((4, 4, 8))])
    with pytest.raises(ConfigError, match="'pr2'.*spatial"):
        PartialResidualAdd(name="pr2")([keras.Input((4, 4, 8)), keras.Input((2, 2, 4))])
    with pytest.raises(ConfigError, match="two inputs"):
        PartialResidualAdd(name="pr3")(keras.Input((4, 4, 8)))


def test_se_scale_broadcasts_gate():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    s = rng.uniform(size=(2, 1, 1, 4)).astype(np.float32)
    np.testing.assert_allclose(SEScale()([x, s]).numpy(), x * s, rtol=1e-6)
    with pytest.raises(ConfigError, match="'se'.*gate has 3 channels"):
        SEScale(name="se")([keras.Input((3, 3, 4)), keras.Input((1, 1, 3))])


def test_layers_roundtrip_through_keras_file(tmp_path):
    a, b = keras.Input((4, 4, 6)), keras.Input((4, 4, 3))
    g = keras.Input((1, 1, 6))
    out = SEScale(name="scale")([PartialResidualAdd(name="add")([a, b]), g])
    model = keras.Model([a, b, g], out)
    assert PartialResidualAdd.from_config(model.get_layer("add").get_config()).name == "add"
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(2, *t.shape[1:])).astype(np.float32) for t in (a, b, g)]
    model.save(tmp_path / "m.keras")
    loaded = tfqnn.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("add")) is PartialResidualAdd and type(loaded.get_layer("scale")) is SEScale
    np.testing.assert_array_equal(model(inputs).numpy(), loaded(inputs).numpy())
