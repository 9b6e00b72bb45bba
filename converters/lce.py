"""Larq Compute Engine export: ``larq_compute_engine.convert_keras_model`` with checks.

Binary ``QuantConv2D`` layers (sign input + sign kernel quantizers) become ``LceBconv2d``;
everything else stays float TFLite (stack.md §2.2). TF ops without a TFLite builtin are
emitted by LCE as unresolved custom ops; :func:`convert_lce` rejects those, naming the layer.
"""
from __future__ import annotations

import warnings
from typing import Any

from converters import diagnose
from converters.flatbuffer import LCE_CUSTOM_OPS, check_flatbuffer
from tfqnn.errors import ConversionError


def convert_lce(model: Any, int8_io: bool = False, bitplanes: bool = True) -> bytes:
    """Convert a (larq) Keras model to an LCE flatbuffer.

    ``int8_io=True`` asks LCE for int8 inputs/outputs, which only works for a model that
    contains quantization ops (TF-MOT fake-quant); otherwise :class:`ConversionError`.
    ``bitplanes=True`` first runs :func:`converters.bitplanes.rewrite_bitplanes`: binary-weight
    ``QuantConv2D`` layers with a k-bit unsigned input quantizer become k ``LceBconv2d``
    (checked: no float CONV_2D remains for them).
    """
    report = None
    if bitplanes:
        from converters.bitplanes import rewrite_bitplanes

        model, report = rewrite_bitplanes(model)
    import larq_compute_engine as lce
    import tensorflow as tf

    kwargs = {"inference_input_type": tf.int8, "inference_output_type": tf.int8} if int8_io else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Saved-model conversion failed, falling back ..."
            data = lce.convert_keras_model(model, **kwargs)
    except Exception as exc:  # the MLIR converter raises many exception types
        raise diagnose.conversion_error(model, "lce", exc) from None
    data = bytes(data)
    check_flatbuffer(data, "converted LCE model")
    diagnose.check_custom_ops(model, data, "lce", LCE_CUSTOM_OPS)
    if report is not None and report.rewritten:
        from converters.bitplanes import check_flatbuffer_binary

        check_flatbuffer_binary(data, report, model.name)
    if int8_io:
        from converters.runtime import io_specs

        spec_in, spec_out = io_specs(data)
        if spec_in.dtype.kind == "f" or spec_out.dtype.kind == "f":
            raise ConversionError(
                f"model '{model.name}' cannot be converted to lce with int8 I/O: it has no quantization ops"
            )
    return data
