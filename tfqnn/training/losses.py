"""Losses on integer labels and logits."""
from __future__ import annotations

from tfqnn.keras import keras
import tensorflow as tf


@keras.utils.register_keras_serializable(package="tfqnn")
class SparseCrossEntropy(keras.losses.Loss):
    """Cross-entropy of logits against integer labels with optional label smoothing.

    Smoothed target: ``(1 - ε)·onehot(y) + ε/K`` (Szegedy et al. 2016, §7), so
    ``label_smoothing=0`` is the plain sparse cross-entropy.
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_cross_entropy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        num_classes = tf.shape(y_pred)[-1]
        logp = tf.nn.log_softmax(y_pred, axis=-1)
        nll = -tf.gather(logp, labels, axis=-1, batch_dims=1)
        if self.label_smoothing == 0.0:
            return nll
        uniform = -tf.reduce_mean(logp, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
