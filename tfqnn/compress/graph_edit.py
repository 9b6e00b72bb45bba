"""Rebuild a functional Keras model node by node, letting a callback replace, drop or insert layers.

The techniques that compose across families (ε-gates on any residual net, BN folding before mixed
4/8-bit QAT, ternary convs in any builder — :mod:`tfqnn.compress.gated_blocks`,
:mod:`tfqnn.quantizers.apply`) are all graph edits that ``keras.models.clone_model`` cannot express
(it maps one layer to one layer). :func:`rebuild` re-traces the model: every layer is copied
(``from_config`` + weights) unless ``on_layer`` returns the node's new output itself.
"""
from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

#: ``on_layer(layer, args, kwargs, copy) -> output | None``; ``copy(layer)`` is a fresh copy with the weights.
OnLayer = Callable[[keras.layers.Layer, tuple, dict, Callable[[keras.layers.Layer], keras.layers.Layer]], Any]


def copy_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer with ``layer``'s config; its weights are set when it is first called (see :func:`rebuild`)."""
    return layer.__class__.from_config(layer.get_config())


def rebuild(model: keras.Model, on_layer: OnLayer | None = None, name: str | None = None) -> keras.Model:
    """A new, independent functional model computing ``model`` with the edits of ``on_layer``.

    For each node (in topological order) ``on_layer(layer, args, kwargs, copy)`` gets the layer and its
    call arguments already mapped to the new graph; it returns the new output tensor(s), or ``None`` to
    keep a copy of the layer. Layers that no output depends on any more are left out of the new model.
    """
    if not getattr(model, "_is_graph_network", False):
        raise ConfigError(f"model {model.name!r} is not a functional Keras model; it cannot be rebuilt")
    tensors: dict[int, Any] = {}
    inputs = []
    for t in model.inputs:
        new = keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name.split(":")[0])
        tensors[id(t)] = new
        inputs.append(new)
    pending: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def copy(layer: keras.layers.Layer) -> keras.layers.Layer:
        new = copy_layer(layer)
        pending.append((layer, new))
        return new

    def remap(x: Any) -> Any:
        return tensors.get(id(x), x)

    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            args = tf.nest.map_structure(remap, node.call_args)
            kwargs = tf.nest.map_structure(remap, node.call_kwargs)
            out = on_layer(node.layer, args, kwargs, copy) if on_layer is not None else None
            if out is None:
                out = copy(node.layer)(*args, **kwargs)
            for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(out)):
                tensors[id(old)] = new
    outputs = tf.nest.map_structure(remap, model._nested_outputs)
    new_model = keras.Model(inputs, outputs, name=name or model.name)
    kept = {id(layer) for layer in new_model.layers}
    for old, new in pending:
        if id(new) in kept and old.weights:
            new.set_weights(old.get_weights())
    return new_model


def producer(tensor: Any) -> keras.layers.Layer:
    """The layer that produced a Keras tensor of a functional model."""
    return tensor._keras_history.layer


def is_ancestor(candidate: Any, tensor: Any) -> bool:
    """True if Keras tensor ``candidate`` is ``tensor`` or one of the tensors it is computed from."""
    seen: set[int] = set()
    stack = [tensor]
    while stack:
        t = stack.pop()
        if t is candidate:
            return True
        if id(t) in seen:
            continue
        seen.add(id(t))
        layer, node_index, _ = t._keras_history
        node = layer.inbound_nodes[node_index]
        if not node.is_input:
            stack.extend(tf.nest.flatten(node.keras_inputs))
    return False


__all__ = ["copy_layer", "is_ancestor", "producer", "rebuild"]
