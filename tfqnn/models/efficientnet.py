"""EfficientNet-B1 as used by the EC2T ImageNet entry (Tan & Le, ICML 2019; spec ``ec2t.md`` §2.2).

The [MC] copy of lukemelas/EfficientNet-PyTorch: width 1.0, depth 1.1 (23 MBConv blocks),
resolution 240, dropout 0.2, drop-connect 0.2 (linearly scaled by block index), BN eps 1e-3 /
Keras momentum 0.99, Swish everywhere except the linear project conv and the SE gate (sigmoid),
TF-style 'same' padding (Keras ``"same"`` is exactly that), SE squeeze = 0.25 × block *input* filters,
SE convs with bias. Total 7,794,184 parameters.

EC2T split (spec §1.9): ``ternary=True`` makes the expand, project and head 1×1 convs
:class:`TernaryConv2D` (step 1); ``prune=True`` makes SE reduce/expand and the FC entropy-constrained
*pruned* layers (``prune=True`` EC2T layers, step 2). Depthwise convs are only magnitude-pruned at
scoring time. Layer names: ``stem_{conv,bn,act}``, ``block{i}_{expand_conv,expand_bn,expand_act,
dw_conv,dw_bn,dw_act,se_pool,se_reduce,se_reduce_act,se_expand,se_scale,project_conv,project_bn,
drop,add}`` (i from 0, as the reference's ``_blocks.i``), ``head_{conv,bn,act}``, ``global_pool``,
``top_dropout``, ``classifier``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

from tfqnn.errors import ConfigError
from tfqnn.layers.ternary_conv import TernaryConv2D, TernaryDense
from tfqnn.registry import register_model

BN_EPS = 1e-3
BN_MOMENTUM = 0.99
#: B0 stages: (repeats, kernel, stride, expand ratio, in filters, out filters), SE ratio 0.25.
B0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
             (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
SE_RATIO = 0.25


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: kernel, stride, expand ratio, in/out filters, and whether it repeats a stage."""

    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int
    repeat: bool

    @property
    def expanded(self) -> int:
        return self.c_in * self.expand

    @property
    def squeeze(self) -> int:
        return max(1, int(self.c_in * SE_RATIO))


def block_specs(depth_coefficient: float = 1.1) -> list[BlockSpec]:
    """The 23 MBConv blocks of B1 (width 1.0, so filters are unchanged)."""
    blocks = []
    for repeats, k, s, e, c_in, c_out in B0_STAGES:
        n = int(math.ceil(depth_coefficient * repeats))
        blocks.append(BlockSpec(k, s, e, c_in, c_out, False))
        blocks.extend(BlockSpec(k, 1, e, c_out, c_out, True) for _ in range(n - 1))
    return blocks


def _swish(name: str) -> keras.layers.Layer:
    return keras.layers.Activation("swish", name=name)


def _bn(name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=name)


def _torch_bias(fan_in: int) -> keras.initializers.Initializer:
    """PyTorch's default bias init ``U(±1/sqrt(fan_in))`` (SE convs, FC)."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def _conv1x1(filters: int, name: str, *, ternary: bool, prune: bool = False, use_bias: bool = False, activation=None,
             fan_in: int = 1):
    kw = dict(padding="same", use_bias=use_bias, activation=activation, name=name, bias_initializer=_torch_bias(fan_in),
              kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"))
    if ternary:
        return TernaryConv2D(filters, 1, prune=prune, **kw)
    return keras.layers.Conv2D(filters, 1, **kw)


def mbconv(x, spec: BlockSpec, index: int, *, drop_rate: float, ternary: bool, prune: bool):
    """MBConv block with SE (lukemelas ``MBConvBlock``); identity skip + drop-connect when shapes allow."""
    name = f"block{index}"
    inputs = x
    if spec.expand != 1:
        x = _conv1x1(spec.expanded, f"{name}_expand_conv", ternary=ternary)(x)
        x = _bn(f"{name}_expand_bn")(x)
        x = _swish(f"{name}_expand_act")(x)
    x = keras.layers.DepthwiseConv2D(spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=f"{name}_dw_conv")(x)
    x = _bn(f"{name}_dw_bn")(x)
    x = _swish(f"{name}_dw_act")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = _conv1x1(spec.squeeze, f"{name}_se_reduce", ternary=prune, prune=True, use_bias=True, fan_in=spec.expanded)(s)
    s = _swish(f"{name}_se_reduce_act")(s)
    s = _conv1x1(spec.expanded, f"{name}_se_expand", ternary=prune, prune=True, use_bias=True, activation="sigmoid",
                 fan_in=spec.squeeze)(s)
    x = keras.layers.Multiply(name=f"{name}_se_scale")([x, s])
    x = _conv1x1(spec.c_out, f"{name}_project_conv", ternary=ternary)(x)
    x = _bn(f"{name}_project_bn")(x)
    if spec.stride == 1 and spec.c_in == spec.c_out:
        if drop_rate > 0:
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)  # drop-connect
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


@register_model("efficientnet_b1", family="ec2t")
def build_efficientnet_b1(
    num_classes: int = 1000,
    input_shape: Sequence[int] = (240, 240, 3),
    dropout: float = 0.2,
    drop_connect: float = 0.2,
    ternary: bool = False,
    prune: bool = False,
) -> keras.Model:
    """EfficientNet-B1 (logits); ``ternary`` → EC2T expand/project/head, ``prune`` → EC2T-pruned SE + FC."""
    if not (0 <= dropout < 1 and 0 <= drop_connect < 1):
        raise ConfigError(f"efficientnet_b1: dropout/drop_connect must be in [0, 1), got {dropout}, {drop_connect}")
    specs = block_specs()
    inputs = keras.Input(tuple(input_shape), name="input")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv",
                            kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"))(inputs)
    x = _bn("stem_bn")(x)
    x = _swish("stem_act")(x)
    for i, spec in enumerate(specs):
        x = mbconv(x, spec, i, drop_rate=drop_connect * i / len(specs), ternary=ternary, prune=prune)
    x = _conv1x1(1280, "head_conv", ternary=ternary)(x)
    x = _bn("head_bn")(x)
    x = _swish("head_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dropout(dropout, name="top_dropout")(x)
    dense = TernaryDense if prune else keras.layers.Dense
    kw = {"prune": True} if prune else {}
    x = dense(num_classes, name="classifier", bias_initializer=_torch_bias(1280), **kw)(x)
    return keras.Model(inputs, x, name="efficientnet_b1" + ("_ternary" if ternary else "") + ("_pruned" if prune else ""))


def reference_name(keras_layer: str) -> str | None:
    """Our layer name → the reference weight name (``_blocks.3._expand_conv.weight``), or None."""
    fixed = {"stem_conv": "_conv_stem.weight", "head_conv": "_conv_head.weight", "classifier": "_fc.weight"}
    if keras_layer in fixed:
        return fixed[keras_layer]
    if keras_layer.startswith("block") and "_" in keras_layer:
        idx, rest = keras_layer[len("block"):].split("_", 1)
        part = {"expand_conv": "_expand_conv", "dw_conv": "_depthwise_conv", "se_reduce": "_se_reduce",
                "se_expand": "_se_expand", "project_conv": "_project_conv"}.get(rest)
        if part:
            return f"_blocks.{idx}.{part}.weight"
    return None
