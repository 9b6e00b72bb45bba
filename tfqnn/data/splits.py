"""tfds-style split strings for the packed source: ``"train"``, ``"train[:1000]"``, ``"test[90%:]"``,
``"train[-5000:]"``, ``"train+test"``; ``"val"`` is an alias of ``"validation"``.

Percent boundaries are rounded to the closest example, as tfds does by default.
"""
from __future__ import annotations

import dataclasses
import math
import re

from tfqnn.data.catalog import SPLIT_ALIASES
from tfqnn.errors import ConfigError

_PART = re.compile(r"^([A-Za-z_][\w]*)(?:\[([+-]?\d+%?)?:([+-]?\d+%?)?\])?$")


@dataclasses.dataclass(frozen=True)
class SplitPart:
    """One ``name[start:stop]`` part; bounds are the raw strings (``"90%"``, ``"-1000"``) or ``None``."""

    name: str
    start: str | None = None
    stop: str | None = None

    def bounds(self, count: int) -> tuple[int, int]:
        """``(start, stop)`` row range within a split of ``count`` examples (clamped like Python)."""
        start = 0 if self.start is None else _boundary(self.start, count)
        stop = count if self.stop is None else _boundary(self.stop, count)
        return start, max(start, stop)

    def tfds(self) -> str:
        """The part spelled for tfds."""
        if self.start is None and self.stop is None:
            return self.name
        return f"{self.name}[{self.start or ''}:{self.stop or ''}]"


def _boundary(text: str, count: int) -> int:
    if text.endswith("%"):
        pct = int(text[:-1])
        if not -100 <= pct <= 100:
            raise ConfigError(f"split percent {text!r} is outside -100%..100%")
        value = math.floor(abs(pct) * count / 100 + 0.5) * (1 if pct >= 0 else -1)
    else:
        value = int(text)
    if value < 0:
        value += count
    return min(max(value, 0), count)


def parse_split(split: str) -> list[SplitPart]:
    """Parse a split string into parts (joined by ``+``); aliases are resolved."""
    if not isinstance(split, str) or not split.strip():
        raise ConfigError(f"split must be a non-empty string like 'train' or 'train[:90%]', got {split!r}")
    parts = []
    for text in split.replace(" ", "").split("+"):
        match = _PART.match(text)
        if match is None:
            raise ConfigError(f"cannot parse split {split!r}: use tfds syntax like 'train', 'train[:1000]', "
                              f"'train[90%:]' or 'train+test'")
        name = SPLIT_ALIASES.get(match.group(1).lower(), match.group(1).lower())
        parts.append(SplitPart(name, match.group(2), match.group(3)))
    return parts


def to_tfds(parts: list[SplitPart]) -> str:
    """The split string to hand to tfds."""
    return "+".join(part.tfds() for part in parts)


def split_size(split: str, counts: dict[str, int]) -> int:
    """Number of examples that ``split`` selects, given the full split ``counts`` (name → size)."""
    total = 0
    for part in parse_split(split):
        if part.name not in counts:
            raise ConfigError(f"unknown split {part.name!r}; available: {', '.join(sorted(counts))}")
        start, stop = part.bounds(counts[part.name])
        total += stop - start
    return total
