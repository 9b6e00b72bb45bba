"""EC2T layers: ``TernaryConv2D`` / ``TernaryDense`` (spec ``ec2t.md`` §1.1, §1.8).

Each layer holds the EC2T state of one quantized weight tensor:

* ``kernel`` — the full-precision background copy ``W`` (trainable; EC2T group ``"fp"``),
* ``centroids`` — ``[w_p, w_n]`` (trainable; group ``"centroids"``),
* ``assignment`` — ``A`` ∈ {0,1,2}, same shape as the kernel (not trainable),
* ``ec2t_lambda`` — the layer's last λ (not trainable; starts at 1 → entropy path),
* ``ec2t_active`` — 0: the forward uses ``W`` (FP pre-training), 1: it uses ``T``.

With ``ec2t_active = 1`` the forward kernel is ``T = w_p[A=2] − w_n[A=0]`` (``W[A≠1]`` with
``prune=True``) and the backward is the reference's TTQ-style rule
(:func:`tfqnn.quantizers.ternary.ternarize`). ``A`` is updated outside the gradient step by
:class:`tfqnn.training.ec2t.EC2TCallback` (clamp + re-assignment after each optimizer step).
The variables carry ``_ec2t_group`` so :class:`tfqnn.training.ec2t.EC2TAdam` puts them in the right
Adam group.
"""
from __future__ import annotations

from tfqnn.keras import keras
import tensorflow as tf

from tfqnn.quantizers.ternary import assignment_to_ternary, ternarize

EC2T_GROUP_ATTR = "_ec2t_group"


class _EC2TMixin:
    """State and kernel selection shared by the EC2T conv and dense layers."""

    prune: bool

    def __init__(self, *args, prune: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prune = bool(prune)

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self._build_ec2t()

    def get_config(self) -> dict:
        config = super().get_config()
        config["prune"] = self.prune
        return config

    def _build_ec2t(self) -> None:
        shape = self.kernel.shape
        self.centroids = self.add_weight(name="centroids", shape=(2,), initializer="ones", trainable=True, dtype=tf.float32)
        self.assignment = self.add_weight(
            name="assignment", shape=shape, initializer="ones", trainable=False, dtype=tf.int32
        )
        self.ec2t_lambda = self.add_weight(name="ec2t_lambda", shape=(), initializer="ones", trainable=False, dtype=tf.float32)
        self.ec2t_active = self.add_weight(name="ec2t_active", shape=(), initializer="zeros", trainable=False, dtype=tf.float32)
        setattr(self.kernel, EC2T_GROUP_ATTR, "fp")
        setattr(self.centroids, EC2T_GROUP_ATTR, "centroids")

    def effective_kernel(self) -> tf.Tensor:
        """``T`` (with the EC2T backward) when active, else the FP kernel ``W``."""
        t = ternarize(self.kernel, self.centroids, self.assignment, self.prune)
        return tf.where(self.ec2t_active > 0.5, t, tf.convert_to_tensor(self.kernel))

    def ternary_kernel(self) -> tf.Tensor:
        """The forward ternary tensor ``T`` from the current ``A`` and centroids (no gradient)."""
        return assignment_to_ternary(self.kernel, self.assignment, self.centroids[0], self.centroids[1], self.prune)


@keras.utils.register_keras_serializable(package="tfqnn")
class TernaryConv2D(_EC2TMixin, keras.layers.Conv2D):
    """``Conv2D`` whose kernel is EC2T-ternarized (``prune=True``: entropy-constrained pruning)."""

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.effective_kernel())
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


@keras.utils.register_keras_serializable(package="tfqnn")
class TernaryDense(_EC2TMixin, keras.layers.Dense):
    """``Dense`` with an EC2T kernel (used with ``prune=True`` for EfficientNet's FC, §1.8)."""

    def call(self, inputs):
        outputs = tf.matmul(inputs, self.effective_kernel())
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


def ec2t_layers(model: keras.Model) -> list:
    """The EC2T layers of ``model`` in execution (layer-list) order, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, _EC2TMixin):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(ec2t_layers(layer))
    return found
