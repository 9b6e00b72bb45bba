"""TF-MOT 8-bit QAT for ReXNet / ReXNet-lite: QuantizeConfigs for the layers TF-MOT's default
registry rejects (spec ``rexnet.md`` §7 "Quantization notes"; ``stack.md`` §4.1).

* :class:`PartialResidualQuantizeConfig` (``PartialResidualAdd``), :class:`SEScaleQuantizeConfig`
  (``SEScale``, the SE multiply) and :class:`NormalizeQuantizeConfig` (the input ``Normalize``)
  quantize only the layer **output**, 8-bit asymmetric with a moving-average range — what TF-MOT
  does for ``Add``/``Multiply`` in TFLite's int8 scheme (Jacob et al. 2018, eq. 1:
  ``r = S·(q − Z)``). The layers have no weights.
* Everything else goes through the default 8-bit registry (Conv/Depthwise + BN folding,
  per-channel conv weights, per-tensor Dense).

:func:`quantize_rexnet` turns a float ReXNet into the QAT model (weights kept);
:func:`calibrate_ranges` sets its activation ranges from data without touching the weights (TF-MOT's
EMA ranges start at ±6 and move with decay 0.999, so a few QAT steps leave them unset). Persist QAT models
as SavedModel or ``.h5`` (``stack.md`` §4.3), load them with ``tfqnn.load_model``.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator

import numpy as np

from tfqnn.keras import keras
from tfqnn.layers.normalization import Normalize
from tfqnn.layers.rexnet_blocks import PartialResidualAdd, SEScale

import tensorflow_model_optimization as tfmot  # noqa: E402

from tfqnn.quantizers.tfmot_output import OutputOnlyQuantizeConfig  # noqa: E402

_q = tfmot.quantization.keras


@keras.utils.register_keras_serializable(package="tfqnn")
class PartialResidualQuantizeConfig(OutputOnlyQuantizeConfig):
    """8-bit output quantization of :class:`PartialResidualAdd` (→ int8 PAD + ADD)."""


@keras.utils.register_keras_serializable(package="tfqnn")
class SEScaleQuantizeConfig(OutputOnlyQuantizeConfig):
    """8-bit output quantization of :class:`SEScale` (→ int8 MUL)."""


@keras.utils.register_keras_serializable(package="tfqnn")
class NormalizeQuantizeConfig(OutputOnlyQuantizeConfig):
    """8-bit output quantization of the input :class:`Normalize` (→ int8 MUL + ADD)."""


CONFIGS: dict[type, type] = {
    PartialResidualAdd: PartialResidualQuantizeConfig,
    SEScale: SEScaleQuantizeConfig,
    Normalize: NormalizeQuantizeConfig,
}


@contextlib.contextmanager
def rexnet_quantize_scope() -> Iterator[None]:
    """TF-MOT's ``quantize_scope`` plus the ReXNet layers and QuantizeConfigs (for load/clone)."""
    objects = {cls.__name__: cls for pair in CONFIGS.items() for cls in pair}
    with _q.quantize_scope(objects):
        yield


def _annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, keras.layers.InputLayer):
        return layer
    config = CONFIGS.get(type(layer))
    return _q.quantize_annotate_layer(layer, config() if config else None)


def quantize_rexnet(model: keras.Model) -> keras.Model:
    """The TF-MOT 8-bit QAT version of a float ReXNet (weights copied; name ``<name>_qat``)."""
    with rexnet_quantize_scope():
        annotated = keras.models.clone_model(model, clone_function=_annotate)
        qat = _q.quantize_apply(annotated)
    qat._name = f"{model.name}_qat"
    return qat


_INPUT = "<model input>"


def _ema_range_vars(model: keras.Model) -> dict[str, list[tuple[str, Any, Any]]]:
    """Wrapped layer name → ``[(where, min_var, max_var)]`` of its EMA-range activation quantizers.

    ``where`` is "output" (output / post-activation quantizer) or "input" (pre-activation); the
    input ``QuantizeLayer`` (range from all values seen) is listed under ``_INPUT``.
    """
    ema = _q.quantizers.MovingAverageQuantizer
    found: dict[str, list[tuple[str, Any, Any]]] = {}
    for layer in model.layers:
        qvars = getattr(layer, "quantizer_vars", None)  # the QuantizeLayer after the model input
        if getattr(layer, "quantizer", None) is not None and isinstance(qvars, dict) and "min_var" in qvars:
            found[_INPUT] = [("output", qvars["min_var"], qvars["max_var"])]
            continue
        inner = getattr(layer, "layer", None)
        if inner is None:
            continue
        rows = []
        outs = getattr(layer, "_output_quantizers", None) or []
        if outs and isinstance(outs[0], ema):
            v = layer._output_quantizer_vars
            rows.append(("output", v["min_var"], v["max_var"]))
        for act in getattr(layer, "_quantize_activations", None) or []:
            if isinstance(getattr(act, "quantizer", None), ema):
                for attr, where in (("_pre_activation_vars", "input"), ("_post_activation_vars", "output")):
                    v = getattr(act, attr, None)
                    if v:
                        rows.append((where, v["min_var"], v["max_var"]))
        if rows:
            found[inner.name] = rows
    return found


def snap_range(lo: float, hi: float, num_bits: int = 8, mantissa_bits: int = 11) -> tuple[float, float]:
    """Widen ``[lo, hi]`` so its step ``S = (hi − lo)/(2^b − 1)`` has ``mantissa_bits`` significant bits
    and ``lo = −Z·S`` for an integer zero point ``Z`` (Jacob et al. 2018, eq. 1 and §2.1).

    Used for the model-input range: the TFLite converter derives the input scale twice (from the
    fake-quant range and from its own calibration); when the two float computations differ in the
    last bit it inserts a float DEQUANTIZE → QUANTIZE pair after the input. With a short-mantissa
    step both computations are exact, so they agree. Widens by under ``2^-mantissa_bits`` relative when
    ``lo = 0`` (raw pixels), else by at most about one step (the integer zero point).
    """
    levels = 2**num_bits - 1
    lo, hi = min(0.0, float(lo)), max(0.0, float(hi))
    if hi - lo <= 0.0:
        return lo, hi
    scale = (hi - lo) / levels
    grid = 2.0 ** (np.floor(np.log2(scale)) - (mantissa_bits - 1))
    step = np.ceil(scale / grid) * grid
    while True:
        zero_point = np.ceil(-lo / step)  # lo' = −Z·S ≤ lo
        if (levels - zero_point) * step >= hi:
            return float(-zero_point * step), float((levels - zero_point) * step)
        step += grid


def calibrate_ranges(qat_model: keras.Model, float_model: keras.Model, batches: Iterable[np.ndarray]) -> int:
    """Set the QAT model's activation ranges from the float model's activations on ``batches``.

    For the model input and every quantized layer ``X`` the range is ``[min(0, min x), max(0, max x)]``
    over all ``batches`` of ``X``'s float output (its input for pre-activation quantizers), as
    TFLite's post-training calibration does; the weight quantizers' ranges are set from the weights.
    Weights and BatchNorm statistics are not changed. TF-MOT's ranges start at ±6 and move
    with EMA decay 0.999, so without this (or long QAT training) they stay near ±6 and clip.
    Returns the number of batches used.
    """
    batches = [np.asarray(b, np.float32) for b in batches]
    if not batches:
        return 0
    # One frozen training-mode call sets the weight quantizers' ranges (LastValueQuantizer keeps
    # ±6 until then); BatchNorm runs on its moving statistics because the layers are frozen.
    trainable = qat_model.trainable
    qat_model.trainable = False
    try:
        qat_model(batches[0][:1], training=True)
    finally:
        qat_model.trainable = trainable
    targets = _ema_range_vars(qat_model)
    tensors, keys = [], []
    for name, rows in targets.items():
        if name == _INPUT:
            tensors.append(float_model.inputs[0])
            keys.append((name, "output"))
            continue
        layer = float_model.get_layer(name)
        for where in sorted({w for w, _, _ in rows}):
            t = layer.output if where == "output" else layer.input
            if isinstance(t, (list, tuple)):
                continue
            tensors.append(t)
            keys.append((name, where))
    probe = keras.Model(float_model.inputs, tensors)
    ranges = {k: np.zeros(2) for k in keys}
    count = 0
    for count, batch in enumerate(batches, start=1):
        outs = probe(batch, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for k, o in zip(keys, outs):
            o = o.numpy()
            ranges[k] = np.array([min(ranges[k][0], float(o.min())), max(ranges[k][1], float(o.max()))])
    if count:
        for name, rows in targets.items():
            for where, vmin, vmax in rows:
                if (name, where) in ranges:
                    lo, hi = ranges[(name, where)]
                    if name == _INPUT:
                        lo, hi = snap_range(lo, hi)
                    vmin.assign(np.full(vmin.shape, lo, np.float32))
                    vmax.assign(np.full(vmax.shape, hi, np.float32))
    return count


def is_rexnet(model: keras.Model) -> bool:
    """True for a float ReXNet / ReXNet-lite (it has a :class:`PartialResidualAdd` or :class:`SEScale`)."""
    return any(isinstance(layer, (PartialResidualAdd, SEScale)) for layer in model.layers)


def int8_qat_model(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> keras.Model:
    """The calibrated QAT model ``tfqnn-convert --target int8`` converts for a float ReXNet.

    :func:`quantize_rexnet`, then :func:`calibrate_ranges` on ``images`` (raw model inputs) in
    batches of ``batch_size``; the TFLite converter then emits an all-int8 graph.
    """
    images = np.asarray(images, np.float32)
    qat = quantize_rexnet(model)
    calibrate_ranges(qat, model, [images[i:i + batch_size] for i in range(0, len(images), batch_size)])
    return qat
