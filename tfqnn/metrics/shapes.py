"""Per-layer input/output shapes of a built functional model, nested models included.

Shapes are obtained by tracing the model's layer graph once (``tf.function``, batch 1, no
numbers computed), walking nested functional models layer by layer. This gives concrete
shapes even when a nested model was built with ``None`` spatial dimensions, and honours an
``input_shape`` override for models built with ``None`` dimensions. The walk follows
tf_keras' own ``Functional._run_internal_graph`` (node map; pinned tf-keras 2.21).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

import tensorflow as tf  # noqa: E402


@dataclass
class LayerCall:
    """One leaf layer of the walk: its ``/``-joined path, the shapes of its first call and how
    many times the graph calls it (shared layers)."""

    path: str
    layer: keras.layers.Layer
    input_shapes: list[tuple[int | None, ...]]
    output_shapes: list[tuple[int | None, ...]]
    calls: int = 1


def is_graph_model(layer: Any) -> bool:
    """True for a functional / Sequential Keras model with a layer graph."""
    return isinstance(layer, keras.Model) and bool(getattr(layer, "_is_graph_network", False))


def _shape(t: Any) -> tuple[int | None, ...]:
    return tuple(t.shape.as_list()) if t.shape.rank is not None else ()


def _walk(model: keras.Model, inputs: list[tf.Tensor], prefix: str, calls: dict[int, LayerCall]) -> list[tf.Tensor]:
    tensors: dict[str, list[tf.Tensor]] = {}
    usage = model._tensor_usage_count  # noqa: SLF001  (tf-keras graph internals)
    for ref, value in zip(model.inputs, inputs):
        tensors[str(id(ref))] = [value] * usage[str(id(ref))]
    for depth in sorted(model._nodes_by_depth, reverse=True):  # noqa: SLF001
        for node in model._nodes_by_depth[depth]:  # noqa: SLF001
            if node.is_input or any(i not in tensors for i in node.flat_input_ids):
                continue
            args, kwargs = node.map_arguments(tensors)
            layer = node.layer
            path = f"{prefix}{layer.name}"
            if is_graph_model(layer):
                flat_in = tf.nest.flatten((args, kwargs))
                flat_in = [t for t in flat_in if tf.is_tensor(t)][: len(layer.inputs)]
                outs = _walk(layer, flat_in, f"{path}/", calls)
                outputs = tf.nest.pack_sequence_as(layer._nested_outputs, outs)  # noqa: SLF001
            else:
                outputs = layer(*args, **kwargs)
                flat_in = [t for t in tf.nest.flatten((args, kwargs)) if tf.is_tensor(t)]
                key = id(layer)
                if key in calls:
                    calls[key].calls += 1
                else:
                    calls[key] = LayerCall(path, layer, [_shape(t) for t in flat_in],
                                           [_shape(t) for t in tf.nest.flatten(outputs)])
            for out_id, value in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                tensors[out_id] = [value] * usage[out_id]
    return [tensors[str(id(ref))].pop() for ref in model.outputs]


def layer_calls(model: keras.Model, input_shape: Sequence[int | None] | None = None) -> list[LayerCall]:
    """Leaf layers of ``model`` in graph order with shapes for a batch of 1.

    ``input_shape`` (without batch) overrides the model's own input shape (single-input
    models only); it is required when the model was built with ``None`` dimensions.
    Raises ConfigError for subclassed models (no layer graph) or undetermined shapes.
    """
    if not is_graph_model(model):
        raise ConfigError(f"model {model.name!r} is not a functional or Sequential model; cannot trace its layers")
    if input_shape is not None:
        if len(model.inputs) != 1:
            raise ConfigError(f"input_shape override needs a single-input model; {model.name!r} has {len(model.inputs)}")
        shapes = [(1, *tuple(input_shape))]
    else:
        shapes = [(1, *tuple(t.shape.as_list()[1:])) for t in model.inputs]
    for s in shapes:
        if any(d is None for d in s):
            raise ConfigError(f"model {model.name!r} input shape {s[1:]} has unknown dimensions; pass input_shape=")
    specs = [tf.TensorSpec(s, t.dtype) for s, t in zip(shapes, model.inputs)]
    calls: dict[int, LayerCall] = {}

    def trace(*xs: tf.Tensor) -> list[tf.Tensor]:
        return _walk(model, list(xs), "", calls)

    tf.function(trace, autograph=False).get_concrete_function(*specs)
    return list(calls.values())
