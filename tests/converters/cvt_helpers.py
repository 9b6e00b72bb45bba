"""Tiny models and inputs shared by the converter tests (input 8×8×3, raw pixels 0..255).

A uniquely named module (not ``conftest``) so that test files can import it unambiguously.
"""
from __future__ import annotations

import numpy as np

from tfqnn.keras import keras

SHAPE = (8, 8, 3)


def tiny_float_model(num_classes: int = 5, seed: int = 0):
    """Rescaling → Conv2D(4) → BN → ReLU → GAP → Dense."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(SHAPE)
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(num_classes, name="fc")(x)
    return keras.Model(inp, out, name="tiny")


def tiny_binary_model(seed: int = 1):
    """Float stem conv → BN → binary QuantConv2D (ste_sign input and kernel) → BN → GAP → Dense."""
    import larq as lq

    keras.utils.set_random_seed(seed)
    inp = keras.Input(SHAPE)
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", use_bias=False, name="bconv",
        input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    )(x)
    x = keras.layers.BatchNormalization(name="bconv_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, name="fc")(x)
    return keras.Model(inp, out, name="tinybin")


def images(n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, *SHAPE)).astype(np.float32)
