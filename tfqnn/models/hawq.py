"""HAWQ-V3 quantized ResNets (Yao et al., ICML 2021, arXiv 2011.10680, §3.3; spec ``hawq.md`` §3-4).

``hawq_resnet18`` / ``hawq_resnet50``: the pytorchcv v1 layout (stride on the first 1×1 of the
bottleneck) built with :func:`tfqnn.models.resnet.build_resnet`; every conv is a
:class:`~tfqnn.layers.hawq.HawqConvBN` (input QuantAct + BN folded + per-channel weights), the
16-bit ``quant_act_int32`` sits after the stem and every residual add (then ReLU), the classifier
is a :class:`~tfqnn.layers.hawq.HawqDense` (8-bit input and weights). ``hawq_resnet20`` is the
CIFAR-10 ResNet-20 wired the same way (1×1 projection shortcuts) for CPU experiments.

``bit_config``: a scheme of ``bit_config.py`` (``uniform8``, ``uniform4``, ``modelsize_*``,
``bops_*``, ``latency_*``; aliases ``size0.5``, ``bops0.5``, ``w8a8`` ...), ``"fp"`` (the plain
float ResNet with unfolded BN, same layer names) or a dict ``{reference module name: bits}``
overriding ``uniform8`` (names as in ``bit_config.py``, e.g. ``stage2.unit1.quant_convbn1``).
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from tfqnn.keras import keras

from tfqnn.errors import ConfigError  # noqa: E402
from tfqnn.layers.hawq import HawqConvBN, HawqDense, HawqQuantAct  # noqa: E402
from tfqnn.layers.normalization import NormalizationSpec  # noqa: E402
from tfqnn.models import hawq_bit_configs  # noqa: E402
from tfqnn.models.resnet import (  # noqa: E402
    IMAGENET_CONFIGS,
    StageSpec,
    basic_block,
    bottleneck_block,
    build_resnet,
    cifar_stem,
    imagenet_stem,
)
from tfqnn.registry import register_model  # noqa: E402

SCHEMES = ("fp",) + tuple(hawq_bit_configs.BITS["resnet18"])
ALIASES = {
    "fp32": "fp", "float": "fp", "w8a8": "uniform8", "int8": "uniform8", "w4a4": "uniform4", "int4": "uniform4",
    **{f"{k}{r}": f"{v}_{r}" for k, v in (("size", "modelsize"), ("modelsize", "modelsize"), ("bops", "bops"), ("latency", "latency"))
       for r in ("0.75", "0.5", "0.25")},
    **{f"size_{r}": f"modelsize_{r}" for r in ("0.75", "0.5", "0.25")},
}
WEIGHT_CHOICES = (4, 8)
ACT_CHOICES = (4, 8, 16)

_CONV = re.compile(r"stage(\d+)_block(\d+)_(conv(\d)|shortcut_conv)$")
_OUT = re.compile(r"stage(\d+)_block(\d+)_out$")


# --------------------------------------------------------------------------- reference names
def module_names(blocks: Sequence[int], kind: str, downsample: Sequence[tuple[int, int]], stem: str) -> tuple[str, ...]:
    """Ordered reference module names of ``q_resnet.py`` (``bit_config.py`` keys)."""
    names = ["quant_input", stem, "quant_act_int32"]
    convs = 3 if kind == "bottleneck" else 2
    for s, n in enumerate(blocks, start=1):
        for u in range(1, n + 1):
            p = f"stage{s}.unit{u}."
            names.append(p + "quant_act")
            for i in range(1, convs + 1):
                names.append(f"{p}quant_convbn{i}")
                if i < convs:
                    names.append(f"{p}quant_act{i}")
            if (s, u) in downsample:
                names.append(p + "quant_identity_convbn")
            names.append(p + "quant_act_int32")
    return tuple(names + ["quant_act_output", "quant_output"])


def keras_to_module(layer_name: str, stem: str) -> tuple[str, str | None]:
    """Keras layer name → (reference module, its input QuantAct or ``None``)."""
    if layer_name == "stem_conv":
        return stem, "quant_input"
    if layer_name == "stem_relu":
        return "quant_act_int32", None
    if layer_name == "classifier":
        return "quant_output", "quant_act_output"
    m = _CONV.match(layer_name)
    if m:
        p = f"stage{m.group(1)}.unit{m.group(2)}."
        if m.group(4) is None:
            return p + "quant_identity_convbn", p + "quant_act"
        i = int(m.group(4))
        return f"{p}quant_convbn{i}", p + ("quant_act" if i == 1 else f"quant_act{i - 1}")
    m = _OUT.match(layer_name)
    if m:
        return f"stage{m.group(1)}.unit{m.group(2)}.quant_act_int32", None
    raise ConfigError(f"layer {layer_name!r} has no HAWQ module")


def uniform_config(names: Sequence[str], bits: int) -> dict[str, int]:
    """Uniform scheme: stem, fc and their inputs 8 bit, ``quant_act_int32`` 16 bit, the rest ``bits``."""
    fixed = {"quant_input": 8, "quant_act_output": 8, "quant_output": 8, names[1]: 8}
    return {n: 16 if n.endswith("quant_act_int32") else fixed.get(n, bits) for n in names}


def canonical_scheme(scheme: str) -> str:
    key = ALIASES.get(scheme.lower(), scheme) if isinstance(scheme, str) else scheme
    if key not in SCHEMES:
        valid = ", ".join(SCHEMES) + "; aliases: " + ", ".join(sorted(ALIASES))
        raise ConfigError(f"unknown HAWQ bit-config scheme {scheme!r}; valid: {valid}")
    return key


def resolve_bit_config(arch: str, names: Sequence[str], bit_config: str | Mapping[str, int]) -> dict[str, int] | None:
    """Bits per reference module (``None`` = float model); see the module docstring."""
    if isinstance(bit_config, str):
        scheme = canonical_scheme(bit_config)
        if scheme == "fp":
            return None
        if arch in hawq_bit_configs.BITS:
            return dict(zip(hawq_bit_configs.NAMES[arch], hawq_bit_configs.BITS[arch][scheme]))
        if scheme in ("uniform8", "uniform4"):
            return uniform_config(names, int(scheme[-1]))
        raise ConfigError(f"scheme {scheme!r} exists for resnet18/resnet50 only; for {arch} use uniform8, uniform4, fp or a dict")
    if not isinstance(bit_config, Mapping):
        raise ConfigError(f"bit_config must be a scheme name or a dict, got {type(bit_config).__name__}")
    unknown = sorted(set(bit_config) - set(names))
    if unknown:
        raise ConfigError(f"unknown HAWQ module(s) {', '.join(map(repr, unknown))} in bit_config of {arch}; valid: {', '.join(names)}")
    cfg = uniform_config(names, 8)
    for name, bits in bit_config.items():
        choices = ACT_CHOICES if "quant_act" in name else WEIGHT_CHOICES
        if bits not in choices:
            raise ConfigError(f"bit-width {bits!r} for {name!r} is not allowed; valid: {', '.join(map(str, choices))}")
        cfg[name] = int(bits)
    return cfg


# --------------------------------------------------------------------------- builder
def _factories(bits: Mapping[str, int], stem: str, momentum: float, export_ops: bool) -> dict[str, Any]:
    def conv(filters: int, kernel_size: int, strides: int = 1, padding: str = "same", name: str | None = None) -> keras.layers.Layer:
        module, act = keras_to_module(name, stem)
        # every conv output is an int8 tensor in TFLite; its converter keeps QAT (incl. INT4) weights only
        # for convs whose output carries a FakeQuant range, so each conv tracks one (export graph only)
        return HawqConvBN(filters, kernel_size, strides=strides, padding=padding, name=name, weight_bits=bits[module],
                          act_bits=bits[act], momentum=momentum, export_ops=export_ops, output_range=True)

    def norm(name: str) -> keras.layers.Layer:  # BN lives (folded) inside HawqConvBN
        return keras.layers.Activation("linear", name=name)

    def act(name: str) -> keras.layers.Layer:
        if name == "stem_relu" or name.endswith("_out"):
            return HawqQuantAct(bits[keras_to_module(name, stem)[0]], momentum, relu=True, export_ops=export_ops, name=name)
        return keras.layers.ReLU(name=name)

    return {"conv": conv, "norm": norm, "act": act}


def _build(arch: str, stages: list[StageSpec], block: Any, stem_fn: Any, stem_filters: int, *, kind: str, stem: str,
           bit_config: Any, input_shape: Sequence[int | None], num_classes: int, normalization: NormalizationSpec,
           momentum: float, export_ops: bool, name: str, block_kwargs: Mapping[str, Any]) -> keras.Model:
    downsample = [(s, 1) for s, st in enumerate(stages, start=1)
                  if st.stride != 1 or (s == 1 and kind == "bottleneck") or (s > 1 and st.filters != stages[s - 2].filters)]
    names = module_names([st.blocks for st in stages], kind, downsample, stem)
    bits = resolve_bit_config(arch, names, bit_config)
    common = dict(stem=stem_fn, stem_filters=stem_filters, input_shape=input_shape, num_classes=num_classes, normalization=normalization,
                  name=name, block_kwargs=block_kwargs)
    if bits is None:
        return build_resnet(stages, block, include_top=True, **common)
    base = build_resnet(stages, block, include_top=False, **common, **_factories(bits, stem, momentum, export_ops))
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(base.output)
    x = HawqDense(num_classes, weight_bits=bits["quant_output"], act_bits=bits["quant_act_output"], momentum=momentum,
                  export_ops=export_ops, name="classifier")(x)
    model = keras.Model(base.input, x, name=name)
    model.hawq_bit_config = dict(bits)
    model.hawq_module_names = names
    return model


@register_model("hawq_resnet50", family="hawq", description="HAWQ-V3 ResNet-50 (v1, 4/8-bit mixed precision)", depth=50)
@register_model("hawq_resnet18", family="hawq", description="HAWQ-V3 ResNet-18 (4/8-bit mixed precision)", depth=18)
def hawq_resnet(
    depth: int = 18,
    *,
    bit_config: str | Mapping[str, int] = "uniform8",
    num_classes: int = 1000,
    input_shape: Sequence[int | None] = (224, 224, 3),
    normalization: NormalizationSpec = "imagenet",
    act_range_momentum: float = 0.99,
    export_ops: bool = True,
    name: str | None = None,
) -> keras.Model:
    """HAWQ-V3 ImageNet ResNet-18/50 with ``bit_config`` (scheme name, alias, ``"fp"`` or dict)."""
    if depth not in (18, 50):
        raise ConfigError(f"unknown HAWQ-V3 ResNet depth {depth!r}; valid: 18, 50")
    cfg = IMAGENET_CONFIGS[depth]
    kind = cfg["block"]
    stages = [StageSpec(n, 64 * 2**i, 1 if i == 0 else 2) for i, n in enumerate(cfg["blocks"])]
    return _build(
        f"resnet{depth}", stages, basic_block if kind == "basic" else bottleneck_block, imagenet_stem, 64, kind=kind,
        stem="quant_init_block_convbn" if depth == 18 else "quant_init_convbn", bit_config=bit_config, input_shape=input_shape,
        num_classes=num_classes, normalization=normalization, momentum=act_range_momentum, export_ops=export_ops,
        name=name or f"hawq_resnet{depth}", block_kwargs={"variant": "v1"} if kind == "bottleneck" else {},
    )


@register_model("hawq_cifar_resnet", family="hawq", description="HAWQ-V3 CIFAR ResNet of depth 6n+2 (option depth)")
@register_model("hawq_resnet20", family="hawq", description="HAWQ-V3 CIFAR ResNet-20 (1x1 projection shortcuts)", depth=20)
def hawq_cifar_resnet(
    depth: int = 20,
    *,
    bit_config: str | Mapping[str, int] = "uniform8",
    num_classes: int = 10,
    input_shape: Sequence[int | None] = (32, 32, 3),
    normalization: NormalizationSpec = "cifar10",
    act_range_momentum: float = 0.99,
    export_ops: bool = True,
    name: str | None = None,
) -> keras.Model:
    """CIFAR ResNet of depth ``6n+2`` (He et al. 2016 §4.2, option-B shortcuts) with HAWQ-V3 quantization."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, ...), got {depth!r}")
    n = (depth - 2) // 6
    stages = [StageSpec(n, 16, 1), StageSpec(n, 32, 2), StageSpec(n, 64, 2)]
    return _build(
        f"resnet{depth}", stages, basic_block, cifar_stem, 16, kind="basic", stem="quant_init_convbn", bit_config=bit_config,
        input_shape=input_shape, num_classes=num_classes, normalization=normalization, momentum=act_range_momentum,
        export_ops=export_ops, name=name or f"hawq_resnet{depth}", block_kwargs={"shortcut": "B"},
    )


def hawq_resnet20(**kwargs: Any) -> keras.Model:
    """:func:`hawq_cifar_resnet` of depth 20."""
    return hawq_cifar_resnet(20, **kwargs)


def layer_bits(model: keras.Model, bit_config: str | Mapping[str, int], arch: str) -> dict[str, tuple[int, int]]:
    """``{keras conv/dense layer: (weight bits, input bits)}`` of ``bit_config`` applied to ``model``'s
    layers (``arch`` = resnet18 / resnet50, or any HAWQ-built model); ``"fp"`` gives 32/32. Lets one built
    network be costed under every scheme without rebuilding it."""
    stem = "quant_init_block_convbn" if arch == "resnet18" else "quant_init_convbn"
    layers = [l.name for l in model.layers if l.name in ("classifier", "stem_conv") or _CONV.match(l.name)]
    names = getattr(model, "hawq_module_names", None) or hawq_bit_configs.NAMES.get(arch)
    if names is None:
        raise ConfigError(f"no reference module names for {arch!r}; valid: {', '.join(hawq_bit_configs.NAMES)} or a HAWQ-built model")
    cfg = resolve_bit_config(arch, names, bit_config)
    out = {}
    for name in layers:
        module, act = keras_to_module(name, stem)
        out[name] = (32, 32) if cfg is None else (cfg[module], cfg[act])
    return out


def transfer_float_weights(float_model: keras.Model, hawq_model: keras.Model) -> int:
    """Copy kernels (and BN γ, β, μ, σ² of ``<conv>``'s BN) of a float ResNet with the same layer
    names into the HAWQ model's folded layers; returns the number of layers copied."""
    copied = 0
    for layer in hawq_model.layers:
        if not isinstance(layer, (HawqConvBN, HawqDense)):
            continue
        src = float_model.get_layer(layer.name)
        weights = src.get_weights()
        if isinstance(layer, HawqConvBN):
            bn_name = _bn_name(layer.name)
            bn = float_model.get_layer(bn_name)
            gamma, beta, mean, var = bn.get_weights()
            state = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
            state["kernel"].assign(weights[0])
            if layer.use_bias:
                state["bias"].assign(weights[1])
            for key, value in (("gamma", gamma), ("beta", beta), ("moving_mean", mean), ("moving_variance", var)):
                state[key].assign(value)
        else:
            layer.kernel.assign(weights[0])
            layer.bias.assign(weights[1])
        copied += 1
    sync_export_ranges(hawq_model)
    return copied


def sync_export_ranges(model: keras.Model) -> None:
    """Refresh every HAWQ layer's ``FakeQuant`` bounds from its current weights and ranges
    (needed after ``set_weights``/weight transfer without a training step; training keeps them in sync)."""
    for layer in model.layers:
        if hasattr(layer, "sync_export_ranges"):
            layer.sync_export_ranges()


def _bn_name(conv_name: str) -> str:
    if conv_name == "stem_conv":
        return "stem_bn"
    if conv_name.endswith("shortcut_conv"):
        return conv_name[: -len("conv")] + "bn"
    return re.sub(r"conv(\d)$", r"bn\1", conv_name)


__all__ = [
    "ALIASES",
    "SCHEMES",
    "canonical_scheme",
    "hawq_resnet",
    "hawq_cifar_resnet",
    "hawq_resnet20",
    "keras_to_module",
    "layer_bits",
    "module_names",
    "resolve_bit_config",
    "sync_export_ranges",
    "transfer_float_weights",
    "uniform_config",
]
