"""HAWQ-V3 Keras layers (Yao et al., ICML 2021; spec ``hawq.md`` §2.3, §2.5, §3.3).

* :class:`HawqQuantAct` — QuantAct as a layer (EMA range, frozen at inference), optional ReLU after
  it (``quant_act_int32`` → ReLU after the stem and every residual add).
* :class:`HawqConvBN` — ``QuantBnConv2d`` with its input ``QuantAct``: a ``Conv2D`` that owns BN
  parameters, folds them with the running statistics (fix-BN, §2.5: ``W·γ/σ``,
  ``(b-μ)·γ/σ + β``) and fake-quantizes the folded kernel per output channel. ``output_range``
  tracks an 8-bit output range used only by the inference (TFLite export) graph, for convs
  feeding a residual add (TFLite has no INT32/INT16 residual path).
* :class:`HawqDense` — ``QuantLinear`` (per-output-channel weights) with its input ``QuantAct``.

``weight_bits=None`` / ``act_bits=None`` leave the kernel / input in float. The simulated forward
pass keeps the folded bias in float (its INT32 rounding is below half an accumulator step); the
exact integer pipeline is :mod:`tfqnn.compress.hawq_integer`. Layers expose ``kernel_quantizer`` /
``input_quantizer`` with a ``precision``, so :func:`tfqnn.metrics.layer_table` reports their bits.
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras
import tensorflow as tf  # noqa: E402

from tfqnn.quantizers.hawq import HawqActQuantizer, HawqWeightQuantizer  # noqa: E402


def _training(training: Any) -> bool:
    return bool(training) if isinstance(training, bool) else bool(tf.get_static_value(training)) if training is not None else False


class _InputQuant:
    """Mixin: an optional input :class:`HawqActQuantizer` whose variables live on the layer."""

    def _init_input_quant(self, act_bits: int | None, momentum: float, export_ops: bool) -> None:
        self.act_bits = act_bits
        self.momentum = momentum
        self.export_ops = export_ops
        self.input_quantizer = None if act_bits is None else HawqActQuantizer(act_bits, momentum, export_ops=export_ops)
        self._act_vars: dict = {}

    def _build_input_quant(self, input_shape: Any) -> None:
        if self.input_quantizer is not None:
            self._act_vars = self.input_quantizer.build(input_shape, "input_act", self)

    def _sync_input(self) -> None:
        if self.input_quantizer is not None:
            self.input_quantizer.sync(self._act_vars)

    def _quant_input(self, x: tf.Tensor, training: Any) -> tf.Tensor:
        if self.input_quantizer is None:
            return x
        return self.input_quantizer(x, training=_training(training), weights=self._act_vars)


@keras.utils.register_keras_serializable(package="tfqnn")
class HawqQuantAct(keras.layers.Layer):
    """QuantAct (spec §2.3) on a layer output; ``relu=True`` applies a ReLU after quantizing."""

    def __init__(self, num_bits: int = 16, momentum: float = 0.99, relu: bool = False, export_ops: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_bits, self.momentum, self.relu, self.export_ops = num_bits, momentum, relu, export_ops
        self.quantizer = HawqActQuantizer(num_bits, momentum, export_ops=export_ops)

    def build(self, input_shape: Any) -> None:
        self._vars = self.quantizer.build(input_shape, "act", self)
        super().build(input_shape)

    def sync_export_ranges(self) -> None:
        """Refresh the ``FakeQuant`` bounds from the current range."""
        self.quantizer.sync(self._vars)

    def call(self, inputs: tf.Tensor, training: Any = None) -> tf.Tensor:
        train = _training(training)
        if self.relu and self.export_ops and not train:
            # relu(Q(x)) == Q(relu(x)) on a zero-centred grid; this order lets TFLite fuse the ReLU
            return self.quantizer(tf.nn.relu(inputs), training=False, weights=self._vars)
        y = self.quantizer(inputs, training=train, weights=self._vars)
        return tf.nn.relu(y) if self.relu else y

    def get_config(self) -> dict:
        return {**super().get_config(), "num_bits": self.num_bits, "momentum": self.momentum, "relu": self.relu, "export_ops": self.export_ops}


@keras.utils.register_keras_serializable(package="tfqnn")
class HawqConvBN(_InputQuant, keras.layers.Conv2D):
    """``QuantAct`` → conv with folded BN (running statistics) and per-channel ``weight_bits`` kernel."""

    def __init__(self, filters: int, kernel_size: Any, *, weight_bits: int | None = 8, act_bits: int | None = 8,
                 momentum: float = 0.99, bn_epsilon: float = 1e-5, export_ops: bool = True, output_range: bool = False,
                 **kwargs: Any) -> None:
        kwargs.setdefault("use_bias", False)
        kwargs.setdefault("kernel_initializer", "he_normal")
        super().__init__(filters, kernel_size, **kwargs)
        self.weight_bits = weight_bits
        self.bn_epsilon = bn_epsilon
        self.kernel_quantizer = None if weight_bits is None else HawqWeightQuantizer(weight_bits, True, export_ops=export_ops)
        self._init_input_quant(act_bits, momentum, export_ops)
        self.output_range = output_range
        self.output_quantizer = HawqActQuantizer(8, momentum, export_ops=export_ops) if output_range else None

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        c = (self.filters,)
        self.gamma = self.add_weight(name="gamma", shape=c, initializer="ones", trainable=True)
        self.beta = self.add_weight(name="beta", shape=c, initializer="zeros", trainable=True)
        self.moving_mean = self.add_weight(name="moving_mean", shape=c, initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=c, initializer="ones", trainable=False)
        self._build_input_quant(input_shape)
        self._w_vars = {} if self.kernel_quantizer is None else self.kernel_quantizer.build(self.kernel.shape, "kernel", self)
        self._out_vars = {} if self.output_quantizer is None else self.output_quantizer.build(None, "output", self)

    def sync_export_ranges(self) -> None:
        """Refresh the ``FakeQuant`` bounds from the current weights / ranges (after set_weights)."""
        if self.kernel_quantizer is not None:
            self.kernel_quantizer.sync(self.folded()[0], self._w_vars)
        if self.output_quantizer is not None:
            self.output_quantizer.sync(self._out_vars)
        self._sync_input()

    def folded(self) -> tuple[tf.Tensor, tf.Tensor]:
        """``(W_fold, b_fold)`` (spec §2.5)."""
        g = self.gamma / tf.sqrt(self.moving_variance + self.bn_epsilon)
        bias = self.bias if self.use_bias else tf.zeros_like(g)
        return self.kernel * g, (bias - self.moving_mean) * g + self.beta

    def call(self, inputs: tf.Tensor, training: Any = None) -> tf.Tensor:
        x = self._quant_input(inputs, training)
        w, b = self.folded()
        if self.kernel_quantizer is not None:
            w = self.kernel_quantizer(w, training=_training(training), weights=self._w_vars)
        y = tf.nn.bias_add(self.convolution_op(x, w), b)
        if self.output_quantizer is not None:
            # INT32 accumulator in HAWQ; TFLite stores every conv output as int8, and its converter
            # keeps QAT weights (incl. INT4) only for convs whose output carries a FakeQuant range
            out = self.output_quantizer(y, training=_training(training), weights=self._out_vars)
            y = y if _training(training) or not self.export_ops else out
        return y if self.activation is None else self.activation(y)

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_bits": self.weight_bits, "act_bits": self.act_bits, "momentum": self.momentum,
                "bn_epsilon": self.bn_epsilon, "export_ops": self.export_ops, "output_range": self.output_range}


@keras.utils.register_keras_serializable(package="tfqnn")
class HawqDense(_InputQuant, keras.layers.Dense):
    """``QuantAct`` → ``QuantLinear``: per-output-unit ``weight_bits`` kernel, float (INT32) bias.

    With ``export_ops`` the inference graph is a 1×1 convolution (per-channel weights in TFLite)."""

    def __init__(self, units: int, *, weight_bits: int | None = 8, act_bits: int | None = 8, momentum: float = 0.99,
                 export_ops: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.weight_bits = weight_bits
        self.kernel_quantizer = None if weight_bits is None else HawqWeightQuantizer(weight_bits, True, export_ops=export_ops)
        self._init_input_quant(act_bits, momentum, export_ops)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._build_input_quant(input_shape)
        self._w_vars = {} if self.kernel_quantizer is None else self.kernel_quantizer.build(self.kernel.shape, "kernel", self)

    def sync_export_ranges(self) -> None:
        """Refresh the ``FakeQuant`` bounds from the current weights / ranges (after set_weights)."""
        if self.kernel_quantizer is not None:
            self.kernel_quantizer.sync(self.kernel, self._w_vars)
        self._sync_input()

    def call(self, inputs: tf.Tensor, training: Any = None) -> tf.Tensor:
        x = self._quant_input(inputs, training)
        train = _training(training)
        if self.kernel_quantizer is not None and self.export_ops and not train:
            # TFLite FULLY_CONNECTED has per-tensor weights only; a 1×1 CONV_2D keeps them per channel
            w = self.kernel_quantizer(self.kernel[None, None], training=False, weights=self._w_vars)
            y = tf.reshape(tf.nn.conv2d(tf.reshape(x, [-1, 1, 1, x.shape[-1]]), w, 1, "VALID"), [-1, self.units])
        else:
            w = self.kernel if self.kernel_quantizer is None else self.kernel_quantizer(self.kernel, training=train, weights=self._w_vars)
            y = tf.matmul(x, w)
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return y if self.activation is None else self.activation(y)

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_bits": self.weight_bits, "act_bits": self.act_bits, "momentum": self.momentum,
                "export_ops": self.export_ops}


__all__ = ["HawqConvBN", "HawqDense", "HawqQuantAct"]
