"""ERN: Efficiera Residual Networks, fully w1a2 ResNets (Takahashi et al., arXiv:2410.11553; LeapMind/ERN).

Layout (``specs/ern.md`` §2; PyTorch padding, NHWC, input = raw pixels 0..255, no normalisation)::

    input → pixel_embedding (3 → 30 levels)
    stem:  conv1 3×3/s → bn1 → [HWGQ] conv2 3×3 → bn2 → [HWGQ] conv_downsample 3×3/s → bn_downsample
           → [HWGQ] conv1_2 1×1                                   (no BN/activation after conv1_2)
    stages of pre-activation blocks (integer-valued residual stream on the 1/32 grid, §3.5):
      PreActBlock:      t = HWGQ(bn0(x)); sc = shortcut_conv(t) | x; out = conv2(HWGQ_int(bn1(conv1(t)))) + sc
      PreActBottleneck: t = HWGQ(bn1(x)); sc = shortcut_conv(t) | x;
                        out = conv3(HWGQ_int(bn3(conv2(HWGQ(bn2(conv1(t))))))) + sc
    head: post_bn → [HWGQ] classifier 1×1 conv (no bias) → global average pool → logits

Every conv is a Larq ``QuantConv2D`` with binary weights (``BinaryChannelWiseMeanScaling``, or
``BinaryPower2Scaling`` for the two convs that feed the residual add) and a 2-bit ``HWGQ``
*input quantizer* ("[HWGQ]" above). The HWGQ before a block's first conv is integer-valued
(``post_scale=False``) exactly in the blocks that own the 1×1 shortcut conv (the first block of each
stage, for PreActBlock nets even in stage 1), post-scaled elsewhere. The first conv's input quantizer is
``HWGQ(max_value=3, post_scale=False)``: the identity on the pixel embedding's levels 0..3, so every conv
of the network is a "binary weight × k-bit unsigned input" conv that ``converters/bitplanes.py`` maps to
LCE binary kernels. EWGS δ is applied where the reference applies it (§1.6): stem convs/activations,
shortcut convs, the last activation and the classifier; ``ewgs_reach="all"`` applies it everywhere.

Layer names: ``pixel_embedding``, ``stem_{conv1,bn1,pad1,conv2,bn2,pad2,conv_downsample,bn_downsample,
pad_downsample,conv1_2}``, ``stage{s}_block{b}_{bn0,pad1,conv1,bn1,pad2,conv2,shortcut_conv,add}``
(bottleneck: ``bn1,conv1,bn2,pad2,conv2,bn3,conv3``), ``post_bn``, ``classifier``, ``global_pool``.
"""
from __future__ import annotations

from typing import Any, Sequence

from tfqnn.keras import keras

import larq as lq  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.layers.pixel_embedding import PixelEmbedding  # noqa: E402
from tfqnn.models.resnet import _check_positive, default_norm, torch_pad  # noqa: E402
from tfqnn.quantizers.binary import BinaryChannelWiseMeanScaling, BinaryPower2Scaling, LatentWeightsUnclipped  # noqa: E402
from tfqnn.quantizers.uniform import HWGQ  # noqa: E402
from tfqnn.registry import register_model  # noqa: E402

Tensor = Any

#: depth → block kind and blocks per stage (spec §2.4).
ERN_CONFIGS: dict[int, dict[str, Any]] = {
    18: {"block": "basic", "blocks": (2, 2, 2, 2)},
    34: {"block": "basic", "blocks": (3, 4, 6, 3)},
    50: {"block": "bottleneck", "blocks": (3, 4, 6, 3)},
    101: {"block": "bottleneck", "blocks": (3, 4, 23, 3)},
}
EWGS_REACH = ("reference", "all")
STEM_WIDTH = 64
EXPANSION = {"basic": 1, "bottleneck": 4}


class _Factory:
    """Creates the quantized convs/activations of one network with its EWGS settings."""

    def __init__(self, ewgs_delta: float, ewgs_reach: str, weight_decay: float = 0.0) -> None:
        if ewgs_reach not in EWGS_REACH:
            raise ConfigError(f"unknown ewgs_reach {ewgs_reach!r}; valid: {', '.join(EWGS_REACH)}")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ConfigError(f"ERN weight_decay must be a non-negative number, got {weight_decay!r}")
        self.delta = float(ewgs_delta)
        # PyTorch's coupled Adam L2 adds wd·w to the gradient; Keras' l2(λ) adds 2λw → λ = wd / 2 (spec pitfall 16)
        self.regularizer = keras.regularizers.l2(weight_decay / 2.0) if weight_decay > 0 else None
        self.everywhere = ewgs_reach == "all"

    def _d(self, reference_uses_ewgs: bool) -> float:
        return self.delta if (reference_uses_ewgs or self.everywhere) else 0.0

    def act(self, *, post_scale: bool, ewgs: bool, max_value: float = 2.0) -> HWGQ:
        return HWGQ(bits=2, max_value=max_value, post_scale=post_scale, ewgs_delta=self._d(ewgs))

    def conv(self, x: Tensor, filters: int, kernel_size: int, stride: int, name: str, *, input_quantizer: HWGQ,
             power2: bool = False, ewgs: bool = False, pad_name: str | None = None) -> Tensor:
        """Binary-weight conv with PyTorch padding ``k // 2`` (explicit ``ZeroPadding2D`` + "valid")."""
        if kernel_size > 1:
            x = torch_pad(x, kernel_size, stride, pad_name or f"{name}_pad")
        kq = BinaryPower2Scaling(ewgs_delta=self._d(ewgs)) if power2 else BinaryChannelWiseMeanScaling(ewgs_delta=self._d(ewgs))
        layer = lq.layers.QuantConv2D(
            filters, kernel_size, strides=stride, padding="valid", use_bias=False,
            input_quantizer=input_quantizer, kernel_quantizer=kq, kernel_constraint=LatentWeightsUnclipped(),
            kernel_regularizer=self.regularizer,
            kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),  # PyTorch default
            name=name,
        )
        return layer(x)


def ern_stem(x: Tensor, f: _Factory, strides: Sequence[int]) -> Tensor:
    """Stem of spec §2.1: three 3×3 convs (strides ``strides[0]``, 1, ``strides[1]``) + 1×1 conv1_2."""
    x = f.conv(x, STEM_WIDTH, 3, strides[0], "stem_conv1", pad_name="stem_pad1", ewgs=True,
               input_quantizer=f.act(post_scale=False, max_value=3.0, ewgs=True))
    x = default_norm("stem_bn1")(x)
    x = f.conv(x, STEM_WIDTH, 3, 1, "stem_conv2", pad_name="stem_pad2", ewgs=True,
               input_quantizer=f.act(post_scale=True, ewgs=True))
    x = default_norm("stem_bn2")(x)
    x = f.conv(x, STEM_WIDTH, 3, strides[1], "stem_conv_downsample", pad_name="stem_pad_downsample", ewgs=True,
               input_quantizer=f.act(post_scale=True, ewgs=True))
    x = default_norm("stem_bn_downsample")(x)
    return f.conv(x, STEM_WIDTH, 1, 1, "stem_conv1_2", ewgs=True, input_quantizer=f.act(post_scale=True, ewgs=True))


def ern_basic_block(x: Tensor, filters: int, stride: int, name: str, f: _Factory, shortcut_conv: bool) -> Tensor:
    """``PreActBlock`` (spec §2.2)."""
    t = default_norm(f"{name}_bn0")(x)
    q0 = f.act(post_scale=not shortcut_conv, ewgs=False)
    if shortcut_conv:
        sc = f.conv(t, filters, 1, stride, f"{name}_shortcut_conv", power2=True, ewgs=True,
                    input_quantizer=f.act(post_scale=False, ewgs=False))
    else:
        sc = x
    r = f.conv(t, filters, 3, stride, f"{name}_conv1", pad_name=f"{name}_pad1", input_quantizer=q0)
    r = default_norm(f"{name}_bn1")(r)
    r = f.conv(r, filters, 3, 1, f"{name}_conv2", pad_name=f"{name}_pad2", power2=True,
               input_quantizer=f.act(post_scale=False, ewgs=False))
    return keras.layers.Add(name=f"{name}_add")([r, sc])


def ern_bottleneck_block(x: Tensor, filters: int, stride: int, name: str, f: _Factory, shortcut_conv: bool) -> Tensor:
    """``PreActBottleneck`` (spec §2.3): stride on the 3×3 conv and on the shortcut."""
    out = filters * EXPANSION["bottleneck"]
    t = default_norm(f"{name}_bn1")(x)
    if shortcut_conv:
        sc = f.conv(t, out, 1, stride, f"{name}_shortcut_conv", power2=True, ewgs=True,
                    input_quantizer=f.act(post_scale=False, ewgs=False))
    else:
        sc = x
    r = f.conv(t, filters, 1, 1, f"{name}_conv1", input_quantizer=f.act(post_scale=not shortcut_conv, ewgs=False))
    r = default_norm(f"{name}_bn2")(r)
    r = f.conv(r, filters, 3, stride, f"{name}_conv2", pad_name=f"{name}_pad2",
               input_quantizer=f.act(post_scale=True, ewgs=False))
    r = default_norm(f"{name}_bn3")(r)
    r = f.conv(r, out, 1, 1, f"{name}_conv3", power2=True, input_quantizer=f.act(post_scale=False, ewgs=False))
    return keras.layers.Add(name=f"{name}_add")([r, sc])


_BLOCKS = {"basic": ern_basic_block, "bottleneck": ern_bottleneck_block}


@register_model("ern101", family="ern", description="ERNs101 (w1a2, bottleneck 3-4-23-3)", depth=101)
@register_model("ern50", family="ern", description="ERNs50 (w1a2, bottleneck 3-4-6-3)", depth=50)
@register_model("ern34", family="ern", description="ERNs34 (w1a2, basic 3-4-6-3)", depth=34)
@register_model("ern18", family="ern", description="ERNs18 (w1a2, basic 2-2-2-2)", depth=18, ewgs_delta=0.0)
@register_model("ern18_075x", family="ern", description="ERNs18-0.75x (w1a2, stage-4 width 384)", depth=18,
                last_channels=384)
def ern(
    depth: int = 18,
    *,
    num_classes: int = 1000,
    input_shape: Sequence[int | None] = (256, 256, 3),
    ewgs_delta: float = 0.01,
    ewgs_reach: str = "reference",
    blocks: Sequence[int] | None = None,
    last_channels: int | None = None,
    stem_strides: Sequence[int] = (2, 2),
    weight_decay: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """Efficiera Residual Network (spec §2) on raw pixels; outputs logits.

    Args:
        depth: 18, 34 (PreActBlock) or 50, 101 (PreActBottleneck).
        num_classes: classifier outputs (1000 ImageNet, 10 CIFAR-10, 200 Tiny-ImageNet).
        input_shape: (H, W, 3) raw pixels 0..255 (256² ImageNet, 32² CIFAR, 64² Tiny-ImageNet).
        ewgs_delta: EWGS δ (0.01 in the best configs, 0 for ERNs18).
        ewgs_reach: "reference" (δ only where the reference applies it, spec §1.6) or "all".
        blocks: blocks per stage, overriding the depth's (e.g. ``[2, 1, 1, 1]``).
        last_channels: width of stage 4 *output* (384 for ERNs18-0.75x; PreActBlock nets only).
        stem_strides: strides of stem conv1 and conv_downsample ((2, 2) reference; (1, 1) is a
            documented deviation for 32×32 inputs, spec §3.2).
        weight_decay: coupled L2 on conv kernels only (the reference's Adam ``weight_decay``; BN γ/β excluded),
            as ``kernel_regularizer=l2(weight_decay / 2)``. Leave ``training.optimizer.weight_decay`` at 0.
    """
    if depth not in ERN_CONFIGS:
        raise ConfigError(f"unknown ERN depth {depth!r}; valid: {', '.join(map(str, ERN_CONFIGS))}")
    _check_positive("num_classes", num_classes)
    cfg = ERN_CONFIGS[depth]
    kind = cfg["block"]
    blocks = tuple(cfg["blocks"] if blocks is None else blocks)
    if len(blocks) != 4 or any(not isinstance(b, int) or b < 1 for b in blocks):
        raise ConfigError(f"ERN blocks must be 4 positive integers, got {blocks!r}")
    if len(stem_strides) != 2 or any(s not in (1, 2) for s in stem_strides):
        raise ConfigError(f"ERN stem_strides must be two values in (1, 2), got {stem_strides!r}")
    widths = [64, 128, 256, 512]
    if last_channels is not None:
        if kind != "basic":
            raise ConfigError("ERN last_channels applies to PreActBlock nets (depth 18/34) only")
        _check_positive("last_channels", last_channels)
        widths[3] = last_channels
    f = _Factory(ewgs_delta, ewgs_reach, weight_decay)
    block = _BLOCKS[kind]
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = PixelEmbedding(name="pixel_embedding")(inputs)
    x = ern_stem(x, f, stem_strides)
    for s, (n, w) in enumerate(zip(blocks, widths), start=1):
        for b in range(1, n + 1):
            stride = 1 if (s == 1 or b > 1) else 2
            x = block(x, w, stride, f"stage{s}_block{b}", f, shortcut_conv=(b == 1))
    x = default_norm("post_bn")(x)
    x = f.conv(x, num_classes, 1, 1, "classifier", ewgs=True, input_quantizer=f.act(post_scale=True, ewgs=True))
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    default = {18: "ern18", 34: "ern34", 50: "ern50", 101: "ern101"}[depth]
    if last_channels is not None and depth == 18 and last_channels == 384:
        default = "ern18_075x"
    return keras.Model(inputs, x, name=name or default)


__all__ = ["ERN_CONFIGS", "ern", "ern_basic_block", "ern_bottleneck_block", "ern_stem"]
