"""A printable per-layer table with totals (for CLIs and notebooks)."""
from __future__ import annotations

from tfqnn.keras import keras
from tfqnn.metrics.counting import LayerStats, count_params, layer_table
from tfqnn.metrics.size import model_size_bytes


def _bits(row: LayerStats) -> str:
    if row.kind == "other":
        return ""
    k = "?" if row.kernel_bits is None else row.kernel_bits
    a = "?" if row.input_bits is None else row.input_bits
    return f"w{k}a{a}"


def summary_table(model: keras.Model, include_other: bool = True) -> str:
    """Per-layer name, class, kind, output shape, params, MACs and bits, then totals.

    ``include_other=False`` lists only conv / dense layers (totals still cover every layer).
    """
    rows = layer_table(model)
    header = ("layer", "class", "kind", "output shape", "params", "MACs", "bits")
    lines = [
        (r.name, r.class_name, r.kind, "x".join("?" if d is None else str(d) for d in r.output_shape[1:]),
         f"{r.params:,}", f"{r.macs:,}", _bits(r))
        for r in rows
        if include_other or r.kind != "other"
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    right = {4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(fmt(header))
    pc = count_params(model)
    macs = sum(r.macs for r in rows)
    size = model_size_bytes(model, table=rows)
    out = [f"Model: {model.name}", rule, fmt(header), rule, *(fmt(line) for line in lines), rule,
           f"Params: {pc.total:,} (trainable {pc.trainable:,}, non-trainable {pc.non_trainable:,})",
           f"MACs (conv/dense, batch 1): {macs:,} ({macs / 1e6:.2f} M)",
           f"Size at float32: {size:,.0f} bytes ({size / 2**20:.2f} MiB)"]
    return "\n".join(out)
