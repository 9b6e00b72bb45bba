"""Local tfds builders over the packed files: ``tfqnn_cifar10`` and ``tfqnn_tiny_imagenet``.

For users who want real tfds datasets (tfrecords, ``tfds.load``) without internet::

    import tfqnn.data.tfds_builders  # registers the builders
    tfds.builder("tfqnn_cifar10", data_dir=d).download_and_prepare()
    tfqnn.data.load("cifar10", "train", data_dir=d)  # now read through tfds

``download_and_prepare`` reads the npz found by :func:`tfqnn.data.packed.locate` and writes the
original JPEG bytes unchanged (no re-encoding), so preparing is cheap; nothing is downloaded.
Importing this module imports ``tensorflow_datasets`` (slow), so ``tfqnn.data`` does it lazily.
"""
from __future__ import annotations

from typing import Any, Iterator

from tfqnn.keras import keras  # noqa: F401  (selects legacy Keras before TensorFlow loads)

import tensorflow_datasets as tfds  # noqa: E402

from tfqnn.data import packed  # noqa: E402
from tfqnn.data.catalog import static_info  # noqa: E402
from tfqnn.errors import DataError  # noqa: E402

BUILDER_PREFIX = "tfqnn_"


class _PackedJpegBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared body: one tfds split per packed split, JPEG bytes passed through."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Packed real data of ../shared/data (see its README)."}
    DATASET: str = ""

    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls) -> None:
        """Nothing is downloaded (tfds' default lookup also needs the package importlib_resources)."""
        return None

    def _info(self) -> tfds.core.DatasetInfo:
        ds_info = static_info(self.DATASET)
        path = packed.locate(self.DATASET)
        names = packed.npz_label_names(path) if path is not None else ds_info.label_names
        return self.dataset_info_from_configs(
            description=f"{self.DATASET} from the packed local copy (tfqnn).",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=ds_info.image_shape, encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(names=list(names) or None,
                                                  num_classes=None if names else ds_info.num_classes),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        del dl_manager  # nothing is downloaded
        path = packed.locate(self.DATASET)
        if path is None:
            where = ", ".join(str(p) for p in packed.candidates(self.DATASET))
            raise DataError(f"dataset {self.DATASET!r} not found: looked in {where}; set {packed.DATA_DIR_ENV}")
        return {split: self._generate_examples(path, key) for split, key in packed.PACKED[self.DATASET].splits.items()}

    def _generate_examples(self, path: Any, key: str) -> Iterator[tuple[str, dict]]:
        buf, offsets = packed.npz_jpegs(path, key, len(packed.npz_labels(path, key)))
        labels = packed.npz_labels(path, key)
        raw = buf.tobytes()
        for i in range(len(labels)):
            yield f"{key}_{i:06d}", {"image": raw[offsets[i]:offsets[i + 1]], "label": int(labels[i])}


class TfqnnCifar10(_PackedJpegBuilder):
    """CIFAR-10 (JPEG q75 copy), splits train 50000 / test 10000."""

    DATASET = "cifar10"


class TfqnnTinyImagenet(_PackedJpegBuilder):
    """Tiny-ImageNet-200: train (20000-image subset) / validation 10000."""

    DATASET = "tiny_imagenet"


def builder_name(dataset: str) -> str:
    """``"cifar10"`` -> ``"tfqnn_cifar10"``."""
    return BUILDER_PREFIX + dataset


__all__ = ["TfqnnCifar10", "TfqnnTinyImagenet", "builder_name"]
