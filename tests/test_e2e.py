"""End to end: tiny CIFAR ResNet → fit on real CIFAR-10 → save/reload → float, int8, lce → run each."""
from __future__ import annotations

import numpy as np
import pytest

import tfqnn
from tfqnn import data as tfdata
from tfqnn.keras import keras
from tfqnn.training.losses import SparseCrossEntropy


@pytest.mark.e2e
def test_tiny_resnet_fit_save_reload_convert_run(tmp_path):
    from converters.flatbuffer import op_histogram
    from converters.runtime import FlatbufferModel
    from converters.tflite import convert

    model = tfqnn.build_model("cifar_resnet", depth=8, base_width=4, num_classes=10)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=SparseCrossEntropy(),
                  metrics=["accuracy"])
    train = tfdata.load("cifar10", "train[:256]", batch_size=32, augment=True, seed=1)
    history = model.fit(train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

    path = tmp_path / "tiny.keras"
    model.save(path)
    reloaded = tfqnn.load_model(path)
    x, y = tfdata.load_arrays("cifar10", "test", max_examples=16)
    x = x.astype(np.float32)
    ref = model(x, training=False).numpy()
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), ref)

    calib, _ = tfdata.load_arrays("cifar10", "train", max_examples=64)
    for target in ("float", "int8", "lce"):
        fb = convert(reloaded, target, representative_data=calib.astype(np.float32))
        ops = op_histogram(fb)
        assert "CONV_2D" in ops
        out = FlatbufferModel(fb).predict(x)
        assert out.shape == ref.shape
        if target == "int8":
            # one int8 output step is the expected error; argmax must mostly agree
            assert np.mean(out.argmax(1) == ref.argmax(1)) >= 0.75
            assert "QUANTIZE" in ops
        else:
            np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
