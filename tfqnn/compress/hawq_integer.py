"""Integer-only inference of one HAWQ-V3 residual unit (Yao et al., ICML 2021, §3.1-3.3, Fig. 1;
spec ``hawq.md`` §3.3), built from :mod:`tfqnn.compress.dyadic` and :mod:`tfqnn.compress.bn_folding`.

Wiring (``q_resnet.py``): ``quant_act`` (requant of the 16-bit input, weight scale 1) →
``quant_convbn1`` → ReLU → ``quant_act1`` → ``quant_convbn2`` [→ ReLU → ``quant_act2`` →
``quant_convbn3``] ; identity = ``quant_identity_convbn(quant_act)`` or the 16-bit block input;
``quant_act_int32`` = two-term dyadic residual requantization (no clamp) → ReLU.
Every float appearing here is the float32 image ``integer × scale`` that the reference passes
between modules, so each integer tensor is reproduced bit for bit. NHWC / HWIO layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from tfqnn.compress import bn_folding, dyadic
from tfqnn.errors import ConfigError

BLOCK_KINDS = ("basic", "bottleneck")


@dataclass(frozen=True)
class IntegerConv:
    """A folded, quantized conv: ``W_int`` (HWIO), per-channel ``S_w``, ``b_int``, geometry."""

    w_int: np.ndarray
    s_w: np.ndarray
    b_int: np.ndarray
    stride: int = 1
    padding: int = 0

    def image(self, x_int: np.ndarray, s_act: float) -> np.ndarray:
        """Float32 image ``acc · (S_w·S_a)`` of the INT32 accumulator (what the reference returns)."""
        acc = bn_folding.folded_conv_accumulator(x_int, self.w_int, self.b_int, self.stride, self.padding)
        return acc.astype(np.float32) * (np.asarray(self.s_w, np.float32) * np.float32(s_act))


def act_mode(bits: int) -> str:
    return "asymmetric" if bits == 4 else "symmetric"


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0)).astype(np.float32)


def integer_residual_block(
    x_int: np.ndarray | None,
    input_scale: float,
    kind: str,
    convs: Mapping[str, IntegerConv] | Callable[[str, float], IntegerConv],
    act_scales: Mapping[str, float] | Callable[[str, np.ndarray], float],
    act_bits: Mapping[str, int],
    *,
    resize_identity: bool | None = None,
    x_float: np.ndarray | None = None,
) -> dict[str, Any]:
    """Run one unit on the 16-bit input grid ``x_int``; return every QuantAct integer tensor
    (``quant_act``, ``quant_act1``, [``quant_act2``], ``quant_act_int32`` = residual sum before the
    final ReLU), ``output`` (float32, after the ReLU) and ``output_scale``.

    ``convs`` keys: ``quant_convbn1``, ``quant_convbn2``, [``quant_convbn3``], optional
    ``quant_identity_convbn``; ``act_scales``/``act_bits`` keys: the QuantAct names.
    Calibration (ranges moving while data flows): ``act_scales(name, float_input) -> scale`` and
    ``convs(name, input_act_scale) -> IntegerConv`` (the bias depends on the current input scale);
    then ``resize_identity`` must be given. ``x_float`` replaces ``x_int·input_scale``.
    """
    if kind not in BLOCK_KINDS:
        raise ConfigError(f"unknown residual block kind {kind!r}; valid: {', '.join(BLOCK_KINDS)}")
    s_in = np.float32(input_scale)
    x_float = np.asarray(x_int, np.float32) * s_in if x_float is None else np.asarray(x_float, np.float32)
    out: dict[str, Any] = {}
    scale_of = act_scales if callable(act_scales) else (lambda name, z: act_scales[name])
    conv_of = convs if callable(convs) else (lambda name, s: convs[name])
    if resize_identity is None:
        resize_identity = "quant_identity_convbn" in convs

    def qact(name: str, z: np.ndarray, s_prev: Any, s_w: Any) -> tuple[np.ndarray, np.float32]:
        bits = act_bits[name]
        s_out = np.float32(scale_of(name, z))
        q = dyadic.requantize(z, s_prev, s_w, s_out, bits, act_mode(bits))
        out[name] = q
        return q, s_out

    q, s_a = qact("quant_act", x_float, s_in, np.ones(1, np.float32))
    s_block_act = s_a
    names = ["quant_convbn1", "quant_convbn2"] + (["quant_convbn3"] if kind == "bottleneck" else [])
    acts = ["quant_act1", "quant_act2"]
    h_int, h_scale = q, s_a
    for i, name in enumerate(names):
        conv = conv_of(name, h_scale)
        z = conv.image(h_int, h_scale)
        if i == len(names) - 1:
            last, last_in_scale = conv, h_scale
            break
        h_int, h_scale = qact(acts[i], _relu(z), h_scale, conv.s_w)
    if resize_identity:
        ident_conv = conv_of("quant_identity_convbn", s_block_act)
        identity = ident_conv.image(q, s_block_act)
        s_id_act, s_id_w = s_block_act, ident_conv.s_w
    else:
        identity, s_id_act, s_id_w = x_float, s_in, np.ones(1, np.float32)
    total = (z + identity).astype(np.float32)
    s_out = np.float32(scale_of("quant_act_int32", total))
    q_sum = dyadic.requantize_residual(total, identity, last_in_scale, last.s_w, s_id_act, s_id_w, s_out)
    out["quant_act_int32"] = q_sum
    out["output"] = _relu(q_sum * s_out)
    out["output_scale"] = s_out
    return out


def integer_conv_from_float(
    kernel: Any, bias: Any | None, gamma: Any, beta: Any, mean: Any, var: Any, *,
    bits: int, act_scale: float, stride: int = 1, padding: int = 0, eps: float = 1e-5,
) -> IntegerConv:
    """Fold BN, quantize the folded kernel per channel and the bias at ``S_w·S_a`` (spec §2.5)."""
    w_fold, b_fold = bn_folding.fold_bn(kernel, bias, gamma, beta, mean, var, eps)
    w_int, s_w = bn_folding.quantize_weight(w_fold, bits)
    return IntegerConv(w_int, s_w, bn_folding.quantize_bias(b_fold, s_w, act_scale), stride, padding)


__all__ = ["BLOCK_KINDS", "IntegerConv", "act_mode", "integer_conv_from_float", "integer_residual_block"]
