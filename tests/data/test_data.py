"""tfqnn.data: catalog, packed reader, split slicing, augmentation, load pipeline, tfds route.

Expected values come from ../shared/data/README.md (counts, sha256, pixel statistics) or are
worked out by hand, never from the code under test.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tfqnn.keras import keras  # noqa: F401

import tensorflow as tf  # noqa: E402

from tfqnn import data  # noqa: E402
from tfqnn.data import packed  # noqa: E402
from tfqnn.data.splits import SplitPart, parse_split  # noqa: E402
from tfqnn.errors import ConfigError, DataError  # noqa: E402

CIFAR = packed.locate("cifar10")
TINY = packed.locate("tiny_imagenet")
FASHION = packed.locate("fashion_mnist")
needs_cifar = pytest.mark.skipif(CIFAR is None, reason=f"cifar10_jpeg.npz not found in {packed.candidates('cifar10')}")
needs_tiny = pytest.mark.skipif(TINY is None, reason="tinyimagenet_jpeg.npz not found (set TFQNN_DATA_DIR)")
needs_fashion = pytest.mark.skipif(
    FASHION is None, reason="Fashion-MNIST idx files missing: apt-get install dataset-fashion-mnist")

README_X_TEST_SHA = "5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f"
README_X_TRAIN_SHA = "bf3aabd52be912dae02a0435296c4dab5289524b57f55cd162dc4796935a611b"
README_Y_TEST_SHA = "c5575395e636cadcdfe5764ffc8d56f56d234a4dc687096f8fc2d975dd6a5597"
README_Y_TRAIN_SHA = "a2084e87c76d1d22ef5ac30a81addb49027565cdc65f0e1b451ae5969d56117e"
README_TINY_X_VAL_SHA = "c2fd10cde1427ad6f16f45c978a0060bfd8f664727f6ad977ea5590280d57b8f"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Own decode cache; no tfds data_dir from the user's environment."""
    monkeypatch.setenv("TFQNN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tfqnn-cache"))
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ----------------------------------------------------------------------------- catalog
def test_info_known_names():
    cifar = data.info("cifar10")
    assert (cifar.num_classes, cifar.image_shape, cifar.test_split) == (10, (32, 32, 3), "test")
    assert cifar.mean == pytest.approx((125.307, 122.961, 113.8575))
    assert cifar.std == pytest.approx((62.985, 62.0925, 66.708))
    assert cifar.label_names[0] == "airplane" and cifar.label_names[9] == "truck"
    assert data.info("cifar10").splits == {"train": 50000, "test": 10000}
    assert data.info("cifar100").num_classes == 100
    assert data.info("svhn_cropped").splits["test"] == 26032
    fashion = data.info("fashion_mnist")
    assert fashion.image_shape == (28, 28, 1) and fashion.mean == pytest.approx((72.93,))
    assert data.info("imagenet2012").mean == pytest.approx((123.675, 116.28, 103.53))
    assert data.info("imagenette/160px-v2").name == "imagenette"
    assert {"cifar10", "cifar100", "svhn_cropped", "imagenette", "imagenet2012", "tiny_imagenet",
            "fashion_mnist"} <= set(data.known_names())


@needs_tiny
def test_info_tiny_imagenet_uses_local_counts():
    tiny = data.info("tiny_imagenet")
    assert tiny.num_classes == 200 and tiny.image_shape == (64, 64, 3)
    assert tiny.splits == {"train": 20000, "validation": 10000}
    assert tiny.label_names[0] == "goldfish, Carassius auratus"


def test_unknown_name_lists_known_closest_first():
    with pytest.raises(ConfigError) as err:
        data.info("cifar1")
    message = str(err.value)
    assert "'cifar1'" in message and "tiny_imagenet" in message
    listed = message.split("known datasets: ")[1].split(", ")
    assert listed[0] in ("cifar10", "cifar100")
    with pytest.raises(ConfigError):
        data.load("mnistt", "train")


# ----------------------------------------------------------------------------- splits
@pytest.mark.parametrize("text,count,expected", [
    ("train", 50000, (0, 50000)),
    ("train[:1000]", 50000, (0, 1000)),
    ("train[90%:]", 10000, (9000, 10000)),
    ("train[:-1000]", 10000, (0, 9000)),
    ("train[-10%:]", 10000, (9000, 10000)),
    ("train[33%:35%]", 10, (3, 4)),  # 3.3 -> 3, 3.5 -> 4 (closest, half up)
    ("train[10:5]", 100, (10, 10)),
    ("train[:200]", 100, (0, 100)),
])
def test_split_bounds(text, count, expected):
    (part,) = parse_split(text)
    assert part.bounds(count) == expected


def test_split_parse_aliases_and_errors():
    assert parse_split("val[:10]+train") == [SplitPart("validation", None, "10"), SplitPart("train")]
    assert parse_split("validation[50%:]")[0].tfds() == "validation[50%:]"
    for bad in ("", "train[:", "train[a:b]", "train[:150%]"):
        with pytest.raises(ConfigError):
            parse_split(bad)[0].bounds(100)


# ----------------------------------------------------------------------------- packed reader
@needs_cifar
def test_cifar10_counts_and_labels_match_readme():
    y_train = packed.labels("cifar10", "train", CIFAR)
    y_test = packed.labels("cifar10", "test", CIFAR)
    assert len(y_train) == 50000 and len(y_test) == 10000
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert _sha(y_train) == README_Y_TRAIN_SHA and _sha(y_test) == README_Y_TEST_SHA


@needs_cifar
def test_cifar10_test_decodes_to_readme_pixels():
    x = packed.images("cifar10", "test", CIFAR)
    assert x.shape == (10000, 32, 32, 3) and x.dtype == np.uint8
    assert _sha(x) == README_X_TEST_SHA
    mean = x.reshape(-1, 3).mean(axis=0)
    std = x.reshape(-1, 3).std(axis=0)
    np.testing.assert_allclose(mean, [125.99, 123.69, 114.85], atol=0.05)
    np.testing.assert_allclose(std, [62.44, 61.76, 66.45], atol=0.05)


@pytest.mark.slow
@needs_cifar
def test_cifar10_train_decodes_to_readme_pixels():
    x = packed.images("cifar10", "train", CIFAR)
    assert x.shape == (50000, 32, 32, 3)
    assert _sha(x) == README_X_TRAIN_SHA


@needs_cifar
def test_disk_cache_is_used_and_keyed_by_file(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    copy = root / "cifar10_jpeg.npz"
    shutil.copyfile(CIFAR, copy)
    monkeypatch.setenv("TFQNN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real_decode = packed.decode_jpegs
    monkeypatch.setattr(packed, "decode_jpegs", lambda *a: calls.append(1) or real_decode(*a))

    first = packed.images("cifar10", "test", copy)
    assert len(calls) == 1 and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    packed.clear_memory_cache()
    again = packed.images("cifar10", "test", copy)
    assert len(calls) == 1 and np.array_equal(first, again)  # read from disk, not decoded
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))  # "changed" file -> re-decoded
    packed.clear_memory_cache()
    packed.images("cifar10", "test", copy)
    assert len(calls) == 2
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # stale version removed
    assert not list((tmp_path / "cache").glob("*.tmp"))


@needs_tiny
def test_tiny_imagenet_validation():
    y = packed.labels("tiny_imagenet", "validation", TINY)
    assert len(y) == 10000 and np.bincount(y, minlength=200).tolist() == [50] * 200
    x, y_small = data.load_arrays("tiny_imagenet", "val[:64]")
    assert x.shape == (64, 64, 64, 3) and x.dtype == np.uint8 and y_small.dtype == np.int64
    assert y_small.max() < 200


@pytest.mark.slow
@needs_tiny
def test_tiny_imagenet_validation_decodes_to_readme_pixels():
    assert _sha(packed.images("tiny_imagenet", "validation", TINY)) == README_TINY_X_VAL_SHA


@needs_fashion
def test_fashion_mnist_from_debian_files():
    x, y = data.load_arrays("fashion_mnist", "test")
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10
    x_train = packed.images("fashion_mnist", "train", FASHION)
    assert x_train.shape == (60000, 28, 28, 1)
    assert x_train.mean() == pytest.approx(72.94, abs=0.01)
    assert x_train.std() == pytest.approx(90.02, abs=0.01)


# ----------------------------------------------------------------------------- errors
def test_missing_dataset_error_names_dataset_places_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("TFQNN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        data.load("cifar100", "train")
    message = str(err.value)
    assert "'cifar100'" in message and str(tmp_path) in message
    assert "TFQNN_DATA_DIR" in message and "TFDS_DATA_DIR" in message and "\n" not in message
    with pytest.raises(DataError) as err:
        data.load_arrays("cifar10", "test")
    assert str(tmp_path / "cifar10_jpeg.npz") in str(err.value)


def _write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@needs_cifar
@pytest.mark.parametrize("kind", ["truncated", "not_a_zip", "missing_keys", "bad_jpeg"])
def test_corrupt_npz_raises_data_error_naming_file(tmp_path, monkeypatch, kind):
    target = tmp_path / "cifar10_jpeg.npz"
    if kind == "truncated":
        target.write_bytes(CIFAR.read_bytes()[:1_000_000])
    elif kind == "not_a_zip":
        target.write_bytes(b"this is not a zip file" * 100)
    elif kind == "missing_keys":
        _write_npz(target, y_test=np.zeros(3, np.int64))
    else:
        jpeg = np.frombuffer(b"\xff\xd8garbage-garbage-garbage", np.uint8)
        _write_npz(target, jpeg_test=jpeg, offsets_test=np.array([0, len(jpeg)]), y_test=np.zeros(1, np.int64),
                   label_names=np.array(["a"]))
    monkeypatch.setenv("TFQNN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        data.load_arrays("cifar10", "test")
    assert str(target) in str(err.value)


# ----------------------------------------------------------------------------- pipeline
@needs_cifar
def test_slices_are_class_mixed_and_disjoint():
    _, y = data.load_arrays("cifar10", "train[:1000]")
    assert len(y) == 1000 and len(np.unique(y)) >= 8  # file is class-major: unpermuted = all airplanes
    _, head = data.load_arrays("cifar10", "test[:90%]")
    _, tail = data.load_arrays("cifar10", "test[90%:]")
    assert (len(head), len(tail)) == (9000, 1000)
    assert (np.bincount(head, minlength=10) + np.bincount(tail, minlength=10)).tolist() == [1000] * 10
    _, first = data.load_arrays("cifar10", "test", max_examples=100)
    assert np.array_equal(first, head[:100])


@needs_cifar
def test_load_batches_raw_float_pixels():
    ds = data.load("cifar10", "test[:100]", batch_size=32)
    shapes = [tuple(x.shape) for x, _ in ds]
    assert shapes == [(32, 32, 32, 3)] * 3 + [(4, 32, 32, 3)]
    x, y = next(iter(ds))
    assert x.dtype == tf.float32 and y.dtype == tf.int64
    x_np, y_np = data.load_arrays("cifar10", "test[:32]")
    np.testing.assert_array_equal(x.numpy(), x_np.astype(np.float32))
    np.testing.assert_array_equal(y.numpy(), y_np)
    assert len(list(data.load("cifar10", "test[:100]", batch_size=32, drop_remainder=True))) == 3


@needs_cifar
def test_normalize_and_resize():
    x_np, _ = data.load_arrays("cifar10", "test[:8]")
    x, _ = next(iter(data.load("cifar10", "test[:8]", batch_size=8, normalize=True)))
    mean, std = np.array(data.info("cifar10").mean), np.array(data.info("cifar10").std)
    np.testing.assert_allclose(x.numpy(), (x_np - mean) / std, rtol=1e-5, atol=1e-5)
    small, _ = next(iter(data.load("cifar10", "test[:8]", batch_size=8, image_size=16)))
    assert small.shape == (8, 16, 16, 3)
    assert data.load_arrays("cifar10", "test[:4]", image_size=(20, 24))[0].shape == (4, 20, 24, 3)


@needs_cifar
def test_shuffle_default_for_train_only():
    labels = lambda ds: np.concatenate([y.numpy() for _, y in ds])  # noqa: E731
    _, y_fixed = data.load_arrays("cifar10", "train[:200]")
    shuffled = labels(data.load("cifar10", "train[:200]", batch_size=50))
    assert sorted(shuffled) == sorted(y_fixed) and not np.array_equal(shuffled, y_fixed)
    _, y_test = data.load_arrays("cifar10", "test[:200]")
    assert np.array_equal(labels(data.load("cifar10", "test[:200]", batch_size=50)), y_test)


@needs_cifar
def test_seeded_pipeline_is_deterministic_and_varies_per_epoch():
    def first_batch(ds):
        x, y = next(iter(ds))
        return x.numpy(), y.numpy()

    make = lambda seed: data.load("cifar10", "test[:256]", batch_size=64, augment=True,  # noqa: E731
                                  shuffle=True, seed=seed)
    a, b, c = make(1), make(1), make(2)
    xa, ya = first_batch(a)
    xb, yb = first_batch(b)
    xc, yc = first_batch(c)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc) and not np.array_equal(xa, xc)
    xa2, ya2 = first_batch(a)  # second epoch of the same dataset: new order, new augmentation
    assert not np.array_equal(ya, ya2) and not np.array_equal(xa, xa2)


@needs_cifar
def test_augmented_images_are_padded_crops_or_flips():
    raw, _ = data.load_arrays("cifar10", "test[:16]")
    ds = data.load("cifar10", "test[:16]", batch_size=16, augment=True, seed=3)
    aug = next(iter(ds))[0].numpy()
    assert aug.shape == raw.shape and aug.dtype == np.float32
    assert aug.min() >= 0.0 and aug.max() <= 255.0
    changed = 0
    for original, out in zip(raw.astype(np.float32), aug):
        padded = np.pad(original, ((4, 4), (4, 4), (0, 0)))
        windows = [padded[dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        windows += [w[:, ::-1] for w in windows]
        assert any(np.array_equal(out, w) for w in windows)
        changed += not np.array_equal(out, original)
    assert changed >= 12  # 1 of 162 (crop, flip) choices is the identity


def test_pad_crop_flip_unit():
    image = tf.reshape(tf.range(8 * 8, dtype=tf.float32), (8, 8, 1)) + 1.0  # pad = 8 // 8 = 1
    outs = [data.pad_crop_flip(image, tf.constant([s, 0])).numpy() for s in range(40)]
    assert all(o.shape == (8, 8, 1) for o in outs)
    np.testing.assert_array_equal(outs[5], data.pad_crop_flip(image, tf.constant([5, 0])).numpy())
    assert any(np.array_equal(o, image.numpy()[:, ::-1]) for o in outs)  # centred crop, flipped
    assert any((o == 0).any() for o in outs)  # some crops include the zero padding
    batch = data.pad_crop_flip_batch(tf.stack([image] * 4), tf.constant([1, 2]))
    assert batch.shape == (4, 8, 8, 1)


def test_bad_arguments():
    with pytest.raises(ConfigError):
        data.load("cifar10", "train", max_examples=-1)
    with pytest.raises(ConfigError):
        data.load("cifar10", "train", image_size=(0, 3))


@needs_cifar
def test_unknown_split_of_packed_dataset():
    with pytest.raises(ConfigError, match="no split 'validation'"):
        data.load("cifar10", "validation")


# ----------------------------------------------------------------------------- tfds route
@pytest.mark.slow
@needs_cifar
def test_local_tfds_builder_and_tfds_route(tmp_path):
    import tensorflow_datasets as tfds

    import tfqnn.data.tfds_builders  # noqa: F401

    builder = tfds.builder("tfqnn_cifar10", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(max_examples_per_split=40))
    assert builder.info.splits["test"].num_examples == 40
    assert builder.info.features["label"].names[1] == "automobile"
    x, y = data.load_arrays("cifar10", "test", data_dir=tmp_path)
    assert x.shape == (40, 32, 32, 3) and y.dtype == np.int64
    # The first 40 file-order test images are all class 0 (class-major file).
    assert y.tolist() == [0] * 40
    batches = list(data.load("cifar10", "test[:50%]", data_dir=tmp_path, batch_size=8, augment=True))
    assert sum(len(b[1]) for b in batches) == 20
    assert not (tmp_path / "cifar10").exists()  # probing the standard name created nothing
