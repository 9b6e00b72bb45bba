"""Load a PyTorch ``clovaai/rexnet`` state dict (numpy arrays) into a tfqnn ReXNet / ReXNet-lite.

Name map: vectors ``rexnet/README.md`` §2; layouts: spec ``rexnet.md`` §7.8 — conv OIHW → HWIO
``(2,3,1,0)``, depthwise (C,1,k,k) → (k,k,C,1) ``(2,3,0,1)``, 1×1 classifier → Dense ``w[:,:,0,0].T``,
BN ``(weight, bias, running_mean, running_var)`` → ``(γ, β, moving_mean, moving_variance)``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from tfqnn.keras import keras
from tfqnn.errors import ConfigError

_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def torch_name_map(model: keras.Model) -> list[tuple[str, str, str]]:
    """``(torch module prefix, keras layer name, kind)`` for every weighted layer of ``model``.

    kind ∈ {"conv", "dw", "bn"}; a "conv" onto a Dense layer takes ``w[:, :, 0, 0].T``.
    """
    names = {layer.name for layer in model.layers}
    lite = "head_conv" in names
    rows = [("features.0", "stem_conv", "conv"), ("features.1", "stem_bn", "bn")]
    k = 0
    while f"block_{k:02d}_pw_conv" in names:
        b, p, j = f"block_{k:02d}", f"features.{3 + k}.out", 0
        if f"{b}_exp_conv" in names:
            rows += [(f"{p}.{j}", f"{b}_exp_conv", "conv"), (f"{p}.{j + 1}", f"{b}_exp_bn", "bn")]
            j += 3  # conv, BN, activation
        rows += [(f"{p}.{j}", f"{b}_dw_conv", "dw"), (f"{p}.{j + 1}", f"{b}_dw_bn", "bn")]
        j += 3 if lite else 2  # lite has its ReLU6 here
        if f"{b}_se_conv1" in names:
            rows += [(f"{p}.{j}.fc.0", f"{b}_se_conv1", "conv"), (f"{p}.{j}.fc.1", f"{b}_se_bn", "bn"),
                     (f"{p}.{j}.fc.3", f"{b}_se_conv2", "conv")]
            j += 1
        if not lite:
            j += 1  # ReLU6 after the SE
        rows += [(f"{p}.{j}", f"{b}_pw_conv", "conv"), (f"{p}.{j + 1}", f"{b}_pw_bn", "bn")]
        k += 1
    rows += [(f"features.{3 + k}", "pen_conv", "conv"), (f"features.{4 + k}", "pen_bn", "bn")]
    if lite:
        rows += [("output.0", "head_conv", "conv"), ("output.1", "head_bn", "bn"), ("output.4", "classifier", "conv")]
    else:
        rows.append(("output.1", "classifier", "conv"))
    return rows


def _take(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in arrays:
        raise ConfigError(f"PyTorch state is missing tensor {key!r}")
    return np.asarray(arrays.pop(key), dtype=np.float32)


def _converted(layer: keras.layers.Layer, prefix: str, kind: str, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    if kind == "bn":
        return [_take(arrays, f"{prefix}.{f}") for f in _BN_FIELDS]
    w = _take(arrays, f"{prefix}.weight")
    if w.ndim != 4:
        raise ConfigError(f"PyTorch tensor {prefix}.weight has shape {w.shape}; expected a 4-D conv weight")
    if kind == "dw":
        out = [w.transpose(2, 3, 0, 1)]
    elif isinstance(layer, keras.layers.Dense):
        out = [w[:, :, 0, 0].T]
    else:
        out = [w.transpose(2, 3, 1, 0)]
    if getattr(layer, "use_bias", False):
        out.append(_take(arrays, f"{prefix}.bias"))
    return out


def load_torch_state(model: keras.Model, arrays: Mapping[str, np.ndarray], prefix: str = "") -> keras.Model:
    """Assign the PyTorch-named ``arrays`` to ``model``'s layers in place; returns ``model``.

    ``arrays`` keys are state-dict names, optionally behind ``prefix`` (e.g. ``"w/"`` in the vector
    files); ``num_batches_tracked`` entries are ignored. Every tensor must be used exactly once and
    match the layer's shape, otherwise :class:`ConfigError` names the tensor.
    """
    state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix) and not k.endswith("num_batches_tracked")}
    for torch_prefix, layer_name, kind in torch_name_map(model):
        layer = model.get_layer(layer_name)
        values = _converted(layer, torch_prefix, kind, state)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [v.shape for v in values]
        if expected != got:
            raise ConfigError(f"PyTorch tensors {torch_prefix}.* have shapes {got}; layer {layer_name!r} expects {expected}")
        layer.set_weights(values)
    if state:
        raise ConfigError(f"PyTorch state has {len(state)} unused tensors, e.g. {sorted(state)[:3]}")
    return model
