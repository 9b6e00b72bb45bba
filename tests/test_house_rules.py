"""House rules checked on the source tree."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERAS_IMPORT = re.compile(
    r"^\s*(import keras\b|from keras\b|from tensorflow import keras|import tensorflow\.keras|from tensorflow\.keras|import tf_keras)",
    re.M,
)
TF_KERAS_ATTR = re.compile(r"\btf\.keras\.")


def _sources() -> list[Path]:
    files = []
    for folder in ("tfqnn", "converters", "benchmarks", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_keras_is_imported_only_in_tfqnn_keras():
    offenders = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("tfqnn/keras.py", "tests/test_house_rules.py"):
            continue
        text = path.read_text()
        if KERAS_IMPORT.search(text) or TF_KERAS_ATTR.search(text):
            offenders.append(rel)
    assert not offenders, f"Keras imported outside tfqnn/keras.py: {offenders}"


def test_grep_catches_a_direct_import():
    assert KERAS_IMPORT.search("x = 1\nfrom tensorflow import keras\n")
    assert KERAS_IMPORT.search("import keras\n")
    assert TF_KERAS_ATTR.search("m = tf.keras.Model()")
    assert not KERAS_IMPORT.search("from tfqnn.keras import keras\n")


def test_tfqnn_never_imports_converters():
    pattern = re.compile(r"^\s*(from|import)\s+converters\b", re.M)
    offenders = [p.relative_to(ROOT).as_posix() for p in (ROOT / "tfqnn").rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders, offenders


def test_legacy_keras_selected():
    import tensorflow as tf

    import tfqnn  # noqa: F401

    from tfqnn.keras import keras

    assert keras.layers.Dense.__module__.startswith("tf_keras")
    assert tf.keras.layers.Dense is keras.layers.Dense
