"""ReXNet and ReXNet-lite builders (Han et al., "Rethinking Channel Dimensions for Efficient Model
Design", CVPR 2021; reference ``clovaai/rexnet``; spec ``rexnet.md``).

Registered names: ``rexnet`` / ``rexnet_lite`` (any ``width_mult``), ``rexnet_0.9 … rexnet_3.0``,
``rexnet_lite_1.0 … rexnet_lite_2.0``. The channel table comes from :mod:`tfqnn.models.rexnet_arch`.

Block (spec §2.4, §3): ``[1×1 expand → BN → SiLU (lite: ReLU6)] → 3×3 depthwise (PyTorch symmetric
padding) → BN → [lite: ReLU6] → [SE] → [v1: ReLU6] → 1×1 project → BN → partial residual``.
SE: GAP → 1×1 conv (bias) → BN → ReLU → 1×1 conv (bias) → sigmoid → ``x·s``.
Head: v1 ``1×1 pen → BN → SiLU → GAP → Dropout → Dense``; lite ``1×1 pen → BN → ReLU6 → GAP →
1×1 conv 1024 (bias) → BN → ReLU6 → Dropout → Dense``. BN ε 1e-5, momentum 0.9 (PyTorch 0.1).

Layer names: ``input``, ``normalize``, ``stem_{pad,conv,bn,act}``,
``block_{kk}_{exp_conv,exp_bn,exp_act,dw_pad,dw_conv,dw_bn,dw_act,se_pool,se_conv1,se_bn,se_relu,
se_conv2,se_gate,se_scale,pw_conv,pw_bn,add}``, ``pen_{conv,bn,act}``, ``global_pool``,
``head_{conv,bn,act}`` + ``flatten`` (lite), ``dropout``, ``classifier``. In v1 ``dw_act`` is the
ReLU6 after the SE. Init: convs ``VarianceScaling(2, fan_out, normal)`` (timm; for depthwise
kernels Keras' fan_out is k², as PyTorch's), Dense ``U(±1/√classes)``, biases 0.
"""
from __future__ import annotations

from typing import Any, Sequence

from tfqnn.keras import keras
from tfqnn.errors import ConfigError
from tfqnn.layers.normalization import NormalizationSpec, normalization_layer
from tfqnn.layers.rexnet_blocks import PartialResidualAdd, SEScale
from tfqnn.models.resnet import torch_pad
from tfqnn.models.rexnet_arch import BlockSpec, RexnetArch, rexnet_arch, rexnet_lite_arch
from tfqnn.registry import register_model

Tensor = Any

V1_WIDTHS = (0.9, 1.0, 1.3, 1.5, 2.0, 3.0)
LITE_WIDTHS = (1.0, 1.3, 1.5, 2.0)
QUANTIZATION = (None, "float", "tfmot8")


def _conv_init() -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def _bn(name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


def _act(kind: str, name: str) -> keras.layers.Layer:
    if kind == "relu6":
        return keras.layers.ReLU(6.0, name=name)
    if kind == "relu":
        return keras.layers.ReLU(name=name)
    return keras.layers.Activation(kind, name=name)  # "swish" (SiLU), "sigmoid"


def _conv1x1(x: Tensor, filters: int, name: str, use_bias: bool = False) -> Tensor:
    return keras.layers.Conv2D(filters, 1, use_bias=use_bias, kernel_initializer=_conv_init(), name=name)(x)


def _depthwise(x: Tensor, kernel: int, stride: int, name: str) -> Tensor:
    padding = "same"
    if stride > 1:
        x = torch_pad(x, kernel, stride, f"{name}_dw_pad")
        padding = "valid"
    return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False,
                                        depthwise_initializer=_conv_init(), name=f"{name}_dw_conv")(x)


def squeeze_excite(x: Tensor, reduced: int, name: str) -> Tensor:
    """SE with BN in the bottleneck (spec §2.4): ``x · σ(W₂ relu(BN(W₁ GAP(x) + b₁)) + b₂)``."""
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = _conv1x1(s, reduced, f"{name}_se_conv1", use_bias=True)
    s = _act("relu", f"{name}_se_relu")(_bn(f"{name}_se_bn")(s))
    s = _conv1x1(s, int(x.shape[-1]), f"{name}_se_conv2", use_bias=True)
    s = _act("sigmoid", f"{name}_se_gate")(s)
    return SEScale(name=f"{name}_se_scale")([x, s])


def linear_bottleneck(x: Tensor, spec: BlockSpec, name: str, lite: bool) -> Tensor:
    """One ReXNet (``lite=False``) or ReXNet-lite block; see the module docstring."""
    shortcut = x
    if spec.t != 1:
        x = _conv1x1(x, spec.dw_ch, f"{name}_exp_conv")
        x = _act("relu6" if lite else "swish", f"{name}_exp_act")(_bn(f"{name}_exp_bn")(x))
    x = _bn(f"{name}_dw_bn")(_depthwise(x, spec.kernel, spec.stride, name))
    if spec.use_se:
        x = squeeze_excite(x, spec.se_ch, name)
    x = _act("relu6", f"{name}_dw_act")(x)
    x = _bn(f"{name}_pw_bn")(_conv1x1(x, spec.out_ch, f"{name}_pw_conv"))
    if spec.shortcut:
        x = PartialResidualAdd(name=f"{name}_add")([x, shortcut])
    return x


def block_name(index: int) -> str:
    return f"block_{index:02d}"


def build_from_arch(arch: RexnetArch, num_classes: int, input_shape: Sequence[int], *, dropout: float,
                    normalization: NormalizationSpec, small_input: bool, name: str) -> keras.Model:
    """Assemble the Keras model of a channel table (float; see :func:`build_rexnet` for options)."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"model {name!r}: num_classes must be a positive int, got {num_classes!r}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model {name!r}: dropout must be in [0, 1), got {dropout!r}")
    lite = arch.family == "rexnet_lite"
    act = "relu6" if lite else "swish"
    inputs = keras.Input(tuple(input_shape), name="input")
    x = inputs
    norm = normalization_layer(normalization)
    if norm is not None:
        x = norm(x)
    stem_stride = 1 if small_input else 2
    if stem_stride > 1:
        x = torch_pad(x, 3, stem_stride, "stem_pad")
    x = keras.layers.Conv2D(arch.stem_ch, 3, strides=stem_stride, padding="valid" if stem_stride > 1 else "same",
                            use_bias=False, kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = _act(act, "stem_act")(_bn("stem_bn")(x))
    for i, spec in enumerate(arch.blocks):
        x = linear_bottleneck(x, spec, block_name(i), lite)
    x = _act(act, "pen_act")(_bn("pen_bn")(_conv1x1(x, arch.pen_ch, "pen_conv")))
    x = keras.layers.GlobalAveragePooling2D(keepdims=lite, name="global_pool")(x)
    if lite:
        x = _conv1x1(x, arch.hidden, "head_conv", use_bias=True)
        x = _act("relu6", "head_act")(_bn("head_bn")(x))
        x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    bound = 1.0 / num_classes**0.5
    outputs = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                                 name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def _finish(model: keras.Model, quantization: Any) -> keras.Model:
    if quantization == "tfmot8":
        from tfqnn.quantizers.rexnet_qat import quantize_rexnet

        return quantize_rexnet(model)
    if quantization in QUANTIZATION:
        return model
    from tfqnn.quantizers.apply import apply_quantization  # shared: "ternary", {conv: 4|8} (docs/compose.md)

    return apply_quantization(model, quantization)


def build_rexnet(num_classes: int = 1000, input_shape: Sequence[int] = (224, 224, 3), *, width_mult: float = 1.0,
                 depth_mult: float = 1.0, use_se: bool = True, se_ratio: int = 12, dropout: float = 0.2,
                 normalization: NormalizationSpec = "imagenet", small_input: bool = False,
                 quantization: str | None = None, name: str | None = None) -> keras.Model:
    """ReXNet (v1) of any ``width_mult`` / ``depth_mult``.

    ``small_input`` (CIFAR): stem and stage-2 strides 1 (overall stride 8, spec §5.2).
    ``quantization="tfmot8"`` returns the TF-MOT 8-bit QAT model (:mod:`tfqnn.quantizers.rexnet_qat`).
    """
    arch = rexnet_arch(width_mult, depth_mult, use_se=use_se, se_ratio=se_ratio, small_input=small_input)
    model = build_from_arch(arch, num_classes, input_shape, dropout=dropout, normalization=normalization,
                            small_input=small_input, name=name or f"rexnet_{width_mult:g}")
    return _finish(model, quantization)


def build_rexnet_lite(num_classes: int = 1000, input_shape: Sequence[int] = (224, 224, 3), *,
                      width_mult: float = 1.0, kernel_conf: str = "333333", fix_head_stem: bool = False,
                      dropout: float = 0.2, normalization: NormalizationSpec = "imagenet",
                      small_input: bool = False, quantization: str | None = None,
                      name: str | None = None) -> keras.Model:
    """ReXNet-lite of any ``width_mult`` (the reference's ``multiplier``); options as :func:`build_rexnet`."""
    arch = rexnet_lite_arch(width_mult, kernel_conf=kernel_conf, fix_head_stem=fix_head_stem, small_input=small_input)
    model = build_from_arch(arch, num_classes, input_shape, dropout=dropout, normalization=normalization,
                            small_input=small_input, name=name or f"rexnet_lite_{width_mult:g}")
    return _finish(model, quantization)


register_model("rexnet", family="rexnet")(build_rexnet)
register_model("rexnet_lite", family="rexnet")(build_rexnet_lite)
for _w in V1_WIDTHS:
    register_model(f"rexnet_{_w:.1f}", family="rexnet", width_mult=_w,
                   description=f"ReXNet {_w:.1f} (Han et al. 2021)")(build_rexnet)
for _w in LITE_WIDTHS:
    register_model(f"rexnet_lite_{_w:.1f}", family="rexnet", width_mult=_w,
                   description=f"ReXNet-lite {_w:.1f} (Han et al. 2021)")(build_rexnet_lite)


# --------------------------------------------------------------------------- probes
def probe_layers(model: keras.Model) -> dict[str, str]:
    """Vector probe tag → layer name: ``stem``, ``block_kk`` (after the residual), ``pen``, ``pooled``, ``hidden``."""
    names = {layer.name for layer in model.layers}
    tags = {"stem": "stem_act"}
    k = 0
    while f"{block_name(k)}_pw_bn" in names:
        b = block_name(k)
        tags[b] = f"{b}_add" if f"{b}_add" in names else f"{b}_pw_bn"
        k += 1
    tags.update(pen="pen_act", pooled="global_pool")
    if "head_act" in names:
        tags["hidden"] = "head_act"
    return tags


from tfqnn.models.rexnet_torch import load_torch_state, torch_name_map  # noqa: E402  (public API)

__all__ = ["build_rexnet", "build_rexnet_lite", "build_from_arch", "linear_bottleneck", "squeeze_excite",
           "probe_layers", "load_torch_state", "torch_name_map", "rexnet_arch", "rexnet_lite_arch"]
