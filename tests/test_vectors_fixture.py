"""The reference-vector fixture: root from $TFQNN_VECTORS_DIR, skip with a reason when absent."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vectors_support import VectorSet, vectors_root


def test_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TFQNN_VECTORS_DIR", str(tmp_path))
    assert vectors_root() == tmp_path
    monkeypatch.delenv("TFQNN_VECTORS_DIR")
    assert vectors_root().parts[-2:] == ("shared", "vectors")


def test_vector_set_reads_json_and_npz(tmp_path):
    (tmp_path / "cases.json").write_text(json.dumps({"eps": 1.5}))
    np.savez(tmp_path / "arrays.npz", w=np.arange(3))
    vs = VectorSet(tmp_path)
    assert vs.json("cases.json") == {"eps": 1.5}
    np.testing.assert_array_equal(vs.npz("arrays.npz")["w"], np.arange(3))


def test_missing_file_skips_with_reason(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="missing"):
        VectorSet(tmp_path).json("absent.json")


@pytest.mark.conformance
def test_shared_vector_families_present(vectors):
    """Every family folder the specs name is readable through the fixture (skips if not shipped)."""
    for family in ("ern", "ec2t", "hawq", "rexnet", "epsresnet"):
        vs = vectors(family)
        assert (vs.folder / "README.md").is_file(), family
