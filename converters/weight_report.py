"""Per-layer weight storage of a TFLite flatbuffer: tensor type (INT8, INT4, FLOAT32 ...), number of
weights and bytes on disk, next to a theoretical size (``weights × bits / 8``) when the Keras model's
layers declare quantized (< 32) bit-widths (:func:`tfqnn.metrics.layer_table` ``kernel_bits``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from converters.flatbuffer import _op_code_names, _root, tensor_type_name

WEIGHTED_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}


@dataclass(frozen=True)
class WeightRow:
    """One weighted op: its output tensor name (carries the Keras layer path), op, weight type, size."""

    layer: str
    op: str
    weight_type: str
    weights: int
    bytes: int


def weight_rows(data: bytes) -> list[WeightRow]:
    """Weight tensor of every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV op."""
    model = _root(data)
    codes = _op_code_names(model)
    sg = model.Subgraphs(0)
    rows = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        name = codes[op.OpcodeIndex()]
        if name not in WEIGHTED_OPS:
            continue
        t = sg.Tensors(int(op.InputsAsNumpy()[WEIGHTED_OPS[name]]))
        buf = model.Buffers(t.Buffer())
        nbytes = buf.DataLength() if buf is not None else 0
        if nbytes == 0 and buf is not None and buf.Size():  # large models keep buffers outside the flatbuffer table
            nbytes = int(buf.Size())
        out_name = sg.Tensors(int(op.OutputsAsNumpy()[0])).Name().decode("utf-8", "replace")
        rows.append(WeightRow(out_name, name, tensor_type_name(t.Type()), int(np.prod(t.ShapeAsNumpy())), int(nbytes)))
    return rows


def _layer_of(tensor_name: str, layer_names: list[str]) -> str | None:
    for part in tensor_name.replace(";", "/").split("/"):
        if part in layer_names:
            return part
    return None


def weight_report(data: bytes, model: Any | None = None) -> str:
    """Text table: layer, op, weight type, #weights, bytes on disk [, theoretical bytes from the model's bits]."""
    bits: dict[str, int] = {}
    if model is not None:
        from tfqnn.metrics import layer_table

        # only quantized layers: a plain float layer's 32 bits says nothing about an int8 PTQ file
        bits = {r.name: r.kernel_bits for r in layer_table(model) if r.kernel_bits is not None and r.kernel_bits < 32}
    names = list(bits)
    lines = [f"{'layer':40s} {'op':16s} {'type':8s} {'weights':>9s} {'bytes':>9s}" + (f" {'theory':>9s}" if bits else "")]
    total = theory = 0
    for r in weight_rows(data):
        layer = _layer_of(r.layer, names) or r.layer.split(";")[0][-40:]
        line = f"{layer:40s} {r.op:16s} {r.weight_type:8s} {r.weights:9d} {r.bytes:9d}"
        total += r.bytes
        if bits:
            b = bits.get(layer)
            th = None if b is None else r.weights * b // 8
            theory += th or 0
            line += f" {th if th is not None else '-':>9}"
        lines.append(line)
    lines.append(f"weights on disk: {total:,} bytes" + (f"; theoretical (weights x bits / 8): {theory:,} bytes" if bits else ""))
    return "\n".join(lines)


__all__ = ["WEIGHTED_OPS", "WeightRow", "weight_report", "weight_rows"]
