"""What tfqnn knows about each dataset: classes, image shape, splits, normalisation constants.

Names are TensorFlow Datasets (tfds) catalog names, plus ``tiny_imagenet`` (Tiny-ImageNet-200,
not in the tfds catalog; served only from the packed local file). ``mean``/``std`` are the
widely published per-channel constants in 0..255 units, not recomputed from the local copies.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Mapping

from tfqnn.errors import ConfigError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# Imagenette class order = sorted WordNet ids (tfds order).
IMAGENETTE_LABELS = (
    "tench", "English springer", "cassette player", "chain saw", "church",
    "French horn", "garbage truck", "gas pump", "golf ball", "parachute",
)


def _x255(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(v * 255.0 for v in values)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset. ``mean``/``std`` are per channel, in 0..255 pixel units.

    ``splits`` maps split name to example count: the counts of the local packed copy when it is
    found (e.g. Tiny-ImageNet ``train`` is a 20000-image subset), else the standard counts.
    ``image_shape`` is (H, W, C); for variable-size tfds datasets (imagenette, imagenet2012) it is
    the size images are resized to when ``image_size`` is not given.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    splits: Mapping[str, int] = dataclasses.field(hash=False)
    train_split: str
    test_split: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_names: tuple[str, ...] = ()
    tfds_name: str | None = None
    variable_size: bool = False

    @property
    def channels(self) -> int:
        return self.image_shape[-1]


# name -> static description; `splits` are the standard counts.
_CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar10", 10, (32, 32, 3), {"train": 50000, "test": 10000}, "train", "test",
                    _x255((0.4914, 0.4822, 0.4465)), _x255((0.2470, 0.2435, 0.2616)), CIFAR10_LABELS, "cifar10"),
        DatasetInfo("cifar100", 100, (32, 32, 3), {"train": 50000, "test": 10000}, "train", "test",
                    _x255((0.5071, 0.4865, 0.4409)), _x255((0.2673, 0.2564, 0.2762)), (), "cifar100"),
        DatasetInfo("svhn_cropped", 10, (32, 32, 3), {"train": 73257, "test": 26032, "extra": 531131}, "train",
                    "test", _x255((0.4377, 0.4438, 0.4728)), _x255((0.198, 0.201, 0.197)),
                    tuple(str(i) for i in range(10)), "svhn_cropped"),
        DatasetInfo("fashion_mnist", 10, (28, 28, 1), {"train": 60000, "test": 10000}, "train", "test",
                    _x255((0.2860,)), _x255((0.3530,)), FASHION_MNIST_LABELS, "fashion_mnist"),
        DatasetInfo("tiny_imagenet", 200, (64, 64, 3), {"train": 100000, "validation": 10000}, "train",
                    "validation", _x255(_IMAGENET_MEAN), _x255(_IMAGENET_STD), (), None),
        DatasetInfo("imagenette", 10, (224, 224, 3), {"train": 9469, "validation": 3925}, "train", "validation",
                    _x255(_IMAGENET_MEAN), _x255(_IMAGENET_STD), IMAGENETTE_LABELS, "imagenette", True),
        DatasetInfo("imagenet2012", 1000, (224, 224, 3), {"train": 1281167, "validation": 50000}, "train",
                    "validation", _x255(_IMAGENET_MEAN), _x255(_IMAGENET_STD), (), "imagenet2012", True),
    )
}

# Split aliases accepted everywhere (tfds spelling on the right).
SPLIT_ALIASES = {"val": "validation", "valid": "validation"}


def known_names() -> list[str]:
    """All dataset names :func:`info` and ``load`` accept."""
    return sorted(_CATALOG)


def base_name(name: str) -> str:
    """``"imagenette/160px-v2"`` -> ``"imagenette"``; checks the name is known."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset name must be a non-empty string, got {name!r}")
    base = name.split("/", 1)[0].split(":", 1)[0].strip().lower()
    if base not in _CATALOG:
        close = difflib.get_close_matches(base, _CATALOG, n=len(_CATALOG), cutoff=0.0)
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(close)}")
    return base


def static_info(name: str) -> DatasetInfo:
    """The catalog entry with the standard split counts (no file access)."""
    return _CATALOG[base_name(name)]


def info(name: str, data_dir: str | None = None) -> DatasetInfo:
    """Dataset facts; ``splits`` (and Tiny-ImageNet ``label_names``) come from the local packed
    copy when it is found. Unknown names raise ``ConfigError`` listing the known names,
    closest match first."""
    base = static_info(name)
    from tfqnn.data import packed  # local import: packed imports this module

    local = packed.local_summary(base.name, data_dir)
    if local is None:
        return base
    splits, label_names = local
    return dataclasses.replace(base, splits=splits, label_names=label_names or base.label_names)
