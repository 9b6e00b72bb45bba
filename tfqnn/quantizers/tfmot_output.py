"""The TF-MOT ``QuantizeConfig`` for weightless layers TF-MOT does not know: quantize only the output.

An 8-bit asymmetric per-tensor moving-average (EMA) range, like TF-MOT's own activation quantizers,
so the converter emits the layer as an int8 op. Subclasses only name the layer they serve.
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras

import tensorflow_model_optimization as tfmot  # noqa: E402

_q = tfmot.quantization.keras


def ema8() -> Any:
    """8-bit asymmetric per-tensor moving-average quantizer."""
    return _q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


class OutputOnlyQuantizeConfig(_q.QuantizeConfig):
    """No weights, no inner activations; :func:`ema8` on the output."""

    def get_weights_and_quantizers(self, layer: keras.layers.Layer) -> list:
        return []

    def get_activations_and_quantizers(self, layer: keras.layers.Layer) -> list:
        return []

    def set_quantize_weights(self, layer: keras.layers.Layer, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: keras.layers.Layer, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: keras.layers.Layer) -> list:
        return [ema8()]

    def get_config(self) -> dict[str, Any]:
        return {}


__all__ = ["OutputOnlyQuantizeConfig", "ema8"]
