"""ReXNet's two parameter-free merge layers: the partial residual add and the SE scaling.

Han et al., "Rethinking Channel Dimensions for Efficient Model Design", CVPR 2021 (ReXNet).

* :class:`PartialResidualAdd` — a ReXNet block widens its channels (``out ≥ in``) yet keeps a
  residual: the block input is added to the **first ``in`` channels** of the block output only,
  ``y[..., :in] += x`` (spec ``rexnet.md`` §2.4 step 6). Computed as ``y + pad_C(x)`` (zero
  channels appended to the shortcut), which is exact and lowers to PAD + ADD in TFLite.
* :class:`SEScale` — the squeeze-excitation gating ``x · s`` with ``s`` of shape N×1×1×C
  broadcast over H, W (§2.4 "SE(C)", Hu et al. 2018 eq. 4).

Both are ordinary registered Keras layers (``get_config``, ``.keras`` round trip), so TF-MOT can
wrap them with the QuantizeConfigs of :mod:`tfqnn.quantizers.rexnet_qat`.
"""
from __future__ import annotations

from typing import Any, Sequence

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

import tensorflow as tf  # noqa: E402


@keras.utils.register_keras_serializable(package="tfqnn")
class PartialResidualAdd(keras.layers.Layer):
    """``[y, x] -> y + concat(x, 0)`` on the channel axis: ``y[..., :C_x] += x`` (NHWC).

    The shortcut ``x`` must have the spatial shape of ``y`` and at most ``y``'s channels.
    """

    def build(self, input_shape: Sequence[Any]) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ConfigError(f"layer {self.name!r} takes two inputs [block_output, shortcut]")
        y_shape, x_shape = (tf.TensorShape(s) for s in input_shape)
        cy, cx = y_shape[-1], x_shape[-1]
        if cy is not None and cx is not None and cx > cy:
            raise ConfigError(f"layer {self.name!r}: shortcut has {cx} channels, more than the block output's {cy}")
        if y_shape[1:-1] != x_shape[1:-1] and None not in (y_shape[1:-1] + x_shape[1:-1]):
            raise ConfigError(f"layer {self.name!r}: spatial shapes differ, {y_shape} vs {x_shape}")
        super().build(input_shape)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        y, x = inputs
        if y.shape[-1] is not None and x.shape[-1] is not None:
            extra = int(y.shape[-1]) - int(x.shape[-1])
            if extra == 0:
                return y + x
        else:
            extra = tf.shape(y)[-1] - tf.shape(x)[-1]
        rank = len(y.shape)
        paddings = [[0, 0]] * (rank - 1) + [[0, extra]]
        return y + tf.pad(x, paddings)

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tf.TensorShape:
        return tf.TensorShape(input_shape[0])


@keras.utils.register_keras_serializable(package="tfqnn")
class SEScale(keras.layers.Layer):
    """``[x, s] -> x · s``: squeeze-excitation gating, ``s`` (N×1×1×C) broadcast over H, W."""

    def build(self, input_shape: Sequence[Any]) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ConfigError(f"layer {self.name!r} takes two inputs [features, gate]")
        cx, cs = tf.TensorShape(input_shape[0])[-1], tf.TensorShape(input_shape[1])[-1]
        if cx is not None and cs is not None and cx != cs:
            raise ConfigError(f"layer {self.name!r}: gate has {cs} channels, features have {cx}")
        super().build(input_shape)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        x, s = inputs
        return x * s

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tf.TensorShape:
        return tf.TensorShape(input_shape[0])
