"""Normalize and ZeroPadShortcut: numerics against numpy, shapes, config round-trips, errors."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.layers import NORMALIZATION_CONSTANTS, Normalize, ZeroPadShortcut, normalization_layer, resolve_normalization

import tensorflow as tf  # noqa: E402


def test_published_constants_in_pixel_units():
    mean, std = NORMALIZATION_CONSTANTS["cifar10"]
    np.testing.assert_allclose(mean, [125.307, 122.961, 113.8575], atol=1e-9)  # 0.4914*255, ...
    np.testing.assert_allclose(std, [62.985, 62.0925, 66.708], atol=1e-9)
    mean, std = NORMALIZATION_CONSTANTS["imagenet"]
    np.testing.assert_allclose(mean, [123.675, 116.28, 103.53], atol=1e-9)
    np.testing.assert_allclose(std, [58.395, 57.12, 57.375], atol=1e-9)
    assert NORMALIZATION_CONSTANTS["tiny_imagenet"] == NORMALIZATION_CONSTANTS["imagenet"]


def test_normalize_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2, 5, 4, 3)).astype(np.float32)
    mean, std = [10.0, 120.0, 250.0], [2.0, 50.0, 0.5]
    y = Normalize(mean, std)(x).numpy()
    expected = (x.astype(np.float64) - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_normalize_config_roundtrip_and_no_weights():
    layer = Normalize([1.0, 2.0], [3.0, 4.0], name="n")
    clone = Normalize.from_config(layer.get_config())
    assert clone.mean == [1.0, 2.0] and clone.std == [3.0, 4.0] and clone.name == "n"
    layer.build((None, 2, 2, 2))
    assert layer.weights == []


def test_resolve_normalization():
    assert resolve_normalization(None) is None
    assert normalization_layer(None) is None
    assert resolve_normalization(([1, 2, 3], [4, 5, 6])) == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    with pytest.raises(ConfigError, match="cifar10, imagenet, tiny_imagenet"):
        resolve_normalization("cifar100")
    with pytest.raises(ConfigError, match="same non-zero length"):
        resolve_normalization(([1, 2, 3], [4, 5]))
    with pytest.raises(ConfigError, match="std must be"):
        resolve_normalization(([1, 2, 3], [4, 0, 6]))
    with pytest.raises(ConfigError, match="normalization must be"):
        resolve_normalization(3.5)


def test_normalize_channel_mismatch_names_the_layer():
    with pytest.raises(ConfigError, match="'norm_x'.*3 channels.*input has 1"):
        Normalize([0, 0, 0], [1, 1, 1], name="norm_x")(keras.Input((4, 4, 1)))


def _numpy_option_a(x: np.ndarray, out_channels: int, stride: int) -> np.ndarray:
    sub = x[:, ::stride, ::stride, :]
    extra = out_channels - x.shape[-1]
    out = np.zeros(sub.shape[:3] + (out_channels,), dtype=x.dtype)
    out[..., extra // 2 : extra // 2 + x.shape[-1]] = sub
    return out


@pytest.mark.parametrize("hw,stride,cin,cout", [((6, 6), 2, 2, 4), ((5, 7), 2, 2, 6), ((4, 4), 1, 3, 3), ((4, 4), 1, 2, 5)])
def test_zero_pad_shortcut_matches_numpy(hw, stride, cin, cout):
    x = np.random.default_rng(1).normal(size=(2, *hw, cin)).astype(np.float32)
    layer = ZeroPadShortcut(cout, stride)
    y = layer(x).numpy()
    np.testing.assert_array_equal(y, _numpy_option_a(x, cout, stride))
    assert tuple(layer.compute_output_shape((None, *hw, cin))) == (None, *y.shape[1:])


def test_zero_pad_shortcut_avg_pool():
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    layer = ZeroPadShortcut(3, 2, pool="avg")
    y = layer(x).numpy()
    # 'VALID' 2x2 average: rows/cols 0-1 and 2-3, the fifth is dropped.
    expected = x[:, :4, :4, 0].reshape(2, 2, 2, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(y[..., 1], expected)
    assert np.all(y[..., 0] == 0) and np.all(y[..., 2] == 0)
    assert tuple(layer.compute_output_shape((None, 5, 5, 1))) == (None, 2, 2, 3)


def test_zero_pad_shortcut_config_and_errors():
    layer = ZeroPadShortcut(8, 2, pool="avg", name="sc")
    clone = ZeroPadShortcut.from_config(layer.get_config())
    assert (clone.out_channels, clone.stride, clone.pool, clone.name) == (8, 2, "avg", "sc")
    with pytest.raises(ConfigError, match="'sc2'.*input channels 4.*out_channels 2"):
        ZeroPadShortcut(2, 1, name="sc2")(keras.Input((4, 4, 4)))
    with pytest.raises(ConfigError, match="unknown pool 'max'"):
        ZeroPadShortcut(2, 1, pool="max")


def test_layers_are_registered_for_loading():
    for cls in ("Normalize", "ZeroPadShortcut"):
        assert keras.saving.get_registered_object(f"tfqnn>{cls}") is not None


def test_zero_pad_shortcut_in_tf_function_with_unknown_spatial_dims():
    layer = ZeroPadShortcut(4, 2)
    fn = tf.function(layer).get_concrete_function(tf.TensorSpec((None, None, None, 2)))
    assert fn.structured_outputs.shape.as_list() == [None, None, None, 4]
