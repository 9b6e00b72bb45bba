"""Dyadic requantization of HAWQ-V3 (Yao et al., ICML 2021, §3.1 Eq. 5-6; spec ``hawq.md`` §2.4).

A real rescale factor ``M = S_in·S_w / S_out`` is replaced by a dyadic number ``b / 2^c``
(``b`` a 31-bit integer), so that requantizing an INT32 accumulator needs one integer
multiplication and one shift. The functions follow the reference (``batch_frexp``,
``fixedpoint_fn``) bit for bit: the multiplier is built in float64 from float32-cast scales, the
mantissa rounds half **up**, and the product ``z_int·b / 2^c`` is rounded half-to-even in float64.
:func:`apply_dyadic_shift` is the true integer ``(z·b + 2^(c-1)) >> c`` alternative (differs on ties).
All arrays are channels-last: per-channel scales broadcast over the last axis. Pure numpy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfqnn.errors import ConfigError

REQUANT_MODES = ("symmetric", "asymmetric")


def real_multiplier(s_in: Any, s_w: Any, s_out: Any) -> np.ndarray:
    """``M = f64(f32(f64(S_in)·f64(S_w))) / f64(f32(S_out))`` — the float64 rescale factor (TVM's way)."""
    a = np.float64(np.float32(s_in)) * np.asarray(s_w, np.float32).astype(np.float64)
    return a.astype(np.float32).astype(np.float64) / np.float64(np.float32(s_out))


def frexp_dyadic(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """``M ≈ b / 2^c`` with ``M = mant·2^e``, ``mant ∈ [0.5, 1)``, ``b = round_half_up(mant·2^31)``,
    ``c = 31 - e`` (``batch_frexp``). ``b`` can be ``2^31`` when the mantissa rounds up to 1."""
    mant, exp = np.frexp(np.asarray(m, np.float64))
    b = np.floor(mant * 2.0**31 + 0.5)  # exact in float64: mant·2^31 has ≤ 22 fractional bits
    return b.astype(np.int64), (31 - exp).astype(np.int64)


def recover_int(z_float: Any, s_in: Any, s_w: Any) -> np.ndarray:
    """``z_int = round(z / S_in / S_w)`` in float32, in this order (spec pitfall 9)."""
    z = np.asarray(z_float, np.float32)
    return np.round(z / np.float32(s_in) / np.asarray(s_w, np.float32)).astype(np.float32)


def apply_dyadic(z_int: Any, b: Any, c: Any) -> np.ndarray:
    """Reference arithmetic: ``round_half_even(f64(z_int)·b / 2^c)`` evaluated in float64."""
    prod = np.asarray(z_int, np.float64) * np.asarray(b, np.float64)
    return np.round(prod / np.exp2(np.asarray(c, np.float64)))


def apply_dyadic_shift(z_int: Any, b: Any, c: Any) -> np.ndarray:
    """Integer-only alternative ``(z·b + 2^(c-1)) >> c`` (arithmetic shift = floor; ties go up)."""
    z = np.asarray(z_int).astype(np.int64)
    b = np.asarray(b, np.int64)
    c = np.asarray(c, np.int64)
    return (z * b + (np.int64(1) << (c - 1))) >> c


def clamp(y: np.ndarray, bits: int, mode: str) -> np.ndarray:
    """Signed ``[-2^(k-1), 2^(k-1)-1]`` ("symmetric") or unsigned ``[0, 2^k-1]`` ("asymmetric")."""
    if mode not in REQUANT_MODES:
        raise ConfigError(f"unknown requantization mode {mode!r}; valid: {', '.join(REQUANT_MODES)}")
    if mode == "asymmetric":
        return np.clip(y, 0, 2**bits - 1)
    return np.clip(y, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def requantize(z_float: Any, s_in: Any, s_w: Any, s_out: Any, bits: int, mode: str = "symmetric", *, integer_shift: bool = False) -> np.ndarray:
    """Case 0 of ``fixedpoint_fn``: accumulator image ``z = z_int·S_in·S_w`` → clamped integers on the ``S_out`` grid."""
    z_int = recover_int(z_float, s_in, s_w)
    b, c = frexp_dyadic(real_multiplier(s_in, s_w, s_out))
    y = apply_dyadic_shift(z_int, b, c) if integer_shift else apply_dyadic(z_int, b, c)
    return clamp(y, bits, mode).astype(np.float64)


def requantize_residual(
    z_float: Any,
    identity_float: Any,
    s_in: Any,
    s_w: Any,
    s_identity_act: Any,
    s_identity_weight: Any,
    s_out: Any,
) -> np.ndarray:
    """Case 1 (residual add): ``round(wx·b1/2^c1) + round(wy·b2/2^c2)``, **no clamp**;
    ``wx`` = identity integers, ``wy = round((z - identity)/S_in/S_w)`` (float32). Returned as float32
    like the reference (values above 2^24 carry float32 rounding)."""
    z = np.asarray(z_float, np.float32)
    ident = np.asarray(identity_float, np.float32)
    wx = recover_int(ident, s_identity_act, s_identity_weight)
    wy = recover_int(z - ident, s_in, s_w)
    b1, c1 = frexp_dyadic(real_multiplier(s_identity_act, s_identity_weight, s_out))
    b2, c2 = frexp_dyadic(real_multiplier(s_in, s_w, s_out))
    return (apply_dyadic(wx, b1, c1) + apply_dyadic(wy, b2, c2)).astype(np.float32)


__all__ = [
    "REQUANT_MODES",
    "apply_dyadic",
    "apply_dyadic_shift",
    "clamp",
    "frexp_dyadic",
    "real_multiplier",
    "recover_int",
    "requantize",
    "requantize_residual",
]
