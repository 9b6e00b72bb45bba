"""Bit-plane pass: binary-weight × k-bit unsigned-activation convs → k binary (±1 × ±1) convs for LCE.

LCE 0.16 only has 1-bit × 1-bit conv kernels; a Larq ``QuantConv2D`` with binary weights and a k-bit
input quantizer is otherwise exported as a float CONV_2D (``specs/stack.md`` §2.3). For such a layer, with
integer input levels ``L = Σ_j 2^j b_j`` (``b_j ∈ {0,1}``, ``j < k``), real input ``q = step · L`` and
kernel ``Wq = s · S`` (``S = sign*(W) ∈ {±1}``, ``s`` one magnitude per output channel)::

    b_j = (σ_j + 1)/2,  σ_j ∈ {±1}   ⇒   L = (Σ_j 2^j σ_j + 2^k − 1) / 2
    conv(q, Wq)[o] = step · s[o] · ( ½ Σ_j 2^j conv(σ_j, S)[o] + ½ (2^k − 1) Σ S[·,·,·,o] ) + bias[o]

so the layer becomes k ``LceBconv2d`` sharing one packed ±1 kernel, plus a per-channel multiply/add
(stack.md §2.3 measured this for k = 2). Zero padding is exact: padded positions have level 0, i.e.
``σ_j = −1`` in every plane, so levels are padded *before* the planes are built (a padded 0 gives ``z < 1``) and the binary convs use
"valid" padding (the ``Σ S`` term is then correct at the borders too).

Eligible layers: ``QuantConv2D`` (groups 1, dilation 1) whose kernel quantizer has ``precision == 1`` and
produces one magnitude per output channel, and whose input quantizer is an unsigned uniform quantizer:
any object with ``precision`` (k), ``levels(x)`` and ``level_step`` (tfqnn's ``HWGQ``) or larq's
``DoReFa(mode="activations")`` (``levels = round(clip(x, 0, 1) · (2^k − 1))``, half to even as larq does).
:func:`rewrite_bitplanes` returns a new functional model (other layers shared, not copied) plus a report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfqnn.keras import keras

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfqnn.errors import ConversionError  # noqa: E402


# --------------------------------------------------------------------------- input quantizer protocol
def uniform_spec(quantizer: Any) -> tuple[int, float] | None:
    """``(bits, level_step)`` if ``quantizer`` is a k-bit unsigned uniform quantizer, else None."""
    if quantizer is None:
        return None
    if isinstance(quantizer, lq.quantizers.DoReFa):
        if quantizer.mode != "activations" or not isinstance(quantizer.precision, int):
            return None
        return quantizer.precision, 1.0 / (2**quantizer.precision - 1)
    bits = getattr(quantizer, "precision", None)
    if isinstance(bits, int) and bits >= 1 and callable(getattr(quantizer, "levels", None)) and hasattr(quantizer, "level_step"):
        return bits, float(quantizer.level_step)
    return None


def input_levels(quantizer: Any, x: tf.Tensor) -> tf.Tensor:
    """A float32 tensor ``z`` with ``floor(z)`` = the integer levels ``quantizer`` assigns to ``x``, ``0 ≤ z < 2^k``.

    Uses the quantizer's ``floor_input`` when it has one (saves a FLOOR op per layer), else its integer levels.
    """
    if isinstance(quantizer, lq.quantizers.DoReFa):
        n = 2**quantizer.precision - 1
        return tf.round(tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 1.0) * n)
    if callable(getattr(quantizer, "floor_input", None)):
        return quantizer.floor_input(x)
    return quantizer.levels(x)


def signed_plane(levels: tf.Tensor, j: int, bits: int) -> tf.Tensor:
    """A tensor whose sign (0 counting as +) is bit ``j`` of ``floor(levels)`` as ±1 (``0 ≤ levels < 2^bits``).

    Bit j of floor(z) is set ⇔ (z mod 2^(j+1)) ≥ 2^j ⇔ frac(z·2^-(j+1)) ≥ ½, so plane j is fed
    ``frac(h) − ½ = (h − floor(h)) − ½`` with ``h = z·2^-(j+1)``: exact in float32 (a power-of-two scale, and
    Sterbenz for ``h − floor(h)``) and zero exactly where the mod form ``z mod 2^(j+1) − 2^j`` is, so the ±1
    planes are the same. It converts to MUL/FLOOR/SUB, which XNNPACK runs; TFLite's FLOOR_MOD is a scalar
    ``fmodf`` kernel outside it (the ERN ran 2.7× slower with it). The top plane is simply ``z − 2^(bits−1)``.
    """
    if j == bits - 1:
        return levels - float(2**j)
    h = levels * (1.0 / 2 ** (j + 1))
    return (h - tf.floor(h)) - 0.5


def binary_kernel(layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(S, s)``: ±1 kernel (HWIO) and per-output-channel magnitude if ``layer``'s quantized kernel is binary."""
    q = getattr(layer, "kernel_quantizer", None)
    if q is None or getattr(q, "precision", None) != 1:
        return None
    wq = np.asarray(q(tf.convert_to_tensor(layer.kernel)), np.float32)
    mag = np.abs(wq).reshape(-1, wq.shape[-1])
    scale = mag.max(axis=0)
    if not np.allclose(mag, scale[None, :], rtol=1e-6, atol=0):
        return None
    return np.where(wq >= 0, 1.0, -1.0).astype(np.float32), scale.astype(np.float32)


# --------------------------------------------------------------------------- the replacement layer
@keras.utils.register_keras_serializable(package="tfqnn")
class BitplaneConv2D(keras.layers.Layer):
    """``conv(step · L, s · S) + bias`` computed as ``bits`` binary convs on the bit planes of ``L``.

    Weights: ``bconv`` (a Larq ``QuantConv2D`` with ``ste_sign`` input and kernel quantizers holding the ±1
    kernel ``S``), ``multiplier[o] = ½ · step · s[o]`` and ``offset[o] = ½ (2^k − 1) · step · s[o] · ΣS[o] + bias[o]``,
    both optionally followed by a folded inference BatchNormalization (``·γ', +β'``).
    ``padding`` is the original layer's ("valid" or "same"); the levels are zero-padded explicitly.
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 bits: int = 2, input_quantizer: Any = None, activation: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.bits, self.padding = int(filters), int(bits), padding
        self.kernel_size = tuple(np.broadcast_to(kernel_size, 2).tolist())
        self.strides = tuple(np.broadcast_to(strides, 2).tolist())
        self.input_quantizer = lq.quantizers.get(input_quantizer)
        self.activation = keras.activations.get(activation)
        self.bconv = lq.layers.QuantConv2D(
            self.filters, self.kernel_size, strides=self.strides, padding="valid", use_bias=False,
            input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="bconv",
        )

    def build(self, input_shape: Any) -> None:
        shape = tf.TensorShape(input_shape).as_list()
        self.bconv.build([shape[0], None, None, shape[-1]])
        self.multiplier = self.add_weight("multiplier", (self.filters,), initializer="ones", trainable=False)
        self.offset = self.add_weight("offset", (self.filters,), initializer="zeros", trainable=False)
        super().build(input_shape)

    def _same_pads(self, size: int | tf.Tensor, axis: int) -> tuple[Any, Any]:
        k, s = self.kernel_size[axis], self.strides[axis]
        total = tf.maximum((-(-size // s) - 1) * s + k - size, 0) if isinstance(size, tf.Tensor) else max((-(-size // s) - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        levels = input_levels(self.input_quantizer, inputs)
        if self.padding == "same":
            dims = [inputs.shape[1] if inputs.shape[1] is not None else tf.shape(inputs)[1],
                    inputs.shape[2] if inputs.shape[2] is not None else tf.shape(inputs)[2]]
            pads = [self._same_pads(d, a) for a, d in enumerate(dims)]
            levels = tf.pad(levels, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
        out = None
        for j in reversed(range(self.bits)):
            signed = signed_plane(levels, j, self.bits)
            term = self.bconv(signed) * (self.multiplier * float(2**j))
            # per-plane multiply (and the offset on the top plane) directly after each binary conv, so LCE
            # fuses them into the LceBconv2d's post-multiplier / post-bias; then one ADD per extra plane
            out = term + self.offset if out is None else out + term
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "bits": self.bits,
            "input_quantizer": lq.quantizers.serialize(self.input_quantizer),
            "activation": keras.activations.serialize(self.activation),
        }


# --------------------------------------------------------------------------- the pass
@dataclass
class BitplaneReport:
    """Layers rewritten (name → bits), Larq convs left alone (name → reason), BatchNormalizations folded."""

    rewritten: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)


def _eligible(layer: Any) -> tuple[tuple[int, float], tuple[np.ndarray, np.ndarray]] | str:
    if not isinstance(layer, lq.layers.QuantConv2D) or isinstance(layer, lq.layers.QuantDepthwiseConv2D):
        return "not a QuantConv2D"
    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1:
        return "needs channels_last, dilation 1, groups 1"
    if layer.padding not in ("valid", "same") or getattr(layer, "pad_values", 0.0) != 0.0:
        return "needs zero padding"
    spec = uniform_spec(layer.input_quantizer)
    if spec is None:
        return "input quantizer is not a k-bit unsigned uniform quantizer"
    kernel = binary_kernel(layer)
    if kernel is None:
        return "kernel quantizer is not binary with one magnitude per output channel"
    return spec, kernel


def _sole_batchnorm(layer: Any, nodes_in_model: set[int]) -> Any:
    """The BatchNormalization that is the only consumer of ``layer``'s only output in this model, else None.

    Only nodes of this model count (layers shared with other models have more nodes).
    """
    inbound = [n for n in getattr(layer, "_inbound_nodes", []) if id(n) in nodes_in_model]
    outbound = [n for n in getattr(layer, "_outbound_nodes", []) if id(n) in nodes_in_model]
    if len(inbound) != 1 or len(outbound) != 1:
        return None
    bn = outbound[0].outbound_layer
    ok = (isinstance(bn, keras.layers.BatchNormalization)
          and len([n for n in bn._inbound_nodes if id(n) in nodes_in_model]) == 1
          and tuple(np.atleast_1d(bn.axis)) in ((3,), (-1,)) and keras.activations.serialize(layer.activation) == "linear")
    return bn if ok else None


def _bn_affine(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inference BN as ``x · g + b``."""
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    g = gamma / np.sqrt(bn.moving_variance.numpy().astype(np.float64) + bn.epsilon)
    return g, beta - bn.moving_mean.numpy() * g


def rewrite_bitplanes(model: keras.Model, fold_batchnorm: bool = True) -> tuple[keras.Model, BitplaneReport]:
    """Replace every eligible ``QuantConv2D`` of a functional ``model`` with a :class:`BitplaneConv2D`.

    ``fold_batchnorm``: a BatchNormalization that alone consumes a rewritten conv is folded into it (inference
    statistics) and replaced by an identity, so LCE fuses it into the binary convs' post-multiplier / bias.
    """
    report = BitplaneReport()
    replacements: dict[int, keras.layers.Layer] = {}
    nodes_in_model = {id(n) for nodes in getattr(model, "_nodes_by_depth", {}).values() for n in nodes}
    for layer in model.layers:
        if not isinstance(layer, lq.layers.QuantConv2D):
            continue
        found = _eligible(layer)
        if isinstance(found, str):
            report.skipped[layer.name] = found
            continue
        (bits, step), (signs, scale) = found
        new = BitplaneConv2D(layer.filters, layer.kernel_size, layer.strides, layer.padding, bits,
                             input_quantizer=lq.quantizers.serialize(layer.input_quantizer),
                             activation=keras.activations.serialize(layer.activation), name=layer.name)
        new.build(layer.input_shape)
        bias = layer.bias.numpy() if layer.use_bias else 0.0
        mult = 0.5 * step * scale.astype(np.float64)
        offset = (2**bits - 1) * mult * signs.reshape(-1, signs.shape[-1]).sum(0) + bias
        bn = _sole_batchnorm(layer, nodes_in_model) if fold_batchnorm else None
        if bn is not None:
            g, b = _bn_affine(bn)
            mult, offset = mult * g, offset * g + b
            replacements[id(bn)] = keras.layers.Activation("linear", name=bn.name)
            report.folded.append(bn.name)
        new.set_weights([signs, mult.astype(np.float32), offset.astype(np.float32)])
        replacements[id(layer)] = new
        report.rewritten[layer.name] = bits
    if not replacements:
        return model, report

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        return replacements.get(id(layer), layer)

    try:
        rewritten = keras.models.clone_model(model, clone_function=clone)
    except (ValueError, TypeError) as exc:
        raise ConversionError(f"model '{model.name}': bit-plane rewrite needs a functional model ({exc})") from None
    return rewritten, report


def check_flatbuffer_binary(data: bytes, report: BitplaneReport, model_name: str = "model") -> dict[str, int]:
    """Op histogram of ``data``; ConversionError if a rewritten layer still runs a float CONV_2D or the
    flatbuffer has fewer ``LceBconv2d`` than the rewrite created (Σ bits over rewritten layers)."""
    from converters.flatbuffer import op_histogram, op_list

    names = set(report.rewritten)
    for op in op_list(data):
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            hit = sorted(n for n in names for out in op.output_names if f"/{n}/" in f"/{out}/")
            if hit:
                raise ConversionError(f"model '{model_name}': layer {hit[0]!r} still runs a float {op.name} after the bit-plane pass")
    hist = op_histogram(data)
    expected = sum(report.rewritten.values())
    if hist.get("LceBconv2d", 0) < expected:
        raise ConversionError(
            f"model '{model_name}': {hist.get('LceBconv2d', 0)} LceBconv2d in the flatbuffer, {expected} expected from the bit-plane pass"
        )
    return hist


__all__ = ["BitplaneConv2D", "check_flatbuffer_binary", "BitplaneReport", "binary_kernel", "input_levels", "rewrite_bitplanes", "uniform_spec"]
