"""1-bit weight quantizers of ERN (Takahashi et al., arXiv:2410.11553 §3.4–3.5; LeapMind/ERN ``quantizers.py``).

* :class:`BinaryChannelWiseMeanScaling` (BCWMS, XNOR-Net style):
  ``Wq[..., o] = sign*(W[..., o]) · mean_{h,w,i} |W[..., o]|`` (per output channel; HWIO axes 0..2).
* :class:`BinaryPower2Scaling` (BP2S, the paper's shared constant scaling factor):
  ``Wq = sign*(W) / p`` with ``p = 32``.

``sign*(w) = +1 if w ≥ 0 else −1`` (zero, also −0.0, maps to +1). Backward is the identity
straight-through estimator — no clipping at ``|w| > 1`` and no gradient through the scale — or,
with ``ewgs_delta = δ > 0``, element-wise gradient scaling (Lee et al., CVPR 2021, eq. 4):
``dL/dW = g · (1 + δ · sign(g) · (W − Wq))`` with ``g = dL/dWq``.

Both quantizers expose :meth:`scale` (the per-output-channel magnitude of ``Wq``) so converters can
split ``Wq = sign*(W) · scale`` into a ±1 kernel and a float multiplier.
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402


def sign_star(x: tf.Tensor) -> tf.Tensor:
    """``+1`` where ``x ≥ 0`` (including ±0), ``−1`` elsewhere; same dtype as ``x``."""
    return tf.where(x >= 0, tf.ones_like(x), -tf.ones_like(x))


def ewgs_scale(grad: tf.Tensor, residual: tf.Tensor, delta: float) -> tf.Tensor:
    """EWGS (Lee et al. 2021, eq. 4): ``g · (1 + δ · sign(g) · residual)``, ``residual = x − q(x)``."""
    if delta == 0.0:
        return grad
    return grad * (1.0 + delta * tf.sign(grad) * residual)


def _check_delta(delta: Any) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta < 0:
        raise ConfigError(f"ewgs_delta must be a non-negative number, got {delta!r}")
    return float(delta)


class _ScaledSign(lq.quantizers.Quantizer):
    """``sign*(W) · scale(W)`` with the STE / EWGS backward of the module docstring."""

    precision = 1

    def __init__(self, ewgs_delta: float = 0.0, **kwargs: Any) -> None:
        self.ewgs_delta = _check_delta(ewgs_delta)
        super().__init__(**kwargs)

    def scale(self, w: tf.Tensor) -> tf.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)  # a tf.Variable would make custom_gradient expect `variables`
        delta = self.ewgs_delta
        scale = tf.stop_gradient(self.scale(inputs))

        @tf.custom_gradient
        def _quantize(w: tf.Tensor) -> tuple[tf.Tensor, Any]:
            wq = sign_star(w) * scale

            def grad(dy: tf.Tensor) -> tf.Tensor:
                return ewgs_scale(dy, w - wq, delta)

            return wq, grad

        return _quantize(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ewgs_delta": self.ewgs_delta}


@keras.utils.register_keras_serializable(package="tfqnn")
class BinaryChannelWiseMeanScaling(_ScaledSign):
    """BCWMS: ``sign*(W) · α[o]``, ``α[o] = mean |W|`` over every axis but the last (HWIO: per output channel).

    The mean is taken over all axes except the last, so it suits Conv2D (HWIO) and Dense (IO) kernels.
    """

    def scale(self, w: tf.Tensor) -> tf.Tensor:
        axes = list(range(len(w.shape) - 1))
        return tf.reduce_mean(tf.abs(w), axis=axes, keepdims=True)


@keras.utils.register_keras_serializable(package="tfqnn")
class BinaryPower2Scaling(_ScaledSign):
    """BP2S: ``sign*(W) / divisor`` with a power-of-two ``divisor`` (32 in ERN)."""

    def __init__(self, divisor: int = 32, ewgs_delta: float = 0.0, **kwargs: Any) -> None:
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1 or divisor & (divisor - 1):
            raise ConfigError(f"BinaryPower2Scaling divisor must be a positive power of two, got {divisor!r}")
        self.divisor = divisor
        super().__init__(ewgs_delta=ewgs_delta, **kwargs)

    def scale(self, w: tf.Tensor) -> tf.Tensor:
        return tf.constant(1.0 / self.divisor, dtype=w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "divisor": self.divisor}


@keras.utils.register_keras_serializable(package="tfqnn")
class LatentWeightsUnclipped(keras.constraints.Constraint):
    """Explicit "no constraint" for binary kernels: ERN does not clip latent weights (spec §1.3), and naming the
    choice keeps larq from warning about a missing ``kernel_constraint``."""

    def __call__(self, w: tf.Tensor) -> tf.Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}


__all__ = ["BinaryChannelWiseMeanScaling", "LatentWeightsUnclipped", "BinaryPower2Scaling", "ewgs_scale", "sign_star"]
