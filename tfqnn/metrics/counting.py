"""Parameter and MAC counting on a built Keras model (the base of BOPS, packed size, score).

What is counted (batch 1):

* **MACs** (multiply-accumulates) of the weighted layers only:
  Conv (1D/2D/3D, grouped): ``prod(out_spatial) · prod(kernel.shape)``, i.e.
  ``H_out·W_out·k_h·k_w·(C_in/groups)·C_out``;
  transposed conv: ``prod(in_spatial) · prod(kernel.shape)``;
  DepthwiseConv: ``H_out·W_out·k_h·k_w·C_in·depth_multiplier``;
  SeparableConv: depthwise part + pointwise ``H_out·W_out·C_in·dm·C_out``;
  Dense: ``in_features·units × product of the extra non-batch leading dims``.
  Biases, BatchNorm, activations, pooling, padding, adds, normalisation and quantizers are
  **not** counted. A shared layer counts once per call. This is the convention behind
  torchvision's "GFLOPS" column (ResNet-50: 4.09 G v1.5, 3.86 G v1; ResNet-18: 1.81 G).
* **Parameters**: Keras weights — trainable (conv kernels, biases, BN γ/β, ...) and
  non-trainable (BN moving mean/variance, TF-MOT quantizer ranges, ...).

Larq ``Quant*`` layers subclass the Keras layers and are counted like them; TF-MOT
``QuantizeWrapper``/``QuantizeWrapperV2`` (any ``keras.layers.Wrapper``) are unwrapped and
reported under the wrapper's name; nested functional models are walked layer by layer
(row name ``outer/inner``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from tfqnn.keras import keras
from tfqnn.metrics.shapes import LayerCall, layer_calls

#: Layer kinds whose kernel is a weight tensor counted by MACs and ``model_size_bytes``.
WEIGHTED_KINDS = ("conv", "depthwise", "separable", "dense")

_L = keras.layers
_SEPARABLE = (_L.SeparableConv1D, _L.SeparableConv2D)
_DEPTHWISE = (_L.DepthwiseConv1D, _L.DepthwiseConv2D)
_TRANSPOSE = (_L.Conv1DTranspose, _L.Conv2DTranspose, _L.Conv3DTranspose)
_CONV = (_L.Conv1D, _L.Conv2D, _L.Conv3D)
_QUANTIZER_ATTRS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


@dataclass(frozen=True)
class ParamCount:
    """Number of scalar weights of a model."""

    trainable: int
    non_trainable: int
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.trainable + self.non_trainable)


@dataclass(frozen=True)
class LayerStats:
    """One row of :func:`layer_table`.

    ``kernel_weights`` is the size of the weight tensor(s) multiplied in the MACs (0 for
    kind "other"). ``kernel_bits`` / ``input_bits``: precision of the Larq kernel / input
    quantizer (32 when the layer has none, ``None`` if a quantizer declares no precision);
    32 / 32 for plain float conv/dense layers; ``None`` for kind "other".
    """

    name: str
    class_name: str
    kind: str
    output_shape: tuple[int | None, ...]
    trainable_params: int
    non_trainable_params: int
    kernel_weights: int
    macs: int
    kernel_bits: int | None = None
    input_bits: int | None = None

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params


def _size(weights: Sequence[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


def count_params(model: keras.Model) -> ParamCount:
    """Trainable / non-trainable scalar weights of ``model`` (each variable once)."""
    return ParamCount(trainable=_size(model.trainable_weights), non_trainable=_size(model.non_trainable_weights))


def unwrap(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The innermost layer of (nested) ``keras.layers.Wrapper``s, e.g. TF-MOT QuantizeWrapperV2."""
    while isinstance(layer, _L.Wrapper):
        layer = layer.layer
    return layer


def layer_kind(layer: keras.layers.Layer) -> str:
    """"separable", "depthwise", "conv", "dense" or "other" (after unwrapping)."""
    inner = unwrap(layer)
    if isinstance(inner, _SEPARABLE):
        return "separable"
    if isinstance(inner, _DEPTHWISE):
        return "depthwise"
    if isinstance(inner, _CONV):
        return "conv"
    if isinstance(inner, _L.Dense):
        return "dense"
    return "other"


def _kernels(inner: keras.layers.Layer, kind: str) -> list[Any]:
    if kind == "separable":
        return [inner.depthwise_kernel, inner.pointwise_kernel]
    if kind == "depthwise":
        return [inner.depthwise_kernel]
    if kind in ("conv", "dense"):
        return [inner.kernel]
    return []


def _spatial(shape: tuple[int | None, ...], data_format: str | None) -> int:
    dims = shape[2:] if data_format == "channels_first" else shape[1:-1]
    return math.prod(dims)


def _macs(call: LayerCall, kind: str) -> int:
    if kind == "other":
        return 0
    inner = unwrap(call.layer)
    kernel = _size(_kernels(inner, kind))
    fmt = getattr(inner, "data_format", None)
    if kind == "dense":
        per_call = math.prod(call.output_shapes[0][1:-1]) * kernel
    elif isinstance(inner, _TRANSPOSE):
        per_call = _spatial(call.input_shapes[0], fmt) * kernel
    else:
        per_call = _spatial(call.output_shapes[0], fmt) * kernel
    return per_call * call.calls


def _precision(quantizer: Any) -> int | None:
    if quantizer is None:
        return 32
    return getattr(quantizer, "precision", None)


def _bits(inner: keras.layers.Layer, kind: str) -> tuple[int | None, int | None]:
    if kind == "other":
        return None, None
    if not hasattr(inner, "input_quantizer"):  # not a Larq layer: float
        return 32, 32
    kernel_q = next((getattr(inner, a) for a in _QUANTIZER_ATTRS if hasattr(inner, a)), None)
    return _precision(kernel_q), _precision(inner.input_quantizer)


def layer_table(model: keras.Model, input_shape: Sequence[int | None] | None = None) -> list[LayerStats]:
    """One :class:`LayerStats` per leaf layer (graph order), nested models walked.

    ``input_shape`` (no batch) overrides the model's input shape, e.g. for models built with
    ``None`` spatial dimensions. See the module docstring for what MACs count.
    """
    rows = []
    for call in layer_calls(model, input_shape):
        layer = call.layer
        inner = unwrap(layer)
        kind = layer_kind(inner)
        kernel_bits, input_bits = _bits(inner, kind)
        rows.append(
            LayerStats(
                name=call.path,
                class_name=type(inner).__name__ if inner is layer else f"{type(layer).__name__}({type(inner).__name__})",
                kind=kind,
                output_shape=call.output_shapes[0] if call.output_shapes else (),
                trainable_params=_size(layer.trainable_weights),
                non_trainable_params=_size(layer.non_trainable_weights),
                kernel_weights=_size(_kernels(inner, kind)),
                macs=_macs(call, kind),
                kernel_bits=kernel_bits,
                input_bits=input_bits,
            )
        )
    return rows


def count_macs(model: keras.Model, input_shape: Sequence[int | None] | None = None) -> int:
    """Total multiply-accumulates of one image (conv / depthwise / separable / dense only)."""
    return sum(row.macs for row in layer_table(model, input_shape))
