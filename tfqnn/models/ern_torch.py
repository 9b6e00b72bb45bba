"""Map the reference's PyTorch ``PretrainNetwork`` state dict (LeapMind/ERN) onto :func:`tfqnn.models.ern.ern`.

Reference keys (module registration order, no ``network.`` prefix) → our layer names:
``backbone.conv1/bn1/conv2/bn2`` → ``stem_conv1/…``, ``backbone.conv_downsample`` (= ``downsample.0``) →
``stem_conv_downsample``, ``bn_downsample`` (= ``downsample.1``) → ``stem_bn_downsample``,
``backbone.conv1_2`` → ``stem_conv1_2``, ``backbone.layer{s}.{i}.X`` → ``stage{s}_block{i+1}_X``
(``downsample`` → ``shortcut_conv``), ``backbone.last_bn_layer4`` → ``post_bn``, ``conv`` → ``classifier``.
``last_bn_layer3/2`` (unused by the classification forward) and the pixel-embedding constants are skipped.
Conv kernels are transposed OIHW → HWIO; BN gets (γ, β, running mean, running var).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from tfqnn.keras import keras

from tfqnn.errors import ConfigError  # noqa: E402

_STEM = {
    "conv1": "stem_conv1", "bn1": "stem_bn1", "conv2": "stem_conv2", "bn2": "stem_bn2",
    "conv_downsample": "stem_conv_downsample", "downsample.0": "stem_conv_downsample",
    "bn_downsample": "stem_bn_downsample", "downsample.1": "stem_bn_downsample",
    "conv1_2": "stem_conv1_2", "last_bn_layer4": "post_bn",
}
_UNUSED = re.compile(r"^(pixel_embedding\.|backbone\.last_bn_layer[23]\.)")
_BLOCK = re.compile(r"^backbone\.layer(\d+)\.(\d+)\.(\w+)$")
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def keras_layer_name(module: str) -> str | None:
    """Our layer name for a reference module path (``None`` for modules we do not use)."""
    if module == "conv":
        return "classifier"
    if module.startswith("backbone.") and module[len("backbone."):] in _STEM:
        return _STEM[module[len("backbone."):]]
    m = _BLOCK.match(module)
    if m:
        part = "shortcut_conv" if m.group(3) == "downsample" else m.group(3)
        return f"stage{m.group(1)}_block{int(m.group(2)) + 1}_{part}"
    return None


def load_reference_state(model: keras.Model, state: Mapping[str, np.ndarray]) -> list[str]:
    """Set ``model``'s conv kernels and BN statistics from a reference state dict (float arrays).

    ``state`` maps ``<module>.weight`` (conv: OIHW; BN: γ), ``.bias``, ``.running_mean``,
    ``.running_var`` to arrays. Returns the names of the layers that were set; raises ConfigError
    for an unknown key, a shape mismatch or a model layer left unset.
    """
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        if _UNUSED.match(key) or key.endswith("num_batches_tracked"):
            continue
        module, _, field = key.rpartition(".")
        modules.setdefault(module, {})[field] = np.asarray(value, np.float32)
    done: set[str] = set()
    for module, fields in modules.items():
        name = keras_layer_name(module)
        if name is None:
            raise ConfigError(f"reference key {module!r} maps to no ERN layer")
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise ConfigError(f"reference module {module!r} → layer {name!r}, which the model does not have") from None
        if isinstance(layer, keras.layers.BatchNormalization):
            values = [fields[f] for f in _BN_FIELDS]
        else:
            values = [np.transpose(fields["weight"], (2, 3, 1, 0))]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise ConfigError(f"reference module {module!r}: shapes {[v.shape for v in values]} ≠ layer {name!r} {expected}")
        layer.set_weights(values)
        done.add(name)
    missing = sorted(l.name for l in model.layers if l.weights and l.name not in done)
    if missing:
        raise ConfigError(f"reference state leaves ERN layers unset: {', '.join(missing)}")
    return sorted(done)


def reference_taps(model: keras.Model) -> dict[str, tuple[str, Any]]:
    """Reference tensor name (``act/...`` without the prefix) → (our layer whose output it is, quantizer).

    When the quantizer is not None, the reference tensor is that quantizer's integer *levels* of the
    layer's output (``…_level`` tensors); else it is the layer output itself.
    """
    def quantizer_of(name: str) -> Any:
        return model.get_layer(name).input_quantizer

    taps: dict[str, tuple[str, Any]] = {
        "pixel_embedding_level": ("pixel_embedding", None),
        "backbone.act1_level": ("stem_bn1", quantizer_of("stem_conv2")),
        "backbone.act2_level": ("stem_bn2", quantizer_of("stem_conv_downsample")),
        "backbone.act_downsample_level": ("stem_bn_downsample", quantizer_of("stem_conv1_2")),
        "backbone.conv1_2": ("stem_conv1_2", None),
        "backbone.last_act_layer4_level": ("post_bn", quantizer_of("classifier")),
        "conv": ("classifier", None),
    }
    adds = [l.name for l in model.layers if l.name.endswith("_add")]
    for s in sorted({int(n[5:].split("_")[0]) for n in adds}):
        last = max((n for n in adds if n.startswith(f"stage{s}_")), key=lambda n: int(n.split("_block")[1].split("_")[0]))
        taps[f"backbone.layer{s}"] = (last, None)
    return taps


__all__ = ["keras_layer_name", "load_reference_state", "reference_taps"]
