"""MicroNet: the compound-scaled pre-BN ResNet-44 of the EC2T MicroNet-challenge entry.

Becking et al., NeurIPS 2019 MicroNet challenge ([MC] ``model/model.py::micronet``; spec ``ec2t.md``
§2.1). Compound scaling (Tan & Le, EfficientNet, eq. 3): depth multiplier ``D = d**φ``, width
multiplier ``Wm = w**φ``; ``blocks/stage = ceil(7·D)``; widths ``round_filters(16/32/64, Wm)``.

Block ("BN1>Conv1>BN2>ReLU>Conv2>BN3", no ReLU before conv1 nor after the add)::

    y = BN3(Conv2(Dropout(ReLU(BN2(Conv1(BN1(x)))))));  out = y + shortcut(x)

Layer names map one-to-one onto the reference's state-dict names (:func:`torch_name`):
``stem_conv`` (``conv1``), ``stem_bn`` (``bn1``), ``stage{s}_block{b}_{bn1,conv1,bn2,relu2,dropout,
conv2,bn3,shortcut_conv,shortcut_bn,add}`` (``layer{s}.{b-1}.…``, ``shortcut.0/1``), ``post_relu``,
``global_pool``, ``classifier`` (``linear``). With ``ternary=True`` the block convs (the reference's
``.conv`` parameters) are :class:`~tfqnn.layers.ternary_conv.TernaryConv2D`; stem, shortcuts and FC
stay float (pitfall P12). BN: eps 1e-5, Keras momentum 0.9 (P8). Init: untruncated He normal (P11).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

from tfqnn.errors import ConfigError
from tfqnn.layers.normalization import NormalizationSpec, normalization_layer
from tfqnn.layers.ternary_conv import TernaryConv2D
from tfqnn.models.resnet import torch_pad
from tfqnn.registry import register_model

BASE_WIDTHS = (16, 32, 64)
BASE_BLOCKS = 7
BN_EPS = 1e-5
BN_MOMENTUM = 0.9


def round_filters(filters: int, w_multiplier: float | None) -> int:
    """``max(8, ⌊f·Wm + 4⌋ // 8 · 8)``, +8 if below ``0.9·f·Wm`` (pitfall P16: floor, not round)."""
    if not w_multiplier:
        return filters
    scaled = filters * w_multiplier
    result = max(8, int(scaled + 4) // 8 * 8)
    if result < 0.9 * scaled:
        result += 8
    return int(result)


def round_repeats(repeats: int, d_multiplier: float | None) -> int:
    """``ceil(repeats·D)`` (``D`` falsy → unchanged)."""
    if not d_multiplier:
        return repeats
    return int(math.ceil(d_multiplier * repeats))


def _he_normal() -> keras.initializers.Initializer:
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def _linear_bias(fan_in: int) -> keras.initializers.Initializer:
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def _bn(name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=name)


def _conv(filters: int, k: int, stride: int, padding: str, name: str, ternary: bool) -> keras.layers.Layer:
    cls = TernaryConv2D if ternary else keras.layers.Conv2D
    return cls(filters, k, strides=stride, padding=padding, use_bias=False, kernel_initializer=_he_normal(), name=name)


def _conv3x3(x, filters: int, stride: int, name: str, ternary: bool):
    """3×3 conv with PyTorch's symmetric padding 1 (explicit pad + 'valid' for stride 2, P7)."""
    if stride > 1:
        x = torch_pad(x, 3, stride, name.replace("conv", "pad"))
        return _conv(filters, 3, stride, "valid", name, ternary)(x)
    return _conv(filters, 3, 1, "same", name, ternary)(x)


def basic_block(x, filters: int, stride: int, name: str, *, dropout: float, ternary: bool):
    """Pre-BN basic block of spec §2.1 (shortcut from the raw input ``x``)."""
    c_in = int(x.shape[-1])
    y = _bn(f"{name}_bn1")(x)
    y = _conv3x3(y, filters, stride, f"{name}_conv1", ternary)
    y = _bn(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = _conv3x3(y, filters, 1, f"{name}_conv2", ternary)
    y = _bn(f"{name}_bn3")(y)
    if stride != 1 or c_in != filters:
        s = _conv(filters, 1, stride, "valid", f"{name}_shortcut_conv", False)(x)
        s = _bn(f"{name}_shortcut_bn")(s)
    else:
        s = x
    return keras.layers.Add(name=f"{name}_add")([y, s])


def micronet_plan(d: float = 1.0, w: float = 1.0, phi: float = 1.0, d_multiplier: float | None = None, w_multiplier: float | None = None) -> tuple[int, list[int]]:
    """(blocks per stage, stage widths) for grid coefficients (d, w, φ) or explicit multipliers."""
    dm = d ** phi if d_multiplier is None else d_multiplier
    wm = w ** phi if w_multiplier is None else w_multiplier
    return round_repeats(BASE_BLOCKS, dm), [round_filters(f, wm) for f in BASE_WIDTHS]


@register_model("micronet", family="ec2t")
def build_micronet(
    num_classes: int = 100,
    input_shape: Sequence[int] = (32, 32, 3),
    d: float = 1.0,
    w: float = 1.0,
    phi: float = 1.0,
    d_multiplier: float | None = None,
    w_multiplier: float | None = None,
    dropout: float = 0.2,
    ternary: bool = False,
    normalization: NormalizationSpec = None,
) -> keras.Model:
    """MicroNet(D = d**φ, Wm = w**φ) for 32×32 inputs; ``ternary=True`` → EC2T block convs.

    ``normalization`` (mean, std) adds an input ``normalize`` layer (the reference normalizes in
    its data pipeline).

    ``d_multiplier`` / ``w_multiplier`` override ``d**φ`` / ``w**φ`` (the reference's direct
    ``micronet(d_multiplier, w_multiplier)`` call). Outputs logits.
    """
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"micronet: dropout must be in [0, 1), got {dropout}")
    blocks, widths = micronet_plan(d, w, phi, d_multiplier, w_multiplier)
    if blocks < 1:
        raise ConfigError(f"micronet: depth multiplier gives {blocks} blocks per stage")
    inputs = keras.Input(tuple(input_shape), name="input")
    x = inputs
    norm = normalization_layer(normalization)
    if norm is not None:
        x = norm(x)
    x = _conv(widths[0], 3, 1, "same", "stem_conv", False)(x)
    x = _bn("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for s, width in enumerate(widths, start=1):
        for b in range(1, blocks + 1):
            stride = 2 if (s > 1 and b == 1) else 1
            x = basic_block(x, width, stride, f"stage{s}_block{b}", dropout=dropout, ternary=ternary)
    x = keras.layers.ReLU(name="post_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(
        num_classes, kernel_initializer=_he_normal(), bias_initializer=_linear_bias(widths[-1]), name="classifier"
    )(x)
    tag = "ternary" if ternary else "fp"
    return keras.Model(inputs, x, name=f"micronet_{blocks}x{'-'.join(map(str, widths))}_{tag}")


_TORCH_TO_KERAS = [
    (re.compile(r"^conv1$"), "stem_conv"),
    (re.compile(r"^bn1$"), "stem_bn"),
    (re.compile(r"^linear$"), "classifier"),
    (re.compile(r"^layer(\d+)\.(\d+)\.shortcut\.0$"), "stage{0}_block{1}_shortcut_conv"),
    (re.compile(r"^layer(\d+)\.(\d+)\.shortcut\.1$"), "stage{0}_block{1}_shortcut_bn"),
    (re.compile(r"^layer(\d+)\.(\d+)\.(\w+)$"), "stage{0}_block{1}_{2}"),
]


def keras_name(torch_module: str) -> str:
    """Reference module name (``layer2.0.conv1``) → our layer name (``stage2_block1_conv1``)."""
    for pattern, template in _TORCH_TO_KERAS:
        m = pattern.match(torch_module)
        if m:
            g = list(m.groups())
            if len(g) >= 2:
                g[1] = str(int(g[1]) + 1)
            return template.format(*g)
    raise ConfigError(f"no MicroNet layer for reference module {torch_module!r}")


def torch_name(keras_layer: str) -> str:
    """Inverse of :func:`keras_name`."""
    fixed = {"stem_conv": "conv1", "stem_bn": "bn1", "classifier": "linear"}
    if keras_layer in fixed:
        return fixed[keras_layer]
    m = re.match(r"^stage(\d+)_block(\d+)_(\w+)$", keras_layer)
    if not m:
        raise ConfigError(f"no reference module for MicroNet layer {keras_layer!r}")
    s, b, rest = m.group(1), int(m.group(2)) - 1, m.group(3)
    rest = {"shortcut_conv": "shortcut.0", "shortcut_bn": "shortcut.1"}.get(rest, rest)
    return f"layer{s}.{b}.{rest}"


def reference_param_count(model: keras.Model) -> int:
    """Parameters as the reference counts them: trainable weights minus the EC2T centroids."""
    total = 0
    for v in model.trainable_weights:
        if getattr(v, "_ec2t_group", None) != "centroids":
            total += int(v.shape.num_elements())
    return total


def load_torch_state(model: keras.Model, state: dict, prefix: str = "") -> None:
    """Load a reference state dict (``prefix + name`` → array, PyTorch layout) into ``model``.

    OIHW conv kernels → HWIO, Linear → transposed; BN γ/β/running mean/var. Only the FP ``kernel``
    of a :class:`TernaryConv2D` is set (its EC2T state is untouched).
    """
    import numpy as np

    for layer in model.layers:
        try:
            base = prefix + torch_name(layer.name)
        except ConfigError:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(state[base + ".weight"])
            layer.beta.assign(state[base + ".bias"])
            layer.moving_mean.assign(state[base + ".running_mean"])
            layer.moving_variance.assign(state[base + ".running_var"])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(np.transpose(state[base + ".weight"], (2, 3, 1, 0)))
        elif isinstance(layer, keras.layers.Dense):
            layer.kernel.assign(np.transpose(state[base + ".weight"]))
            layer.bias.assign(state[base + ".bias"])
