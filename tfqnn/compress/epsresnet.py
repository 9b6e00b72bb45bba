"""ε-ResNet compression: rebuild the plain ResNet without the discarded blocks (spec §e).

1. Choose blocks: a block is discarded when its gate's moving-average ``is_discarded`` is
   ≥ ``threshold`` (default ``1 − 5e-6``: the reference's log prints ``{:.5g}`` and compares
   with 1.0), or name them explicitly.
2. Renumber the kept blocks of each stage contiguously, from 0 if block 0 was kept and from 1 if
   it was discarded (``discard_first_block``).
3. Build the plain model (no gates, no side head) with ``structure[s] + discard_first[s]`` block
   slots. A removed block 0 becomes what its shortcut computed: the identity (CIFAR stage 1,
   where the reference wrongly rebuilds a random block), ``avgpool + zero-pad`` (CIFAR stages
   2–3) or ``convshortcut(BNReLU(x))`` (ImageNet; the reference drops the preact BN).
4. Copy the weights (BN moving statistics included) by the renamed layer names.

5. Neutralise the BN channels that read only structural zeros: when a stage keeps no block
   before some BN, that BN sees the zero-padded channels of the ``avgpool + zero-pad`` shortcut,
   whose trained variance is ~0 and whose multiplier ``γ/√(σ²+ε)`` is huge (~300). Those
   channels output the constant ``β − γμ/√(σ²+ε)`` whatever the multiplier, so we store
   ``γ' = 0, β' = that constant``: the same float outputs, and a per-tensor int8 MUL whose range
   is no longer set by a dead channel (int8 top-1 0.42 → see docs/epsresnet.md).

The compressed model computes the same logits as the gated model whenever the removed blocks'
gates are 0 on the batch (same BN statistics, inference mode).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from tfqnn.keras import keras

from tfqnn.errors import ConfigError
from tfqnn.layers.epsilon_gate import EpsilonGate, gate_layers
from tfqnn.layers.normalization import Normalize
from tfqnn.layers.shortcut import ZeroPadShortcut
from tfqnn.models.epsresnet import IMAGENET_DEFS, epsresnet_cifar, epsresnet_imagenet
from tfqnn.training.epsresnet import DISCARD_THRESHOLD

_REF = re.compile(r"^res(\d+)\.(\d+)$")
_KERAS = re.compile(r"^stage(\d+)_block(\d+)(?:_(.*))?$")


def ref_name(stage: int, index: int) -> str:
    """Reference block name ``res{stage}.{index}`` (index from 0)."""
    return f"res{stage}.{index}"


def keras_prefix(name: str) -> str:
    """``res2.0`` → ``stage2_block1`` (the Keras layer-name prefix of that block)."""
    m = _REF.match(name)
    if not m:
        raise ConfigError(f"block name {name!r} is not of the form res<stage>.<index>")
    return f"stage{int(m.group(1))}_block{int(m.group(2)) + 1}"


@dataclass
class CompressionPlan:
    """Bookkeeping of spec §e (what the reference writes into its ``.cfg``)."""

    blocks_per_stage: list[int]
    discarded: list[str]
    name_mapping: dict[str, str]
    discard_first_block: list[int]
    kept_blocks_per_stage: list[int]
    blocks_built_per_stage: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_compression(blocks_per_stage: Sequence[int], discarded: Sequence[str]) -> CompressionPlan:
    """Rename the kept blocks of each stage contiguously (from 1 if block 0 is discarded)."""
    blocks = [int(b) for b in blocks_per_stage]
    gone: set[tuple[int, int]] = set()
    for name in discarded:
        m = _REF.match(name)
        if not m or not (1 <= int(m.group(1)) <= len(blocks)) or not (0 <= int(m.group(2)) < blocks[int(m.group(1)) - 1]):
            raise ConfigError(f"unknown block {name!r}; blocks per stage are {blocks} (names res<stage>.<index>)")
        gone.add((int(m.group(1)), int(m.group(2))))
    mapping: dict[str, str] = {}
    first, kept = [], []
    for s, n in enumerate(blocks, start=1):
        d = int((s, 0) in gone)
        keep = [i for i in range(n) if (s, i) not in gone]
        mapping.update({ref_name(s, i): ref_name(s, d + j) for j, i in enumerate(keep)})
        first.append(d)
        kept.append(len(keep))
    ordered = sorted(gone)
    return CompressionPlan(blocks, [ref_name(s, i) for s, i in ordered], mapping, first, kept,
                           [k + d for k, d in zip(kept, first)])


# --------------------------------------------------------------------------- model inspection
def _architecture(model: keras.Model) -> dict[str, Any]:
    """Builder, blocks per stage and options of a gated ε-ResNet (read from its layers)."""
    gates = gate_layers(model)
    if not gates:
        raise ConfigError(f"model {model.name!r} has no EpsilonGate layers; it is not a gated ε-ResNet")
    counts: dict[int, int] = {}
    for g in gates:
        m = _KERAS.match(g.name)
        if not m:
            raise ConfigError(f"gate layer {g.name!r} does not follow the stage<s>_block<b>_gate naming")
        counts[int(m.group(1))] = max(counts.get(int(m.group(1)), 0), int(m.group(2)))
    blocks = [counts.get(s, 0) for s in range(1, max(counts) + 1)]
    names = {layer.name for layer in model.layers}
    bottleneck = "stage1_block1_conv3" in names
    norm = next((layer for layer in model.layers if isinstance(layer, Normalize)), None)
    reg = model.get_layer("stem_conv").kernel_regularizer
    options: dict[str, Any] = {
        "num_classes": int(model.get_layer("classifier").units),
        "input_shape": tuple(model.input_shape[1:]),
        "normalization": (list(norm.mean), list(norm.std)) if norm is not None else None,
        "weight_decay": float(reg.l2) if reg is not None else 0.0,
    }
    if bottleneck:
        depth = next((d for d, defs in IMAGENET_DEFS.items() if list(defs) == blocks), None)
        if depth is None:
            raise ConfigError(f"model {model.name!r}: blocks per group {blocks} match no ε-ResNet depth")
        return {"builder": epsresnet_imagenet, "depth": depth, "blocks": blocks, "options": options}
    if len(set(blocks)) != 1 or len(blocks) != 3:
        raise ConfigError(f"model {model.name!r}: blocks per stage {blocks} are not a CIFAR ε-ResNet (3 × n)")
    return {"builder": epsresnet_cifar, "depth": 6 * blocks[0] + 2, "blocks": blocks, "options": options}


def _source_layer(new_name: str, inverse: dict[str, str]) -> str:
    """Layer of the gated model whose weights go to ``new_name`` of the compressed model."""
    m = _KERAS.match(new_name)
    if not m:
        return new_name
    s, b, suffix = int(m.group(1)), int(m.group(2)), m.group(3)
    old = inverse.get(ref_name(s, b - 1), ref_name(s, b - 1))  # a removed block 0's leftover keeps its name
    return f"{keras_prefix(old)}_{suffix}" if suffix else keras_prefix(old)


def _trainable(model: keras.Model) -> int:
    return int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))


def _zero_channels(layer: keras.layers.Layer, zero: dict[str, set[int]]) -> set[int]:
    """Channels of ``layer``'s output that are structurally zero, given its inputs' zero channels.

    Tracked through the zero-pad shortcut (padding adds zeros, pooling keeps them), a gate frozen
    at 0 (all zeros) and ``Add`` (zero only where every input is); any other layer ends the tracking.
    """
    if isinstance(layer, EpsilonGate) and layer.frozen == 0.0:
        return set(range(int(layer.output_shape[-1])))
    inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else []
    sources = [zero.get(src.name, set()) for src in (inbound if isinstance(inbound, list) else [inbound])]
    if isinstance(layer, ZeroPadShortcut):
        in_channels = int(layer.input_shape[-1])
        offset = (layer.out_channels - in_channels) // 2
        return set(layer.padded_channels(in_channels)) | {c + offset for c in sources[0]}
    if isinstance(layer, keras.layers.Add) and sources:
        return set.intersection(*sources)
    return set()


def neutralise_padded_bn_channels(model: keras.Model) -> list[str]:
    """Set ``γ = 0`` and fold the constant into ``β`` for BN channels fed only by zero padding.

    Exact for the float model (those inputs are identically 0). Returns the BN layer names changed.
    """
    zero: dict[str, set[int]] = {}
    changed = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            src = layer.inbound_nodes[0].inbound_layers
            dead = sorted(zero.get(src.name, set()))
            if dead and layer.scale and layer.center:
                gamma, beta, mean, var = (w.copy() for w in layer.get_weights())
                inv = gamma[dead] / np.sqrt(var[dead] + np.float32(layer.epsilon))
                beta[dead] = beta[dead] - mean[dead] * inv
                gamma[dead] = 0.0
                layer.set_weights([gamma, beta, mean, var])
                changed.append(layer.name)
            continue
        zero[layer.name] = _zero_channels(layer, zero)
    return changed


def freeze_gates(model: keras.Model, threshold: float = DISCARD_THRESHOLD,
                 neutralise_dead_channels: bool = True) -> keras.Model:
    """A copy of a gated ε-ResNet whose gates are constants: 0 for discarded blocks, else 1 (spec §h.1).

    The export form of the *uncompressed* gated model: it still computes every block, but no
    longer depends on the batch (a batch-1 interpreter would otherwise gate per image).
    ``neutralise_dead_channels``: step 5 of the module docstring, as for the compressed model.
    """
    gates = gate_layers(model)
    if not gates:
        raise ConfigError(f"model {model.name!r} has no EpsilonGate layers; it is not a gated ε-ResNet")
    values = {g.name: 0.0 if float(g.discarded_ema.numpy()) >= threshold else 1.0 for g in gates}

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name in values:
            config["frozen"] = values[layer.name]
        return layer.__class__.from_config(config)

    frozen = keras.models.clone_model(model, clone_function=clone)
    frozen.set_weights(model.get_weights())
    if neutralise_dead_channels:
        neutralise_padded_bn_channels(frozen)
    return frozen


def remove_discarded_blocks(model: keras.Model, discarded: Sequence[str] | None = None,
                            threshold: float = DISCARD_THRESHOLD,
                            neutralise_dead_channels: bool = True) -> tuple[keras.Model, dict[str, Any]]:
    """``(plain_model, report)``: the gated ε-ResNet without its discarded blocks and side head.

    ``discarded``: reference names (``res2.0``); default: every block whose gate's moving-average
    ``is_discarded`` is ≥ ``threshold``. The report holds the :class:`CompressionPlan` fields plus
    the parameter counts (``params_full`` without the side head, ``params_compressed``,
    ``param_reduction = 1 − compressed/full``). ``neutralise_dead_channels`` applies step 5
    (float outputs equal up to rounding; off = a bit-for-bit copy of the gated computation).
    """
    arch = _architecture(model)
    if discarded is None:
        discarded = []
        for g in gate_layers(model):
            if float(g.discarded_ema.numpy()) >= threshold:
                m = _KERAS.match(g.name)
                discarded.append(ref_name(int(m.group(1)), int(m.group(2)) - 1))
    plan = plan_compression(arch["blocks"], discarded)
    plain = arch["builder"](arch["depth"], gated=False, structure=plan.kept_blocks_per_stage,
                            discard_first=plan.discard_first_block, name=f"{model.name}_compressed", **arch["options"])
    inverse = {new: old for old, new in plan.name_mapping.items()}
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(_source_layer(layer.name, inverse)).get_weights())
    neutralised = neutralise_padded_bn_channels(plain) if neutralise_dead_channels else []
    side = sum(_trainable(model.get_layer(n)) for n in ("side_bn", "side_classifier") if n in {x.name for x in model.layers})
    full = _trainable(model) - side
    report = {**plan.to_dict(), "params_full": full, "params_compressed": _trainable(plain),
              "param_reduction": 1.0 - _trainable(plain) / full, "blocks_removed": len(plan.discarded), "neutralised_bn": neutralised}
    return plain, report


__all__ = ["CompressionPlan", "freeze_gates", "keras_prefix", "neutralise_padded_bn_channels", "plan_compression", "ref_name",
           "remove_discarded_blocks"]
