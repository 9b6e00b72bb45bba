"""``data.augment``: booleans, policy names and mappings in configs; one-line errors naming the key;
the policies' contents against the reference recipes (specs ern.md §3.1, rexnet.md §5.1); the
pipeline route through ``tfqnn.data.load``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tfqnn.augment_policy import AugmentConfig, augment_config
from tfqnn.config import config_from_dict, dump_config, load_config
from tfqnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_bool_keeps_its_meaning():
    assert config_from_dict({"data": {"augment": True}}).data.augment is True
    assert augment_config(True).pad_crop and augment_config(True).flip
    assert augment_config(False).is_identity and augment_config(None).is_identity


def test_reference_recipes():
    ern = augment_config("imagenet_with_randaugment")
    assert (ern.flip, ern.color_jitter, ern.grayscale, ern.rotation) == (True, [0.25, 0.25, 0.25, 0.5], 0.3, 15.0)
    assert (ern.randaugment, ern.num_ops, ern.magnitude) == ("torchvision", 2, 7)
    only = augment_config("randaugment_only")
    assert not only.flip and only.randaugment == "torchvision" and (only.num_ops, only.magnitude) == (2, 7)
    assert augment_config("simple").flip and augment_config("simple").randaugment == "none"
    assert augment_config("imagenet_with_randaugment_only") == AugmentConfig(**{**vars(only), "policy": "imagenet_with_randaugment_only"})
    timm = augment_config({"policy": "randaugment", "random_resized_crop": True, "random_erasing": 0.2})
    assert (timm.randaugment, timm.num_ops, timm.magnitude, timm.magnitude_std) == ("timm", 2, 9, 0.5)
    assert timm.random_resized_crop and timm.random_erasing == 0.2 and timm.flip
    assert timm.scale == [0.08, 1.0] and timm.ratio == pytest.approx([3 / 4, 4 / 3])


def test_name_and_mapping_in_config_round_trip():
    cfg = config_from_dict({"data": {"augment": {"policy": "randaugment", "random_erasing": 0.2}}}, "x.yaml")
    assert isinstance(cfg.data.augment, AugmentConfig) and cfg.data.augment.random_erasing == 0.2
    again = config_from_dict(yaml.safe_load(dump_config(cfg)), "dumped.yaml")
    assert again.data.augment == cfg.data.augment
    assert config_from_dict({"data": {"augment": "simple"}}).data.augment.policy == "simple"
    over = config_from_dict({}, overrides=["data.augment.policy=randaugment_only", "data.augment.magnitude=9"])
    assert augment_config(over.data.augment).magnitude == 9


@pytest.mark.parametrize("augment, key", [
    ({"polcy": "simple"}, "data.augment.polcy"),
    ({"policy": "autoaugment"}, "data.augment.policy"),
    ("yes", "data.augment.policy"),
    ({"random_erasing": 1.5}, "data.augment.random_erasing"),
    ({"grayscale": -0.1}, "data.augment.grayscale"),
    ({"color_jitter": [0.1, 0.1]}, "data.augment.color_jitter"),
    ({"scale": [0.5, 0.1]}, "data.augment.scale"),
    ({"randaugment": "keras"}, "data.augment.randaugment"),
    ({"policy": "randaugment_only", "magnitude": 31}, "data.augment.magnitude"),
    ({"policy": "randaugment_only", "magnitude_std": 0.5}, "data.augment.magnitude_std"),
    ({"policy": "randaugment", "magnitude": 11}, "data.augment.magnitude"),
    ({"policy": "pad_crop_flip", "random_resized_crop": True}, "data.augment.random_resized_crop"),
    ({"num_ops": "two"}, "data.augment.num_ops"),
    (3, "data.augment"),
])
def test_bad_values_name_the_key_on_one_line(augment, key):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"augment": augment}}, "exp.yaml")
    msg = str(err.value)
    assert msg.startswith("exp.yaml: ") and key in msg and "\n" not in msg


def test_python_api_mapping_errors_name_the_key():
    with pytest.raises(ConfigError, match="augment.magnitud"):
        augment_config({"magnitud": 3})
    with pytest.raises(ConfigError, match="augment"):
        augment_config(2.5)


@pytest.mark.parametrize("path, policy", [
    ("configs/ern/ern18_075x_imagenet.yaml", "simple"),
    ("configs/ern/ern18_imagenet.yaml", "simple"),
    ("configs/ern/ern34_imagenet.yaml", "randaugment_only"),
    ("configs/ern/ern50_imagenet.yaml", "randaugment_only"),
    ("configs/ern/ern101_imagenet.yaml", "imagenet_with_randaugment"),
])
def test_ern_recipes_use_the_spec_table(path, policy):  # spec ern.md §3.1 "train aug" row
    assert load_config(ROOT / path).data.augment.policy == policy


def test_rexnet_recipe_uses_timm_augmentation():  # spec rexnet.md §5.1
    a = augment_config(load_config(ROOT / "configs/rexnet/rexnet_1.0_imagenet.yaml").data.augment)
    assert (a.randaugment, a.magnitude, a.magnitude_std, a.num_ops) == ("timm", 9, 0.5, 2)
    assert a.random_resized_crop and a.random_erasing == 0.2 and a.flip and a.scale == [0.08, 1.0]


def test_load_with_policy_is_reproducible_and_seeded():
    from tfqnn import data
    from tfqnn.data import packed
    if packed.locate("cifar10") is None:
        pytest.skip(reason="cifar10_jpeg.npz not found (set TFQNN_DATA_DIR)")
    policy = {"policy": "imagenet_with_randaugment", "random_erasing": 0.5}

    def first(seed):
        x, y = next(iter(data.load("cifar10", "test[:16]", batch_size=16, augment=policy, seed=seed, shuffle=False)))
        return x.numpy(), y.numpy()

    (a, ya), (b, _), (c, _) = first(1), first(1), first(2)
    plain, _ = next(iter(data.load("cifar10", "test[:16]", batch_size=16, augment="none", shuffle=False)))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16, 32, 32, 3) and a.dtype == np.float32 and ya.dtype == np.int64
    assert not np.array_equal(a, c) and not np.array_equal(a, plain.numpy())
    unaug, _ = next(iter(data.load("cifar10", "test[:16]", batch_size=16, augment=False, shuffle=False)))
    np.testing.assert_array_equal(plain.numpy(), unaug.numpy())
