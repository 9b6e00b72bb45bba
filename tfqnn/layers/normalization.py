"""Per-channel input normalisation inside the model (the house input convention).

Every tfqnn model takes raw pixels as float32 in 0..255 (NHWC); its first layer is
:class:`Normalize`, which computes ``(x - mean) / std`` per channel with ``mean``/``std`` in
0..255 units. It is evaluated as ``x * (1/std) + (-mean/std)`` with precomputed constants, so
the TFLite converter emits one MUL and one ADD (no weights, no division).
"""
from __future__ import annotations

from typing import Any, Sequence, Union

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _scaled(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) * 255.0 for v in values)


#: Published per-channel constants (RGB, 0..255 units): name → (mean, std).
#: CIFAR-10: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616) (the usual values
#: computed over the training set); ImageNet: torchvision's (0.485, 0.456, 0.406) /
#: (0.229, 0.224, 0.225); Tiny ImageNet uses the ImageNet constants.
NORMALIZATION_CONSTANTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": (_scaled((0.4914, 0.4822, 0.4465)), _scaled((0.2470, 0.2435, 0.2616))),
    "imagenet": (_scaled((0.485, 0.456, 0.406)), _scaled((0.229, 0.224, 0.225))),
    "tiny_imagenet": (_scaled((0.485, 0.456, 0.406)), _scaled((0.229, 0.224, 0.225))),
}

NormalizationSpec = Union[str, Sequence[Sequence[float]], None]


def resolve_normalization(spec: NormalizationSpec) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Turn a builder's ``normalization`` option into ``(mean, std)`` (0..255 units) or ``None``.

    ``spec`` is a name of :data:`NORMALIZATION_CONSTANTS`, a ``(mean, std)`` pair of equal-length
    sequences, or ``None`` (no normalisation layer).
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in NORMALIZATION_CONSTANTS:
            valid = ", ".join(sorted(NORMALIZATION_CONSTANTS))
            raise ConfigError(f"unknown normalization {spec!r}; valid names: {valid} (or a (mean, std) pair, or None)")
        return NORMALIZATION_CONSTANTS[spec]
    try:
        mean, std = spec
        mean = tuple(float(v) for v in mean)
        std = tuple(float(v) for v in std)
    except (TypeError, ValueError):
        raise ConfigError(f"normalization must be a name, a (mean, std) pair of lists or None, got {spec!r}") from None
    _check_mean_std(mean, std)
    return mean, std


def _check_mean_std(mean: Sequence[float], std: Sequence[float]) -> None:
    if len(mean) == 0 or len(mean) != len(std):
        raise ConfigError(f"normalization mean and std need the same non-zero length, got {len(mean)} and {len(std)}")
    if any(not np.isfinite(s) or s <= 0 for s in std) or any(not np.isfinite(m) for m in mean):
        raise ConfigError(f"normalization std must be finite and > 0 and mean finite, got mean={list(mean)} std={list(std)}")


@keras.utils.register_keras_serializable(package="tfqnn")
class Normalize(keras.layers.Layer):
    """``y = (x - mean) / std`` over the last (channel) axis; no trainable state.

    Args:
        mean: per-channel mean in input units (0..255 for raw pixels).
        std: per-channel standard deviation in input units, all > 0.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        _check_mean_std(self.mean, self.std)
        self._scale = np.asarray([1.0 / s for s in self.std], dtype=np.float64)
        self._offset = np.asarray([-m / s for m, s in zip(self.mean, self.std)], dtype=np.float64)

    def build(self, input_shape: Any) -> None:
        channels = tf.TensorShape(input_shape)[-1]
        if channels is not None and channels != len(self.mean):
            raise ConfigError(
                f"layer {self.name!r}: normalization has {len(self.mean)} channels but the input has {channels}"
            )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = tf.cast(inputs, self.compute_dtype)
        scale = tf.constant(self._scale, dtype=self.compute_dtype)
        offset = tf.constant(self._offset, dtype=self.compute_dtype)
        return x * scale + offset

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


def normalization_layer(spec: NormalizationSpec, name: str = "normalize") -> Normalize | None:
    """The :class:`Normalize` layer for a builder's ``normalization`` option (``None`` → no layer)."""
    resolved = resolve_normalization(spec)
    return None if resolved is None else Normalize(*resolved, name=name)
