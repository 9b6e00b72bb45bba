from __future__ import annotations

import tfqnn
from tfqnn.keras import keras


def test_list_models_has_resnets():
    names = tfqnn.list_models()
    assert names == sorted(names)
    for n in ("resnet20", "resnet56", "resnet18", "resnet50"):
        assert n in names


def test_build_model_returns_plain_keras_model():
    model = tfqnn.build_model("resnet20", num_classes=7, base_width=4)
    assert type(model) is keras.Model or isinstance(model, keras.Model)
    assert model.output_shape == (None, 7)


def test_custom_objects_are_tfqnn_registered():
    objs = tfqnn.custom_objects()
    assert "EpochSchedule" in objs and "SparseCrossEntropy" in objs
    assert all(callable(v) for v in objs.values())
