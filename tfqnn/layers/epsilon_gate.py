"""ε-ResNet's sparsity-promoting gate (Yu, Yu, Ramalingam, CVPR 2018, "strict identity").

For a residual branch output ``F`` the gate is the "four ReLUs" of the paper (spec §a.1):

    a_i = relu(F_i − ε) + relu(−F_i − ε)          # = max(|F_i| − ε, 0)
    s   = max_i a_i                               # over the whole mini-batch tensor (default)
    t   = relu(s·(−L) + 1)
    g   = relu(t·(−L) + 1)                        # 0 if every |F_i| ≤ ε, 1 if some |F_i| ≥ ε + 1/L

and the layer returns ``g · F`` (the block then adds the shortcut). Everything is evaluated in
float32 in exactly this op order, so the fractional transition band matches the reference; the
gradient is plain autodiff through the ReLUs (no straight-through estimator, spec §a.2).

During training the layer keeps the per-block statistic of spec §a.3 as state: the tensorpack
moving average (decay ``min(0.95, (1+k)/(10+k))`` at update ``k``) of ``is_discarded``
(``1 if g == 0`` for CIFAR/SVHN, ``1 − g`` for ImageNet). The adaptive-LR callback and the
compression read it (:attr:`EpsilonGate.discarded_ema`). Inference never writes state, so the
layer converts to plain TFLite builtins.
"""
from __future__ import annotations

from typing import Any

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError

DISCARD_STYLES = ("cifar", "imagenet")


@keras.utils.register_keras_serializable(package="tfqnn")
class EpsilonGate(keras.layers.Layer):
    """``g(F; ε) · F`` with the ε-ResNet gate (spec §a.1, paper eq. "four ReLUs").

    Args:
        epsilon: threshold ε (cast to float32, so 2.1 means float32(2.1)).
        L: the large constant (1e6 in the reference).
        per_sample: False (reference): one gate per block for the whole batch; True: the max is
            taken per sample over H, W, C (equals the reference only for batch 1).
        discard_style: "cifar" (``is_discarded = 1 if g == 0``) or "imagenet" (``1 − g``).
        ema_decay: decay of the moving average of ``is_discarded`` (0.95).
        frozen: None (compute the gate), or a constant gate value (0.0 or 1.0) for export: the
            spec's advice (§h.1) for deploying a gated model, whose batch-wide gate would otherwise
            become a per-image gate in a batch-1 interpreter.
    """

    def __init__(self, epsilon: float = 2.5, L: float = 1e6, per_sample: bool = False, discard_style: str = "cifar",
                 ema_decay: float = 0.95, frozen: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if discard_style not in DISCARD_STYLES:
            raise ConfigError(f"layer {self.name!r}: unknown discard_style {discard_style!r}; valid: {', '.join(DISCARD_STYLES)}")
        if float(epsilon) < 0 or float(L) <= 0 or not 0.0 <= float(ema_decay) < 1.0:
            raise ConfigError(f"layer {self.name!r}: need epsilon ≥ 0, L > 0, 0 ≤ ema_decay < 1; got {epsilon}, {L}, {ema_decay}")
        self.epsilon = float(epsilon)
        self.L = float(L)
        self.per_sample = bool(per_sample)
        self.discard_style = discard_style
        self.ema_decay = float(ema_decay)
        if frozen is not None and float(frozen) not in (0.0, 1.0):
            raise ConfigError(f"layer {self.name!r}: frozen gate must be 0, 1 or None, got {frozen}")
        self.frozen = None if frozen is None else float(frozen)

    def build(self, input_shape: Any) -> None:
        replica = tf.VariableAggregation.ONLY_FIRST_REPLICA  # like tensorpack: only tower 0 logs
        self.discarded_ema = self.add_weight("discarded_ema", shape=(), initializer="zeros", trainable=False,
                                             aggregation=replica)
        self.last_gate = self.add_weight("last_gate", shape=(), initializer="ones", trainable=False, aggregation=replica)
        self.num_updates = self.add_weight("num_updates", shape=(), initializer="zeros", trainable=False,
                                           aggregation=replica)
        super().build(input_shape)

    # ----------------------------------------------------------------- the formula
    def max_excess(self, residual: tf.Tensor) -> tf.Tensor:
        """``s = max(relu(F − ε) + relu(−F − ε))``: a scalar, or ``[B,1,1,1]`` when ``per_sample``."""
        f = tf.cast(residual, tf.float32)
        eps = tf.constant(self.epsilon, tf.float32)
        a = tf.nn.relu(f - eps) + tf.nn.relu(-f - eps)
        if self.per_sample:
            return tf.reduce_max(a, axis=list(range(1, a.shape.rank)), keepdims=True)
        return tf.reduce_max(a)

    def gate(self, residual: tf.Tensor) -> tf.Tensor:
        """``g = relu(relu(s·(−L) + 1)·(−L) + 1)`` in float32 (spec §a.1 op order)."""
        neg_l = tf.constant(-self.L, tf.float32)
        t = tf.nn.relu(self.max_excess(residual) * neg_l + 1.0)
        return tf.nn.relu(t * neg_l + 1.0)

    def is_discarded(self, gate: tf.Tensor) -> tf.Tensor:
        """Per-step statistic (spec §a.3); with ``per_sample`` the block counts as used if any sample uses it."""
        g = tf.reduce_max(gate)
        if self.discard_style == "cifar":
            return tf.cast(tf.equal(g, 0.0), tf.float32)
        return 1.0 - g

    # ----------------------------------------------------------------- Keras
    def call(self, inputs: tf.Tensor, training: Any = None) -> tf.Tensor:
        if self.frozen is not None:
            return inputs * tf.constant(self.frozen, inputs.dtype)
        g = self.gate(inputs)
        if training is True:
            self._update_state(g)
        return tf.cast(g, inputs.dtype) * inputs

    def _update_state(self, g: tf.Tensor) -> None:
        k = self.num_updates
        decay = tf.minimum(self.ema_decay, (1.0 + k) / (10.0 + k))
        value = self.is_discarded(g)
        self.discarded_ema.assign_sub((self.discarded_ema - value) * (1.0 - decay))
        self.last_gate.assign(tf.reduce_max(g))
        self.num_updates.assign_add(1.0)

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon, "L": self.L, "per_sample": self.per_sample,
                "discard_style": self.discard_style, "ema_decay": self.ema_decay, "frozen": self.frozen}


def gate_layers(model: keras.Model) -> list[EpsilonGate]:
    """Every :class:`EpsilonGate` of ``model`` in layer order."""
    return [layer for layer in model.layers if isinstance(layer, EpsilonGate)]


__all__ = ["DISCARD_STYLES", "EpsilonGate", "gate_layers"]
