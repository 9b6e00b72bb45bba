"""Training-augmentation settings (``data.augment``): named policies and their checked options.

Pure Python (no TensorFlow), so configs load without it; :mod:`tfqnn.data.augment` turns a resolved
:class:`AugmentConfig` into tf ops. ``data.augment`` accepts ``true`` (= ``pad_crop_flip``, the
CIFAR recipe), ``false`` (= ``none``), a policy name, or a mapping ``{policy: ..., key: value}``
whose keys override the policy's. Stages always run in this order (the reference pipelines'):

    crop (random_resized_crop | pad_crop) → flip → color_jitter → grayscale → rotation
    → randaugment → random_erasing

Policies (``AUGMENT_POLICIES``):

- ``pad_crop_flip``: zero pad ``size // 8``, random crop, horizontal flip (CIFAR).
- ``simple``: horizontal flip after the squash resize to ``data.image_size`` (ERN ``simple``:
  ``Resize([S, S]) → RandomCrop(S)`` (a no-op) ``→ RandomHorizontalFlip``; spec ern.md §3.1).
- ``randaugment_only`` (alias ``imagenet_with_randaugment_only``, the reference's file name): torchvision
  ``RandAugment(num_ops=2, magnitude=7)`` after the squash resize, no flip (ERN).
- ``imagenet_with_randaugment``: flip, ``ColorJitter(0.25, 0.25, 0.25, hue=0.5)``,
  ``RandomGrayscale(0.3)``, ``RandomRotation(15)``, torchvision ``RandAugment(2, 7)`` (ERN).
- ``randaugment``: flip, then timm ``rand-m9-mstd0.5`` (2 ops, magnitude 9 of 10, magnitude noise
  std 0.5); add ``random_resized_crop: true`` and ``random_erasing: 0.2`` for timm's ImageNet recipe.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from tfqnn.errors import ConfigError

RANDAUGMENT_FLAVOURS = ("none", "torchvision", "timm")

AUGMENT_POLICIES: dict[str, dict[str, Any]] = {
    "none": {},
    "pad_crop_flip": {"pad_crop": True, "flip": True},
    "simple": {"flip": True},
    "randaugment_only": {"randaugment": "torchvision", "num_ops": 2, "magnitude": 7.0},
    "imagenet_with_randaugment_only": {"randaugment": "torchvision", "num_ops": 2, "magnitude": 7.0},  # ERN's name
    "imagenet_with_randaugment": {"flip": True, "color_jitter": [0.25, 0.25, 0.25, 0.5], "grayscale": 0.3,
                                  "rotation": 15.0, "randaugment": "torchvision", "num_ops": 2, "magnitude": 7.0},
    "randaugment": {"flip": True, "randaugment": "timm", "num_ops": 2, "magnitude": 9.0, "magnitude_std": 0.5},
}

_DEFAULTS: dict[str, Any] = {
    "pad_crop": False,
    "random_resized_crop": False,
    "scale": [0.08, 1.0],
    "ratio": [3.0 / 4.0, 4.0 / 3.0],
    "flip": False,
    "color_jitter": [0.0, 0.0, 0.0, 0.0],
    "grayscale": 0.0,
    "rotation": 0.0,
    "randaugment": "none",
    "num_ops": 2,
    "magnitude": 9.0,
    "magnitude_std": 0.0,
    "num_magnitude_bins": 31,
    "random_erasing": 0.0,
}


@dataclass
class AugmentConfig:
    """One ``data.augment`` mapping; ``None`` fields take the policy's value, else the default."""

    policy: str = "pad_crop_flip"
    pad_crop: bool | None = None  # zero pad min(H, W) // 8 + random crop back to size
    random_resized_crop: bool | None = None  # torchvision/timm RandomResizedCrop to the image size
    scale: list[float] | None = None  # RandomResizedCrop area fraction range, default (0.08, 1)
    ratio: list[float] | None = None  # RandomResizedCrop aspect range (log-uniform), default (3/4, 4/3)
    flip: bool | None = None  # horizontal flip with probability 0.5
    color_jitter: list[float] | None = None  # torchvision ColorJitter [brightness, contrast, saturation, hue]
    grayscale: float | None = None  # RandomGrayscale probability
    rotation: float | None = None  # RandomRotation: angle uniform in [-rotation, rotation] degrees
    randaugment: str | None = None  # none | torchvision | timm (op table, magnitude scale)
    num_ops: int | None = None  # RandAugment ops per image
    magnitude: float | None = None  # torchvision: bin index 0..num_magnitude_bins-1; timm: 0..10
    magnitude_std: float | None = None  # timm magnitude noise (Gaussian std, clipped to 0..10)
    num_magnitude_bins: int | None = None  # torchvision bins (31)
    random_erasing: float | None = None  # timm RandomErasing probability (pixel mode, one box)

    @classmethod
    def from_name(cls, name: str) -> dict[str, Any]:
        """Raw mapping for a policy given by name (``augment: simple``)."""
        return {"policy": name}

    def resolved(self) -> "AugmentConfig":
        """A copy with every ``None`` filled from the policy, then from the defaults."""
        preset = AUGMENT_POLICIES[self.policy]
        values = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                value = preset.get(f.name, _DEFAULTS.get(f.name))
            values[f.name] = list(value) if isinstance(value, list) else value
        return AugmentConfig(**values)

    @property
    def is_identity(self) -> bool:
        r = self.resolved()
        return not (r.pad_crop or r.random_resized_crop or r.flip or any(r.color_jitter) or r.grayscale
                    or r.rotation or r.randaugment != "none" or r.random_erasing)

    def problem(self) -> tuple[str, str] | None:
        """``(key, message)`` of the first invalid setting, or ``None``."""
        if self.policy not in AUGMENT_POLICIES:
            return "policy", f"unknown augmentation policy {self.policy!r}; valid: {', '.join(AUGMENT_POLICIES)}"
        r = self.resolved()
        for key in ("grayscale", "random_erasing"):
            if not 0.0 <= getattr(r, key) <= 1.0:
                return key, f"must be a probability in [0, 1], got {getattr(r, key)!r}"
        if len(r.color_jitter) != 4 or min(r.color_jitter) < 0 or r.color_jitter[3] > 0.5:
            return "color_jitter", f"must be [brightness, contrast, saturation, hue] >= 0 with hue <= 0.5, got {r.color_jitter!r}"
        if len(r.scale) != 2 or not 0.0 < r.scale[0] <= r.scale[1] <= 1.0:
            return "scale", f"must be [min, max] with 0 < min <= max <= 1, got {r.scale!r}"
        if len(r.ratio) != 2 or not 0.0 < r.ratio[0] <= r.ratio[1]:
            return "ratio", f"must be [min, max] with 0 < min <= max, got {r.ratio!r}"
        if r.pad_crop and r.random_resized_crop:
            return "random_resized_crop", "cannot be combined with pad_crop (both crop); set one of them to false"
        if not 0.0 <= r.rotation <= 180.0:
            return "rotation", f"must be in [0, 180] degrees, got {r.rotation!r}"
        if r.randaugment not in RANDAUGMENT_FLAVOURS:
            return "randaugment", f"unknown RandAugment flavour {r.randaugment!r}; valid: {', '.join(RANDAUGMENT_FLAVOURS)}"
        if r.num_ops < 0:
            return "num_ops", f"must be >= 0, got {r.num_ops!r}"
        if r.magnitude_std < 0 or not math.isfinite(r.magnitude_std):
            return "magnitude_std", f"must be a finite value >= 0, got {r.magnitude_std!r}"
        if r.num_magnitude_bins < 2:
            return "num_magnitude_bins", f"must be >= 2, got {r.num_magnitude_bins!r}"
        if r.randaugment == "torchvision":
            if r.magnitude != int(r.magnitude) or not 0 <= r.magnitude < r.num_magnitude_bins:
                return "magnitude", (f"torchvision RandAugment takes a bin index 0..{r.num_magnitude_bins - 1}, "
                                     f"got {r.magnitude!r}")
            if r.magnitude_std:
                return "magnitude_std", "torchvision RandAugment has no magnitude noise (timm only); set 0"
        elif not 0.0 <= r.magnitude <= 10.0:
            return "magnitude", f"timm RandAugment takes a magnitude in [0, 10], got {r.magnitude!r}"
        return None

    def check(self, where: str = "augment", source: str = "augment") -> "AugmentConfig":
        """Raise :class:`ConfigError` naming ``where.<key>`` if a setting is invalid; return self."""
        found = self.problem()
        if found is not None:
            key, message = found
            raise ConfigError(f"{source}: {where}.{key} {message}")
        return self


def augment_config(value: bool | str | Mapping[str, Any] | AugmentConfig | None,
                   where: str = "augment") -> AugmentConfig:
    """The resolved :class:`AugmentConfig` of an ``augment=`` value (bool, policy name, mapping)."""
    if value is None or value is False:
        cfg = AugmentConfig(policy="none")
    elif value is True:
        cfg = AugmentConfig(policy="pad_crop_flip")
    elif isinstance(value, AugmentConfig):
        cfg = value
    elif isinstance(value, str):
        cfg = AugmentConfig(policy=value)
    elif isinstance(value, Mapping):
        from tfqnn.config import build_section  # config imports this module

        cfg = build_section(AugmentConfig, dict(value), where, "augment")
    else:
        raise ConfigError(f"{where} must be true, false, a policy name or a mapping, got {type(value).__name__} {value!r}")
    return cfg.check(where, where).resolved()


__all__ = ["AUGMENT_POLICIES", "AugmentConfig", "RANDAUGMENT_FLAVOURS", "augment_config"]
