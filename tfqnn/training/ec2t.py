"""EC2T training with ``model.fit``: the three-group Adam and the re-quantization callback.

Spec ``ec2t.md`` §1.6–§1.7 ([MC] ``quantizer.py::optimization_step``, ``main_trained_quantization.py``).

* :class:`EC2TAdam` — PyTorch-exact Adam (``p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)``,
  pitfall P6) with three parameter groups selected by the variables' ``_ec2t_group`` tag:
  ``"other"`` (BN, stem, shortcuts, FC; lr, coupled L2 ``weight_decay_l2`` added to the gradient),
  ``"fp"`` (the FP copies W; lr, no decay, skipped while ``freeze_fp`` = 1) and ``"centroids"``
  (``[w_p, w_n]``; ``centroid_learning_rate``, no decay). Groups can be reset (fresh optimizer).
* :class:`EC2TCallback` — initialises the layers (centroids ``s·|max W|``, ``s·|min W|``,
  nearest-neighbour ``A``), and after every optimizer step clamps the centroids to
  ``0.675·std_unbiased(W)`` and re-assigns ``A`` with the entropy-constrained rule (phase 1), or only
  clamps (phase 2, frozen assignment). Tracks the best validation epoch per phase like the reference.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.errors import ConfigError
from tfqnn.layers.ternary_conv import EC2T_GROUP_ATTR, ec2t_layers
from tfqnn.quantizers.ternary import clamp_centroids, ec2t_quantize, initial_centroids, layer_decay, nearest_assignment
from tfqnn.training.callbacks import register_callback

GROUPS = ("other", "fp", "centroids")


@keras.utils.register_keras_serializable(package="tfqnn")
class EC2TAdam(keras.optimizers.Optimizer):
    """Adam over the three EC2T parameter groups (spec §1.6 steps 3–5), PyTorch update rule."""

    def __init__(
        self,
        learning_rate: Any = 1e-4,
        centroid_learning_rate: float = 1e-5,
        weight_decay_l2: float = 5e-6,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "EC2TAdam",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.centroid_learning_rate = float(centroid_learning_rate)
        self.weight_decay_l2 = float(weight_decay_l2)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def build(self, var_list) -> None:
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]
        self._groups = {self._var_key(v): GROUPS.index(getattr(v, EC2T_GROUP_ATTR, "other")) for v in var_list}
        self._group_vars = {g: [v for v in var_list if GROUPS[self._groups[self._var_key(v)]] == g] for g in GROUPS}
        self.group_offsets = self.add_variable((len(GROUPS),), dtype=tf.int64, name="group_offsets")
        self.freeze_fp = self.add_variable((), dtype=tf.float32, name="freeze_fp")

    def update_step(self, gradient, variable) -> None:
        key = self._var_key(variable)
        group = self._groups[key]
        m = self._m[self._index_dict[key]]
        v = self._v[self._index_dict[key]]
        dtype = variable.dtype
        if group == 2:
            lr = tf.constant(self.centroid_learning_rate, dtype)
        else:
            lr = tf.cast(self.learning_rate, dtype)
        if group == 0 and self.weight_decay_l2:
            gradient = gradient + self.weight_decay_l2 * variable  # coupled L2 (PyTorch Adam weight_decay)
        step = tf.cast(self.iterations + 1 - self.group_offsets[group], dtype)
        m_new = self.beta_1 * m + (1.0 - self.beta_1) * gradient
        v_new = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient)
        bias1 = 1.0 - tf.pow(tf.constant(self.beta_1, dtype), step)
        bias2 = 1.0 - tf.pow(tf.constant(self.beta_2, dtype), step)
        denom = tf.sqrt(v_new) / tf.sqrt(bias2) + self.epsilon
        p_new = variable - (lr / bias1) * m_new / denom
        if group == 1:  # FP copies: the whole opt_fp.step() is skipped in the frozen phase
            keep = self.freeze_fp > 0.5
            m_new, v_new, p_new = (tf.where(keep, old, new) for old, new in ((m, m_new), (v, v_new), (variable, p_new)))
        m.assign(m_new)
        v.assign(v_new)
        variable.assign(p_new)

    def reset_group(self, group: str) -> None:
        """Zero the moments of ``group`` and restart its bias correction (a fresh torch optimizer)."""
        if group not in GROUPS:
            raise ConfigError(f"unknown EC2T optimizer group {group!r}; groups: {', '.join(GROUPS)}")
        if not getattr(self, "_built", False):
            return
        for var in self._group_vars[group]:
            idx = self._index_dict[self._var_key(var)]
            self._m[idx].assign(tf.zeros_like(self._m[idx]))
            self._v[idx].assign(tf.zeros_like(self._v[idx]))
        offsets = self.group_offsets.numpy()
        offsets[GROUPS.index(group)] = int(self.iterations.numpy())
        self.group_offsets.assign(offsets)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "centroid_learning_rate": self.centroid_learning_rate,
                "weight_decay_l2": self.weight_decay_l2,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
            }
        )
        return config


def initialize_ec2t(model: keras.Model, ini_c_divider: float) -> int:
    """Initialise inactive EC2T layers (spec §1.2): centroids from ``s``, NN assignment, λ = 1, active.

    Returns the number of layers initialised (already active layers are left alone).
    """
    done = 0
    for layer in ec2t_layers(model):
        if float(layer.ec2t_active.numpy()) > 0.5:
            continue
        _initialize_layer(layer, ini_c_divider)
        done += 1
    return done


def _initialize_layer(layer, ini_c_divider: float) -> None:
    w_p, w_n = initial_centroids(layer.kernel, ini_c_divider)
    layer.centroids.assign(tf.stack([w_p, w_n]))
    layer.assignment.assign(nearest_assignment(layer.kernel, w_p, w_n))
    layer.ec2t_lambda.assign(1.0)
    layer.ec2t_active.assign(1.0)


def ec2t_sparsity(model: keras.Model) -> float:
    """Share of zero-assigned weights over all EC2T layers."""
    zeros = total = 0
    for layer in ec2t_layers(model):
        a = layer.assignment.numpy()
        zeros += int((a == 1).sum())
        total += a.size
    return zeros / total if total else 0.0


@keras.utils.register_keras_serializable(package="tfqnn")
@register_callback("ec2t")
class EC2TCallback(keras.callbacks.Callback):
    """EC2T schedule (spec §1.6–§1.7): re-quantize after every batch; frozen phase from ``quant_epochs``.

    Epochs ``< quant_epochs`` are phase 1 (assignment re-computed), later epochs phase 2 (A frozen,
    FP copies not updated). With validation data the best epoch of each phase (never the phase's
    epoch 0, reference quirk) is kept and restored at the phase switch (all but the FP copies) and at
    the end. ``reset_optimizer`` rebuilds the non-FP optimizer groups at the switch as the reference does.
    """

    def __init__(
        self,
        ini_c_divider: float = 0.45,
        lambda_max_divider: float = 0.15,
        quant_epochs: int = 20,
        decay: str = "mc",
        monitor: str = "val_accuracy",
        restore_best: bool = True,
        reset_optimizer: bool = True,
    ) -> None:
        super().__init__()
        layer_decay([1], decay)  # validates the formula name
        if ini_c_divider <= 0 or lambda_max_divider < 0:
            raise ConfigError(f"ec2t: ini_c_divider must be > 0 and lambda_max_divider >= 0, got {ini_c_divider}, {lambda_max_divider}")
        self.ini_c_divider = float(ini_c_divider)
        self.lambda_max_divider = float(lambda_max_divider)
        self.quant_epochs = int(quant_epochs)
        self.decay = decay
        self.monitor = monitor
        self.restore_best = bool(restore_best)
        self.reset_optimizer = bool(reset_optimizer)
        self.frozen = False
        self.best: float = -np.inf
        self._snapshot: list | None = None
        self._phase_start = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------------ setup
    def on_train_begin(self, logs=None) -> None:
        self._layers = [l for l in ec2t_layers(self.model) if l.trainable]  # frozen layers keep A (do-prune step)
        if not self._layers:
            raise ConfigError("ec2t: the model has no TernaryConv2D/TernaryDense layer")
        for layer in self._layers:
            if float(layer.ec2t_active.numpy()) <= 0.5:
                _initialize_layer(layer, self.ini_c_divider)
        deltas = layer_decay([int(np.prod(l.kernel.shape)) for l in self._layers], self.decay)
        self._deltas = [tf.constant(d, tf.float32) for d in deltas]
        self._step_fn = tf.function(self._requantize)

    def _requantize(self, frozen: bool) -> None:
        for layer, delta in zip(self._layers, self._deltas):
            clamped, _ = clamp_centroids(layer.kernel, layer.centroids)
            layer.centroids.assign(clamped)
            if not frozen:
                res = ec2t_quantize(layer.kernel, clamped[0], clamped[1], self.lambda_max_divider, layer.ec2t_lambda, delta, layer.prune)
                layer.assignment.assign(res.assignment)
                layer.ec2t_lambda.assign(res.lambda_out)

    # ------------------------------------------------------------------ schedule
    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch >= self.quant_epochs and not self.frozen:
            self._enter_frozen_phase(epoch)

    def _enter_frozen_phase(self, epoch: int) -> None:
        self.frozen = True
        self._phase_start = epoch
        if self.restore_best and self._snapshot is not None:
            self._restore(skip_fp=True)  # W stays the end-of-phase-1 copy (reference quirk)
        opt = self.model.optimizer
        if isinstance(opt, EC2TAdam):
            if self.reset_optimizer:
                opt.reset_group("other")
                opt.reset_group("centroids")
            if getattr(opt, "_built", False):
                opt.freeze_fp.assign(1.0)

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        opt = self.model.optimizer
        if self.frozen and isinstance(opt, EC2TAdam) and getattr(opt, "_built", False):
            opt.freeze_fp.assign(1.0)  # the optimizer may have been built lazily after the switch

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._step_fn(self.frozen)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        sparsity = ec2t_sparsity(self.model)
        lambdas = [float(l.ec2t_lambda.numpy()) for l in self._layers]
        if logs is not None:
            logs["ec2t_sparsity"] = sparsity
            logs["ec2t_frozen"] = float(self.frozen)
        self.history.append({"epoch": epoch, "sparsity": sparsity, "frozen": self.frozen, "lambdas": lambdas})
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if value > self.best:
            self.best = float(value)
            if epoch > self._phase_start:
                self._snapshot = [(w, w.numpy()) for w in self.model.weights]

    def on_train_end(self, logs=None) -> None:
        if self.restore_best and self._snapshot is not None:
            self._restore(skip_fp=False)

    def _restore(self, skip_fp: bool) -> None:
        for var, value in self._snapshot or []:
            if skip_fp and getattr(var, EC2T_GROUP_ATTR, None) == "fp":
                continue
            var.assign(value)

    def get_config(self) -> dict:
        return {
            "ini_c_divider": self.ini_c_divider,
            "lambda_max_divider": self.lambda_max_divider,
            "quant_epochs": self.quant_epochs,
            "decay": self.decay,
            "monitor": self.monitor,
            "restore_best": self.restore_best,
            "reset_optimizer": self.reset_optimizer,
        }

    @classmethod
    def from_config(cls, config: dict) -> "EC2TCallback":
        return cls(**config)
