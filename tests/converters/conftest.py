"""Module-scoped fixtures of the converter tests: tiny models and their flatbuffers."""
from __future__ import annotations

import pytest
from cvt_helpers import tiny_binary_model, tiny_float_model


@pytest.fixture(scope="module")
def float_model():
    return tiny_float_model()


@pytest.fixture(scope="module")
def float_fb(float_model) -> bytes:
    from converters.tflite import convert

    return convert(float_model, "float")


@pytest.fixture(scope="module")
def binary_model():
    return tiny_binary_model()


@pytest.fixture(scope="module")
def lce_fb(binary_model) -> bytes:
    from converters.tflite import convert

    return convert(binary_model, "lce")
