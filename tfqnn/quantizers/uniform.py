"""k-bit unsigned uniform activation quantizer with a fixed clip: ERN's HWGQ (LeapMind/ERN ``quantizers.py``).

Half-wave Gaussian quantization (Cai et al., CVPR 2017) as used by ERN (arXiv:2410.11553 §3.2) with
``bits = 2`` and a fixed (not learned) ``max_value = 2.0``; ``n = 2^bits − 1``:

    qi = floor(clip(x, 0, max_value) · (n / max_value) + 0.5)      # round half UP, qi ∈ {0..n}
    y  = qi · (max_value / n)   if post_scale   else   qi          # integer mode before BP2S convs

Backward: ``dL/dx = g · 1[0 ≤ x ≤ max_value] · (1 if post_scale else n / max_value)`` (inclusive
mask), optionally with EWGS (Lee et al. 2021, eq. 4): ``gi · (1 + δ · sign(gi) · (x − y))``.

The quantizer is an "unsigned uniform" quantizer in the sense of ``converters/bitplanes.py``: it exposes
``precision`` (bits), :meth:`levels` (the integer ``qi``), :meth:`floor_input` (``qi = floor(z)``) and
:attr:`level_step` (real value of one level).
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.quantizers.binary import _check_delta, ewgs_scale  # noqa: E402


@keras.utils.register_keras_serializable(package="tfqnn")
class HWGQ(lq.quantizers.Quantizer):
    """ERN's 2-bit HWGQ activation quantizer (module docstring); float32 arithmetic in that order.

    Args:
        bits: precision k (levels 0..2^k−1).
        max_value: fixed clip value (2.0 in ERN).
        post_scale: ``True`` returns ``qi · max_value / n``; ``False`` the integer ``qi`` (the
            reference's ``disable_post_scale=True``), with the gradient multiplied by ``n / max_value``.
        ewgs_delta: EWGS δ (0 = plain clipped STE).
    """

    def __init__(self, bits: int = 2, max_value: float = 2.0, post_scale: bool = True, ewgs_delta: float = 0.0,
                 **kwargs: Any) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
            raise ConfigError(f"HWGQ bits must be an integer in 1..8, got {bits!r}")
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or max_value <= 0:
            raise ConfigError(f"HWGQ max_value must be a positive number, got {max_value!r}")
        self.bits = bits
        self.precision = bits
        self.max_value = float(max_value)
        self.post_scale = bool(post_scale)
        self.ewgs_delta = _check_delta(ewgs_delta)
        super().__init__(**kwargs)

    @property
    def n(self) -> int:
        return 2**self.bits - 1

    @property
    def level_step(self) -> float:
        """Real value of one integer level of the output (``max_value / n``, or 1 in integer mode)."""
        return self.max_value / self.n if self.post_scale else 1.0

    def floor_input(self, x: tf.Tensor) -> tf.Tensor:
        """``z = clip(x, 0, max) · (n/max) + 0.5`` ∈ [0.5, n + 0.5], with ``levels = floor(z)`` (float32)."""
        x = tf.cast(x, tf.float32)
        ratio = tf.constant(self.n / self.max_value, tf.float32)
        return tf.clip_by_value(x, 0.0, self.max_value) * ratio + 0.5

    def levels(self, x: tf.Tensor) -> tf.Tensor:
        """Integer levels ``floor(clip(x, 0, max) · (n/max) + 0.5)`` as float32 (no gradient)."""
        return tf.floor(self.floor_input(x))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        dtype = inputs.dtype
        max_value, delta, post_scale = self.max_value, self.ewgs_delta, self.post_scale
        grad_gain = 1.0 if post_scale else self.n / max_value
        step = tf.constant(max_value / self.n, tf.float32)

        @tf.custom_gradient
        def _quantize(x: tf.Tensor) -> tuple[tf.Tensor, Any]:
            qi = self.levels(x)
            y = qi * step if post_scale else qi

            def grad(dy: tf.Tensor) -> tf.Tensor:
                inside = tf.logical_and(x >= 0.0, x <= max_value)
                gi = tf.where(inside, dy * grad_gain, tf.zeros_like(dy))
                return ewgs_scale(gi, x - y, delta)

            return y, grad

        return tf.cast(_quantize(tf.cast(inputs, tf.float32)), dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "bits": self.bits,
            "max_value": self.max_value,
            "post_scale": self.post_scale,
            "ewgs_delta": self.ewgs_delta,
        }


__all__ = ["HWGQ"]
