"""Top-1 / top-5 accuracy of a Keras model on a dataset split."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tfqnn.keras import keras
import numpy as np

from tfqnn import data as tfdata
from tfqnn.errors import RuntimeInputError


@dataclass
class Accuracy:
    top1: float
    top5: float | None
    examples: int

    def to_dict(self) -> dict:
        return asdict(self)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray) -> Accuracy:
    """Top-1 and (with ≥ 5 classes) top-5 accuracy of ``logits`` (N, K) against integer ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    top1 = float(np.mean(np.argmax(logits, axis=-1) == labels))
    top5 = None
    if logits.shape[-1] >= 5:
        top = np.argsort(-logits, axis=-1)[:, :5]
        top5 = float(np.mean(np.any(top == labels[:, None], axis=-1)))
    return Accuracy(top1, top5, int(labels.shape[0]))


TTA_MODES = ("tencrop",)


def evaluate_model(model: keras.Model, data: str, split: str | None = None, *, batch_size: int = 256,
                   max_examples: int | None = None, data_dir: str | None = None, verbose: int = 1,
                   tta: str | None = None, tta_resize: int | None = None) -> Accuracy:
    """Run ``model`` over ``data``'s ``split`` (default: its test split) and return accuracy.

    ``tta="tencrop"``: squash-resize each image to ``tta_resize`` (default: the model's input size scaled
    by 308/288, ERN's ratio), ten crops of the model's input size, logits averaged (tfqnn.data.tencrop).
    """
    if tta is not None:
        return _evaluate_tencrop(model, data, split, batch_size=batch_size, max_examples=max_examples,
                                 data_dir=data_dir, resize=tta_resize, tta=tta)
    info = tfdata.info(data)
    split = split or info.test_split
    expected = tuple(model.input_shape[1:])
    if len(expected) != len(info.image_shape):
        raise RuntimeInputError(f"model input shape {model.input_shape} does not fit {data} images {info.image_shape}")
    size = [d for d in expected[:2]] if None not in expected[:2] else None
    ds = tfdata.load(data, split, batch_size=batch_size, shuffle=False, max_examples=max_examples, data_dir=data_dir,
                     image_size=size if size and tuple(size) != tuple(info.image_shape[:2]) else None)
    logits, labels = [], []
    for x, y in ds:
        out = model(x, training=False)
        if isinstance(out, (list, tuple)):  # multi-output model (auxiliary heads): the first output is the main one
            out = out[0]
        logits.append(out.numpy())
        labels.append(y.numpy())
    if not logits:
        raise RuntimeInputError(f"{data} split {split!r} is empty")
    return topk_accuracy(np.concatenate(logits), np.concatenate(labels))


def _evaluate_tencrop(model: keras.Model, data: str, split: str | None, *, batch_size: int, max_examples: int | None,
                      data_dir: str | None, resize: int | None, tta: str) -> Accuracy:
    from tfqnn.data.tencrop import default_resize, tencrop_logits
    from tfqnn.errors import ConfigError

    if tta not in TTA_MODES:
        raise ConfigError(f"unknown test-time augmentation {tta!r}; valid: {', '.join(TTA_MODES)}")
    crop = tuple(model.input_shape[1:3])
    if None in crop:
        raise RuntimeInputError(f"ten-crop TTA needs a model with a fixed input size, got {model.input_shape}")
    info = tfdata.info(data)
    split = split or info.test_split
    resize = resize or default_resize(max(crop))
    ds = tfdata.load(data, split, batch_size=max(1, batch_size // 10), shuffle=False, max_examples=max_examples,
                     data_dir=data_dir)

    def predict(x):
        out = model(x, training=False)
        return (out[0] if isinstance(out, (list, tuple)) else out).numpy()

    logits, labels = [], []
    for x, y in ds:
        logits.append(tencrop_logits(predict, x, resize=resize, crop=crop))
        labels.append(y.numpy())
    if not logits:
        raise RuntimeInputError(f"{data} split {split!r} is empty")
    return topk_accuracy(np.concatenate(logits), np.concatenate(labels))
