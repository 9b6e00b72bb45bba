"""Our x86 LCE kernels (converters/kernels) are bit-exact with LCE's reference kernel.

Every comparison is against LCE's own interpreter with ``use_reference_bconv=True`` (never
against our own code), on hand-built single-op flatbuffers (every option chosen by the test,
plus hypothesis over shapes) and on models converted by LCE from larq, including a w1a2 ERN
from ``convert_lce``. Each test runs on each kernel path this CPU has (scalar, avx2, avx512, amx).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from converters.kernels import build as kbuild

if kbuild.compiler() is None:
    pytest.skip(reason="no C++ compiler: the tfqnn kernels cannot be built here", allow_module_level=True)

from converters.kernels import modelgen as mg  # noqa: E402
from converters.kernels import status  # noqa: E402
from kernels_helpers import assert_bit_exact, run_lce_reference, run_ours, supported_paths  # noqa: E402

ALL_PATHS = ("scalar", "avx2", "avx512", "amx")


def test_library_builds_registers_and_passes_smoke_test():
    st_ = status()
    assert st_.available, st_.reason
    assert st_.path in ALL_PATHS and st_.path == supported_paths()[-1]


@pytest.fixture(params=ALL_PATHS)
def path(request) -> str:
    if request.param not in supported_paths():
        pytest.skip(reason=f"this CPU has no {request.param} support")
    return request.param


# ----------------------------------------------------------------------------- single-op grid
GRID = {
    "s1_same_pad1_float": mg.BconvCase(),
    "s2_same_pad1": mg.BconvCase(stride=(2, 2), h=7, w=6),
    "s2x1_valid": mg.BconvCase(stride=(2, 1), padding=1, kh=3, kw=2),
    "dil2_same_pad1": mg.BconvCase(dilation=(2, 2), h=6, w=7),
    "dil2_valid": mg.BconvCase(dilation=(2, 1), padding=1),
    "same_pad0_float": mg.BconvCase(pad_values=0, cin=40),
    "same_pad0_s2_dil2": mg.BconvCase(pad_values=0, cin=96, stride=(2, 2), dilation=(1, 2), cout=33),
    "same_pad0_int8": mg.BconvCase(pad_values=0, out="int8", cin=64),
    "groups2": mg.BconvCase(cin=64, groups=2, cout=10),
    "groups2_bitpacked_s2": mg.BconvCase(cin=128, groups=2, cout=70, out="bitpacked", stride=(2, 2)),
    "groups4_pad0": mg.BconvCase(cin=128, groups=4, cout=8, pad_values=0),
    "cin_odd_cout_tail": mg.BconvCase(cin=33, cout=70),
    "cin_100_words_odd": mg.BconvCase(cin=100, cout=65, kh=1, kw=1),
    "cin_1": mg.BconvCase(cin=1, cout=3),
    "bitpacked_cout_40": mg.BconvCase(out="bitpacked", cout=40),
    "bitpacked_valid_cout_96": mg.BconvCase(out="bitpacked", cout=96, padding=1, cin=200),
    "int8": mg.BconvCase(out="int8", cout=37),
    "int8_valid_relu": mg.BconvCase(out="int8", padding=1, activation=1),
    "relu": mg.BconvCase(activation=1),
    "relu_n1_to_1": mg.BconvCase(activation=2),
    "relu6": mg.BconvCase(activation=3, cin=3),
    "batch4": mg.BconvCase(n=4, cout=35, stride=(2, 2)),
    "batch4_pad0": mg.BconvCase(n=4, pad_values=0),
    "wide_row_tail": mg.BconvCase(h=2, w=11, cout=64),
    "kernel_5x1": mg.BconvCase(kh=5, kw=1, h=6, w=3, cout=16),
    # AMX tiling: 37 = 13+13+11 pixel runs (odd count per image), 3 channel chunks, 3 channel blocks
    "amx_runs_chunks_blocks": mg.BconvCase(h=3, w=37, cin=130, cout=48),
    "amx_runs_s1x2_bitpacked": mg.BconvCase(h=4, w=40, cin=70, cout=33, stride=(1, 2), out="bitpacked"),
    # AMX loop order: input larger than the weights -> pixel runs outer (the others: weights outer)
    "amx_input_outer_1x1": mg.BconvCase(h=20, w=20, cin=64, cout=20, kh=1, kw=1, n=2),
    "amx_runs_pad0_int8_dil2": mg.BconvCase(h=5, w=34, cin=64, cout=20, pad_values=0, dilation=(2, 2), out="int8"),
}


@pytest.mark.parametrize("name", sorted(GRID))
def test_bconv_single_op_grid_bit_exact(name, path):
    fb, x = mg.bconv_model(GRID[name])
    assert_bit_exact(run_ours(fb, [x], path), run_lce_reference(fb, [x]))


@st.composite
def bconv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    cin = draw(st.sampled_from([64, 128])) if groups == 2 else draw(st.integers(1, 130))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    case = mg.BconvCase(
        n=draw(st.integers(1, 2)), h=draw(st.integers(1, 7)), w=draw(st.integers(1, 7)), cin=cin,
        cout=draw(st.integers(1, 3)) * groups * draw(st.sampled_from([1, 5, 11, 32])), kh=kh, kw=kw, groups=groups,
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        padding=draw(st.integers(0, 1)), pad_values=draw(st.integers(0, 1)), activation=draw(st.integers(0, 3)),
        out=draw(st.sampled_from(["float", "int8", "bitpacked"])), seed=draw(st.integers(0, 2**16)),
    )
    return case


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bconv_cases(), path_index=st.integers(0, 2))
def test_bconv_property_random_shapes_bit_exact(case, path_index):
    paths = supported_paths()
    path = paths[path_index % len(paths)]
    same = case.padding == 0
    assume(same or ((case.kh - 1) * case.dilation[0] + 1 <= case.h and (case.kw - 1) * case.dilation[1] + 1 <= case.w))
    zero_pad = same and case.pad_values == 0
    # LCE itself refuses these (Prepare error), so there is nothing to compare with.
    assume(not (zero_pad and (case.activation != 0 or case.out == "bitpacked")))
    assume(not (zero_pad and (case.cin // case.groups) % 2 == 1))
    fb, x = mg.bconv_model(case)
    assert_bit_exact(run_ours(fb, [x], path), run_lce_reference(fb, [x]))


def _numpy_bconv_zero_pad(case: mg.BconvCase, fb: bytes, x_bits: np.ndarray) -> np.ndarray:
    """Exact ±1 convolution with zero padding, then LCE's float transform (stride 1, groups 1)."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(fb, 0)
    t = m.subgraphs[0].tensors
    op = m.subgraphs[0].operators[0]
    buf = lambda i, dt: np.frombuffer(bytes(m.buffers[t[i].buffer].data), dtype=dt)  # noqa: E731
    filt = buf(op.inputs[1], np.uint32).reshape(case.cout, case.kh, case.kw, -1)
    mul, bias = buf(op.inputs[2], np.float32), buf(op.inputs[3], np.float32)
    unpack = lambda b, c: 1 - 2 * ((b[..., None] >> np.arange(32, dtype=np.uint32)) & 1).reshape(*b.shape[:-1], -1)[..., :c].astype(np.int64)  # noqa: E501,E731
    xs = unpack(x_bits.view(np.uint32), case.cin)
    ws = unpack(filt, case.cin)
    ph, pw = (case.kh - 1) // 2, (case.kw - 1) // 2
    xp = np.zeros((case.n, case.h + case.kh - 1, case.w + case.kw - 1, case.cin), np.int64)
    xp[:, ph:ph + case.h, pw:pw + case.w] = xs
    v = np.zeros((case.n, case.h, case.w, case.cout), np.int64)
    for ky in range(case.kh):
        for kx in range(case.kw):
            v += np.einsum("nhwc,oc->nhwo", xp[:, ky:ky + case.h, kx:kx + case.w], ws[:, ky, kx])
    k = case.kh * case.kw * case.cin
    m2 = (-mul.astype(np.float64)).astype(np.float32)
    b2 = (bias.astype(np.float64) + k * mul.astype(np.float64)).astype(np.float32)
    return (k - v).astype(np.float32) * m2 + b2  # 2*acc = K - v


@pytest.mark.parametrize("cin", [31, 33, 41])
def test_bconv_zero_padding_odd_channels_is_exact(cin, path):
    # LCE's reference refuses odd channel counts with zero padding; ours is exact: compare with
    # the exact integer ±1 convolution computed in numpy.
    case = mg.BconvCase(cin=cin, cout=9, pad_values=0, h=4, w=5)
    fb, x = mg.bconv_model(case)
    (ours,) = run_ours(fb, [x], path)
    np.testing.assert_array_equal(ours, _numpy_bconv_zero_pad(case, fb, x))


@pytest.mark.parametrize("out", ["float", "bitpacked"])
def test_bconv_two_threads_bit_exact(path, out):
    pad_values = 0 if out == "float" else 1
    case = mg.BconvCase(h=24, w=23, cin=256, cout=70, pad_values=pad_values, out=out)  # > 2**25 MACs: threaded
    fb, x = mg.bconv_model(case)
    assert_bit_exact(run_ours(fb, [x], path, threads=2), run_lce_reference(fb, [x]))


# ----------------------------------------------------------------------------- other ops
def _quantize_graph(in_type: str, out_type: str, shape=(2, 3, 2, 45), in_quant=None, out_quant=None) -> bytes:
    words = -(-shape[-1] // 32)
    g = mg.Graph()
    x = g.add(mg.Tensor(shape, in_type, quant=in_quant))
    p = g.add(mg.Tensor([*shape[:-1], words], mg.INT32))
    y = g.add(mg.Tensor(shape, out_type, quant=out_quant))
    g.ops = [mg.Op("LceQuantize", [x], [p]), mg.Op("LceDequantize", [p], [y])]
    g.inputs, g.outputs = [x], [p, y]
    return mg.pack(g)


@pytest.mark.parametrize("in_type,out_type", [("FLOAT32", "FLOAT32"), ("INT8", "INT8"), ("BOOL", "BOOL"),
                                              ("FLOAT32", "INT8"), ("INT8", "FLOAT32")])
def test_quantize_dequantize_bit_exact(in_type, out_type, path):
    rng = np.random.default_rng(3)
    shape = (2, 3, 2, 45)
    if in_type == "FLOAT32":
        x = rng.normal(size=shape).astype(np.float32)
        x.flat[::7] = 0.0
        x.flat[1::11] = -0.0
        x.flat[2::13] = np.nan
    elif in_type == "INT8":
        x = rng.integers(-128, 128, shape).astype(np.int8)
    else:
        x = rng.random(shape) < 0.5
    fb = _quantize_graph(in_type, out_type, shape, in_quant=(0.1, 3) if in_type == "INT8" else None,
                         out_quant=(0.3, -5) if out_type == "INT8" else None)
    assert_bit_exact(run_ours(fb, [x], path), run_lce_reference(fb, [x]))


@pytest.mark.parametrize("padding,stride,size", [(0, 2, 2), (1, 2, 2), (0, 1, 3), (1, 1, 2), (0, 3, 2)])
def test_bmaxpool_bit_exact(padding, stride, size, path):
    rng = np.random.default_rng(4)
    shape = (2, 5, 7, 3)
    x = rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
    g = mg.Graph()
    xi = g.add(mg.Tensor(shape, mg.INT32))
    yi = g.add(mg.Tensor([2, 1, 1, 3], mg.INT32))
    opts = mg.flex_options({"padding": padding, "stride_height": stride, "stride_width": stride,
                            "filter_height": size, "filter_width": size})
    g.ops = [mg.Op("LceBMaxPool2d", [xi], [yi], opts)]
    g.inputs, g.outputs = [xi], [yi]
    fb = mg.pack(g)
    assert_bit_exact(run_ours(fb, [x], path), run_lce_reference(fb, [x]))


# ----------------------------------------------------------------------------- converted models
def _randomise_bn(model, seed: int = 0) -> None:
    from tfqnn.keras import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0.3, 0.5, b.shape),
                               rng.normal(0, 3, m.shape), rng.uniform(4, 40, v.shape)])


def _qconv(filters, kernel=3, pad_values=1.0, **kw):
    import larq as lq

    return lq.layers.QuantConv2D(filters, kernel, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", use_bias=False, pad_values=pad_values, **kw)


def _grid_model():
    from tfqnn.keras import keras

    bn = keras.layers.BatchNormalization
    inp = keras.Input((7, 7, 40))
    outs = [
        bn()(_qconv(40, padding="same")(inp)),
        bn()(_qconv(36, strides=2, padding="same", pad_values=0.0)(inp)),
        bn()(_qconv(33, dilation_rate=2, padding="valid")(inp)),
        _qconv(24, (3, 2), strides=(2, 1), padding="valid")(inp),
        keras.layers.ReLU()(_qconv(20, padding="same")(inp)),
    ]
    chain = bn()(_qconv(40, padding="same")(inp))  # bitpacked output (next layer binarizes)
    outs.append(bn()(_qconv(70, padding="same")(chain)))
    pooled = keras.layers.MaxPool2D(2)(bn()(_qconv(64, padding="same")(inp)))
    outs.append(bn()(_qconv(32, padding="same")(pooled)))
    r = keras.layers.Add()([bn()(_qconv(40, padding="same")(inp)), inp])
    outs.append(keras.layers.Add()([bn()(_qconv(40, padding="same")(r)), r]))
    return keras.Model(inp, outs)


def _groups_model():
    from tfqnn.keras import keras

    bn = keras.layers.BatchNormalization
    inp = keras.Input((6, 6, 64))
    a = bn()(_qconv(64, padding="same", groups=2)(inp))
    return keras.Model(inp, [bn()(_qconv(32, padding="valid", groups=2)(a)), a])


def _batch4_model():
    from tfqnn.keras import keras

    bn = keras.layers.BatchNormalization
    inp = keras.Input((6, 6, 40), batch_size=4)
    a = bn()(_qconv(40, padding="same")(inp))
    return keras.Model(inp, bn()(_qconv(40, padding="same", pad_values=0.0, strides=2)(a)))


def _ern_model():
    import tfqnn

    return tfqnn.build_model("ern18", num_classes=10, input_shape=(16, 16, 3), blocks=[1, 1, 1, 1])


BUILDERS = {"grid": _grid_model, "groups": _groups_model, "batch4": _batch4_model, "ern_w1a2": _ern_model}


@pytest.fixture(scope="module")
def converted():
    from converters.flatbuffer import op_histogram
    from converters.lce import convert_lce

    out = {}
    for i, (name, builder) in enumerate(BUILDERS.items()):
        model = builder()
        _randomise_bn(model, i)
        fb = convert_lce(model)
        rng = np.random.default_rng(i)
        shape = [d if d is not None else 1 for d in model.inputs[0].shape]
        x = rng.normal(size=shape).astype(np.float32)
        if name == "ern_w1a2":
            x = rng.uniform(0, 255, shape).astype(np.float32)
        x.flat[::5] = 0.0
        out[name] = (fb, x, op_histogram(fb))
    return out


@pytest.mark.slow
def test_converted_models_use_the_expected_lce_ops(converted):
    hist = {name: h for name, (_, _, h) in converted.items()}
    assert hist["grid"]["LceBconv2d"] == 11 and hist["grid"].get("LceBMaxPool2d") == 1, hist["grid"]
    assert hist["groups"]["LceBconv2d"] == 2
    assert hist["ern_w1a2"]["LceBconv2d"] >= 16  # every w1a2 conv = 2 bit-plane bconvs


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUILDERS))
def test_converted_models_bit_exact(name, converted, path):
    fb, x, _ = converted[name]
    assert_bit_exact(run_ours(fb, [x], path), run_lce_reference(fb, [x]))


def test_amx_peak_is_measured_only_where_amx_runs():
    from converters.kernels import amx_peak_gmacs

    peak = amx_peak_gmacs(0.02)
    if "amx" in supported_paths():
        assert peak > 100.0  # G MACs/s: one 16x16x64 TDPBSSD every few ns
    else:
        assert peak == 0.0
