"""ERN vs the reference PyTorch forward (vectors/ern/*_forward.npz): levels, residual stream, logits."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tfqnn.keras import keras
from tfqnn.models.ern_torch import keras_layer_name, load_reference_state, reference_taps

import tfqnn  # noqa: E402

#: forward file → (our builder, extra builder options). The bottleneck file uses ERNs50 blocks with the
#: stage depths named in its json ("layers [2,1,1,1]" is read from `variant`/README, see _blocks()).
FILES = {"erns18x075_c10_forward": "ern18_075x", "erns50tiny_c10_forward": "ern50"}


def _state(arrays: dict, meta: dict) -> dict:
    divisor = float(re.search(r"/\s*([0-9.]+)", meta["weight_rule"]).group(1))
    state = {}
    for key, value in arrays.items():
        if key.endswith("_code"):
            state[key[: -len("_code")]] = value.astype(np.float32) / np.float32(divisor)
        elif not key.startswith("act/") and key not in ("input", "logits", "logits_float64_ref"):
            state[key] = value
    return state


def _blocks(meta: dict) -> list[int]:
    """Blocks per stage from the state-dict keys (``backbone.layer{s}.{i}.``)."""
    found: dict[int, int] = {}
    for key in meta["key_order"]:
        m = re.match(r"backbone\.layer(\d)\.(\d+)\.", key)
        if m:
            found[int(m.group(1))] = max(found.get(int(m.group(1)), 0), int(m.group(2)) + 1)
    return [found[s] for s in sorted(found)]


def _to_nhwc(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a


@pytest.mark.conformance
@pytest.mark.parametrize("name", list(FILES))
def test_forward_matches_reference(vectors, name):
    vs = vectors("ern")
    meta, arrays = vs.json(f"{name}.json"), vs.npz(f"{name}.npz")
    x = _to_nhwc(arrays["input"]).astype(np.float32)
    model = tfqnn.build_model(FILES[name], num_classes=meta["num_classes"], input_shape=x.shape[1:], blocks=_blocks(meta))
    load_reference_state(model, _state(arrays, meta))
    taps = reference_taps(model)
    wanted = sorted(k[len("act/"):] for k in arrays if k.startswith("act/"))
    assert set(wanted) <= set(taps), set(wanted) - set(taps)
    probe = keras.Model(model.input, [model.get_layer(taps[k][0]).output for k in wanted] + [model.output])
    outs = probe(x, training=False)
    for key, out in zip(wanted, outs):
        _, quantizer = taps[key]
        ours = out.numpy() if quantizer is None else quantizer.levels(out).numpy()
        ref = _to_nhwc(arrays[f"act/{key}"])
        if key.endswith("_level"):  # quantized levels: exact (README check 1–2)
            np.testing.assert_array_equal(ours, ref.astype(np.float32), err_msg=key)
        else:  # residual stream / conv outputs: atol 1e-5 (README check 3)
            np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0, err_msg=key)
    logits = outs[-1].numpy()
    np.testing.assert_allclose(logits, arrays["logits"], atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(logits.argmax(1), arrays["logits"].argmax(1))
    np.testing.assert_allclose(logits, np.array(meta["logits"], np.float32), atol=1e-4, rtol=1e-4)


@pytest.mark.conformance
def test_every_reference_key_is_mapped(vectors):
    meta = vectors("ern").json("erns18x075_c10_forward.json")
    unmapped = {k.rpartition(".")[0] for k in meta["key_order"]
                if not k.startswith(("pixel_embedding.", "backbone.last_bn_layer3", "backbone.last_bn_layer2"))
                and keras_layer_name(k.rpartition(".")[0]) is None}
    assert not unmapped


def test_load_rejects_unknown_keys():
    from tfqnn.errors import ConfigError

    model = tfqnn.build_model("ern18", num_classes=3, input_shape=(32, 32, 3))
    with pytest.raises(ConfigError, match="maps to no ERN layer"):
        load_reference_state(model, {"backbone.fc.weight": np.zeros((3, 3), np.float32)})
