"""MicroNet-challenge score of a built Keras model: ``micronet_score(model, mode=...)``.

``score = scoring_params/P_base + ops/O_base`` (CIFAR-100: WideResNet-28-10, 36.5M / 10.49B;
ImageNet: MobileNetV2-1.4, 6.9M / 1170M). Two modes (spec ``ec2t.md`` §3):

* ``"reference"`` — the EC2T authors' script exactly (:mod:`tfqnn.metrics.micronet_accounting`), for
  our MicroNet and EfficientNet-B1 builders: ceil-based and stride-halved sizes, per-part flooring,
  MicroNet residual adds omitted, EfficientNet residual adds with ``div`` applied twice, EfficientNet
  convs counted without padding, dead-channel removal (MicroNet), FC sparsity ignored (MicroNet).
* ``"rules"`` — the challenge rules as written, on any model, layer by layer: true output shapes,
  every residual add / pool / SE scaling / activation counted, mults at ``mul_bits``, adds at 32 bit
  (no add freebie), ternary kernels = two 1-bit masks + two ``num_bits`` centroids, sparse float
  kernels = ``nnz`` values + a 1-bit mask, BN folded into a per-channel bias after a conv (else
  scale + shift), no per-part flooring, no dead-channel removal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

from tfqnn.errors import ConfigError
from tfqnn.layers.ternary_conv import _EC2TMixin
from tfqnn.metrics import micronet_accounting as acc

MODES = ("reference", "rules")
TASKS = {"cifar100": (36.5e6, 10490.0), "imagenet": (6.9e6, 1170.0)}


@dataclass
class ScoreReport:
    """Per-part and total accounting; ``mflop`` in millions of 32-bit-op units."""

    mode: str
    task: str
    architecture: str
    num_bits: int
    mul_bits: int
    add_bits: int
    image_size: int
    parts: dict[str, acc.Part]
    total_params: int
    total_scoring_params: float
    total_mflop: float
    sparsity: float
    score: float
    raw_mults: float = 0.0
    raw_adds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Human-readable table (what ``tfqnn-score`` prints)."""
        lines = [f"MicroNet-challenge score ({self.mode} mode, {self.architecture}, task {self.task}, {self.image_size}px; "
                 f"params {self.num_bits}-bit, mults {self.mul_bits}-bit, adds {self.add_bits}-bit)",
                 f"{'part':<22}{'params':>12}{'scoring params':>16}{'MB':>10}{'MFLOP':>12}"]
        for name, p in self.parts.items():
            lines.append(f"{name:<22}{p.params:>12,}{p.scoring_params:>16,.0f}{p.megabytes:>10.4f}{p.mflop:>12.3f}")
        lines.append(f"{'total':<22}{self.total_params:>12,}{self.total_scoring_params:>16,.0f}{'':>10}{self.total_mflop:>12.3f}")
        if self.raw_mults or self.raw_adds:
            lines.append(f"raw ops: {self.raw_mults / 1e6:.3f}M mults at {self.mul_bits} bit, {self.raw_adds / 1e6:.3f}M adds at {self.add_bits} bit")
        p_base, o_base = TASKS[self.task]
        lines.append(f"sparsity (all parameters): {100 * self.sparsity:.2f}%")
        lines.append(f"score = {self.total_scoring_params / 1e6:.4f}M/{p_base / 1e6:g}M + {self.total_mflop:.2f}M/{o_base:g}M "
                     f"= {self.total_scoring_params / p_base:.4f} + {self.total_mflop / o_base:.4f} = {self.score:.4f}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


# --------------------------------------------------------------------------- model access
def effective_kernel(layer: keras.layers.Layer) -> np.ndarray:
    """The kernel used in the forward pass (``T`` for an active EC2T layer), Keras layout."""
    if isinstance(layer, _EC2TMixin) and float(layer.ec2t_active.numpy()) > 0.5:
        return layer.ternary_kernel().numpy()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return layer.depthwise_kernel.numpy()
    return layer.kernel.numpy()


def _oihw(kernel: np.ndarray) -> np.ndarray:
    return np.transpose(kernel, (3, 2, 0, 1))


def detect_architecture(model: keras.Model) -> str:
    names = {l.name for l in model.layers}
    if "stage1_block1_conv1" in names and "stem_conv" in names:
        return "micronet"
    if "block0_dw_conv" in names and "head_conv" in names:
        return "efficientnet_b1"
    return "generic"


def model_sparsity(model: keras.Model) -> float:
    """Share of exact zeros over all parameters (trainable weights, ternary kernels as ``T``, no centroids)."""
    zeros = total = 0
    done: set[int] = set()
    for layer in model.layers:
        for var in layer.trainable_weights:
            if getattr(var, "_ec2t_group", None) == "centroids" or id(var) in done:
                continue
            done.add(id(var))
            if getattr(var, "_ec2t_group", None) == "fp":
                arr = effective_kernel(layer)
            else:
                arr = var.numpy()
            zeros += int(arr.size - np.count_nonzero(arr))
            total += int(arr.size)
    return zeros / total if total else 0.0


def _spec(layer: keras.layers.Layer, stride: int | None = None, kernel: np.ndarray | None = None) -> acc.ConvSpec:
    k = effective_kernel(layer) if kernel is None else kernel
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        c_in = c_out = int(k.shape[2])
        ks = int(k.shape[0])
    elif k.ndim == 4:
        c_in, c_out, ks = int(k.shape[2]), int(k.shape[3]), int(k.shape[0])
    else:
        c_in, c_out, ks = int(k.shape[0]), int(k.shape[1]), 1
    st = stride if stride is not None else int(getattr(layer, "strides", (1,))[0])
    return acc.ConvSpec(c_in, c_out, ks, st, int(k.size), int(np.count_nonzero(k)))


# --------------------------------------------------------------------------- reference mode
def _micronet_reference(model, image_size, num_bits, mul_bits, add_bits) -> dict[str, acc.Part]:
    layers = {l.name: l for l in model.layers}
    shortcuts = sorted((n for n in layers if n.endswith("_shortcut_conv")), key=_block_key)
    blocks = sorted({n.rsplit("_", 1)[0] for n in layers if n.endswith("_conv1") and n.startswith("stage")}, key=_block_key)
    kernels = []
    for b in blocks:
        for c in ("conv1", "conv2"):
            kernels.append(_oihw(effective_kernel(layers[f"{b}_{c}"])))
    return {
        "stem_conv": acc.count_stem(_spec(layers["stem_conv"]), image_size, num_bits, mul_bits, add_bits),
        "shortcut_convs": acc.count_shortcuts([_spec(layers[n]) for n in shortcuts], image_size, num_bits, mul_bits, add_bits),
        "ternary_block_convs": acc.count_ternary_blocks(acc.ternary_specs_from_kernels(kernels), image_size, num_bits, mul_bits, add_bits),
        "fc": acc.count_fc(_spec(layers["classifier"]), num_bits, mul_bits, add_bits),
    }


def _block_key(name: str) -> tuple[int, int]:
    s, b = name.split("_")[0:2]
    return int(s[len("stage"):]), int(b[len("block"):])


def magnitude_prune(kernel: np.ndarray, threshold: float) -> np.ndarray:
    """Depthwise pruning of the entry (``--prune-threshold``): ``w <- 0 if |w| < t·max|w|`` per tensor."""
    out = kernel.copy()
    out[np.abs(out) < np.abs(out).max() * threshold] = 0
    return out


def _efficientnet_reference(model, image_size, num_bits, mul_bits, add_bits, prune_threshold) -> dict[str, acc.Part]:
    from tfqnn.models.efficientnet import block_specs

    layers = {l.name: l for l in model.layers}
    n_blocks = sum(1 for n in layers if n.endswith("_dw_conv"))

    def group(suffix: str) -> list[acc.ConvSpec]:
        specs = []
        for i in range(n_blocks):
            layer = layers.get(f"block{i}_{suffix}")
            if layer is None:
                continue
            kernel = effective_kernel(layer)
            if suffix == "dw_conv" and prune_threshold is not None:
                kernel = magnitude_prune(kernel, prune_threshold)
            specs.append(_spec(layer, kernel=kernel))
        return specs

    parts = {"conv_stem": acc.count_efficientnet_convs("conv_stem", [_spec(layers["stem_conv"])], image_size, num_bits, mul_bits, add_bits)}
    for part, suffix in (("expand_conv", "expand_conv"), ("depthwise_conv", "dw_conv"), ("se_reduce_conv", "se_reduce"),
                         ("se_expand_conv", "se_expand"), ("project_conv", "project_conv")):
        parts[part] = acc.count_efficientnet_convs(part, group(suffix), image_size, num_bits, mul_bits, add_bits)
    parts["conv_head"] = acc.count_efficientnet_convs("conv_head", [_spec(layers["head_conv"])], image_size, num_bits, mul_bits, add_bits)
    parts["fc"] = acc.count_efficientnet_fc(_spec(layers["classifier"]), num_bits, mul_bits, add_bits)
    blocks = [(b.c_in, b.c_out, b.repeat) for b in block_specs()]
    parts["residual_adds"] = acc.efficientnet_residual_adds(blocks, image_size, add_bits)
    return parts


# --------------------------------------------------------------------------- rules mode
_ACT_OPS = {"relu": (1, 0), "swish": (3, 1), "silu": (3, 1), "sigmoid": (2, 1)}


def _act_name(layer) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", None) if not isinstance(act, str) else act


def _rules(model, num_bits, mul_bits) -> tuple[dict[str, acc.Part], float, float]:
    """Layer-by-layer challenge-rules accounting; returns parts by layer kind, raw mults and adds."""
    mults = adds = 0.0
    buckets: dict[str, list[float]] = {}
    inbound: dict[str, str] = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for src in node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]:
                inbound.setdefault(layer.name, src.name)

    def add_part(kind: str, params: int, scoring: float, m: float, a: float) -> None:
        b = buckets.setdefault(kind, [0, 0.0, 0.0, 0.0])
        b[0] += params
        b[1] += scoring
        b[2] += m
        b[3] += a

    by_name = {l.name: l for l in model.layers}
    for layer in model.layers:
        out_shape = layer.output_shape
        if isinstance(out_shape, list):
            out_shape = out_shape[0]
        n_out = int(np.prod([d for d in out_shape[1:] if d is not None])) if out_shape else 0
        m = a = 0.0
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            k = effective_kernel(layer)
            c_out = int(k.shape[-1]) if not isinstance(layer, keras.layers.DepthwiseConv2D) else int(k.shape[2])
            nnz = int(np.count_nonzero(k))
            ternary = isinstance(layer, _EC2TMixin) and not layer.prune and float(layer.ec2t_active.numpy()) > 0.5
            if ternary:
                bits = 2 * k.size + 2 * num_bits
            elif nnz < k.size:
                bits = nnz * num_bits + k.size
            else:
                bits = k.size * num_bits
            k_eff = nnz / c_out
            m = 2 * n_out if ternary else k_eff * n_out
            a = max(k_eff - 1, 0) * n_out
            params = int(k.size)
            if getattr(layer, "use_bias", False):
                bits += c_out * num_bits
                a += n_out
                params += c_out
            act = _act_name(layer)
            if act in _ACT_OPS:
                m += _ACT_OPS[act][0] * n_out
                a += _ACT_OPS[act][1] * n_out
            add_part("ternary" if ternary else ("sparse" if nnz < k.size else "dense"), params, bits / 32, m, a)
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = int(layer.gamma.shape[0])
            prev = by_name.get(inbound.get(layer.name, ""))
            folded = isinstance(prev, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense))
            bits = c * num_bits if folded else 2 * c * num_bits
            add_part("batchnorm", 2 * c, bits / 32, 0 if folded else n_out, n_out)
        elif isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            name = "relu" if isinstance(layer, keras.layers.ReLU) else _act_name(layer)
            mm, aa = _ACT_OPS.get(name or "", (0, 0))
            add_part("activations", 0, 0.0, mm * n_out, aa * n_out)
        elif isinstance(layer, keras.layers.Add):
            add_part("residual_adds", 0, 0.0, 0, (len(layer.input) - 1) * n_out)
        elif isinstance(layer, keras.layers.Multiply):
            add_part("scaling", 0, 0.0, (len(layer.input) - 1) * n_out, 0)
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            shp = layer.input_shape
            hw = int(shp[1] * shp[2])
            c = int(shp[3])
            add_part("pooling", 0, 0.0, c, (hw - 1) * c)
    parts = {}
    for kind, (params, scoring, m, a) in buckets.items():
        mults += m
        adds += a
        parts[kind] = acc.Part(int(params), scoring, scoring * 32 / 8 / 1e6, m * mul_bits / 32 / 1e6 + a * 32 / 32 / 1e6)
    return parts, mults, adds


# --------------------------------------------------------------------------- entry point
def micronet_score(
    model: keras.Model,
    mode: str = "reference",
    *,
    task: str | None = None,
    add_bits: int = 16,
    num_bits: int = 16,
    mul_bits: int = 16,
    image_size: int | None = None,
    prune_threshold: float | None = None,
) -> ScoreReport:
    """Score ``model`` (see module doc). ``add_bits`` applies to ``reference`` mode only (rules: 32).

    ``prune_threshold`` (EfficientNet reference mode): depthwise magnitude pruning at scoring time.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown scoring mode {mode!r}; modes: {', '.join(MODES)}")
    arch = detect_architecture(model)
    if task is None:
        task = "imagenet" if arch == "efficientnet_b1" or (model.input_shape[1] or 0) > 64 else "cifar100"
    if task not in TASKS:
        raise ConfigError(f"unknown scoring task {task!r}; tasks: {', '.join(TASKS)}")
    for name, bits in (("add_bits", add_bits), ("num_bits", num_bits), ("mul_bits", mul_bits)):
        if bits not in (8, 16, 32):
            raise ConfigError(f"{name} must be 8, 16 or 32, got {bits}")
    image_size = int(image_size or model.input_shape[1])
    notes: list[str] = []
    raw_m = raw_a = 0.0
    if mode == "reference":
        if arch == "micronet":
            parts = _micronet_reference(model, image_size, num_bits, mul_bits, add_bits)
        elif arch == "efficientnet_b1":
            parts = _efficientnet_reference(model, image_size, num_bits, mul_bits, add_bits, prune_threshold)
        else:
            raise ConfigError(f"reference scoring needs a tfqnn micronet or efficientnet_b1 model, got {model.name!r}; use mode='rules'")
        total_sp: float = sum(p.scoring_params for p in parts.values())
        total_mflop = 0.0
        for p in parts.values():
            total_mflop += p.mflop
    else:
        add_bits = 32
        parts, raw_m, raw_a = _rules(model, num_bits, mul_bits)
        total_sp = sum(p.scoring_params for p in parts.values())
        total_mflop = raw_m * mul_bits / 32 / 1e6 + raw_a / 1e6
        notes.append("rules mode: true output sizes, all adds at 32 bit, residual adds/pools/activations counted, no dead-channel removal")
    total_params = sum(p.params for p in parts.values())
    p_base, o_base = TASKS[task]
    if mode == "reference":
        sc = acc.score(total_sp, total_mflop, task)
    else:
        sc = total_sp / p_base + total_mflop / o_base
    return ScoreReport(mode, task, arch, num_bits, mul_bits, add_bits, image_size, parts, total_params, total_sp, total_mflop,
                       model_sparsity(model), sc, raw_m, raw_a, notes)


def published_score(scoring_params_m: float, mflop: float, task: str) -> tuple[float, float, float]:
    """Score of published rounded components: ``(param_term, op_term, score)``."""
    p_base, o_base = TASKS[task]
    pt = scoring_params_m * 1e6 / p_base
    ot = mflop / o_base
    return pt, ot, pt + ot
