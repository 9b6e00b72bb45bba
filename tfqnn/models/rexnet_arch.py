"""ReXNet / ReXNet-lite channel configuration rule, computed as data (no Keras here).

Han et al., "Rethinking Channel Dimensions for Efficient Model Design", CVPR 2021, §4 (the
linear channel-growth rule), as implemented by ``clovaai/rexnet`` (``ReXNetV1``,
``ReXNetV1_lite``); spec ``rexnet.md`` §2.2-2.3 and §3.

ReXNet v1, width w, N blocks, Δ = final_ch / N, a₀ = 16/w (w < 1) or 16:
``out_0 = round(a₀·w)``; for i ≥ 1: ``in_i = round(a·w)``, ``a ← a + Δ``, ``out_i = round(a·w)``,
with Python's half-to-even ``round`` and ``a`` accumulated in float64 block by block (the closed
form differs at w = 0.6). ``pen = int(1280·w)``. ReXNet-lite: Δ = final_ch / (N − 1) and every
width passes through ``make_divisible(·, 8)``; ``pen = 1280`` unless w > 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tfqnn.errors import ConfigError

#: (blocks n, stride of the first block, expansion t, SE) per stage (spec §2.2). Block 0 has t = 1.
STAGES: tuple[tuple[int, int, int, bool], ...] = (
    (1, 1, 1, False),
    (2, 2, 6, False),
    (2, 2, 6, True),
    (3, 2, 6, True),
    (3, 1, 6, True),
    (5, 2, 6, True),
)


@dataclass(frozen=True)
class BlockSpec:
    """One linear-bottleneck block; field names follow ``configs.json``."""

    in_ch: int
    out_ch: int
    t: int
    dw_ch: int
    kernel: int
    stride: int
    use_se: bool
    se_ch: int
    shortcut: bool


@dataclass(frozen=True)
class RexnetArch:
    """The whole channel table of one variant."""

    family: str  # "rexnet" | "rexnet_lite"
    stem_ch: int
    pen_ch: int
    hidden: int | None  # lite head width (1024) or None
    blocks: tuple[BlockSpec, ...]

    def block_dicts(self) -> list[dict[str, Any]]:
        return [asdict(b) for b in self.blocks]


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet rounding: nearest multiple of ``divisor`` (≥ divisor), never below 90 % of ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _check_width(width_mult: float) -> None:
    if not isinstance(width_mult, (int, float)) or isinstance(width_mult, bool) or not width_mult > 0:
        raise ConfigError(f"ReXNet width_mult must be a number > 0, got {width_mult!r}")


def _stage_layout(depth_mult: float, small_input: bool) -> list[tuple[int, int, bool, int]]:
    """Flat list of (stride, t, se, stage index) per block; ``n_stage = ceil(n·depth_mult)``."""
    if not depth_mult > 0:
        raise ConfigError(f"ReXNet depth_mult must be > 0, got {depth_mult!r}")
    flat = []
    for stage, (n, stride, t, se) in enumerate(STAGES):
        if small_input and stage == 1:
            stride = 1  # CIFAR variant: overall stride 8 (spec §5.2)
        for i in range(math.ceil(n * depth_mult)):
            flat.append((stride if i == 0 else 1, t, se, stage))
    return flat


def _blocks(ins: list[int], outs: list[int], layout: list, kernels: list[int], use_se: bool, se_ratio: int) -> tuple[BlockSpec, ...]:
    blocks = []
    for (stride, t, se, stage), cin, cout in zip(layout, ins, outs):
        dw = cin * t
        has_se = bool(se and use_se)
        blocks.append(BlockSpec(cin, cout, t, dw, kernels[stage], stride, has_se, dw // se_ratio if has_se else 0,
                                stride == 1 and cin <= cout))
    return tuple(blocks)


def rexnet_arch(width_mult: float = 1.0, depth_mult: float = 1.0, *, input_ch: int = 16, final_ch: int = 180,
                use_se: bool = True, se_ratio: int = 12, small_input: bool = False) -> RexnetArch:
    """ReXNet v1 channel table (``ReXNetV1``; spec §2.3)."""
    _check_width(width_mult)
    w = float(width_mult)
    layout = _stage_layout(depth_mult, small_input)
    n = len(layout)
    a = input_ch / w if w < 1.0 else float(input_ch)
    stem = round(32 / w * w) if w < 1.0 else round(32 * w)
    ins, outs = [], []
    for i in range(n):
        if i == 0:
            ins.append(stem)
        else:
            ins.append(round(a * w))
            a += final_ch / n
        outs.append(round(a * w))
    blocks = _blocks(ins, outs, layout, [3] * len(STAGES), use_se, se_ratio)
    return RexnetArch("rexnet", stem, int(1280 * w), None, blocks)


def rexnet_lite_arch(width_mult: float = 1.0, *, input_ch: int = 16, final_ch: int = 164, kernel_conf: str = "333333",
                     fix_head_stem: bool = False, divisible_value: int = 8, small_input: bool = False) -> RexnetArch:
    """ReXNet-lite channel table (``ReXNetV1_lite``, ``multiplier = width_mult``; spec §3)."""
    _check_width(width_mult)
    if len(str(kernel_conf)) != len(STAGES) or not str(kernel_conf).isdigit() or any(int(k) % 2 == 0 for k in str(kernel_conf)):
        raise ConfigError(f"ReXNet-lite kernel_conf must be {len(STAGES)} odd digits (one per stage), got {kernel_conf!r}")
    m = float(width_mult)
    layout = _stage_layout(1.0, small_input)
    n = len(layout)

    def mdiv(v: float) -> int:
        return make_divisible(v, divisible_value)

    a = input_ch / m if m < 1.0 else float(input_ch)
    stem = mdiv(round(32 / m * m)) if (m < 1.0 or fix_head_stem) else mdiv(round(32 * m))
    ins, outs = [], []
    for i in range(n):
        if i == 0:
            ins.append(stem)
        else:
            ins.append(mdiv(round(a * m)))
            a += final_ch / (n - 1)
        outs.append(mdiv(round(a * m)))
    blocks = _blocks(ins, outs, layout, [int(k) for k in str(kernel_conf)], False, 1)
    pen = int(1280 * m) if (m > 1.0 and not fix_head_stem) else 1280
    return RexnetArch("rexnet_lite", stem, pen, 1024, blocks)
