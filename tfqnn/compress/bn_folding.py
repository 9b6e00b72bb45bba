"""BN folding and the integer conv of HAWQ-V3 (Yao et al., ICML 2021, §3.2 "Batch normalization";
spec ``hawq.md`` §2.2, §2.5 — ``QuantBnConv2d`` with ``fix_BN=True``).

``σ = sqrt(var + eps)``, ``g = γ/σ``, ``W_fold = W·g`` (per output channel), ``b_fold = (b - μ)·g + β``;
``W_int, S_w`` = per-channel symmetric quantization of ``W_fold``; ``b_int = round(b_fold / (S_w·S_a))``
clamped to INT32; the accumulator is ``conv(x_int, W_int) + b_int`` (INT32), its float image
``acc · S_w·S_a``. Keras layout: kernels HWIO, activations NHWC. Also the unfolded training path
(``fix_BN=False``). Pure numpy (the Keras layer ``tfqnn.layers.hawq.HawqConvBN`` runs the same math in TF).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def fold_bn(kernel: Any, bias: Any | None, gamma: Any, beta: Any, mean: Any, var: Any, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Folded ``(W_fold, b_fold)`` in float32 (per last-axis channel)."""
    g = np.asarray(gamma, np.float32) / np.sqrt(np.asarray(var, np.float32) + np.float32(eps))
    w = np.asarray(kernel, np.float32) * g
    b0 = np.zeros_like(g) if bias is None else np.asarray(bias, np.float32)
    return w.astype(np.float32), ((b0 - np.asarray(mean, np.float32)) * g + np.asarray(beta, np.float32)).astype(np.float32)


def weight_scale(w: Any, bits: int) -> np.ndarray:
    """Per-output-channel (last axis) ``max(|min|, |max|, 1e-8) / (2^(k-1) - 1)`` in float32."""
    w = np.asarray(w, np.float32)
    axes = tuple(range(w.ndim - 1))
    alpha = np.maximum(np.abs(w.min(axis=axes)), np.abs(w.max(axis=axes)))
    return (np.maximum(alpha, np.float32(1e-8)) / np.float32(2 ** (bits - 1) - 1)).astype(np.float32)


def quantize_weight(w: Any, bits: int, scale: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(W_int, S_w)``: ``clamp(round((1/S)·W), -2^(k-1), 2^(k-1)-1)``."""
    s = weight_scale(w, bits) if scale is None else np.asarray(scale, np.float32)
    q = np.round((np.float32(1) / s) * np.asarray(w, np.float32))
    return np.clip(q, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1).astype(np.float32), s


def quantize_bias(b: Any, weight_scale_: Any, act_scale: Any) -> np.ndarray:
    """32-bit bias on the product scale ``S_w·S_a`` (float32 product, reciprocal multiply)."""
    s = np.asarray(weight_scale_, np.float32) * np.float32(act_scale)
    q = np.round((np.float32(1) / s) * np.asarray(b, np.float32))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.float64)


def conv2d_int(x_int: Any, w_int: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Exact integer conv (int64 accumulation), NHWC × HWIO, PyTorch-style symmetric ``padding``."""
    x = np.asarray(x_int).astype(np.int64)
    w = np.asarray(w_int).astype(np.int64)
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    kh, kw = w.shape[:2]
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # N,Ho,Wo,C,kh,kw
    return np.einsum("nhwcij,ijco->nhwo", win, w, optimize=True)


def folded_conv_accumulator(x_int: Any, w_int: Any, b_int: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    """INT32 accumulator ``conv(x_int, W_int) + b_int`` (as int64)."""
    return conv2d_int(x_int, w_int, stride, padding) + np.asarray(b_int).astype(np.int64)


def unfolded_train_step(
    x: Any, kernel: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, *,
    bits: int = 8, stride: int = 1, padding: int = 0, eps: float = 1e-5, momentum: float = 0.99,
) -> dict[str, np.ndarray]:
    """``fix_BN=False`` path: conv of the float input with the per-channel-quantized unfolded kernel
    times ``S_w``, batch mean and unbiased variance over N,H,W, running stats
    ``new = m·old + (1-m)·batch``, output ``γ(z-μ)/sqrt(var+eps) + β`` and returned scale ``S_w·γ/sqrt(var+eps)``."""
    w_int, s_w = quantize_weight(kernel, bits)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    kh, kw = w_int.shape[:2]
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    z = (np.einsum("nhwcij,ijco->nhwo", win, w_int.astype(np.float64)) * s_w.astype(np.float64)).astype(np.float32)
    mean = z.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    var = z.var(axis=(0, 1, 2), ddof=1, dtype=np.float64).astype(np.float32)
    m, r = np.float32(momentum), np.float32(1 - momentum)
    sigma = np.sqrt(var + np.float32(eps))
    gamma = np.asarray(gamma, np.float32)
    return {
        "output": (gamma * (z - mean) / sigma + np.asarray(beta, np.float32)).astype(np.float32),
        "returned_scale": (s_w * gamma / sigma).astype(np.float32),
        "running_mean": (np.asarray(running_mean, np.float32) * m + mean * r).astype(np.float32),
        "running_var": (np.asarray(running_var, np.float32) * m + var * r).astype(np.float32),
    }


__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "conv2d_int",
    "fold_bn",
    "folded_conv_accumulator",
    "quantize_bias",
    "quantize_weight",
    "unfolded_train_step",
    "weight_scale",
]
