"""One ``quantization=`` mechanism for any builder: the families' quantizers applied to any functional model.

``apply_quantization(model, quantization)`` with

* ``None`` / ``"float"`` — the model unchanged;
* ``"ternary"`` — EC2T (Marban et al. 2020, §3: ``T = w_p[A=2] − w_n[A=0]``): every plain ``Conv2D`` but the
  first becomes a :class:`~tfqnn.layers.ternary_conv.TernaryConv2D` (weights kept, EC2T state initialised by
  :class:`~tfqnn.training.ec2t.EC2TCallback`), as MicroNet keeps its stem float;
* ``"tfmot8"`` — TF-MOT 8-bit QAT with 8-bit per-channel conv weights (mixed with every conv at 8);
* a mapping ``{conv layer name: 4 | 8}`` — HAWQ-V3 mixed precision (Yao et al. 2021, Eq. 1, per-channel
  symmetric weights, e.g. ``allocate_bits(...).bits``): BatchNorm is first folded into the conv it follows
  (HAWQ-V3 §3.2: ``W·γ/σ``, ``(b − μ)·γ/σ + β``), then every ``Conv2D`` gets a
  :class:`MixedConvQuantizeConfig` (its bits, default 8) and the rest TF-MOT's default 8-bit scheme.
  The int8 TFLite converter stores the 4-bit kernels as INT4 tensors (``stack.md`` §4.2).

Weightless layers TF-MOT does not know (partial residual add, SE scale, ``Normalize``, zero-pad
shortcut, ...) get :class:`OutputQuantizeConfig` (8-bit output only). Set the activation ranges of a
fresh QAT model with :func:`tfqnn.quantizers.rexnet_qat.calibrate_ranges` (pass the BN-folded float
model returned by :func:`fold_batchnorm`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tfqnn.keras import keras

import tensorflow_model_optimization as tfmot  # noqa: E402

from tfqnn.compress.graph_edit import rebuild  # noqa: E402
from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.layers.ternary_conv import TernaryConv2D  # noqa: E402
from tfqnn.quantizers.hawq import WEIGHT_BITS, HawqWeightQuantizer  # noqa: E402
from tfqnn.quantizers.tfmot_output import OutputOnlyQuantizeConfig, ema8  # noqa: E402

_q = tfmot.quantization.keras
NAMED = ("float", "ternary", "tfmot8")


def _is_plain_conv(layer: keras.layers.Layer) -> bool:
    return type(layer) is keras.layers.Conv2D  # not DepthwiseConv2D / SeparableConv2D / subclasses


# --------------------------------------------------------------------------- EC2T
def to_ternary(model: keras.Model, skip_first: bool = True) -> keras.Model:
    """A copy of ``model`` whose ``Conv2D`` layers (all but the first when ``skip_first``) are EC2T ternary."""
    convs = [layer.name for layer in model.layers if _is_plain_conv(layer)]
    targets = set(convs[1:] if skip_first else convs)
    if not targets:
        raise ConfigError(f"model {model.name!r} has no Conv2D layer to ternarize")
    sources = {name: model.get_layer(name) for name in targets}

    def on_layer(layer, args, kwargs, copy):
        if layer.name not in targets:
            return None
        new = TernaryConv2D.from_config({**layer.get_config(), "prune": False})
        out = new(*args, **kwargs)
        new.kernel.assign(sources[layer.name].kernel)
        if layer.use_bias:
            new.bias.assign(sources[layer.name].bias)
        return out

    return rebuild(model, on_layer, name=f"{model.name}_ternary")


# --------------------------------------------------------------------------- BN folding
def _sole_consumer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    return layer.outbound_nodes[0].outbound_layer if len(layer.outbound_nodes) == 1 else None


def _relu_kind(layer: keras.layers.Layer | None) -> str | None:
    """"relu" / "relu6" if ``layer`` is a plain ReLU(6) layer, else None."""
    if isinstance(layer, keras.layers.ReLU) and float(layer.negative_slope) == 0 and float(layer.threshold) == 0:
        mv = None if layer.max_value is None else float(layer.max_value)
        return {None: "relu", 6.0: "relu6"}.get(mv)
    if isinstance(layer, keras.layers.Activation):
        kind = keras.activations.serialize(layer.activation)
        return kind if kind in ("relu", "relu6") else None
    return None


def _fusions(model: keras.Model) -> dict[str, tuple[str | None, str | None, str]]:
    """``{conv: (bn or None, relu layer or None, activation)}`` for linear convs followed by BN and/or ReLU(6)."""
    plans = {}
    for conv in model.layers:
        if not isinstance(conv, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) or isinstance(conv, TernaryConv2D):
            continue
        if keras.activations.serialize(conv.activation) != "linear":
            continue
        nxt = _sole_consumer(conv)
        bn = nxt if isinstance(nxt, keras.layers.BatchNormalization) and len(nxt.inbound_nodes) == 1 else None
        after = _sole_consumer(bn) if bn is not None else nxt
        act = _relu_kind(after)
        act = act if act == "relu" else None  # TF-MOT's QAT activation wrapper has no relu6
        if bn is not None or act is not None:
            plans[conv.name] = (bn.name if bn else None, after.name if act else None, act or "linear")
    return plans


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """A float copy of ``model``: each conv → BN pair merged into one conv with bias (inference BN), and a
    ReLU that alone follows it made the conv's activation (so quantization sees one fused op)."""
    plans = _fusions(model)
    absorbed = {n for bn, relu, _ in plans.values() for n in (bn, relu) if n}

    def on_layer(layer, args, kwargs, copy):
        if layer.name in absorbed:
            return args[0]
        if layer.name not in plans:
            return None
        bn_name, _, act = plans[layer.name]
        new = layer.__class__.from_config({**layer.get_config(), "use_bias": layer.use_bias or bn_name is not None,
                                           "activation": act})
        out = new(*args, **kwargs)
        if bn_name is None:
            new.set_weights(layer.get_weights())
            return out
        bn = model.get_layer(bn_name)
        gamma = bn.gamma.numpy() if bn.scale else 1.0
        beta = bn.beta.numpy() if bn.center else 0.0
        g = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
        if isinstance(layer, keras.layers.DepthwiseConv2D):  # kernel (kh, kw, C, m); output channel c·m + j
            k = layer.depthwise_kernel.numpy()
            new.depthwise_kernel.assign(k * g.reshape(k.shape[2], k.shape[3])[None, None])
        else:
            new.kernel.assign(layer.kernel.numpy() * g)
        b0 = layer.bias.numpy() if layer.use_bias else 0.0
        new.bias.assign((b0 - bn.moving_mean.numpy()) * g + beta)
        return out

    return rebuild(model, on_layer, name=f"{model.name}_folded")


# --------------------------------------------------------------------------- TF-MOT configs
@keras.utils.register_keras_serializable(package="tfqnn")
class MixedConvQuantizeConfig(_q.QuantizeConfig):
    """``Conv2D``: HAWQ per-channel symmetric k-bit kernel (k ∈ {4, 8}) + 8-bit EMA-range output (after the
    activation), as TF-MOT's default conv config but with the weight bits chosen per layer.
    ``quantize_output=False`` when a ReLU6 layer follows, which quantizes the fused output itself."""

    def __init__(self, weight_bits: int = 8, quantize_output: bool = True) -> None:
        if weight_bits not in WEIGHT_BITS:
            raise ConfigError(f"conv weight bits must be one of {WEIGHT_BITS}, got {weight_bits!r}")
        self.weight_bits = int(weight_bits)
        self.quantize_output = bool(quantize_output)

    def get_weights_and_quantizers(self, layer: keras.layers.Layer) -> list:
        return [(layer.kernel, HawqWeightQuantizer(self.weight_bits, per_channel=True))]

    def get_activations_and_quantizers(self, layer: keras.layers.Layer) -> list:
        return [(layer.activation, ema8())] if self.quantize_output else []

    def set_quantize_weights(self, layer: keras.layers.Layer, quantize_weights: list) -> None:
        layer.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer: keras.layers.Layer, quantize_activations: list) -> None:
        if quantize_activations:
            layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer: keras.layers.Layer) -> list:
        return []

    def get_config(self) -> dict[str, Any]:
        return {"weight_bits": self.weight_bits, "quantize_output": self.quantize_output}


@keras.utils.register_keras_serializable(package="tfqnn")
class OutputQuantizeConfig(OutputOnlyQuantizeConfig):
    """A weightless layer TF-MOT does not know: only its output, 8-bit asymmetric with an EMA range."""


def quantize_scope() -> Any:
    """TF-MOT's ``quantize_scope`` with these configs and every tfqnn custom object (load / clone)."""
    from tfqnn.serialization import custom_objects

    return _q.quantize_scope({**custom_objects(), "MixedConvQuantizeConfig": MixedConvQuantizeConfig,
                              "OutputQuantizeConfig": OutputQuantizeConfig,
                              "HawqWeightQuantizer": HawqWeightQuantizer})


def quantize_mixed(model: keras.Model, weight_bits: Mapping[str, int] | None = None) -> tuple[keras.Model, keras.Model]:
    """``(qat_model, folded_float_model)``: BN folded, then TF-MOT QAT with per-conv weight bits (default 8)."""
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

    bits = dict(weight_bits or {})
    folded = fold_batchnorm(model)
    convs = {layer.name for layer in folded.layers if _is_plain_conv(layer)}
    unknown = sorted(set(bits) - convs)
    if unknown:
        raise ConfigError(f"weight bits given for {unknown}, which are not Conv2D layers of {model.name!r}")
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()

    def annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        if layer.name in convs:
            relu6_next = _relu_kind(_sole_consumer(folded.get_layer(layer.name))) is not None
            return _q.quantize_annotate_layer(layer, MixedConvQuantizeConfig(bits.get(layer.name, 8), not relu6_next))
        if registry.supports(layer):
            return _q.quantize_annotate_layer(layer)
        if layer.weights:
            raise ConfigError(f"layer {layer.name!r} ({type(layer).__name__}) has weights TF-MOT cannot quantize")
        return _q.quantize_annotate_layer(layer, OutputQuantizeConfig())

    with quantize_scope():
        annotated = keras.models.clone_model(folded, clone_function=annotate)
        annotated.set_weights(folded.get_weights())
        qat = _q.quantize_apply(annotated)
    qat._name = f"{model.name}_mixed"
    return qat, folded


# --------------------------------------------------------------------------- the option
def apply_quantization(model: keras.Model, quantization: str | Mapping[str, int] | None) -> keras.Model:
    """The builders' shared ``quantization=`` option (see the module docstring)."""
    if quantization is None or quantization == "float":
        return model
    if quantization == "ternary":
        return to_ternary(model)
    if quantization == "tfmot8":
        return quantize_mixed(model)[0]
    if isinstance(quantization, Mapping):
        return quantize_mixed(model, quantization)[0]
    raise ConfigError(f"model {model.name!r}: unknown quantization {quantization!r}; valid: None, "
                      f"{', '.join(repr(n) for n in NAMED)} or a {{conv layer: 4|8}} mapping")


__all__ = ["MixedConvQuantizeConfig", "NAMED", "OutputQuantizeConfig", "apply_quantization", "fold_batchnorm",
           "quantize_mixed", "quantize_scope", "to_ternary"]
