"""Shared ResNet builders: CIFAR ResNets (depth 6n+2) and ImageNet ResNet-18…152.

References:
  * He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
    (basic / bottleneck blocks; §4.2 the CIFAR-10 nets with option-A/B shortcuts).
  * He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
    (pre-activation blocks).

The block functions are public and parameterised so other families extend them instead of
copying: ``conv`` / ``norm`` / ``act`` are layer factories (ERN passes Larq ``QuantConv2D``),
``residual_hook`` transforms the residual branch just before the add (ε-ResNet's gate), and
:func:`build_resnet` assembles any stage specification.

Layer names are deterministic (weights, bit configs and compression refer to them):
``input``, ``normalize``, ``stem_{pad,conv,bn,relu,pool_pad,pool}``,
``stage{s}_block{b}_{pad{i},conv{i},bn{i},relu{i},shortcut_conv,shortcut_bn,shortcut_pad,add,out}``
(stages and blocks numbered from 1), ``post_bn``/``post_relu`` (pre-activation nets),
``global_pool``, ``classifier``. Models output logits (no softmax).

Padding: PyTorch pads k×k convs symmetrically by ``k // 2``. TF ``"same"`` matches that only for
stride 1; for stride 2 on even inputs it pads (0, 1). So every strided k×k conv (and the stem
max pool) gets an explicit ``ZeroPadding2D`` named ``..._pad{i}`` followed by a ``"valid"`` conv.
(The stem pool follows a ReLU, so zero padding equals PyTorch's -inf padding there.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.layers.normalization import NormalizationSpec, normalization_layer
from tfqnn.layers.shortcut import ZeroPadShortcut
from tfqnn.registry import register_model

Tensor = Any  # a symbolic Keras tensor
ConvFactory = Callable[..., keras.layers.Layer]
"""``conv(filters, kernel_size, strides, padding, name) -> layer`` (keyword arguments)."""
LayerFactory = Callable[[str], keras.layers.Layer]
"""``norm(name) -> layer`` / ``act(name) -> layer``."""
ResidualHook = Callable[[Tensor, str], Tensor]
"""``hook(residual_branch_output, block_name) -> tensor``, applied right before the add."""
ShortcutFn = Callable[[Tensor, int, int, str], Tensor]
"""``shortcut(x, out_channels, stride, block_name) -> tensor`` used when the shape changes."""

SHORTCUTS = ("A", "B")


# --------------------------------------------------------------------------- factories
def default_conv(filters: int, kernel_size: int, strides: int = 1, padding: str = "same", name: str | None = None) -> keras.layers.Layer:
    """Bias-free ``Conv2D`` with He-normal init (torchvision layout)."""
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, kernel_initializer="he_normal", name=name
    )


def default_norm(name: str) -> keras.layers.Layer:
    """``BatchNormalization`` with PyTorch's defaults (eps 1e-5, momentum 0.1 ≙ Keras 0.9)."""
    return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


def default_act(name: str) -> keras.layers.Layer:
    """``ReLU``."""
    return keras.layers.ReLU(name=name)


# --------------------------------------------------------------------------- small pieces
def torch_padding(size: int | None, kernel_size: int, stride: int, pad: int) -> tuple[int, int]:
    """Explicit (before, after) padding equal to PyTorch's symmetric ``pad`` for one spatial axis.

    PyTorch pads ``pad`` on both sides, but with stride > 1 the last rows of the "after" padding
    may be read by no window; those are trimmed:
    ``after = (out - 1)·stride + kernel_size - size - pad`` with ``out = ⌊(size + 2·pad - k)/stride⌋ + 1``.
    The outputs are identical, and the trimmed form is never mistaken for TF "same" padding by the
    LCE converter's pad-fusion pass (whose same-padding test ignores the stride: with (1, 1) around
    a stride-2 3×3 conv on an even input it fuses to TF "same" = (0, 1) and shifts the output).
    """
    if size is None:
        return pad, pad
    out = (size + 2 * pad - kernel_size) // stride + 1
    return pad, max(0, (out - 1) * stride + kernel_size - size - pad)


def torch_pad(x: Tensor, kernel_size: int, stride: int, name: str) -> Tensor:
    """``ZeroPadding2D`` (named ``name``) reproducing PyTorch's ``padding=kernel_size // 2``."""
    pads = tuple(torch_padding(x.shape[axis], kernel_size, stride, kernel_size // 2) for axis in (1, 2))
    return keras.layers.ZeroPadding2D(pads, name=name)(x)


def padded_conv(
    x: Tensor,
    filters: int,
    kernel_size: int,
    stride: int,
    name: str,
    pad_name: str,
    *,
    conv: ConvFactory = default_conv,
    explicit_padding: bool = False,
) -> Tensor:
    """A k×k conv with PyTorch's symmetric ``k // 2`` padding.

    Strided k×k convs (and all k>1 convs when ``explicit_padding``) use ``ZeroPadding2D``
    (named ``pad_name``, see :func:`torch_pad`) + ``"valid"``; stride-1 convs use ``"same"``;
    1×1 convs ``"valid"``.
    """
    if kernel_size > 1 and (stride > 1 or explicit_padding):
        x = torch_pad(x, kernel_size, stride, pad_name)
        padding = "valid"
    else:
        padding = "same" if kernel_size > 1 else "valid"
    return conv(filters=filters, kernel_size=kernel_size, strides=stride, padding=padding, name=name)(x)


def _channels(x: Tensor) -> int:
    return int(x.shape[-1])


def projection_or_identity(
    x: Tensor,
    out_channels: int,
    stride: int,
    name: str,
    shortcut: str | ShortcutFn,
    *,
    conv_factory: ConvFactory = default_conv,
    norm: LayerFactory | None = default_norm,
) -> Tensor:
    """The shortcut of a block: identity if the shape is unchanged, else option A/B/callable.

    Option "A": :class:`ZeroPadShortcut` (``{name}_shortcut_pad``). Option "B": 1×1 conv with
    the block's stride (``{name}_shortcut_conv``), followed by ``norm`` (``{name}_shortcut_bn``)
    unless ``norm`` is None (pre-activation nets use a bare conv).
    """
    if stride == 1 and _channels(x) == out_channels:
        return x
    if callable(shortcut):
        return shortcut(x, out_channels, stride, name)
    if shortcut == "A":
        return ZeroPadShortcut(out_channels, stride, name=f"{name}_shortcut_pad")(x)
    if shortcut == "B":
        y = conv_factory(filters=out_channels, kernel_size=1, strides=stride, padding="valid", name=f"{name}_shortcut_conv")(x)
        return y if norm is None else norm(f"{name}_shortcut_bn")(y)
    raise ConfigError(f"unknown shortcut {shortcut!r} in block {name!r}; valid: {', '.join(SHORTCUTS)} or a callable")


def _merge(residual: Tensor, short: Tensor, name: str, residual_hook: ResidualHook | None) -> Tensor:
    if residual_hook is not None:
        residual = residual_hook(residual, name)
    return keras.layers.Add(name=f"{name}_add")([short, residual])


# --------------------------------------------------------------------------- blocks
def basic_block(
    x: Tensor,
    filters: int,
    stride: int,
    name: str,
    *,
    shortcut: str | ShortcutFn = "B",
    conv: ConvFactory = default_conv,
    norm: LayerFactory = default_norm,
    act: LayerFactory = default_act,
    residual_hook: ResidualHook | None = None,
    explicit_padding: bool = False,
) -> Tensor:
    """Post-activation basic block (He et al. 2016, Fig. 2 left): ``relu(F(x) + shortcut(x))``,
    ``F = bn(conv3x3(relu(bn(conv3x3_s(x)))))``; the stride sits on the first conv."""
    r = padded_conv(x, filters, 3, stride, f"{name}_conv1", f"{name}_pad1", conv=conv, explicit_padding=explicit_padding)
    r = act(f"{name}_relu1")(norm(f"{name}_bn1")(r))
    r = padded_conv(r, filters, 3, 1, f"{name}_conv2", f"{name}_pad2", conv=conv, explicit_padding=explicit_padding)
    r = norm(f"{name}_bn2")(r)
    s = projection_or_identity(x, filters, stride, name, shortcut, conv_factory=conv, norm=norm)
    return act(f"{name}_out")(_merge(r, s, name, residual_hook))


def bottleneck_block(
    x: Tensor,
    filters: int,
    stride: int,
    name: str,
    *,
    expansion: int = 4,
    variant: str = "v1.5",
    shortcut: str | ShortcutFn = "B",
    conv: ConvFactory = default_conv,
    norm: LayerFactory = default_norm,
    act: LayerFactory = default_act,
    residual_hook: ResidualHook | None = None,
    explicit_padding: bool = False,
) -> Tensor:
    """Post-activation bottleneck (He et al. 2016, Fig. 5 right): 1×1 → 3×3 → 1×1 (×``expansion``).

    ``variant="v1"`` puts the stride on the first 1×1 conv (the paper, pytorchcv, Keras
    applications); ``"v1.5"`` on the 3×3 conv (torchvision, more MACs, better accuracy).
    """
    _check_variant(variant)
    out = filters * expansion
    s1, s2 = (stride, 1) if variant == "v1" else (1, stride)
    r = padded_conv(x, filters, 1, s1, f"{name}_conv1", f"{name}_pad1", conv=conv, explicit_padding=explicit_padding)
    r = act(f"{name}_relu1")(norm(f"{name}_bn1")(r))
    r = padded_conv(r, filters, 3, s2, f"{name}_conv2", f"{name}_pad2", conv=conv, explicit_padding=explicit_padding)
    r = act(f"{name}_relu2")(norm(f"{name}_bn2")(r))
    r = padded_conv(r, out, 1, 1, f"{name}_conv3", f"{name}_pad3", conv=conv, explicit_padding=explicit_padding)
    r = norm(f"{name}_bn3")(r)
    s = projection_or_identity(x, out, stride, name, shortcut, conv_factory=conv, norm=norm)
    return act(f"{name}_out")(_merge(r, s, name, residual_hook))


PREACT_MODES = ("default", "both", "none")


def preact_basic_block(
    x: Tensor,
    filters: int,
    stride: int,
    name: str,
    *,
    preact: str = "default",
    shortcut: str | ShortcutFn = "B",
    conv: ConvFactory = default_conv,
    norm: LayerFactory = default_norm,
    act: LayerFactory = default_act,
    residual_hook: ResidualHook | None = None,
    explicit_padding: bool = False,
) -> Tensor:
    """Pre-activation basic block (He et al., "Identity Mappings", Fig. 4e): ``x' + F(x)``,
    ``F = conv3x3(relu(bn(conv3x3_s(relu(bn(x))))))``; no activation after the add.

    ``preact`` (as in the authors' fb.resnet.torch ``preresnet.lua`` and tensorpack):
    ``"default"`` pre-activates the residual branch only (shortcut sees ``x``); ``"both"``
    pre-activates ``x`` for both branches (first block of a stage after the first);
    ``"none"`` skips it (first block after a stem that already ends in BN-ReLU).
    Option-B projections here are a bare 1×1 conv (no BN), as in those references.
    """
    if preact not in PREACT_MODES:
        raise ConfigError(f"unknown preact mode {preact!r} in block {name!r}; valid: {', '.join(PREACT_MODES)}")
    r = x
    if preact != "none":
        r = act(f"{name}_relu1")(norm(f"{name}_bn1")(x))
    u = r if preact == "both" else x
    r = padded_conv(r, filters, 3, stride, f"{name}_conv1", f"{name}_pad1", conv=conv, explicit_padding=explicit_padding)
    r = act(f"{name}_relu2")(norm(f"{name}_bn2")(r))
    r = padded_conv(r, filters, 3, 1, f"{name}_conv2", f"{name}_pad2", conv=conv, explicit_padding=explicit_padding)
    s = projection_or_identity(u, filters, stride, name, shortcut, conv_factory=conv, norm=None)
    return _merge(r, s, name, residual_hook)


# --------------------------------------------------------------------------- stems
def cifar_stem(x: Tensor, filters: int = 16, *, conv: ConvFactory = default_conv, norm: LayerFactory = default_norm,
               act: LayerFactory = default_act, **_: Any) -> Tensor:
    """3×3 stride-1 conv → BN → ReLU (He et al. 2016 §4.2)."""
    x = padded_conv(x, filters, 3, 1, "stem_conv", "stem_pad", conv=conv)
    return act("stem_relu")(norm("stem_bn")(x))


def imagenet_stem(x: Tensor, filters: int = 64, *, conv: ConvFactory = default_conv, norm: LayerFactory = default_norm,
                  act: LayerFactory = default_act, **_: Any) -> Tensor:
    """7×7/2 conv (pad 3) → BN → ReLU → 3×3/2 max pool (pad 1)."""
    x = padded_conv(x, filters, 7, 2, "stem_conv", "stem_pad", conv=conv)
    x = act("stem_relu")(norm("stem_bn")(x))
    x = torch_pad(x, 3, 2, "stem_pool_pad")  # zero padding = PyTorch's -inf padding after ReLU
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)


# --------------------------------------------------------------------------- generic builder
@dataclass(frozen=True)
class StageSpec:
    """One stage: ``blocks`` blocks of width ``filters``; the first one has ``stride``."""

    blocks: int
    filters: int
    stride: int


def model_input(input_shape: Sequence[int | None], normalization: NormalizationSpec) -> tuple[Tensor, Tensor]:
    """``(input tensor named "input", tensor after the optional Normalize layer "normalize")``."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    layer = normalization_layer(normalization)
    return inputs, (inputs if layer is None else layer(inputs))


def classifier_head(x: Tensor, num_classes: int) -> Tensor:
    """``global_pool`` (average) → ``classifier`` (Dense, logits)."""
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.layers.Dense(num_classes, name="classifier")(x)


def build_resnet(
    stages: Sequence[StageSpec],
    block: Callable[..., Tensor],
    *,
    stem: Callable[..., Tensor],
    stem_filters: int,
    input_shape: Sequence[int | None],
    num_classes: int,
    include_top: bool = True,
    normalization: NormalizationSpec = None,
    name: str = "resnet",
    block_kwargs: Mapping[str, Any] | None = None,
    block_options: Callable[[int, int], Mapping[str, Any]] | None = None,
    post_activation: bool = False,
    conv: ConvFactory = default_conv,
    norm: LayerFactory = default_norm,
    act: LayerFactory = default_act,
) -> keras.Model:
    """Assemble input → normalize → ``stem`` → stages of ``block`` → [post BN-ReLU] → head.

    ``block(x, filters, stride, name, conv=, norm=, act=, **block_kwargs, **block_options(s, b))``
    is called for stage ``s`` / block ``b`` (from 1). ``post_activation`` adds ``post_bn`` and
    ``post_relu`` after the last stage (pre-activation nets). ``include_top=False`` returns the
    last feature map (no ``global_pool``/``classifier``).
    """
    _check_positive("num_classes", num_classes)
    inputs, x = model_input(input_shape, normalization)
    factories = {"conv": conv, "norm": norm, "act": act}
    x = stem(x, stem_filters, **factories)
    for s, spec in enumerate(stages, start=1):
        for b in range(1, spec.blocks + 1):
            extra = dict(block_kwargs or {})
            if block_options is not None:
                extra.update(block_options(s, b))
            x = block(x, spec.filters, spec.stride if b == 1 else 1, f"stage{s}_block{b}", **factories, **extra)
    if post_activation:
        x = act("post_relu")(norm("post_bn")(x))
    if include_top:
        x = classifier_head(x, num_classes)
    return keras.Model(inputs, x, name=name)


def _check_positive(what: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")


VARIANTS = ("v1", "v1.5")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ConfigError(f"unknown ResNet variant {variant!r}; valid: v1 (stride on the first 1x1), v1.5 (stride on the 3x3)")


# --------------------------------------------------------------------------- CIFAR ResNets
CIFAR_BLOCKS = ("basic", "preact")


def _preact_options(s: int, b: int) -> dict[str, str]:
    if b != 1:
        return {"preact": "default"}
    return {"preact": "none" if s == 1 else "both"}


@register_model("resnet110", family="resnet", description="CIFAR ResNet-110 (He et al. 2016 §4.2)", depth=110)
@register_model("resnet56", family="resnet", description="CIFAR ResNet-56 (He et al. 2016 §4.2)", depth=56)
@register_model("resnet44", family="resnet", description="CIFAR ResNet-44 (He et al. 2016 §4.2)", depth=44)
@register_model("resnet32", family="resnet", description="CIFAR ResNet-32 (He et al. 2016 §4.2)", depth=32)
@register_model("resnet20", family="resnet", description="CIFAR ResNet-20 (He et al. 2016 §4.2)", depth=20)
@register_model("preact_resnet110", family="resnet", description="CIFAR pre-activation ResNet-110", depth=110, block="preact")
@register_model("preact_resnet56", family="resnet", description="CIFAR pre-activation ResNet-56", depth=56, block="preact")
@register_model("preact_resnet20", family="resnet", description="CIFAR pre-activation ResNet-20", depth=20, block="preact")
@register_model("cifar_resnet", family="resnet", description="CIFAR ResNet of depth 6n+2 (option depth)")
def cifar_resnet(
    depth: int = 20,
    *,
    num_classes: int = 10,
    input_shape: Sequence[int | None] = (32, 32, 3),
    include_top: bool = True,
    normalization: NormalizationSpec = "cifar10",
    block: str = "basic",
    shortcut: str = "A",
    base_width: int = 16,
    name: str | None = None,
) -> keras.Model:
    """CIFAR ResNet of depth ``6n+2``: 3×3 stem, 3 stages of ``n`` blocks, widths
    ``base_width × (1, 2, 4)`` (16/32/64 in the paper), strides 1/2/2, GAP, FC.

    ``block``: "basic" (He et al. 2016) or "preact" (pre-activation, "Identity Mappings";
    stem conv-BN-ReLU, BN-ReLU before the pool). ``shortcut``: "A" (parameter-free: subsample +
    zero channels, the paper's CIFAR choice) or "B" (1×1 conv projection when the shape changes).
    With option A ResNet-20 has 269,722 trainable parameters, with option B 272,474.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"CIFAR ResNet depth must be 6n+2 with n ≥ 1 (20, 32, 44, 56, 110, ...), got {depth!r}")
    if block not in CIFAR_BLOCKS:
        raise ConfigError(f"unknown CIFAR ResNet block {block!r}; valid: {', '.join(CIFAR_BLOCKS)}")
    if shortcut not in SHORTCUTS:
        raise ConfigError(f"unknown shortcut {shortcut!r}; valid: {', '.join(SHORTCUTS)}")
    _check_positive("base_width", base_width)
    n = (depth - 2) // 6
    stages = [StageSpec(n, base_width, 1), StageSpec(n, 2 * base_width, 2), StageSpec(n, 4 * base_width, 2)]
    preact = block == "preact"
    return build_resnet(
        stages,
        preact_basic_block if preact else basic_block,
        stem=cifar_stem,
        stem_filters=base_width,
        input_shape=input_shape,
        num_classes=num_classes,
        include_top=include_top,
        normalization=normalization,
        name=name or f"{'preact_' if preact else ''}resnet{depth}",
        block_kwargs={"shortcut": shortcut},
        block_options=_preact_options if preact else None,
        post_activation=preact,
    )


# --------------------------------------------------------------------------- ImageNet ResNets
#: depth → (block kind, blocks per stage); widths 64/128/256/512 (× 4 out for bottlenecks).
IMAGENET_CONFIGS: dict[int, dict[str, Any]] = {
    18: {"block": "basic", "blocks": (2, 2, 2, 2)},
    34: {"block": "basic", "blocks": (3, 4, 6, 3)},
    50: {"block": "bottleneck", "blocks": (3, 4, 6, 3)},
    101: {"block": "bottleneck", "blocks": (3, 4, 23, 3)},
    152: {"block": "bottleneck", "blocks": (3, 8, 36, 3)},
}
_IMAGENET_BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


@register_model("resnet152", family="resnet", description="ImageNet ResNet-152 (bottleneck)", depth=152)
@register_model("resnet101", family="resnet", description="ImageNet ResNet-101 (bottleneck)", depth=101)
@register_model("resnet50", family="resnet", description="ImageNet ResNet-50 (bottleneck)", depth=50)
@register_model("resnet34", family="resnet", description="ImageNet ResNet-34 (basic blocks)", depth=34)
@register_model("resnet18", family="resnet", description="ImageNet ResNet-18 (basic blocks)", depth=18)
def imagenet_resnet(
    depth: int = 50,
    *,
    num_classes: int = 1000,
    input_shape: Sequence[int | None] = (224, 224, 3),
    include_top: bool = True,
    normalization: NormalizationSpec = "imagenet",
    variant: str = "v1.5",
    base_width: int = 64,
    name: str | None = None,
) -> keras.Model:
    """ImageNet ResNet-18/34/50/101/152 in the torchvision layout (bias-free convs, option-B
    projections only where the shape changes, GAP, FC with bias).

    ``variant`` matters for bottleneck nets only: "v1" = stride on the first 1×1 conv
    (original paper, pytorchcv, Keras applications; ResNet-50 ≈ 3.86 G MACs), "v1.5" = stride
    on the 3×3 conv (torchvision; ≈ 4.09 G MACs). Parameters are identical: ResNet-18
    11,689,512 and ResNet-50 25,557,032 trainable. ``base_width`` scales 64/128/256/512.
    """
    if depth not in IMAGENET_CONFIGS:
        raise ConfigError(f"unknown ImageNet ResNet depth {depth!r}; valid: {', '.join(map(str, IMAGENET_CONFIGS))}")
    _check_variant(variant)
    _check_positive("base_width", base_width)
    cfg = IMAGENET_CONFIGS[depth]
    stages = [StageSpec(n, base_width * 2**i, 1 if i == 0 else 2) for i, n in enumerate(cfg["blocks"])]
    kwargs: dict[str, Any] = {"variant": variant} if cfg["block"] == "bottleneck" else {}
    return build_resnet(
        stages,
        _IMAGENET_BLOCKS[cfg["block"]],
        stem=imagenet_stem,
        stem_filters=base_width,
        input_shape=input_shape,
        num_classes=num_classes,
        include_top=include_top,
        normalization=normalization,
        name=name or f"resnet{depth}",
        block_kwargs=kwargs,
    )


__all__ = [
    "IMAGENET_CONFIGS",
    "StageSpec",
    "basic_block",
    "bottleneck_block",
    "build_resnet",
    "cifar_resnet",
    "cifar_stem",
    "classifier_head",
    "padded_conv",
    "default_act",
    "default_conv",
    "default_norm",
    "imagenet_resnet",
    "imagenet_stem",
    "model_input",
    "preact_basic_block",
    "projection_or_identity",
]
