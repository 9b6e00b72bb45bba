"""Hessian-aware 4/8-bit allocation by integer linear programming (HAWQ-V3 §3.4, Eq. 11-12;
HAWQ-V2 (Dong et al., NeurIPS 2020) for the trace-weighted sensitivity; spec ``hawq.md`` §6).

Sensitivity of layer i at b bits: ``Ω_i(b) = t_i · ||W_i - Q_b(W_i)||²`` with ``t_i = tr(H_i) / #W_i``,
the Hessian trace estimated with Hutchinson's method ``tr(H) ≈ mean_j z_jᵀ H z_j`` (Rademacher
``z``; ``Hz`` by differentiating ``gᵀz`` again). The ILP picks ``y_i ∈ {0, 1}`` (1 = 8 bit)
minimising ``Σ y_i · t_i(Δ8_i - Δ4_i)`` subject to ``Σ c4_i + y_i(c8_i - c4_i) ≤ budget`` and
``y_a = y_b`` for layers reading the same quantized input (HAWQ's downsample conv).

Solver: :func:`scipy.optimize.milp`, i.e. HiGHS — a maintained MILP solver that ships inside
SciPy (already a dependency), exact on these 0/1 problems; PuLP/CBC or OR-Tools would add a
package and a native binary for no gain at ≤ 100 binary variables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.metrics.counting import layer_table, unwrap  # noqa: E402

BUDGET_KINDS = ("size", "bops", "latency")


# --------------------------------------------------------------------------- ILP
def ratio_budget(cost4: Sequence[float], cost8: Sequence[float], ratio: float) -> float:
    """``Σc4 + r·(Σc8 - Σc4)``: r = 0 all-INT4, r = 1 all-INT8 (the notebook's threshold)."""
    c4, c8 = float(np.sum(cost4)), float(np.sum(cost8))
    return c4 + ratio * (c8 - c4)


def solve_ilp(
    gain8: Sequence[float],
    cost4: Sequence[float],
    cost8: Sequence[float],
    budget: float,
    tie_pairs: Iterable[Sequence[int]] = (),
) -> list[int]:
    """Bits (4/8) minimising ``Σ y_i·gain8_i`` under the cost budget and ties (HiGHS MILP)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    gain = np.asarray(gain8, np.float64)
    c4, c8 = np.asarray(cost4, np.float64), np.asarray(cost8, np.float64)
    n = gain.size
    rows = [LinearConstraint((c8 - c4)[None, :], -np.inf, float(budget) - c4.sum())]
    ties = [tuple(p) for p in tie_pairs]
    if ties:
        a = np.zeros((len(ties), n))
        for k, (i, j) in enumerate(ties):
            a[k, i], a[k, j] = 1.0, -1.0
        rows.append(LinearConstraint(a, 0.0, 0.0))
    res = milp(gain, constraints=rows, integrality=np.ones(n), bounds=Bounds(0, 1))
    if res.status != 0 or res.x is None:
        raise ConfigError(f"bit allocation infeasible: budget {budget:.6g} is below the all-4-bit cost {c4.sum():.6g}")
    return [8 if v > 0.5 else 4 for v in res.x]


def notebook_problem(data: Mapping[str, Sequence[float]], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gain8, cost4, cost8)`` from ``ILP.ipynb``'s arrays (trace, Δ², parameters, bops, latencies)."""
    t = np.asarray(data["Hutchinson_trace"], np.float64)
    gain = t * (np.asarray(data["delta_weights_8bit_square"], np.float64) - np.asarray(data["delta_weights_4bit_square"], np.float64))
    if kind == "modelsize":
        p = np.asarray(data["parameters"], np.float64)
        return gain, 0.5 * p, p
    if kind == "bops":
        b = np.asarray(data["bops"], np.float64)
        return gain, b / 64, b / 16
    if kind == "latency":
        return gain, np.asarray(data["latency_int4"], np.float64), np.asarray(data["latency_int8"], np.float64)
    raise ConfigError(f"unknown ILP cost kind {kind!r}; valid: modelsize, bops, latency")


# --------------------------------------------------------------------------- sensitivities
def hutchinson_traces(loss_fn: Callable[[], tf.Tensor], variables: Sequence[tf.Variable], n_samples: int = 8, seed: int = 0) -> np.ndarray:
    """Per-variable Hessian traces ``tr(H_vv) ≈ mean_j z_jᵀ (H z_j)_v`` (block diagonal of H)."""
    rng = np.random.default_rng(seed)
    acc = np.zeros(len(variables))
    for _ in range(n_samples):
        zs = [tf.constant(rng.choice(np.array([-1.0, 1.0], np.float32), size=v.shape)) for v in variables]
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = loss_fn()
            grads = inner.gradient(loss, variables)
            gz = tf.add_n([tf.reduce_sum(g * z) for g, z in zip(grads, zs)])
        hz = outer.gradient(gz, variables)
        acc += np.array([float(tf.reduce_sum(z * h)) if h is not None else 0.0 for z, h in zip(zs, hz)])
    return acc / n_samples


def quantization_perturbation(w: Any, bits: int) -> float:
    """``||W - Q_b(W)||²`` with the HAWQ per-channel symmetric quantizer."""
    from tfqnn.quantizers.hawq import quantize_weight

    w = tf.convert_to_tensor(w, tf.float32)
    q, s = quantize_weight(w, bits)
    return float(tf.reduce_sum(tf.square(w - q * s)))


# --------------------------------------------------------------------------- model-level API
@dataclass
class Allocation:
    """Result of :func:`allocate_bits` (``layers`` in ILP order)."""

    layers: list[str]
    bits: dict[str, int]
    traces: np.ndarray
    delta4: np.ndarray
    delta8: np.ndarray
    cost: float
    budget: float
    kind: str
    tie_pairs: list[tuple[int, int]] = field(default_factory=list)

    def hawq_bit_config(self) -> dict[str, int]:
        """Reference-module bit config for ``tfqnn.models.hawq`` models (conv + its input QuantAct)."""
        from tfqnn.models.hawq import keras_to_module

        out: dict[str, int] = {}
        for name, b in self.bits.items():
            module, act = keras_to_module(name, "quant_init_convbn")
            out[module] = b
            if act is not None:
                out[act] = b
        return out


def _kernel(layer: keras.layers.Layer) -> tf.Variable:
    inner = unwrap(layer)
    return getattr(inner, "depthwise_kernel", None) if hasattr(inner, "depthwise_kernel") else inner.kernel


def _source(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer producing ``layer``'s input, looking through zero padding (same quantized input)."""
    src = layer.inbound_nodes[0].inbound_layers
    src = src[0] if isinstance(src, (list, tuple)) else src
    while isinstance(src, keras.layers.ZeroPadding2D):
        src = src.inbound_nodes[0].inbound_layers
        src = src[0] if isinstance(src, (list, tuple)) else src
    return src


def _tie_pairs(model: keras.Model, names: Sequence[str]) -> list[tuple[int, int]]:
    """Pairs of candidate layers reading the same tensor (they share one input quantizer)."""
    by_input: dict[int, list[int]] = {}
    for i, name in enumerate(names):
        by_input.setdefault(id(_source(model.get_layer(name))), []).append(i)
    return [(g[0], j) for g in by_input.values() for j in g[1:]]


def _batches(data: Any, max_batches: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(data, tuple) and len(data) == 2:
        return [(np.asarray(data[0], np.float32), np.asarray(data[1]))]
    out = []
    for i, (x, y) in enumerate(data):
        if i >= max_batches:
            break
        out.append((np.asarray(x, np.float32), np.asarray(y)))
    return out


def allocate_bits(
    model: keras.Model,
    data: Any,
    budget: Mapping[str, float] | None = None,
    *,
    ratio: float | None = None,
    kind: str = "size",
    latency: Mapping[str, tuple[float, float]] | None = None,
    layers: Sequence[str] | None = None,
    n_samples: int = 8,
    max_batches: int = 1,
    loss: Callable[[Any, Any], tf.Tensor] | None = None,
    seed: int = 0,
) -> Allocation:
    """Choose 4 or 8 bits per weighted layer of ``model`` (any Keras model with conv/dense layers).

    ``data``: ``(x, y)`` arrays or an iterable of batches (real data: traces depend on it).
    ``budget``: one of ``{"size": MiB of all weights}``, ``{"bops": GBOPs}`` (a_bits = w_bits),
    ``{"latency": ms}`` (needs ``latency={layer: (t_int4, t_int8)}``); or ``ratio`` ∈ [0, 1] of the
    ``kind`` range (0 = all 4 bit, 1 = all 8 bit). ``layers`` defaults to every conv/dense except the
    first and the last (kept at 8 bit, as HAWQ-V3). Pass the **float** model (or one with the same
    layer names): traces are taken at the float weights.
    """
    if (budget is None) == (ratio is None):
        raise ConfigError("allocate_bits needs exactly one of budget={'size'|'bops'|'latency': value} or ratio=")
    if budget is not None:
        if len(budget) != 1 or next(iter(budget)) not in BUDGET_KINDS:
            raise ConfigError(f"budget must have one key; valid: {', '.join(BUDGET_KINDS)}; got {sorted(budget)}")
        kind = next(iter(budget))
    if kind not in BUDGET_KINDS:
        raise ConfigError(f"unknown budget kind {kind!r}; valid: {', '.join(BUDGET_KINDS)}")
    rows = {r.name: r for r in layer_table(model) if r.kind in ("conv", "depthwise", "dense")}
    weighted = list(rows)
    if layers is None:
        layers = weighted[1:-1]
    unknown = [n for n in layers if n not in rows]
    if unknown:
        raise ConfigError(f"unknown weighted layer(s) {unknown}; valid: {', '.join(weighted)}")
    layers = list(layers)
    fixed = [n for n in weighted if n not in layers]
    if kind == "latency":
        if latency is None or any(n not in latency for n in layers):
            raise ConfigError("latency budgets need latency={layer: (int4_ms, int8_ms)} for every allocated layer")
        cost4 = np.array([latency[n][0] for n in layers])
        cost8 = np.array([latency[n][1] for n in layers])
        fixed_cost = sum(latency.get(n, (0.0, 0.0))[1] for n in fixed)
        unit = 1.0
    elif kind == "size":
        p = np.array([rows[n].kernel_weights for n in layers], np.float64)
        cost4, cost8 = p * 4, p * 8
        fixed_cost, unit = sum(rows[n].kernel_weights * 8 for n in fixed), 8 * 2**20
    else:
        m = np.array([rows[n].macs for n in layers], np.float64)
        cost4, cost8 = m * 16, m * 64
        fixed_cost, unit = sum(rows[n].macs * 64 for n in fixed), 1e9
    limit = ratio_budget(cost4, cost8, ratio) if ratio is not None else budget[kind] * unit - fixed_cost

    loss_obj = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = [_kernel(model.get_layer(n)) for n in layers]
    traces = np.zeros(len(layers))
    batches = _batches(data, max_batches)
    for x, y in batches:
        traces += hutchinson_traces(lambda: loss_obj(y, model(x, training=False)), variables, n_samples, seed)
    traces /= max(len(batches), 1)
    sizes = np.array([float(np.prod(v.shape)) for v in variables])
    t = traces / sizes
    d4 = np.array([quantization_perturbation(v, 4) for v in variables])
    d8 = np.array([quantization_perturbation(v, 8) for v in variables])
    ties = _tie_pairs(model, layers)
    bits = solve_ilp(t * (d8 - d4), cost4, cost8, limit, ties)
    cost = float(sum(c8 if b == 8 else c4 for b, c4, c8 in zip(bits, cost4, cost8)))
    return Allocation(layers, dict(zip(layers, bits)), t, d4, d8, cost, float(limit), kind, ties)


__all__ = [
    "BUDGET_KINDS",
    "Allocation",
    "allocate_bits",
    "hutchinson_traces",
    "notebook_problem",
    "quantization_perturbation",
    "ratio_budget",
    "solve_ilp",
]
