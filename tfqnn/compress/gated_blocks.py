"""ε-gates on the residual blocks of any functional ResNet-like model, and removal of the discarded ones.

The ε-ResNet gate (Yu et al., CVPR 2018, the "four ReLUs" ``g(F; ε)·F``, :class:`EpsilonGate`) is not
tied to ε-ResNet's builder: :func:`add_epsilon_gates` inserts one on the residual branch of every
*identity* block of a model — an ``Add`` of two tensors where one (the shortcut) is an ancestor of the
other (the branch). Blocks with a projection shortcut are left ungated (discarding them would still
leave their shortcut conv). Used on ERN (w1a2 blocks, whose residual stream lives on a 1/32 grid, so
useful ε are ~0.5, not ε-ResNet's 2.5).

:func:`remove_gated_blocks` is the compression step (ε-ResNet spec §e, generalised): a block whose gate's
moving-average ``is_discarded`` is ≥ ``threshold`` (or that is named) becomes its shortcut, its branch
layers disappear from the model, the remaining gates are dropped (``g·F + x → F + x``). The result equals
the gated model on any batch where the removed gates are 0 and the kept ones 1. After a short training
run the moving averages have not settled (BatchNorm's moving statistics neither), so
:func:`discarded_on` offers the alternative criterion "gate 0 on every given inference batch".
"""
from __future__ import annotations

from typing import Any, Sequence

from tfqnn.keras import keras

from tfqnn.compress.graph_edit import is_ancestor, producer, rebuild
from tfqnn.errors import ConfigError
from tfqnn.layers.epsilon_gate import EpsilonGate, gate_layers
from tfqnn.training.epsresnet import DISCARD_THRESHOLD


def _block_name(layer_name: str) -> str:
    """``stage1_block2_add`` / ``stage1_block2_gate`` → ``stage1_block2``."""
    for suffix in ("_add", "_gate"):
        if layer_name.endswith(suffix):
            return layer_name[: -len(suffix)]
    return layer_name


def identity_blocks(model: keras.Model) -> dict[str, int]:
    """``{add layer name: index of its residual-branch input}`` for every identity-shortcut ``Add``."""
    found: dict[str, int] = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add) or len(layer.inbound_nodes) != 1:
            continue
        ins = layer.inbound_nodes[0].keras_inputs
        if not isinstance(ins, (list, tuple)) or len(ins) != 2:
            continue
        for branch, short in ((0, 1), (1, 0)):
            if is_ancestor(ins[short], ins[branch]):
                found[layer.name] = branch
                break
    return found


def add_epsilon_gates(model: keras.Model, epsilon: float, L: float = 1e6, per_sample: bool = False,
                      discard_style: str = "cifar") -> keras.Model:
    """A copy of ``model`` with an :class:`EpsilonGate` (``<block>_gate``) on every identity block's branch."""
    blocks = identity_blocks(model)
    if not blocks:
        raise ConfigError(f"model {model.name!r} has no identity residual blocks (Add of a tensor and its ancestor) to gate")

    def on_layer(layer, args, kwargs, copy):
        if layer.name not in blocks:
            return None
        inputs = list(args[0])
        b = blocks[layer.name]
        gate = EpsilonGate(epsilon, L, per_sample, discard_style, name=f"{_block_name(layer.name)}_gate")
        inputs[b] = gate(inputs[b])
        return copy(layer)(inputs, **kwargs)

    return rebuild(model, on_layer, name=f"{model.name}_gated")


def _gated_adds(model: keras.Model) -> dict[str, tuple[EpsilonGate, int]]:
    """``{add name: (gate, index of the gated input)}`` for Adds fed directly by a gate."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Add):
            for i, t in enumerate(layer.inbound_nodes[0].keras_inputs):
                if isinstance(producer(t), EpsilonGate):
                    out[layer.name] = (producer(t), i)
    return out


def _trainable(model: keras.Model) -> int:
    return int(sum(int(w.shape.num_elements()) for w in model.trainable_weights))


def remove_gated_blocks(model: keras.Model, discarded: Sequence[str] | None = None,
                        threshold: float = DISCARD_THRESHOLD) -> tuple[keras.Model, dict[str, Any]]:
    """``(plain_model, report)``: ``model`` without its discarded gated blocks and without gates.

    ``discarded``: block names (the gate name without ``_gate``, e.g. ``stage1_block2``); default: every
    block whose gate's ``discarded_ema`` ≥ ``threshold``. Report: ``discarded``, ``kept``,
    ``params_gated``, ``params_compressed``, ``param_reduction``.
    """
    adds = _gated_adds(model)
    if not adds:
        raise ConfigError(f"model {model.name!r} has no EpsilonGate feeding an Add; nothing to compress")
    by_block = {_block_name(a): (a, g) for a, (g, _) in adds.items()}
    if discarded is None:
        discarded = [b for b, (_, g) in by_block.items() if float(g.discarded_ema.numpy()) >= threshold]
    unknown = [b for b in discarded if b not in by_block]
    if unknown:
        raise ConfigError(f"unknown gated block(s) {unknown}; gated blocks: {', '.join(by_block)}")
    drop = {by_block[b][0] for b in discarded}

    def on_layer(layer, args, kwargs, copy):
        if isinstance(layer, EpsilonGate):
            return args[0]  # kept blocks: g·F → F (or an unused branch for dropped ones)
        if layer.name in adds:
            i = adds[layer.name][1]
            inputs = list(args[0])
            if layer.name in drop:
                return inputs[1 - i]
            return copy(layer)(inputs, **kwargs)
        return None

    plain = rebuild(model, on_layer, name=f"{model.name}_compressed")
    full, small = _trainable(model), _trainable(plain)
    report = {"discarded": sorted(discarded), "kept": sorted(set(by_block) - set(discarded)), "params_gated": full,
              "params_compressed": small, "param_reduction": 1.0 - small / full if full else 0.0}
    return plain, report


def gate_values(model: keras.Model, x: Any) -> dict[str, float]:
    """``{block: g}``: each gate's value on batch ``x`` (inference mode; per-batch gates)."""
    gates = gate_layers(model)
    probe = keras.Model(model.inputs, [g.input for g in gates])
    outs = probe(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return {_block_name(g.name): float(keras.backend.max(g.gate(o))) for g, o in zip(gates, outs)}


def discarded_on(model: keras.Model, batches: Sequence[Any]) -> list[str]:
    """Blocks whose gate is 0 on every batch of ``batches`` in inference mode (a data-driven choice for
    :func:`remove_gated_blocks` when training was too short for the moving averages to settle)."""
    values = [gate_values(model, b) for b in batches]
    return sorted(b for b in values[0] if all(v[b] == 0.0 for v in values))


__all__ = ["add_epsilon_gates", "discarded_on", "gate_values", "identity_blocks", "remove_gated_blocks"]
