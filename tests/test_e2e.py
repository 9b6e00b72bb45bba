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


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_compiled_model_round_trips_in_every_format(tmp_path, fmt):
    """Custom layers (Normalize, ZeroPadShortcut), the loss and the LR schedule reload in all formats."""
    from tfqnn.training.schedules import EpochSchedule

    model = tfqnn.build_model("cifar_resnet", depth=8, base_width=4, input_shape=(16, 16, 3))
    model.compile(keras.optimizers.SGD(EpochSchedule("cosine", 0.1, 2, 2, warmup_epochs=0.5)),
                  SparseCrossEntropy(0.1), metrics=["accuracy"])
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)
    model.fit(x, np.arange(8) % 10, epochs=1, verbose=0)
    path = tmp_path / {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_saved"}[fmt]
    model.save(path, save_format={"keras": None, "h5": "h5", "savedmodel": "tf"}[fmt])
    again = tfqnn.load_model(path, compile=True)
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
    assert isinstance(again.loss, SparseCrossEntropy) and again.loss.label_smoothing == 0.1
    lr = again.optimizer.get_config()["learning_rate"]
    assert lr["class_name"].endswith("EpochSchedule") and lr["config"] == model.optimizer.get_config()["learning_rate"]["config"]
