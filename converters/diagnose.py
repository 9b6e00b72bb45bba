"""Map conversion failures back to the Keras layer that caused them.

The converters report problems by TF op name (``model/stage1_act/erfinv/Erfinv``) or op
type (``tf.Erfinv``); tensor names in a flatbuffer carry the same layer path. These helpers
turn either into ``ConversionError("layer 'x' (class Y) cannot be converted to <target>:
<reason>")``.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from tfqnn.errors import ConversionError

_INFERENCE_NAME = re.compile(r'"([^"@\s]+)@__inference')
_LOC_NAME = re.compile(r'name: "([^"]+)"')
_TF_OP = re.compile(r"'tf\.(\w+)' op")
_OP_LIST = re.compile(r"(?:Custom ops|TF Select ops|Flex ops): ([\w, ]+)")
_QUANTIZER_ATTRS = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def iter_layers(model: Any) -> Iterator[Any]:
    """Every layer of ``model``, descending into nested models, depth first."""
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)


def describe(layer: Any) -> str:
    return f"layer '{layer.name}' (class {type(layer).__name__})"


def layer_error(layer: Any, target: str, reason: str) -> ConversionError:
    return ConversionError(f"{describe(layer)} cannot be converted to {target}: {reason}")


def _child(container: Any, name: str) -> Any | None:
    candidates = [name, re.sub(r"_\d+$", "", name)]
    for layer in getattr(container, "layers", []):
        if layer.name in candidates:
            return layer
    return None


def layer_from_name(model: Any, name: str) -> Any | None:
    """The deepest layer of ``model`` named by a TF op / tensor name path, or ``None``.

    ``"model/block1/conv/Conv2D"`` → the layer ``conv`` inside sub-model ``block1``.
    Fused tensor names (``a;b``) are tried part by part.
    """
    for part in name.split(";"):
        parts = [p for p in part.split("/") if p]
        if parts and parts[0] in (model.name, re.sub(r"_\d+$", "", parts[0])):
            parts = parts[1:]
        found, container = None, model
        for comp in parts:
            layer = _child(container, comp)
            if layer is None:
                break
            found, container = layer, layer
        if found is not None:
            return found
    return None


def _error_names(exc: BaseException) -> list[str]:
    """Op names (layer paths) mentioned in a converter exception."""
    texts = [str(exc)]
    for item in getattr(exc, "errors", None) or []:
        texts.append(str(getattr(item, "location", "")))
    names: list[str] = []
    for text in texts:
        names += _INFERENCE_NAME.findall(text)
        names += [n.split("@", 1)[0] for n in _LOC_NAME.findall(text)]
    return names


def _error_op_types(exc: BaseException) -> list[str]:
    text = str(exc)
    types = _TF_OP.findall(text)
    for group in _OP_LIST.findall(text):
        types += [t.strip() for t in group.split(",") if t.strip()]
    for item in getattr(exc, "errors", None) or []:
        op_name = getattr(getattr(item, "operator", None), "name", "")
        if op_name.startswith("tf."):
            types.append(op_name[3:])
    return list(dict.fromkeys(types))


def layer_with_op_type(model: Any, op_types: Iterable[str]) -> Any | None:
    """Trace ``model`` once and return the layer that emits a TF op of one of ``op_types``."""
    op_types = set(op_types)
    if not op_types:
        return None
    try:
        import tensorflow as tf

        specs = [tf.TensorSpec([1, *t.shape[1:]], t.dtype) for t in model.inputs]
        fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
        graph = fn.get_concrete_function(*specs).graph
        for op in graph.get_operations():
            if op.type in op_types:
                layer = layer_from_name(model, op.name)
                if layer is not None:
                    return layer
    except Exception:  # best effort: the caller falls back to the converter's own message
        return None
    return None


def first_error_line(exc: BaseException) -> str:
    """The most useful single line of a converter error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()
    return lines[0] if lines else type(exc).__name__


def conversion_error(model: Any, target: str, exc: BaseException) -> ConversionError:
    """Turn a converter exception into a one-line :class:`ConversionError` naming the layer."""
    reason = first_error_line(exc)[:300]
    op_types = _error_op_types(exc)
    if op_types:
        reason = f"TF op(s) {', '.join(op_types)} have no TFLite builtin kernel"
    for name in _error_names(exc):
        layer = layer_from_name(model, name)
        if layer is not None:
            return layer_error(layer, target, reason)
    layer = layer_with_op_type(model, op_types)
    if layer is not None:
        return layer_error(layer, target, reason)
    return ConversionError(f"model '{model.name}' cannot be converted to {target}: {reason}")


def check_custom_ops(model: Any, data: bytes, target: str, known: frozenset[str]) -> None:
    """Raise naming the layer if the flatbuffer uses custom ops outside ``known`` (Flex*, ...)."""
    from converters import flatbuffer as fbuf

    unknown = set(fbuf.unknown_custom_ops(data, known))
    if not unknown:
        return
    for op in fbuf.op_list(data):
        if op.name in unknown:
            for tensor_name in op.output_names:
                layer = layer_from_name(model, tensor_name)
                if layer is not None:
                    raise layer_error(layer, target, f"op {op.name} has no kernel in the runtimes (custom/select-TF op)")
    raise ConversionError(
        f"model '{model.name}' cannot be converted to {target}: ops {', '.join(sorted(unknown))} have no kernel in the runtimes"
    )


_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def check_all_integer(model: Any, data: bytes) -> None:
    """Raise naming the layer if an int8 flatbuffer still computes an op in float32.

    Only the ``QUANTIZE``/``DEQUANTIZE`` ops at float inputs/outputs may touch float.
    """
    from converters import flatbuffer as fbuf

    for op in fbuf.op_list(data):
        if op.name in _EDGE_OPS or "FLOAT32" not in op.outputs + op.inputs:
            continue
        for tensor_name in op.output_names:
            layer = layer_from_name(model, tensor_name)
            if layer is not None:
                raise layer_error(layer, "int8", f"its op {op.name} stays float32 (not quantized)")
        raise ConversionError(
            f"model '{model.name}' cannot be converted to int8: op {op.name} ({', '.join(op.output_names)}) stays float32"
        )


def binary_layers(model: Any) -> list[Any]:
    """Layers with a 1-bit larq quantizer (``precision == 1``): LCE-only."""
    found = []
    for layer in iter_layers(model):
        for attr in _QUANTIZER_ATTRS:
            if getattr(getattr(layer, attr, None), "precision", None) == 1:
                found.append(layer)
                break
    return found


def is_qat_model(model: Any) -> bool:
    """True if any layer is a TF-MOT quantization wrapper (``QuantizeWrapper[V2]``/``QuantizeLayer``)."""
    for layer in iter_layers(model):
        cls = type(layer)
        if cls.__module__.startswith("tensorflow_model_optimization") and cls.__name__ in (
            "QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer",
        ):
            return True
    return False


def float_ops_inside(data: bytes) -> list[str]:
    """Ops strictly between the first QUANTIZE and the last DEQUANTIZE that read or write float32.

    Stricter than :func:`check_all_integer`: a float ``DEQUANTIZE`` → ``QUANTIZE`` round trip in the
    middle of the graph counts too. Without a QUANTIZE/DEQUANTIZE pair every float op counts.
    """
    from converters import flatbuffer as fbuf

    ops = fbuf.op_list(data)
    names = [op.name for op in ops]
    if "QUANTIZE" in names and "DEQUANTIZE" in names:
        ops = ops[names.index("QUANTIZE") + 1:len(names) - 1 - names[::-1].index("DEQUANTIZE")]
    return [op.name for op in ops if "FLOAT32" in op.inputs + op.outputs]


def check_int8_window(model: Any, data: bytes) -> None:
    """Raise :class:`ConversionError` if :func:`float_ops_inside` finds any float op in ``data``."""
    inside = float_ops_inside(data)
    if inside:
        raise ConversionError(
            f"model '{model.name}' is not all-int8: float op(s) {', '.join(inside)} between the first QUANTIZE "
            f"and the last DEQUANTIZE"
        )
