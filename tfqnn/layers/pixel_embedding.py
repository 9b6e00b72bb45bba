"""ERN pixel embedding: fixed generalised thermometer encoding (arXiv:2410.11553 §3.3, eq. 5–9; ``PixelEmbeddingV3``).

For each colour channel ``c`` of a raw pixel ``x ∈ 0..max_val`` and sub-channel ``i = 0..k−1``::

    s = max(1, floor(max_val / ((2^l − 1)·k)))        # step, 8 for k=10, l=2
    w = float32(1 / (s·k));   b_i = float32(s·(i+1)) · w − 1 + 1e-4
    z[c, i] = floor(clamp(x·w − b_i, 0, 2^l − 1e-6))   # levels 0..2^l−1
    output channel c·k + i                              # colour-major, NHWC

The constants are computed in float32 exactly as the reference does (``b_i`` via the rounded reciprocal,
plus its ``1e-4`` offset), so every integer pixel lands on the reference's level. The layer has no
weights and no gradient (it is applied to the raw input).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfqnn.keras import keras

import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402


def embedding_constants(expansion: int = 10, bits: int = 2, max_val: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """``(w, b_total)`` float32 arrays of length ``expansion`` (``y = x·w − b_total``)."""
    step = max(1, max_val // ((2**bits - 1) * expansion))
    w = np.float32(1.0 / (step * expansion))
    b_const = np.arange(step, step * expansion + 1, step, dtype=np.float32) * w - np.float32(1.0)
    b_total = (b_const + np.float32(1e-4)).astype(np.float32)
    return np.full(expansion, w, np.float32), b_total


@keras.utils.register_keras_serializable(package="tfqnn")
class PixelEmbedding(keras.layers.Layer):
    """Thermometer-encode raw pixels (NHWC, values 0..``max_val``) into ``C·expansion`` level channels.

    Args:
        expansion: k, sub-channels per colour (10 in ERN).
        bits: l, output levels 0..2^l−1.
        max_val: largest raw pixel value (255).
        input_scale: multiplier applied to the input first (255 for images given in [0, 1]).
    """

    def __init__(self, expansion: int = 10, bits: int = 2, max_val: int = 255, input_scale: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for what, v in (("expansion", expansion), ("bits", bits), ("max_val", max_val)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"layer {self.name!r}: {what} must be a positive integer, got {v!r}")
        self.expansion, self.bits, self.max_val = expansion, bits, max_val
        self.input_scale = float(input_scale)
        w, b = embedding_constants(expansion, bits, max_val)
        self._w, self._b = w, b

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        channels = None if shape[-1] is None else shape[-1] * self.expansion
        return tf.TensorShape(shape[:-1] + [channels])

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = tf.cast(inputs, tf.float32)
        if self.input_scale != 1.0:
            x = x * self.input_scale
        y = x[..., None] * tf.constant(self._w) - tf.constant(self._b)  # (..., C, k)
        z = tf.floor(tf.clip_by_value(y, 0.0, np.float32(2**self.bits - 1e-6)))
        inner = inputs.shape[1:-1].as_list()
        channels = int(inputs.shape[-1]) * self.expansion
        if all(d is not None for d in inner):  # static shape: a plain RESHAPE in TFLite
            return tf.reshape(z, [-1, *inner, channels])
        return tf.reshape(z, tf.concat([tf.shape(z)[:-2], [channels]], axis=0))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "expansion": self.expansion,
            "bits": self.bits,
            "max_val": self.max_val,
            "input_scale": self.input_scale,
        }


__all__ = ["PixelEmbedding", "embedding_constants"]
