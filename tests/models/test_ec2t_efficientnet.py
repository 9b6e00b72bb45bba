"""EfficientNet-B1 of the EC2T ImageNet entry: parameter split, padding, BN, EC2T layer placement."""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

import tfqnn
from tfqnn.errors import ConfigError
from tfqnn.layers.ternary_conv import TernaryConv2D, TernaryDense, ec2t_layers
from tfqnn.models.efficientnet import block_specs
from tfqnn.models.micronet import reference_param_count


@pytest.fixture(scope="module")
def b1():
    return tfqnn.build_model("efficientnet_b1", ternary=True, prune=True)


def _size(layer, attr="kernel"):
    return int(np.prod(getattr(layer, attr).shape))


@pytest.mark.slow
def test_param_split_matches_reference(b1):
    # spec ec2t.md §2.2 (ref-run): total 7,794,184 = ternarized 5,070,976 + pruned SE/FC 2,388,480
    # + depthwise 256,656 + stem 864 + BN and biases 77,208
    assert reference_param_count(b1) == 7_794_184
    tern = sum(_size(l) for l in ec2t_layers(b1) if not l.prune)
    pruned = sum(_size(l) for l in ec2t_layers(b1) if l.prune)
    dw = sum(_size(l, "depthwise_kernel") for l in b1.layers if isinstance(l, keras.layers.DepthwiseConv2D))
    rest = 7_794_184 - tern - pruned - dw - _size(b1.get_layer("stem_conv"))
    assert (tern, pruned, dw, rest) == (5_070_976, 2_388_480, 256_656, 77_208)
    names = {l.name for l in ec2t_layers(b1) if not l.prune}
    assert all(n.endswith(("_expand_conv", "_project_conv")) or n == "head_conv" for n in names)
    pruned_names = sorted(l.name for l in ec2t_layers(b1) if l.prune)
    assert "classifier" in pruned_names and all(n == "classifier" or n.endswith(("_se_reduce", "_se_expand")) for n in pruned_names)
    assert isinstance(b1.get_layer("classifier"), TernaryDense)


@pytest.mark.slow
def test_block_table_bn_and_padding(b1):
    specs = block_specs()
    assert len(specs) == 23
    assert [b.kernel for b in specs if not b.repeat] == [3, 3, 5, 3, 5, 5, 3]
    for i, spec in enumerate(specs):
        dw = b1.get_layer(f"block{i}_dw_conv")
        assert dw.padding == "same" and dw.strides == (spec.stride, spec.stride) and dw.kernel_size == (spec.kernel, spec.kernel)
        assert b1.get_layer(f"block{i}_se_reduce").filters == max(1, int(spec.c_in * 0.25))  # of the block INPUT filters
        assert b1.get_layer(f"block{i}_project_conv").filters == spec.c_out
        assert (f"block{i}_add" in {l.name for l in b1.layers}) == (spec.stride == 1 and spec.c_in == spec.c_out)
        assert (f"block{i}_expand_conv" in {l.name for l in b1.layers}) == (spec.expand != 1)
    for layer in b1.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == pytest.approx(1e-3) and layer.momentum == pytest.approx(0.99)
    assert b1.get_layer("stem_conv").padding == "same" and b1.get_layer("stem_conv").strides == (2, 2)
    assert b1.get_layer("head_conv").output_shape[1:] == (8, 8, 1280)  # 240 px / 32, TF 'same' rounding up
    assert b1.output_shape == (None, 1000)


def test_same_padding_is_tf_style():
    """Keras 'same' with stride 2 pads (0, 1) on even inputs — TF-'same', what the reference emulates."""
    layer = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, depthwise_initializer="ones")
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = 1.0  # only the top-left pixel; with (0,1) padding it sits in window (0,0) alone
    y = layer(x).numpy()[0, :, :, 0]
    assert y[0, 0] == 1.0 and y.sum() == 1.0


@pytest.mark.slow
def test_ternary_pruned_b1_forward_and_round_trip(tmp_path):
    model = tfqnn.build_model("efficientnet_b1", input_shape=(64, 64, 3), num_classes=10, ternary=True, prune=True)
    from tfqnn.training.ec2t import initialize_ec2t

    assert initialize_ec2t(model, 0.2) == len(ec2t_layers(model))
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    ref = model(x, training=False).numpy()
    model.save(tmp_path / "b1.keras")
    again = tfqnn.load_model(tmp_path / "b1.keras")
    np.testing.assert_array_equal(again(x, training=False).numpy(), ref)
    # pruned layers keep surviving FP values; ternary layers have at most 3 values
    for layer in ec2t_layers(again):
        values = np.unique(layer.ternary_kernel().numpy())
        if layer.prune:
            assert values.size > 3
        else:
            assert values.size <= 3


def test_bad_options():
    with pytest.raises(ConfigError, match="dropout"):
        tfqnn.build_model("efficientnet_b1", dropout=1.0)
