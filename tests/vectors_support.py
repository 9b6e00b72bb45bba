"""Reference-vector access shared by the ``vectors`` fixture and its tests."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def vectors_root() -> Path:
    env = os.environ.get("TFQNN_VECTORS_DIR")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "vectors")


class VectorSet:
    """One family's reference vectors: ``.json(name)`` and ``.npz(name)`` read files of the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        p = self.folder / name
        if not p.exists():
            pytest.skip(reason=f"reference vector file {p} is missing")
        return p

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def npz(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.path(name), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
