"""TFLite export: ``float`` (plain), ``int8`` (full-integer PTQ or TF-MOT QAT) and ``lce``.

``convert(model, target, representative_data=..., int8_io=...)`` is the single entry point.
Every failure is a one-line :class:`ConversionError` naming the offending layer and class.
"""
from __future__ import annotations

import warnings
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from converters import diagnose
from converters.flatbuffer import check_flatbuffer
from tfqnn.errors import ConfigError, ConversionError

TARGETS = ("float", "int8", "lce")
DEFAULT_CALIBRATION_SAMPLES = 200


def _converter(model: Any):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def _run(converter: Any, model: Any, target: str) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected ..."
            data = converter.convert()
    except Exception as exc:  # ConverterError, ValueError, RuntimeError from MLIR
        raise diagnose.conversion_error(model, target, exc) from None
    data = bytes(data)
    check_flatbuffer(data, f"converted {target} model")
    diagnose.check_custom_ops(model, data, target, frozenset())
    return data


def convert_float(model: Any) -> bytes:
    """Plain float32 TFLite."""
    return _run(_converter(model), model, "float")


def _examples(data: np.ndarray | Iterable, ndim: int) -> Iterator[np.ndarray]:
    """Single examples (no batch dim) from an array of examples or an iterable of arrays/batches."""
    if isinstance(data, np.ndarray):
        data = [data] if data.ndim == ndim + 1 else data
    for item in data:
        if isinstance(item, (tuple, list)):  # (x, y) pairs from a dataset
            item = item[0]
        arr = np.asarray(item)
        if arr.ndim == ndim + 1:
            yield from arr
        elif arr.ndim == ndim:
            yield arr
        else:
            raise ConfigError(f"representative data item has shape {arr.shape}; expected {ndim} or {ndim + 1} dims")


def representative_dataset(model: Any, data: np.ndarray | Iterable, max_samples: int) -> Callable[[], Iterator[list]]:
    """A TFLite ``representative_dataset``: one float32 example at a time, at most ``max_samples``.

    The examples are collected and checked against the model's input shape up front.
    """
    ndim = len(model.inputs[0].shape) - 1
    want = tuple(model.inputs[0].shape[1:])
    samples = list(islice(_examples(data, ndim), max(1, max_samples)))
    if not samples:
        raise ConversionError("representative data for int8 calibration is empty")
    for x in samples:
        if tuple(x.shape) != want:
            raise ConfigError(f"representative example shape {tuple(x.shape)} does not match the model input {want}")

    def gen() -> Iterator[list]:
        for x in samples:
            yield [x[None].astype(np.float32)]

    return gen


def convert_int8(
    model: Any,
    representative_data: np.ndarray | Iterable | None = None,
    *,
    int8_io: bool = False,
    max_samples: int = DEFAULT_CALIBRATION_SAMPLES,
) -> bytes:
    """Full-integer int8 TFLite (all ops int8; int8 inputs/outputs when ``int8_io``).

    A TF-MOT QAT model (quantize wrappers) is converted with the ranges it learned
    (representative data optional); any other model is post-training quantized with
    ``representative_data`` (raw float inputs, as the model takes them). Larq 1-bit layers
    are refused: they need ``--target lce``.
    """
    import tensorflow as tf

    binary = diagnose.binary_layers(model)
    if binary:
        raise diagnose.layer_error(binary[0], "int8", "it has a 1-bit larq quantizer; use --target lce")
    qat = diagnose.is_qat_model(model)
    if representative_data is None and not qat:
        raise ConversionError(f"int8 conversion of model '{model.name}' needs representative data (--data)")
    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative_data is not None:
        conv.representative_dataset = representative_dataset(model, representative_data, max_samples)
        # Full-integer op set; TF 2.21 insists on a representative dataset for it, so a
        # QAT model without one relies on its fake-quant ranges alone.
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    data = _run(conv, model, "int8")
    diagnose.check_all_integer(model, data)
    return data


def convert(
    model: Any,
    target: str,
    *,
    representative_data: np.ndarray | Iterable | None = None,
    int8_io: bool = False,
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
) -> bytes:
    """Convert a Keras model to flatbuffer bytes for ``target`` in ``TARGETS``."""
    if target not in TARGETS:
        raise ConfigError(f"unknown target '{target}' (valid: {', '.join(TARGETS)})")
    if target == "float":
        if int8_io:
            raise ConfigError("int8 inputs/outputs need target int8 or lce, not float")
        return convert_float(model)
    if target == "int8":
        return convert_int8(model, representative_data, int8_io=int8_io, max_samples=calibration_samples)
    from converters.lce import convert_lce

    return convert_lce(model, int8_io=int8_io)
