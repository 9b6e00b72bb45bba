"""Round-trip suite: every registered model and every registered custom object saves and reloads.

* Models: one case per ``tfqnn.list_models()`` name, built through the registry with tiny options
  (small input, small width where the builder has a width option), saved as ``.keras``, reloaded
  with ``tfqnn.load_model``, identical outputs. Builders with no width option stay large: those
  cases are marked ``slow`` with the reason. TF-MOT QAT models (ReXNet ``quantization="tfmot8"``)
  go through ``.h5`` and SavedModel, never ``.keras`` (``specs/stack.md`` §4.3).
* Custom objects: one case per object registered under ``tfqnn>``: ``get_config`` → ``from_config``
  gives the same config and resolves by its registered name; layers, Larq quantizers, constraints
  and TF-MOT quantizers / ``QuantizeConfig``s are also saved inside a tiny model and reloaded with
  identical outputs.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tfqnn
from tfqnn.keras import keras
from tfqnn.registry import get_entry

RNG_SEED = 0
# .h5 is the format stack.md §4.3 prescribes for TF-MOT models; Keras calls it legacy on every save
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file:UserWarning")


def _inputs(model: keras.Model, low: float = 0.0, high: float = 255.0, n: int = 2) -> Any:
    rng = np.random.default_rng(RNG_SEED)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    arrays = [rng.uniform(low, high, (n, *s)).astype(np.float32) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def assert_reloads_identically(model: keras.Model, folder: Path, fmt: str, x: Any) -> keras.Model:
    """Save ``model`` as ``fmt`` ('keras', 'h5', 'savedmodel'), reload with ``tfqnn.load_model``, same outputs."""
    path = folder / {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel"}[fmt]
    model.save(str(path), save_format={"keras": None, "h5": "h5", "savedmodel": "tf"}[fmt])
    again = tfqnn.load_model(path)
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    want = model(x, training=False)
    got = again(x, training=False)
    for a, b in zip(tf_flatten(want), tf_flatten(got)):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    return again


def tf_flatten(out: Any) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


# =========================================================================== models
# builder function → tiny options; ``registered`` is the entry's default options (e.g. width_mult of a variant)
TINY: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "cifar_resnet": lambda reg: {"input_shape": (8, 8, 3), "base_width": 4},
    "imagenet_resnet": lambda reg: {"input_shape": (32, 32, 3), "base_width": 4},
    "epsresnet_cifar": lambda reg: {"input_shape": (8, 8, 3)},
    "epsresnet_imagenet": lambda reg: {"input_shape": (32, 32, 3)},
    "ern": lambda reg: {"input_shape": (32, 32, 3)},
    "hawq_cifar_resnet": lambda reg: {"input_shape": (8, 8, 3)},
    "hawq_resnet": lambda reg: {"input_shape": (32, 32, 3)},
    "build_micronet": lambda reg: {"input_shape": (32, 32, 3), "w": 0.25},
    "build_efficientnet_b1": lambda reg: {"input_shape": (32, 32, 3)},
    # each ReXNet variant at a fifth of its width multiplier, so the variants stay distinct
    "build_rexnet": lambda reg: {"input_shape": (32, 32, 3), "small_input": True,
                                 "width_mult": 0.2 * reg.get("width_mult", 1.0)},
    "build_rexnet_lite": lambda reg: {"input_shape": (32, 32, 3), "small_input": True,
                                      "width_mult": 0.2 * reg.get("width_mult", 1.0)},
}

NO_WIDTH = "no width option: {params} M parameters even at its smallest input"
DEEP = "depth {depth} ({layers} layers) makes build + save + load take several seconds"
VARIANT = "a width variant of {base!r} (same builder and layer types; {base!r} runs by default)"
# Default tier: one entry per builder at tiny size, each a few seconds. The rest is ``slow`` with the reason.
SLOW: dict[str, str] = {
    "efficientnet_b1": NO_WIDTH.format(params=6.6),
    "epsresnet50": NO_WIDTH.format(params=23.6),
    "epsresnet101": NO_WIDTH.format(params=42.6),
    "epsresnet152": NO_WIDTH.format(params=58.3),
    "ern18": NO_WIDTH.format(params=11.3),
    "ern18_075x": NO_WIDTH.format(params=7.8),
    "ern34": NO_WIDTH.format(params=21.4),
    "ern50": NO_WIDTH.format(params=23.6),
    "ern101": NO_WIDTH.format(params=42.7),
    "hawq_resnet18": NO_WIDTH.format(params=11.2),
    "hawq_resnet50": NO_WIDTH.format(params=23.6),
    "epsresnet_cifar": DEEP.format(depth=110, layers=441),
    "epsresnet_cifar_110": DEEP.format(depth=110, layers=441),
    "epsresnet_cifar_200": DEEP.format(depth=200, layers=801),
    "epsresnet_cifar_302": DEEP.format(depth=302, layers="1,209"),
    "epsresnet_cifar_500": DEEP.format(depth=500, layers="2,001"),
    "epsresnet_cifar_752": DEEP.format(depth=752, layers="3,009"),
    "resnet110": DEEP.format(depth=110, layers=389),
    "preact_resnet110": DEEP.format(depth=110, layers=389),
    "resnet101": DEEP.format(depth=101, layers=351),
    "resnet152": DEEP.format(depth=152, layers=521),
    **{n: VARIANT.format(base="rexnet") for n in ("rexnet_0.9", "rexnet_1.0", "rexnet_1.3", "rexnet_1.5", "rexnet_2.0",
                                                 "rexnet_3.0")},
    **{n: VARIANT.format(base="rexnet_lite") for n in ("rexnet_lite_1.0", "rexnet_lite_1.3", "rexnet_lite_1.5",
                                                      "rexnet_lite_2.0")},
}


# The five heaviest full-size round trips (~40 s each, Keras's own loading): marked ``huge`` as well,
# which ``make test`` (CI) deselects and ``make test-all`` runs.
HUGE = frozenset({"epsresnet_cifar_302", "epsresnet_cifar_500", "epsresnet_cifar_752", "epsresnet152", "ern101"})


def tiny_options(name: str) -> dict[str, Any]:
    entry = get_entry(name)
    builder = entry.builder.__name__
    if builder not in TINY:
        pytest.fail(f"model {name!r} (builder {builder}) has no tiny options: add them to TINY in {__file__}")
    options = {"num_classes": 3, **TINY[builder](entry.defaults)}
    return {k: v for k, v in options.items() if k in entry.allowed_options()}


def _call_key(name: str) -> tuple:
    """(builder, resolved tiny options): registered names with equal keys build the very same model."""
    entry = get_entry(name)
    tiny = TINY.get(entry.builder.__name__)
    if tiny is None:
        return entry.builder, name
    bound = inspect.signature(entry.builder).bind(**{**entry.defaults, **tiny(entry.defaults)})
    bound.apply_defaults()  # so that {} and {"depth": 20} compare equal when 20 is the default
    return entry.builder, repr(sorted(bound.arguments.items()))


def _model_groups() -> list[list[str]]:
    """Registered names grouped by identical builder call (e.g. ``cifar_resnet`` = ``resnet20``)."""
    groups: dict[tuple, list[str]] = {}
    for name in tfqnn.list_models():
        groups.setdefault(_call_key(name), []).append(name)
    return list(groups.values())


def _model_params() -> list:
    params = []
    for group in _model_groups():
        slow = all(n in SLOW for n in group)
        marks = [pytest.mark.slow(reason=SLOW[group[0]])] if slow else []
        if any(n in HUGE for n in group):
            marks.append(pytest.mark.huge)
        params.append(pytest.param(group, marks=marks, id="=".join(group)))
    return params


@pytest.mark.parametrize("names", _model_params())
def test_registered_model_round_trips(tmp_path, names):
    """One case per distinct builder call; aliases (same builder, same options) share it."""
    model = tfqnn.build_model(names[0], **tiny_options(names[0]))
    x = _inputs(model)
    model(x, training=True)  # move BN / gate / range statistics away from their initial values
    assert_reloads_identically(model, tmp_path, "keras", x)


def test_every_registered_model_has_a_case():
    covered = [n for group in _model_groups() for n in group]
    assert sorted(covered) == tfqnn.list_models()
    assert sorted(set(SLOW) - set(covered)) == []


@pytest.mark.slow(reason="TF-MOT QAT wrapping of a ReXNet, about 12 s each")
@pytest.mark.parametrize("name", ["rexnet", "rexnet_lite"])
def test_tfmot_model_round_trips(tmp_path, name):
    """.h5 (stack.md §4.3: .keras cannot hold TF-MOT models; SavedModel works too but took 32 s here)."""
    qat = tfqnn.build_model(name, **tiny_options(name), quantization="tfmot8")
    assert any(type(layer).__name__ == "QuantizeWrapperV2" for layer in qat.layers)
    x = _inputs(qat)
    qat(x, training=True)  # set the moving-average activation ranges
    assert_reloads_identically(qat, tmp_path, "h5", x)


# =========================================================================== custom objects
def _larq_conv(**quantizers: Any) -> Callable[[], keras.Model]:
    """Input → ``QuantConv2D`` with the given quantizers / constraint → GAP → Dense."""

    def make() -> keras.Model:
        import larq as lq

        inp = keras.Input((6, 6, 3))
        x = lq.layers.QuantConv2D(4, 3, padding="same", **quantizers)(inp)
        return keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))

    return make


def _single(layer_fn: Callable[[], keras.layers.Layer]) -> Callable[[], keras.Model]:
    """Input → conv → the layer → GAP → Dense."""

    def make() -> keras.Model:
        inp = keras.Input((6, 6, 3))
        x = layer_fn()(keras.layers.Conv2D(4, 3, padding="same")(inp))
        return keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))

    return make


def _pooled(layer_fn: Callable[[], keras.layers.Layer]) -> Callable[[], keras.Model]:
    """Input → conv → GAP → the layer (dense-like layers)."""

    def make() -> keras.Model:
        inp = keras.Input((6, 6, 3))
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
        return keras.Model(inp, layer_fn()(x))

    return make


def _first(layer_fn: Callable[[], keras.layers.Layer]) -> Callable[[], keras.Model]:
    """Input → the layer → conv → GAP (layers that take raw pixels)."""

    def make() -> keras.Model:
        inp = keras.Input((6, 6, 3))
        x = keras.layers.Conv2D(4, 3)(layer_fn()(inp))
        return keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))

    return make


def _two_input(layer_fn: Callable[[], keras.layers.Layer], gate: bool) -> Callable[[], keras.Model]:
    """``[conv(x), x]`` (partial residual) or ``[conv(x), sigmoid(dense(GAP))]`` (SE scale) → the layer."""

    def make() -> keras.Model:
        inp = keras.Input((6, 6, 3))
        y = keras.layers.Conv2D(5 if not gate else 3, 3, padding="same")(inp)
        if gate:
            s = keras.layers.Dense(3, activation="sigmoid")(keras.layers.GlobalAveragePooling2D(keepdims=True)(y))
            return keras.Model(inp, layer_fn()([y, s]))
        return keras.Model(inp, layer_fn()([y, inp]))

    return make


def _ternary(dense: bool) -> Callable[[], keras.Model]:
    """A ternary conv / dense with EC2T active and a random assignment (the state that must survive)."""

    def make() -> keras.Model:
        from tfqnn.layers.ternary_conv import TernaryConv2D, TernaryDense

        inp = keras.Input((6, 6, 3))
        layer = TernaryDense(3, name="ternary") if dense else TernaryConv2D(4, 3, name="ternary")
        x = keras.layers.GlobalAveragePooling2D()(inp) if dense else inp
        model = keras.Model(inp, layer(x))
        layer.ec2t_active.assign(1.0)
        layer.centroids.assign([0.7, 1.3])
        rng = np.random.default_rng(RNG_SEED)
        layer.assignment.assign(rng.integers(0, 3, layer.assignment.shape).astype(np.int32))
        return model

    return make


def _qat(annotated: Callable[[Callable], keras.Model]) -> Callable[[], keras.Model]:
    """TF-MOT QAT model from ``annotated(annotate)``, which marks layers with ``annotate(layer, config)``."""

    def make() -> keras.Model:
        import tensorflow_model_optimization as tfmot

        q = tfmot.quantization.keras
        with q.quantize_scope(tfqnn.custom_objects()):
            return q.quantize_apply(q.quantize_annotate_model(annotated(q.quantize_annotate_layer)))

    return make


def _qat_conv(config_fn: Callable[[], Any], act_config_fn: Callable[[], Any] | None = None) -> Callable[[], keras.Model]:
    def annotated(annotate: Callable) -> keras.Model:
        inp = keras.Input((6, 6, 3))
        x = annotate(keras.layers.Conv2D(4, 3, name="conv"), config_fn())(inp)
        relu = keras.layers.ReLU(name="relu")
        x = (annotate(relu, act_config_fn()) if act_config_fn else relu)(x)
        return keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))

    return _qat(annotated)


def _qat_output_only(layer_kind: str, config_fn: Callable[[], Any]) -> Callable[[], keras.Model]:
    """A weightless tfqnn layer (``Normalize`` / ``PartialResidualAdd`` / ``SEScale``) with an output-only config."""

    def annotated(annotate: Callable) -> keras.Model:
        from tfqnn.layers.normalization import Normalize
        from tfqnn.layers.rexnet_blocks import PartialResidualAdd, SEScale

        inp = keras.Input((6, 6, 3))
        if layer_kind == "normalize":
            out = annotate(Normalize([120.0, 110.0, 100.0], [60.0, 62.0, 64.0]), config_fn())(inp)
            return keras.Model(inp, keras.layers.Conv2D(4, 3)(out))
        y = keras.layers.Conv2D(3 if layer_kind == "se" else 5, 3, padding="same")(inp)
        if layer_kind == "se":
            s = keras.layers.Dense(3, activation="sigmoid")(keras.layers.GlobalAveragePooling2D(keepdims=True)(y))
            return keras.Model(inp, annotate(SEScale(), config_fn())([y, s]))
        return keras.Model(inp, annotate(PartialResidualAdd(), config_fn())([y, inp]))

    return _qat(annotated)


def _obj(module: str, name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """Zero-argument factory of ``module.name(*args, **kwargs)`` (imported when called)."""

    def make() -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return make


L, Q, T, C = "tfqnn.layers", "tfqnn.quantizers", "tfqnn.training", "converters"
# registered name → (factory with a small config, tiny-model factory or None, save format)
OBJECTS: dict[str, tuple[Callable[[], Any], Callable[[], keras.Model] | None, str]] = {
    "Normalize": (_obj(f"{L}.normalization", "Normalize", [120.0, 110.0, 100.0], [60.0, 62.0, 64.0]), None, "keras"),
    "ZeroPadShortcut": (_obj(f"{L}.shortcut", "ZeroPadShortcut", 8, stride=2), None, "keras"),
    "EpsilonGate": (_obj(f"{L}.epsilon_gate", "EpsilonGate", epsilon=0.5), None, "keras"),
    "PixelEmbedding": (_obj(f"{L}.pixel_embedding", "PixelEmbedding", expansion=2, bits=2), None, "keras"),
    "TernaryConv2D": (_obj(f"{L}.ternary_conv", "TernaryConv2D", 4, 3, prune=True), _ternary(dense=False), "keras"),
    "TernaryDense": (_obj(f"{L}.ternary_conv", "TernaryDense", 3), _ternary(dense=True), "keras"),
    "PartialResidualAdd": (_obj(f"{L}.rexnet_blocks", "PartialResidualAdd"), None, "keras"),
    "SEScale": (_obj(f"{L}.rexnet_blocks", "SEScale"), None, "keras"),
    "HawqQuantAct": (_obj(f"{L}.hawq", "HawqQuantAct", 8, relu=True), None, "keras"),
    "HawqConvBN": (_obj(f"{L}.hawq", "HawqConvBN", 4, 3, weight_bits=4, act_bits=8, padding="same"), None, "keras"),
    "HawqDense": (_obj(f"{L}.hawq", "HawqDense", 4, weight_bits=8, act_bits=8), None, "keras"),
    "BinaryChannelWiseMeanScaling": (_obj(f"{Q}.binary", "BinaryChannelWiseMeanScaling", ewgs_delta=0.01), None, "keras"),
    "BinaryPower2Scaling": (_obj(f"{Q}.binary", "BinaryPower2Scaling", divisor=16), None, "keras"),
    "LatentWeightsUnclipped": (_obj(f"{Q}.binary", "LatentWeightsUnclipped"), None, "keras"),
    "HWGQ": (_obj(f"{Q}.uniform", "HWGQ", bits=3, max_value=1.5), None, "keras"),
    "HawqWeightQuantizer": (_obj(f"{Q}.hawq", "HawqWeightQuantizer", 4, per_channel=True), None, "h5"),
    "HawqActQuantizer": (_obj(f"{Q}.hawq", "HawqActQuantizer", 4, momentum=0.9), None, "h5"),
    "HawqWeightQuantizeConfig": (_obj(f"{Q}.hawq", "HawqWeightQuantizeConfig", 4), None, "h5"),
    "HawqActQuantizeConfig": (_obj(f"{Q}.hawq", "HawqActQuantizeConfig", 4), None, "h5"),
    "PartialResidualQuantizeConfig": (_obj(f"{Q}.rexnet_qat", "PartialResidualQuantizeConfig"), None, "h5"),
    "SEScaleQuantizeConfig": (_obj(f"{Q}.rexnet_qat", "SEScaleQuantizeConfig"), None, "h5"),
    "NormalizeQuantizeConfig": (_obj(f"{Q}.rexnet_qat", "NormalizeQuantizeConfig"), None, "h5"),
    "MixedConvQuantizeConfig": (_obj(f"{Q}.apply", "MixedConvQuantizeConfig", 4), None, "h5"),
    "OutputQuantizeConfig": (_obj(f"{Q}.apply", "OutputQuantizeConfig"), None, "h5"),
    "StopOnNaN": (_obj(f"{T}.callbacks", "StopOnNaN"), None, ""),
    "LearningRateLogger": (_obj(f"{T}.callbacks", "LearningRateLogger"), None, ""),
    "EpochCheckpoint": (_obj(f"{T}.callbacks", "EpochCheckpoint", "ckpt_dir", max_to_keep=3), None, ""),
    "EC2TCallback": (_obj(f"{T}.ec2t", "EC2TCallback", quant_epochs=3, decay="ecnn"), None, ""),
    "EpsResNetAdaptiveLR": (_obj(f"{T}.epsresnet", "EpsResNetAdaptiveLR", threshold=2.0, last_k=2), None, ""),
    "SparseCrossEntropy": (_obj(f"{T}.losses", "SparseCrossEntropy", 0.1), None, ""),
    "EpochSchedule": (_obj(f"{T}.schedules", "EpochSchedule", "cosine", 0.1, 10, 4, warmup_epochs=1.0), None, ""),
    "EC2TAdam": (_obj(f"{T}.ec2t", "EC2TAdam", 1e-3, centroid_learning_rate=1e-4), None, ""),
    # conversion-time layers of converters/ (registered under tfqnn too)
    "BitplaneConv2D": (lambda: _obj(f"{C}.bitplanes", "BitplaneConv2D", 4, 3, padding="same", bits=2,
                                    input_quantizer=_obj(f"{Q}.uniform", "HWGQ", bits=2)())(), None, "keras"),
    "SplitTernaryConv2D": (_obj(f"{C}.ternary", "SplitTernaryConv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
                           None, "keras"),
    "Int4TernaryConv": (_obj(f"{C}.ternary_int4", "Int4TernaryConv", {"filters": 4, "kernel_size": 3, "padding": "same"},
                             bn_epsilon=1e-3), None, "keras"),
}

# The tiny models of the objects without their own: which helper embeds them.
_EMBED: dict[str, Callable[[Callable[[], Any]], Callable[[], keras.Model]]] = {
    "Normalize": _first,
    "PixelEmbedding": _first,
    "ZeroPadShortcut": _single,
    "EpsilonGate": _single,
    "HawqQuantAct": _single,
    "HawqConvBN": _single,
    "BitplaneConv2D": _single,
    "SplitTernaryConv2D": _single,
    "Int4TernaryConv": _single,
    "HawqDense": _pooled,
    "PartialResidualAdd": lambda fn: _two_input(fn, gate=False),
    "SEScale": lambda fn: _two_input(fn, gate=True),
    "BinaryChannelWiseMeanScaling": lambda fn: _larq_conv(kernel_quantizer=fn(), input_quantizer="ste_sign"),
    "BinaryPower2Scaling": lambda fn: _larq_conv(kernel_quantizer=fn(), input_quantizer="ste_sign"),
    "LatentWeightsUnclipped": lambda fn: _larq_conv(kernel_quantizer="ste_sign", kernel_constraint=fn()),
    "HWGQ": lambda fn: _larq_conv(input_quantizer=fn(), kernel_quantizer="ste_sign"),
    "HawqWeightQuantizer": lambda fn: _qat_conv(_obj(f"{Q}.hawq", "HawqWeightQuantizeConfig", 4)),
    "HawqActQuantizer": lambda fn: _qat_conv(_obj(f"{Q}.hawq", "HawqWeightQuantizeConfig", 8),
                                             _obj(f"{Q}.hawq", "HawqActQuantizeConfig", 4)),
    "HawqWeightQuantizeConfig": lambda fn: _qat_conv(fn),
    "HawqActQuantizeConfig": lambda fn: _qat_conv(_obj(f"{Q}.hawq", "HawqWeightQuantizeConfig", 8), fn),
    "MixedConvQuantizeConfig": lambda fn: _qat_conv(fn),
    "PartialResidualQuantizeConfig": lambda fn: _qat_output_only("residual", fn),
    "SEScaleQuantizeConfig": lambda fn: _qat_output_only("se", fn),
    "NormalizeQuantizeConfig": lambda fn: _qat_output_only("normalize", fn),
    "OutputQuantizeConfig": lambda fn: _qat_output_only("se", fn),
}


def _registered_names() -> list[str]:
    # the converters' own layers register on import: import them so the set does not depend on test order
    import converters.bitplanes  # noqa: F401
    import converters.ternary  # noqa: F401
    import converters.ternary_int4  # noqa: F401

    return sorted(k for k in tfqnn.custom_objects() if ">" not in k)


def _config_equal(a: dict, b: dict) -> None:
    assert a == b or repr(a) == repr(b), f"{a} != {b}"


@pytest.mark.parametrize("name", _registered_names())
def test_custom_object_config_round_trips(name):
    cls = tfqnn.custom_objects()[name]
    if name not in OBJECTS:
        pytest.fail(f"registered object {name} has no round-trip case: add it to OBJECTS in {__file__}")
    obj = OBJECTS[name][0]()
    assert type(obj) is cls
    assert keras.utils.get_registered_object(keras.utils.get_registered_name(cls)) is cls
    config = obj.get_config()
    # every named argument of the nearest tfqnn __init__ must be in the config (base-class arguments are Keras')
    own = next((k for k in cls.__mro__ if "__init__" in vars(k) and k.__module__.startswith("tfqnn")), None)
    params = inspect.signature(own.__init__).parameters.values() if own is not None else []
    named = {p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    assert named <= set(config), f"get_config of {name} misses constructor argument(s) {sorted(named - set(config))}"
    from_config = getattr(cls, "from_config", None)
    clone = from_config(config) if from_config is not None else cls(**config)
    _config_equal(clone.get_config(), config)


def _model_factory(name: str) -> Callable[[], keras.Model] | None:
    factory, model_fn, _ = OBJECTS[name]
    if model_fn is not None:
        return model_fn
    embed = _EMBED.get(name)
    return embed(factory) if embed is not None else None


_MODEL_OBJECTS = sorted(n for n in _registered_names() if n in OBJECTS and _model_factory(n) is not None)


@pytest.mark.parametrize("name", _MODEL_OBJECTS)
def test_custom_object_reloads_inside_a_model(tmp_path, name):
    model = _model_factory(name)()
    x = _inputs(model, 0.0, 255.0) if name in ("Normalize", "PixelEmbedding", "NormalizeQuantizeConfig") \
        else _inputs(model, -1.0, 1.0)
    model(x, training=True)  # EMA ranges, gate state, BN statistics
    assert_reloads_identically(model, tmp_path, OBJECTS[name][2], x)


def test_every_layer_and_quantizer_is_saved_inside_a_model():
    """Layers, Larq quantizers, constraints and TF-MOT quantizers / configs must have a tiny-model case."""
    import larq as lq
    import tensorflow_model_optimization as tfmot

    q = tfmot.quantization.keras
    kinds = (keras.layers.Layer, lq.quantizers.Quantizer, keras.constraints.Constraint, q.quantizers.Quantizer,
             q.QuantizeConfig)
    needs_model = [n for n, cls in tfqnn.custom_objects().items()
                   if ">" not in n and isinstance(cls, type) and issubclass(cls, kinds)]
    assert sorted(set(needs_model) - set(_MODEL_OBJECTS)) == []
