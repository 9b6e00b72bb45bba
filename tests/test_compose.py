"""Techniques that compose across families (issue 9 item 2), each end to end on real CIFAR-10:
build → fit one epoch on 256 training images → convert → run the flatbuffer.

* ε-gates (ε-ResNet) on an ERN w1a2 net, compression of the discarded blocks, LCE with bit-planes;
* EC2T ternary weights on a ReXNet-lite (the builder's ``quantization="ternary"``) → int8 TFLite;
* HAWQ-V3 Hessian + ILP bit allocation on a ReXNet and a CIFAR ResNet-20 → mixed INT4/INT8 TFLite.
"""
from __future__ import annotations

import numpy as np
import pytest

from tfqnn.keras import keras

import tfqnn
from tfqnn import data
from tfqnn.compress.bit_allocation import allocate_bits
from tfqnn.compress.gated_blocks import add_epsilon_gates, discarded_on, gate_values, identity_blocks, remove_gated_blocks
from tfqnn.errors import ConfigError
from tfqnn.layers.epsilon_gate import gate_layers
from tfqnn.layers.ternary_conv import TernaryConv2D, ec2t_layers
from tfqnn.quantizers.apply import (
    MixedConvQuantizeConfig,
    OutputQuantizeConfig,
    apply_quantization,
    fold_batchnorm,
    quantize_mixed,
)
from tfqnn.training import SparseCrossEntropy

N_TRAIN = 256


@pytest.fixture(scope="module")
def cifar():
    """256 training images to fit on, 64 more for checks, 64 test images; raw pixels, float32."""
    x, y = data.load_arrays("cifar10", "train", max_examples=N_TRAIN + 64)
    xt, yt = data.load_arrays("cifar10", "test", max_examples=64)
    return x.astype(np.float32), y, xt.astype(np.float32), yt


def _fit(model, x, y, optimizer=None, callbacks=()):
    model.compile(optimizer or keras.optimizers.Adam(1e-3), SparseCrossEntropy(), metrics=["accuracy"])
    return model.fit(x[:N_TRAIN], y[:N_TRAIN], batch_size=32, epochs=1, verbose=0, callbacks=list(callbacks))


# --------------------------------------------------------------------------- fast unit checks
def test_identity_blocks_found_in_resnet20():
    model = tfqnn.build_model("resnet20", num_classes=10)
    blocks = identity_blocks(model)
    # 9 blocks, of which the 2 stage transitions have a zero-pad shortcut (not the identity) → 7 gated
    assert sorted(blocks) == sorted(f"stage{s}_block{b}_add" for s in (1, 2, 3) for b in (1, 2, 3) if (s, b) not in ((2, 1), (3, 1)))
    gated = add_epsilon_gates(model, 2.5)
    assert len(gate_layers(gated)) == 7
    assert gated.count_params() == model.count_params() + 3 * 7  # each gate: 3 non-trainable state scalars


def test_fold_batchnorm_is_exact_in_float():
    keras.utils.set_random_seed(1)
    model = tfqnn.build_model("rexnet_lite", width_mult=0.5, num_classes=10, input_shape=(32, 32, 3), normalization="cifar10")
    for layer in model.layers:  # non-trivial BN statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(np.random.uniform(-1, 1, n))
            layer.moving_variance.assign(np.random.uniform(0.5, 2, n))
    folded = fold_batchnorm(model)
    assert not [layer for layer in folded.layers if isinstance(layer, keras.layers.BatchNormalization)]
    x = np.random.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    ref = model(x, training=False).numpy()
    np.testing.assert_allclose(folded(x).numpy(), ref, atol=1e-4 * np.abs(ref).max())


def test_quantization_option_errors_and_configs():
    model = tfqnn.build_model("resnet20", num_classes=10)
    with pytest.raises(ConfigError, match="unknown quantization 'int3'"):
        apply_quantization(model, "int3")
    with pytest.raises(ConfigError, match="not Conv2D layers"):
        quantize_mixed(model, {"classifier": 4})
    with pytest.raises(ConfigError, match="weight bits"):
        MixedConvQuantizeConfig(3)
    cfg = MixedConvQuantizeConfig(4)
    assert MixedConvQuantizeConfig(**cfg.get_config()).weight_bits == 4
    assert OutputQuantizeConfig.from_config(OutputQuantizeConfig().get_config()).get_config() == {}
    with pytest.raises(ConfigError, match="no identity residual blocks"):
        add_epsilon_gates(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), 1.0)


def test_rexnet_builder_accepts_ternary():
    model = tfqnn.build_model("rexnet_lite", width_mult=0.5, num_classes=10, input_shape=(32, 32, 3), quantization="ternary")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
             and not isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert type(convs[0]) is keras.layers.Conv2D and convs[0].name == "stem_conv"  # stem stays float (as MicroNet)
    assert all(isinstance(layer, TernaryConv2D) for layer in convs[1:])


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.e2e
def test_ern_epsilon_gates_compress_and_run_lce(cifar):
    from converters.lce import convert_lce
    from converters.runtime import FlatbufferModel

    x, y, xt, _ = cifar
    keras.utils.set_random_seed(0)
    base = tfqnn.build_model("ern18", num_classes=10, input_shape=(32, 32, 3), blocks=[2, 2, 1, 1])
    gated = add_epsilon_gates(base, epsilon=1.0)  # ERN's residual stream is on a 1/32 grid: ε ~ 1
    assert sorted(identity_blocks(base)) == ["stage1_block2_add", "stage2_block2_add"]
    hist = _fit(gated, x, y)
    assert np.isfinite(hist.history["loss"][0])
    checks = [x[N_TRAIN + i: N_TRAIN + i + 16] for i in range(0, 64, 16)]
    gone = discarded_on(gated, checks)
    assert gone, f"no block discarded at ε = 1.0: gates {gate_values(gated, checks[0])}"
    plain, report = remove_gated_blocks(gated, gone)
    assert report["discarded"] == gone and report["params_compressed"] < report["params_gated"]
    assert not gate_layers(plain)
    for batch in checks:  # the removed gates are 0 there and the kept ones must be 1 for equality
        values = gate_values(gated, batch)
        if all(values[b] == 1.0 for b in report["kept"]):
            np.testing.assert_array_equal(plain(batch).numpy(), gated(batch).numpy())
    fb = convert_lce(plain)  # bit-plane pass: every w1a2 conv → LceBconv2d (checked inside)
    run = FlatbufferModel(fb, runtime="lce")
    got, ref = run.predict(xt[:8]), plain(xt[:8], training=False).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4 * max(1.0, np.abs(ref).max()))
    assert len(fb) < len(convert_lce(gated))


@pytest.mark.slow
@pytest.mark.e2e
def test_rexnet_lite_ec2t_ternary_int8(cifar):
    from converters import ternary as ct
    from converters.runtime import FlatbufferModel
    from tfqnn.training.ec2t import EC2TAdam, EC2TCallback, ec2t_sparsity

    x, y, xt, _ = cifar
    keras.utils.set_random_seed(0)
    model = tfqnn.build_model("rexnet_lite", width_mult=0.5, num_classes=10, input_shape=(32, 32, 3),
                              normalization="cifar10", quantization="ternary")
    cb = EC2TCallback(ini_c_divider=0.45, lambda_max_divider=0.15, quant_epochs=1, monitor="loss")
    hist = _fit(model, x, y, optimizer=EC2TAdam(1e-3, 1e-4, 0.0), callbacks=[cb])
    assert np.isfinite(hist.history["loss"][0])
    layers = ec2t_layers(model)
    for layer in layers:  # every ternary layer: values in {−w_n, 0, +w_p}
        t = layer.ternary_kernel().numpy()
        assert len(np.unique(t)) <= 3
    assert 0.0 < ec2t_sparsity(model) < 1.0
    fb = ct.convert_int8(model, x[:64], mode="split")
    check = ct.check_kernels(model, fb)
    assert check.tensors == 2 * len(layers) and check.exact == check.tensors
    exported = ct.export_model(model, "split")
    ref = exported(xt, training=False).numpy()
    from converters.tflite import convert

    as_float = FlatbufferModel(convert(exported, "float"), runtime="tflite").predict(xt)
    np.testing.assert_allclose(as_float, ref, atol=1e-4 * np.abs(ref).max())  # the exported graph itself is exact
    got = FlatbufferModel(fb, runtime="tflite").predict(xt)
    # int8 PTQ of a net trained 8 steps is noisy (measured: max error 23 % of the logit range, correlation 0.97;
    # the float ReXNet-lite's own int8 PTQ: 18 %): bound it loosely, and check the logits still track
    assert np.abs(got - ref).max() <= 0.35 * np.abs(ref).max()
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] >= 0.95


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("name,options", [
    ("resnet20", {}),
    ("rexnet", {"width_mult": 0.5, "depth_mult": 0.5, "input_shape": (32, 32, 3), "normalization": "cifar10"}),
])
def test_hawq_mixed_int4_int8(cifar, name, options):
    from converters.runtime import FlatbufferModel
    from converters.tflite import convert
    from converters.weight_report import weight_rows
    from tfqnn.quantizers.rexnet_qat import calibrate_ranges

    x, y, xt, _ = cifar
    keras.utils.set_random_seed(0)
    model = tfqnn.build_model(name, num_classes=10, **options)
    _fit(model, x, y)
    folded = fold_batchnorm(model)
    convs = [layer.name for layer in folded.layers if type(layer) is keras.layers.Conv2D]
    alloc = allocate_bits(folded, (x[:64], y[:64]), ratio=0.5, kind="size", layers=convs[1:], n_samples=2)
    assert set(alloc.bits.values()) == {4, 8}  # half the size range: some layers of each
    qat, folded2 = quantize_mixed(model, alloc.bits)
    calibrate_ranges(qat, folded2, [x[:128]])
    fb = convert(qat, "int8", representative_data=x[:64])
    stored = {}
    for row in weight_rows(fb):
        layer = next((n for n in convs if f"quant_{n}/" in row.layer), None)
        if layer:
            stored[layer] = (row.op, row.weight_type)
    assert set(stored) == set(convs)
    for n, (op, dtype) in stored.items():
        if alloc.bits.get(n, 8) == 8:
            assert dtype == "INT8", n
        else:  # a 1×1 conv on a 1×1 map (SE) becomes FULLY_CONNECTED, which TFLite stores as INT8
            assert dtype == ("INT4" if op == "CONV_2D" else "INT8"), (n, op, dtype)
    assert sum(dtype == "INT4" for _, dtype in stored.values()) >= 3
    ref = qat(xt[:16], training=False).numpy()
    got = FlatbufferModel(fb, runtime="tflite").predict(xt[:16])
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= 0.1 * scale
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.8


def test_every_builder_accepts_quantization_option():
    model = tfqnn.build_model("resnet20", num_classes=10, quantization="ternary")
    assert sum(isinstance(layer, TernaryConv2D) for layer in model.layers) == 18  # all convs but the stem
    assert tfqnn.build_model("resnet20", num_classes=10, quantization=None).name == "resnet20"
    with pytest.raises(ConfigError, match="unknown option 'dept'"):
        tfqnn.build_model("resnet20", dept=3, quantization="ternary")


def test_mixed_bits_mapping_through_the_builder_option():
    model = tfqnn.build_model("resnet20", num_classes=10, quantization={"stage1_block1_conv1": 4})
    configs = {layer.layer.name: layer.quantize_config for layer in model.layers if hasattr(layer, "quantize_config")}
    assert isinstance(configs["stage1_block1_conv1"], MixedConvQuantizeConfig)
    assert configs["stage1_block1_conv1"].weight_bits == 4 and configs["stage1_block1_conv2"].weight_bits == 8
    assert "stage1_block1_bn1" not in configs  # folded into the conv before quantization
