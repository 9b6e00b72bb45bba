"""Parameter-free residual shortcut ("option A", He et al. 2016, §4.2).

When a residual block changes the spatial size and/or widens the channels, option A keeps
the shortcut free of parameters: subsample the input with the block's stride and append
zero channels. Implemented with a strided slice (or an average pool) and a PAD, both
plain TFLite builtins.
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

import tensorflow as tf  # noqa: E402

_POOLS = ("subsample", "avg")


@keras.utils.register_keras_serializable(package="tfqnn")
class ZeroPadShortcut(keras.layers.Layer):
    """Option-A shortcut: ``pad_channels(pool(x))`` to ``out_channels`` channels (NHWC).

    Args:
        out_channels: channels of the output; must be ≥ the input's channels.
        stride: spatial stride. ``pool="subsample"`` keeps every ``stride``-th pixel starting at
            0 (``x[:, ::s, ::s]``, output ``ceil(H/s)``, the same size as a 3×3 stride-``s`` conv
            with padding 1); ``pool="avg"`` averages ``s×s`` windows ('VALID', output
            ``floor(H/s)``, as ε-ResNet's tensorpack reference).
        pool: "subsample" or "avg".

    The ``out_channels - C_in`` zero channels are split as ``extra // 2`` before and the rest
    after the input channels (the common PyTorch CIFAR implementation pads ``planes // 4`` on
    both sides, which is the same split when the width doubles).
    """

    def __init__(self, out_channels: int, stride: int = 1, pool: str = "subsample", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if pool not in _POOLS:
            raise ConfigError(f"layer {self.name!r}: unknown pool {pool!r}; valid: {', '.join(_POOLS)}")
        if int(stride) < 1 or int(out_channels) < 1:
            raise ConfigError(f"layer {self.name!r}: stride and out_channels must be ≥ 1, got {stride}, {out_channels}")
        self.out_channels = int(out_channels)
        self.stride = int(stride)
        self.pool = pool

    def build(self, input_shape: Any) -> None:
        channels = tf.TensorShape(input_shape)[-1]
        if channels is None or channels > self.out_channels:
            raise ConfigError(
                f"layer {self.name!r}: input channels {channels} must be known and ≤ out_channels {self.out_channels}"
            )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = inputs
        s = self.stride
        if s > 1:
            if self.pool == "subsample":
                x = x[:, ::s, ::s, :]
            else:
                x = tf.nn.avg_pool2d(x, ksize=s, strides=s, padding="VALID")
        extra = self.out_channels - x.shape[-1]
        if extra:
            before = extra // 2  # keep in sync with padded_channels()
            x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])
        return x

    def padded_channels(self, in_channels: int) -> list[int]:
        """Output channel indices that are structurally zero (the symmetric channel padding)."""
        extra = self.out_channels - int(in_channels)
        before = extra // 2
        return list(range(before)) + list(range(before + int(in_channels), self.out_channels))

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        for axis in (1, 2):
            if shape[axis] is not None and self.stride > 1:
                n = shape[axis]
                shape[axis] = -(-n // self.stride) if self.pool == "subsample" else n // self.stride
        shape[-1] = self.out_channels
        return tf.TensorShape(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "out_channels": self.out_channels, "stride": self.stride, "pool": self.pool}
