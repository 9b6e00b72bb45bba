"""MicroNet-challenge accounting of the EC2T authors' scoring script, quirks included.

Pure-Python arithmetic of [MC] ``model_scoring/main_scoring.py`` (spec ``ec2t.md`` §3.2, pitfall P14):
per-part ``(params, scoring_params, megabytes, mflop)`` for the MicroNet parts (stem, shortcut
convs, ternary block convs, FC) and the EfficientNet parts (stem, expand, depthwise, SE reduce/expand,
project, head, FC, residual adds). Every op count becomes ``count·bits/32/1e6`` MFLOP; each part's
scoring params are floored (``int()``); output sizes use ``ceil((ceil(S·div) + 2p − k)/stride + 1)``.
The model-facing entry point is :mod:`tfqnn.metrics.micronet_score`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

BITS_BASE = 32


@dataclass(frozen=True)
class Part:
    """One counting call: parameters, scoring parameters (floored), megabytes, MFLOP."""

    params: int
    scoring_params: int
    megabytes: float
    mflop: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConvSpec:
    """A conv / linear weight as the script sees it (PyTorch channel counts, real stride)."""

    c_in: int
    c_out: int
    k: int = 1
    stride: int = 1
    numel: int = 0
    nnz: int = 0


@dataclass(frozen=True)
class TernarySpec:
    """A MicroNet ternary layer after dead-channel removal (spec §3.2)."""

    c_in: int
    c_out: int
    k: int
    numel: int
    alive_in: int
    alive_out: int
    nnz_alive: int


def out_size(image_size: float, div: float, k: int, stride: int, padding: int) -> float:
    """``ceil((ceil(S·div) + 2p − k)/stride + 1)`` (the script's ceil-based size)."""
    return float(np.ceil(((np.ceil(image_size * div) + (2 * padding) - k) / stride) + 1))


def _mflop(count: float, bits: int) -> float:
    return count * bits / BITS_BASE / 1e6


# --------------------------------------------------------------------------- MicroNet (CIFAR)
def count_stem(conv: ConvSpec, image_size: int, num_bits: int, mul_bits: int, add_bits: int) -> Part:
    """First conv + BN bias + ReLU (``count_conv``): stride 1, padding k//2."""
    padding = conv.k // 2
    vector = conv.k * conv.k * conv.c_in
    n_out = int(out_size(image_size, 1, conv.k, 1, padding) ** 2 * conv.c_out)
    mults = _mflop(vector * n_out, mul_bits) + _mflop(n_out, mul_bits)
    adds = _mflop((vector - 1) * n_out, add_bits) + _mflop(n_out, add_bits)
    scoring = conv.numel * num_bits / BITS_BASE + conv.c_out * num_bits / BITS_BASE
    bits = conv.numel * num_bits + conv.c_out * num_bits
    return Part(conv.numel + conv.c_out, int(scoring), bits / 8 / 1e6, mults + adds)


def count_shortcuts(convs: Sequence[ConvSpec], image_size: int, num_bits: int, mul_bits: int, add_bits: int) -> Part:
    """1×1 stride-2 shortcut convs + BN bias; the i-th input size is ``S/2^i`` (→ 17 and 9 px at 32)."""
    div = 1.0
    f_mults = f_adds = f_bn = 0
    numels = bn = 0
    for i, conv in enumerate(convs):
        if i > 0:
            div /= 2
        vector = conv.k * conv.k * conv.c_in
        n_out = int(out_size(image_size, div, conv.k, 2, 0) ** 2 * conv.c_out)
        f_mults += vector * n_out
        f_adds += (vector - 1) * n_out
        f_bn += n_out
        numels += conv.numel
        bn += conv.c_out
    scoring = numels * num_bits / BITS_BASE + bn * num_bits / BITS_BASE
    mflop = _mflop(f_mults, mul_bits) + (_mflop(f_adds, add_bits) + _mflop(f_bn, add_bits))
    return Part(numels + bn, int(scoring), (numels * num_bits + bn * num_bits) / 8 / 1e6, mflop)


def ternary_specs_from_kernels(kernels_oihw: Sequence[np.ndarray]) -> list[TernarySpec]:
    """Dead-channel bookkeeping over the ternary layers in order (spec §3.2).

    Dead output channel: ``kernel[o].sum() == 0``. Input channels of layer i that are dead outputs of
    layer i−1 are removed (across block boundaries; the residual path is ignored).
    """
    specs: list[TernarySpec] = []
    prev_dead: set[int] = set()
    for w in kernels_oihw:
        w = np.asarray(w)
        c_out, c_in, k = w.shape[0], w.shape[1], w.shape[2]
        dead = {o for o in range(c_out) if w[o].sum() == 0}
        alive_in = [i for i in range(c_in) if i not in prev_dead]
        alive_out = [o for o in range(c_out) if o not in dead]
        sub = w[np.ix_(alive_out, alive_in)] if alive_out and alive_in else w[:0]
        specs.append(TernarySpec(c_in, c_out, k, int(w.size), len(alive_in), len(alive_out), int(np.count_nonzero(sub))))
        prev_dead = dead
    return specs


def count_ternary_blocks(layers: Sequence[TernarySpec], image_size: int, num_bits: int, mul_bits: int, add_bits: int) -> Part:
    """Ternary block convs (``count_sparse_conv``): masks + centroids, BN biases, ops with the quirks.

    Stride 2 iff ``c_in != c_out`` and then the input size is halved *before* counting; residual adds
    are computed by the script but never added (omitted here); final ReLU + global average pool added.
    """
    div = 1.0
    f_mults = f_adds = f_bn = f_relu = 0.0
    t_scoring = 0.0
    t_bits = 0
    bn_alive = 0
    params = 0
    n_out = 0
    alive_out = 0
    for i, l in enumerate(layers):
        padding = {3: 1, 5: 2}.get(l.k, 0)
        if l.c_in == l.c_out:
            stride = 1
        else:
            stride = 2
            div /= 2
        n_eff = l.alive_in * l.alive_out * l.k ** 2
        sparsity = 1 - (l.nnz_alive / n_eff)
        t_bits += 2 * n_eff + 2 * num_bits
        t_scoring += 2 * n_eff / BITS_BASE + 2 * num_bits / BITS_BASE
        vector = (l.k * l.k * l.alive_in) * (1 - sparsity)
        n_out = int(out_size(image_size, div, l.k, stride, padding) ** 2 * l.alive_out)
        f_mults += 2 * n_out
        f_adds += (vector - 1) * n_out
        params += l.numel
        if i % 2 == 0:
            bn_alive += l.alive_in + l.alive_out
            params += 2 * l.c_in + 2 * l.c_out
            f_bn += n_out
            f_relu += n_out
        else:
            bn_alive += l.alive_out
            params += 2 * l.c_out
            f_bn += 2 * n_out
        alive_out = l.alive_out
    f_relu += n_out
    pool_mults = alive_out
    pool_adds = (np.ceil(image_size * div) ** 2 - 1) * alive_out
    bn_scoring = bn_alive * num_bits / BITS_BASE
    mults = _mflop(f_mults, mul_bits)
    mults += _mflop(f_relu, mul_bits)
    mults += _mflop(pool_mults, mul_bits)
    adds = _mflop(f_adds, add_bits)
    adds += _mflop(f_bn, add_bits)
    adds += _mflop(pool_adds, add_bits)
    bits = t_bits + bn_alive * num_bits
    return Part(params, int(t_scoring + bn_scoring), bits / 8 / 1e6, float(mults + adds))


def count_fc(fc: ConvSpec, num_bits: int, mul_bits: int, add_bits: int) -> Part:
    """Dense FC + bias (``count_fc``; sparsity ignored)."""
    scoring = fc.numel * num_bits / BITS_BASE + fc.c_out * num_bits / BITS_BASE
    mults = _mflop(fc.c_in * fc.c_out, mul_bits)
    adds = _mflop((fc.c_in - 1) * fc.c_out, add_bits) + _mflop(fc.c_out, add_bits)
    return Part(fc.numel + fc.c_out, int(scoring), (fc.numel * num_bits + fc.c_out * num_bits) / 8 / 1e6, mults + adds)


# --------------------------------------------------------------------------- EfficientNet (ImageNet)
EFFNET_PART_ACTIVATION = {
    "conv_stem": "swish",
    "expand_conv": "swish",
    "depthwise_conv": "swish",
    "se_reduce_conv": "swish",
    "se_expand_conv": "sigmoid",
    "project_conv": None,
    "conv_head": "swish",
}
EFFNET_TERNARY_PARTS = ("expand_conv", "project_conv", "conv_head")
#: EfficientNet-B1/B2 resolution halvings in the script: (non-expand layer indices, expand indices, block indices).
B1_HALVINGS = ((2, 5, 8, 16), (0, 3, 6, 14), (2, 5, 8, 16))


def count_efficientnet_convs(layer_type: str, convs: Sequence[ConvSpec], image_size: int, num_bits: int, mul_bits: int, add_bits: int,
                             halvings: tuple = B1_HALVINGS) -> Part:
    """One EfficientNet layer type (``count_efficientnet_convs``); padding counted as 0."""
    ternary = layer_type in EFFNET_TERNARY_PARTS
    activation = EFFNET_PART_ACTIVATION[layer_type]
    div = 0.5
    numels = bn = 0
    scoring = 0.0
    bits = 0.0
    f = dict(mc=0.0, ac=0.0, bn=0.0, ma=0.0, aa=0.0, mavg=0.0, aavg=0.0, msc=0.0)
    for i, c in enumerate(convs):
        if layer_type not in ("expand_conv", "conv_stem", "conv_head") and i in halvings[0]:
            div /= 2
        elif layer_type == "expand_conv" and i in halvings[1]:
            div /= 2
        elif layer_type == "conv_stem":
            div *= 2
        elif layer_type == "conv_head":
            div /= 16
        sparsity = 1 - (c.nnz / c.numel)
        numels += c.numel
        if not ternary:
            count = c.numel * (1 - sparsity)
            mask = c.numel if sparsity > 0 else 0
            bits += count * num_bits + mask
            scoring += count * num_bits / BITS_BASE + mask / BITS_BASE
        else:
            bits += 2 * c.numel + 2 * num_bits
            scoring += 2 * c.numel / BITS_BASE + 2 * num_bits / BITS_BASE
        vector = (c.k * c.k if layer_type == "depthwise_conv" else c.k * c.k * c.c_in) * (1 - sparsity)
        size = out_size(image_size, div, c.k, c.stride, 0)
        n_out = c.c_out if layer_type in ("se_reduce_conv", "se_expand_conv") else int(size ** 2 * c.c_out)
        f["mc"] += 2 * n_out if ternary else vector * n_out
        f["ac"] += (vector - 1) * n_out
        bn += c.c_out
        f["bn"] += n_out
        if activation == "swish":
            f["ma"] += 3 * n_out
            f["aa"] += n_out
        elif activation == "sigmoid":
            f["ma"] += 2 * n_out
            f["aa"] += n_out
        if layer_type == "conv_head":
            f["mavg"] += c.c_out
            f["aavg"] += (size * size - 1) * c.c_out
        if layer_type == "se_reduce_conv":
            f["mavg"] += c.c_in
            f["aavg"] += (size * size - 1) * c.c_in
        if layer_type == "se_expand_conv":
            f["msc"] += size ** 2 * c.c_out
    bits += bn * num_bits
    scoring += bn * num_bits / BITS_BASE
    mults = _mflop(f["mc"], mul_bits)
    mults += _mflop(f["ma"], mul_bits)
    mults += _mflop(f["mavg"], mul_bits)
    mults += _mflop(f["msc"], mul_bits)
    adds = _mflop(f["ac"], add_bits)
    adds += _mflop(f["bn"], add_bits)
    adds += _mflop(f["aa"], add_bits)
    adds += _mflop(f["aavg"], add_bits)
    return Part(numels + bn, int(scoring), bits / 8 / 1e6, float(mults + adds))


def count_efficientnet_fc(fc: ConvSpec, num_bits: int, mul_bits: int, add_bits: int) -> Part:
    """Sparse FC + bias (``count_efficientnet_fc``)."""
    sparsity = 1 - (fc.nnz / fc.numel)
    count = fc.numel * (1 - sparsity)
    mask = fc.numel if sparsity > 0 else 0
    bits = count * num_bits + mask + fc.c_out * num_bits
    scoring = count * num_bits / BITS_BASE + mask / BITS_BASE + fc.c_out * num_bits / BITS_BASE
    mults = _mflop(fc.c_in * (1 - sparsity) * fc.c_out, mul_bits)
    adds = _mflop((fc.c_in * (1 - sparsity) - 1) * fc.c_out, add_bits)
    adds += _mflop(fc.c_out, add_bits)
    return Part(fc.numel + fc.c_out, int(scoring), bits / 8 / 1e6, mults + adds)


def efficientnet_residual_adds(blocks: Sequence[tuple[int, int, bool]], image_size: int, add_bits: int,
                               halvings: tuple = B1_HALVINGS) -> Part:
    """Residual adds: ``(S·div·div)^2 · C_out`` per identity block (``div`` applied twice, quirk).

    ``blocks``: ``(c_in, c_out, is_repeat)`` per block; the script's ``stride == 1`` test is only true
    for repeated blocks (the first block of a stage holds its stride as a list).
    """
    div = 0.5
    adds = 0.0
    for i, (c_in, c_out, repeat) in enumerate(blocks):
        if i in halvings[2]:
            div /= 2
        size = image_size * div
        if repeat and c_in == c_out:
            adds += (size * div) ** 2 * c_out
    return Part(0, 0, 0.0, adds * add_bits / BITS_BASE / 1e6)


def score(scoring_params: float, mflop: float, task: str) -> float:
    """``SP/P_base + ops/O_base`` with the script's baselines (CIFAR-100: 36.5M, 10.49B; ImageNet: 6.9M, 1170M)."""
    if task == "cifar100":
        return scoring_params / 1e6 / 36.5 + mflop / (10.49 * 1e3)
    if task == "imagenet":
        return scoring_params / 1e6 / 6.9 + mflop / 1170
    raise ValueError(task)


def total(parts: dict[str, Part]) -> Part:
    return Part(
        sum(p.params for p in parts.values()),
        sum(p.scoring_params for p in parts.values()),
        sum(p.megabytes for p in parts.values()),
        math.fsum(p.mflop for p in parts.values()),
    )
