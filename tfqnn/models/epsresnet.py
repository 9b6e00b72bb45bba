"""ε-ResNet (Yu, Yu, Ramalingam, "Learning Strict Identity Mappings in Deep Residual Networks",
CVPR 2018): pre-activation ResNets whose residual branches are gated by :class:`EpsilonGate`.

Architecture of the reference (tensorpack) implementation, spec §b:

* CIFAR/SVHN (depth 6n+2): conv0 3×3/16 + BN-ReLU, three stages of ``n`` pre-activation basic
  blocks (16/32/64), BN-ReLU, GAP, FC. Transition blocks take the shortcut on the
  *un-activated* input: ``avgpool 2×2 'VALID'`` + symmetric channel zero-pad
  (:class:`ZeroPadShortcut`, ``pool="avg"``). All convs use TF "same" padding (tensorpack),
  so the strided conv pads (0, 1), unlike :func:`tfqnn.models.resnet.padded_conv`.
* ImageNet: 7×7/2 stem + 3×3/2 max pool, pre-activation bottlenecks (stride on the 3×3),
  block0 modes "no_preact" (group0) / "both_preact" (groups 1–3), bare 1×1 projections.

Every block: ``y = g(F; ε)·F + x'`` (gate on every block, transition blocks included).
``side_supervision=True`` adds the auxiliary classifier of spec §c (BN-ReLU → GAP → FC) after
block ``res2.{n//2}`` (CIFAR) or ``group2/block{P}`` (ImageNet) as a second output
``side_classifier``; ``model.output_loss_weights`` (1.0, 0.1) tells the trainer how to weight it.

Block names: reference ``res{s}.{i}`` (i from 0) ↔ Keras prefix ``stage{s}_block{i+1}``.
The builders also build the *compressed* plain model (``gated=False`` with a ``structure`` and
``discard_first`` per stage, spec §e), which :mod:`tfqnn.compress.epsresnet` uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tfqnn.keras import keras

from tfqnn.errors import ConfigError
from tfqnn.layers.epsilon_gate import EpsilonGate
from tfqnn.layers.normalization import NormalizationSpec
from tfqnn.layers.shortcut import ZeroPadShortcut
from tfqnn.models.resnet import model_input
from tfqnn.registry import register_model

Tensor = Any

#: ImageNet bottleneck depths → blocks per group (spec §b.2 ``defs``).
IMAGENET_DEFS: dict[int, tuple[int, ...]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
SIDE_LOSS_WEIGHT = 0.1


@dataclass(frozen=True)
class GateSpec:
    """Gate options shared by all blocks (``None`` = a plain, ungated ResNet)."""

    epsilon: float
    L: float = 1e6
    per_sample: bool = False
    discard_style: str = "cifar"


class _Layers:
    """Layer factories of the reference: fan-out variance-scaling convs, l2 on kernels, BN 0.9/1e-5."""

    def __init__(self, weight_decay: float) -> None:
        self.weight_decay = float(weight_decay)

    def _reg(self):
        return keras.regularizers.L2(self.weight_decay) if self.weight_decay > 0 else None

    def conv(self, x: Tensor, filters: int, kernel: int, stride: int, name: str) -> Tensor:
        init = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")
        return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, kernel_initializer=init,
                                   kernel_regularizer=self._reg(), name=name)(x)

    def bn_relu(self, x: Tensor, name: str) -> Tensor:
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    def pre(self, x: Tensor, name: str, i: int) -> Tensor:
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn{i}")(x)
        return keras.layers.ReLU(name=f"{name}_relu{i}")(x)

    def dense(self, x: Tensor, units: int, name: str) -> Tensor:
        init = keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal")
        return keras.layers.Dense(units, kernel_initializer=init, kernel_regularizer=self._reg(), name=name)(x)

    def head(self, x: Tensor, num_classes: int, prefix: str) -> Tensor:
        """BN-ReLU → GAP → FC (main head ``post``/``classifier``; side head ``side``/``side_classifier``)."""
        x = self.bn_relu(x, prefix)
        x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}_pool" if prefix != "post" else "global_pool")(x)
        return self.dense(x, num_classes, "classifier" if prefix == "post" else f"{prefix}_classifier")


def _merge(f: Tensor, short: Tensor, name: str, gate: GateSpec | None) -> Tensor:
    if gate is not None:
        f = EpsilonGate(gate.epsilon, gate.L, gate.per_sample, gate.discard_style, name=f"{name}_gate")(f)
    return keras.layers.Add(name=f"{name}_add")([short, f])


# --------------------------------------------------------------------------- blocks
def eps_preact_basic_block(x: Tensor, filters: int, stride: int, name: str, *, first: bool, lay: _Layers,
                           gate: GateSpec | None) -> Tensor:
    """CIFAR block ``res{s}.{i}`` (spec §b.1): ``r = x if first else BNReLU(x)``,
    ``F = conv3x3(BNReLU(conv3x3_s(r)))``, ``x' = x`` or avgpool+pad(x) at transitions."""
    r = x if first else lay.pre(x, name, 1)
    r = lay.conv(r, filters, 3, stride, f"{name}_conv1")
    r = lay.pre(r, name, 2)
    f = lay.conv(r, filters, 3, 1, f"{name}_conv2")
    short = transition_shortcut(x, filters, stride, name)
    return _merge(f, short, name, gate)


def transition_shortcut(x: Tensor, filters: int, stride: int, name: str) -> Tensor:
    """Identity, or the parameter-free ``avgpool 2×2/2 VALID`` + symmetric zero-pad shortcut."""
    if stride == 1 and int(x.shape[-1]) == filters:
        return x
    return ZeroPadShortcut(filters, stride, pool="avg", name=f"{name}_shortcut_pad")(x)


def eps_preact_bottleneck_block(x: Tensor, filters: int, stride: int, name: str, *, mode: str, lay: _Layers,
                                gate: GateSpec | None) -> Tensor:
    """ImageNet block (spec §b.2); ``mode`` is "no_preact", "both_preact" or "default"."""
    r = x if mode == "no_preact" else lay.pre(x, name, 1)
    u = r if mode == "both_preact" else x
    r = lay.pre(lay.conv(r, filters, 1, 1, f"{name}_conv1"), name, 2)
    r = lay.pre(lay.conv(r, filters, 3, stride, f"{name}_conv2"), name, 3)
    f = lay.conv(r, 4 * filters, 1, 1, f"{name}_conv3")
    return _merge(f, bottleneck_shortcut(u, filters, stride, name, lay), name, gate)


def bottleneck_shortcut(u: Tensor, filters: int, stride: int, name: str, lay: _Layers) -> Tensor:
    """``conv1x1(4f, stride)`` (no BN) if the channels change, else ``u``."""
    return u if int(u.shape[-1]) == 4 * filters else lay.conv(u, 4 * filters, 1, stride, f"{name}_shortcut_conv")


def discarded_bottleneck(x: Tensor, filters: int, stride: int, name: str, *, mode: str, lay: _Layers) -> Tensor:
    """What remains of a discarded ImageNet block0: ``convshortcut(u)`` with ``u`` pre-activated
    in groups 1–3 (the reference drops the preact BN and calls an undefined function, spec §e)."""
    u = x if mode != "both_preact" else lay.pre(x, name, 1)
    return bottleneck_shortcut(u, filters, stride, name, lay)


# --------------------------------------------------------------------------- assembly
def _check_plan(blocks: Sequence[int], structure: Sequence[int] | None, discard_first: Sequence[int] | None):
    structure = list(blocks) if structure is None else [int(v) for v in structure]
    discard_first = [0] * len(blocks) if discard_first is None else [int(v) for v in discard_first]
    if len(structure) != len(blocks) or len(discard_first) != len(blocks):
        raise ConfigError(f"structure {structure} / discard_first {discard_first} need {len(blocks)} stages")
    for s, (k, d) in enumerate(zip(structure, discard_first), start=1):
        if k < 0 or d not in (0, 1):
            raise ConfigError(f"stage {s}: kept blocks must be ≥ 0 and discard_first 0 or 1, got {k}, {d}")
    return structure, discard_first


def _finish(inputs: Tensor, x: Tensor, side: Tensor | None, num_classes: int, lay: _Layers, name: str) -> keras.Model:
    logits = lay.head(x, num_classes, "post")
    if side is None:
        return keras.Model(inputs, logits, name=name)
    side_logits = lay.head(side, num_classes, "side")
    model = keras.Model(inputs, [logits, side_logits], name=name)
    model.output_loss_weights = {"classifier": 1.0, "side_classifier": SIDE_LOSS_WEIGHT}
    return model


def _check_common(num_classes: Any, epsilon: float, weight_decay: float) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    if float(epsilon) < 0 or float(weight_decay) < 0:
        raise ConfigError(f"epsilon and weight_decay must be ≥ 0, got {epsilon!r}, {weight_decay!r}")


@register_model("epsresnet_cifar_752", family="epsresnet", description="ε-ResNet-752 (CIFAR, n=125)", depth=752)
@register_model("epsresnet_cifar_500", family="epsresnet", description="ε-ResNet-500 (CIFAR, n=83)", depth=500)
@register_model("epsresnet_cifar_302", family="epsresnet", description="ε-ResNet-302 (SVHN, n=50)", depth=302)
@register_model("epsresnet_cifar_200", family="epsresnet", description="ε-ResNet-200 (CIFAR, n=33)", depth=200)
@register_model("epsresnet_cifar_110", family="epsresnet", description="ε-ResNet-110 (CIFAR, n=18)", depth=110)
@register_model("epsresnet_cifar_56", family="epsresnet", description="ε-ResNet-56 (CIFAR, n=9)", depth=56)
@register_model("epsresnet_cifar_32", family="epsresnet", description="ε-ResNet-32 (CIFAR, n=5)", depth=32)
@register_model("epsresnet_cifar_20", family="epsresnet", description="ε-ResNet-20 (CIFAR, n=3)", depth=20)
@register_model("epsresnet_cifar", family="epsresnet", description="ε-ResNet of depth 6n+2 (CIFAR/SVHN)")
def epsresnet_cifar(
    depth: int = 110,
    *,
    num_classes: int = 10,
    input_shape: Sequence[int | None] = (32, 32, 3),
    normalization: NormalizationSpec = "cifar10",
    epsilon: float = 2.5,
    L: float = 1e6,
    per_sample_gate: bool = False,
    side_supervision: bool = False,
    weight_decay: float = 1e-4,
    gated: bool = True,
    structure: Sequence[int] | None = None,
    discard_first: Sequence[int] | None = None,
    name: str | None = None,
) -> keras.Model:
    """CIFAR/SVHN ε-ResNet of depth ``6n+2`` (spec §b.1).

    ``weight_decay`` is the Keras ``l2`` coefficient on conv/FC kernels (reference 2e-4·½‖W‖² →
    1e-4). ``side_supervision`` adds the auxiliary head after ``res2.{n//2}``. ``gated=False``
    gives the plain pre-activation ResNet; with ``structure`` (kept blocks per stage) and
    ``discard_first`` (1 where block 0 of a stage was removed) it is the compressed model.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"ε-ResNet CIFAR depth must be 6n+2 with n ≥ 1 (20, 32, 56, 110, ...), got {depth!r}")
    _check_common(num_classes, epsilon, weight_decay)
    n = (depth - 2) // 6
    structure, discard_first = _check_plan([n] * 3, structure, discard_first)
    lay = _Layers(weight_decay)
    gate = GateSpec(float(epsilon), float(L), bool(per_sample_gate), "cifar") if gated else None
    inputs, x = model_input(input_shape, normalization)
    x = lay.bn_relu(lay.conv(x, 16, 3, 1, "stem_conv"), "stem")
    side = None
    for s, (kept, d) in enumerate(zip(structure, discard_first), start=1):
        filters, stride = 16 * 2 ** (s - 1), 1 if s == 1 else 2
        if d:  # block 0 removed: identity (stage 1) or the parameter-free transition
            x = transition_shortcut(x, filters, stride, f"stage{s}_block1")
        for i in range(d, d + kept):
            x = eps_preact_basic_block(x, filters, stride if i == 0 else 1, f"stage{s}_block{i + 1}",
                                       first=(s == 1 and i == 0), lay=lay, gate=gate)
            if side_supervision and s == 2 and i == n // 2:
                side = x
    return _finish(inputs, x, side, num_classes, lay, name or f"epsresnet_cifar_{depth}")


@register_model("epsresnet152", family="epsresnet", description="ε-ResNet-152 (ImageNet, ε=1.8)", depth=152, epsilon=1.8)
@register_model("epsresnet101", family="epsresnet", description="ε-ResNet-101 (ImageNet, ε=2.0)", depth=101)
@register_model("epsresnet50", family="epsresnet", description="ε-ResNet-50 (ImageNet)", depth=50)
def epsresnet_imagenet(
    depth: int = 101,
    *,
    num_classes: int = 1000,
    input_shape: Sequence[int | None] = (224, 224, 3),
    normalization: NormalizationSpec = "imagenet",
    epsilon: float = 2.0,
    L: float = 1e6,
    per_sample_gate: bool = False,
    side_supervision: bool = False,
    weight_decay: float = 5e-5,
    gated: bool = True,
    structure: Sequence[int] | None = None,
    discard_first: Sequence[int] | None = None,
    name: str | None = None,
) -> keras.Model:
    """ImageNet pre-activation bottleneck ε-ResNet-50/101/152 (spec §b.2; gate on all blocks,
    ``is_discarded = 1 − g``). Side head after ``group2/block{P}``, ``P = Σdefs//2 − defs[0] − defs[1] − 1``.
    ``weight_decay``: Keras l2 (reference 1e-4·½‖W‖² → 5e-5). ``gated``/``structure``/``discard_first``
    as for :func:`epsresnet_cifar`.
    """
    if depth not in IMAGENET_DEFS:
        raise ConfigError(f"unknown ε-ResNet ImageNet depth {depth!r}; valid: {', '.join(map(str, IMAGENET_DEFS))}")
    _check_common(num_classes, epsilon, weight_decay)
    defs = IMAGENET_DEFS[depth]
    structure, discard_first = _check_plan(defs, structure, discard_first)
    side_at = sum(defs) // 2 - defs[0] - defs[1] - 1
    lay = _Layers(weight_decay)
    gate = GateSpec(float(epsilon), float(L), bool(per_sample_gate), "imagenet") if gated else None
    inputs, x = model_input(input_shape, normalization)
    x = lay.bn_relu(lay.conv(x, 64, 7, 2, "stem_conv"), "stem")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    side = None
    for s, (kept, d) in enumerate(zip(structure, discard_first), start=1):
        filters, stride = 64 * 2 ** (s - 1), 1 if s == 1 else 2
        first_mode = "no_preact" if s == 1 else "both_preact"
        if d:
            x = discarded_bottleneck(x, filters, stride, f"stage{s}_block1", mode=first_mode, lay=lay)
        for i in range(d, d + kept):
            x = eps_preact_bottleneck_block(x, filters, stride if i == 0 else 1, f"stage{s}_block{i + 1}",
                                            mode=first_mode if i == 0 else "default", lay=lay, gate=gate)
            if side_supervision and s == 3 and i == side_at:
                side = x
    return _finish(inputs, x, side, num_classes, lay, name or f"epsresnet{depth}")


__all__ = [
    "GateSpec",
    "IMAGENET_DEFS",
    "SIDE_LOSS_WEIGHT",
    "eps_preact_basic_block",
    "eps_preact_bottleneck_block",
    "epsresnet_cifar",
    "epsresnet_imagenet",
]
