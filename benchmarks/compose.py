"""Techniques that compose across families, trained a few epochs on real CIFAR-10 and deployed.

Writes ``runs/compose/<name>/{model.tflite, float.tflite, meta.json}`` for

* ``ern_gated``          ERN (w1a2, blocks 2-2-1-1) + ε-gates (ε = 8, the ε-ResNet recipe's value; at
                         ε = 1 or 4 no gate closed after this short training), blocks whose gate is 0 on
                         256 held-out training images removed, LCE flatbuffer (bit-plane pass);
* ``rexnet_lite_ec2t``   ReXNet-lite 0.5 trained float, then EC2T ternary (``quantization="ternary"``)
                         for one epoch, int8 TFLite with exact ternary kernels ("split" export);
* ``rexnet_hawq_mixed``  ReXNet 0.5 (depth 0.5) + HAWQ-V3 Hessian/ILP 4/8-bit allocation (half of the
                         size range), BN folded, ranges calibrated (no QAT fine-tune), INT4/INT8 TFLite;
* ``resnet20_hawq_mixed`` the same on the CIFAR ResNet-20.

``float.tflite`` is the float TFLite of the same architecture (the speed-up baseline of the report);
``meta.json`` holds the Keras top-1 on the test images, what was trained and the deployed counts
(params, MACs, GBOPs, packed bytes). ``benchmarks/report.py``
re-measures the flatbuffers. ::

    flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/compose.py [--train 1500 --epochs 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
OUT = ROOT / "runs" / "compose"

from report import deployed_cost  # noqa: E402  (benchmarks/report.py: the report's counting)


def _fit(model, x, y, epochs: int, optimizer=None, callbacks=()) -> list[float]:
    from tfqnn.keras import keras
    from tfqnn.training import SparseCrossEntropy

    model.compile(optimizer or keras.optimizers.Adam(1e-3), SparseCrossEntropy(), metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=64, epochs=epochs, verbose=2, callbacks=list(callbacks), shuffle=True)
    return [round(float(v), 4) for v in hist.history["accuracy"]]


def _top1(model, x, y) -> float:
    return float((np.argmax(model.predict(x, batch_size=250, verbose=0), 1) == y).mean())


def ern_gated(d: dict[str, Any], epochs: int) -> dict[str, Any]:
    eps = float(d.get("ern_epsilon", 8.0))
    import tfqnn
    from ern import strip_quantizers  # benchmarks/ern.py: the float twin of a w1a2 ERN
    from tfqnn.compress.gated_blocks import add_epsilon_gates, discarded_on, remove_gated_blocks
    from converters.lce import convert_lce
    from converters.tflite import convert

    base = tfqnn.build_model("ern18", num_classes=10, input_shape=(32, 32, 3), blocks=[2, 2, 1, 1])
    gated = add_epsilon_gates(base, epsilon=eps)
    curve = _fit(gated, d["x"], d["y"], epochs)
    gone = discarded_on(gated, [d["xh"][i:i + 64] for i in range(0, len(d["xh"]), 64)])
    plain, report = remove_gated_blocks(gated, gone)
    twin = strip_quantizers(plain)
    return {"keras": plain, "model.tflite": convert_lce(plain), "float.tflite": convert(twin, "float"),
            "kind": "lce", "cost": deployed_cost(plain, "own"), "cost_float": deployed_cost(twin, "float"), "train_top1": curve, "gated_top1": _top1(gated, d["xt"], d["yt"]), "compression": report,
            "variant": f"ERN18 2-2-1-1 + ε-gates (ε={eps:g}), {len(gone)} of {len(gone) + len(report['kept'])} gated blocks removed, w1a2 LCE"}


def rexnet_lite_ec2t(d: dict[str, Any], epochs: int) -> dict[str, Any]:
    import tfqnn
    from tfqnn.quantizers.apply import to_ternary
    from tfqnn.training.ec2t import EC2TAdam, EC2TCallback, ec2t_sparsity
    from converters import ternary as ct
    from converters.tflite import convert

    fp = tfqnn.build_model("rexnet_lite", width_mult=0.5, num_classes=10, input_shape=(32, 32, 3), normalization="cifar10")
    curve = _fit(fp, d["x"], d["y"], max(1, epochs - 1))
    model = to_ternary(fp)  # = build_model(..., quantization="ternary") with the FP weights
    cb = EC2TCallback(ini_c_divider=0.45, lambda_max_divider=0.15, quant_epochs=1, monitor="loss")
    curve += _fit(model, d["x"], d["y"], 1, optimizer=EC2TAdam(1e-4, 1e-5, 0.0), callbacks=[cb])
    return {"keras": model, "model.tflite": ct.convert_int8(model, d["x"][:200], mode="split"),
            "float.tflite": convert(fp, "float"), "kind": "ternary", "train_top1": curve,
            "cost": deployed_cost(model, "ternary"), "cost_float": deployed_cost(fp, "float"),
            "float_top1": _top1(fp, d["xt"], d["yt"]), "ternary_sparsity": round(ec2t_sparsity(model), 4),
            "variant": "ReXNet-lite 0.5 + EC2T ternary convs (1 EC2T epoch after FP), int8 split"}


def _hawq_mixed(d: dict[str, Any], epochs: int, name: str, options: dict[str, Any], label: str) -> dict[str, Any]:
    import tfqnn
    from tfqnn.keras import keras
    from tfqnn.compress.bit_allocation import allocate_bits
    from tfqnn.quantizers.apply import fold_batchnorm, quantize_mixed
    from tfqnn.quantizers.rexnet_qat import calibrate_ranges
    from converters.tflite import convert

    model = tfqnn.build_model(name, num_classes=10, **options)
    curve = _fit(model, d["x"], d["y"], epochs)
    folded = fold_batchnorm(model)
    convs = [layer.name for layer in folded.layers if type(layer) is keras.layers.Conv2D]
    alloc = allocate_bits(folded, (d["x"][:128], d["y"][:128]), ratio=0.5, kind="size", layers=convs[1:], n_samples=4)
    qat, folded = quantize_mixed(model, alloc.bits)
    calibrate_ranges(qat, folded, [d["x"][i:i + 50] for i in range(0, 200, 50)])
    n4 = sum(b == 4 for b in alloc.bits.values())
    return {"keras": qat, "model.tflite": convert(qat, "int8", representative_data=d["x"][:200]),
            "float.tflite": convert(model, "float"), "kind": "mixed", "train_top1": curve,
            "cost": deployed_cost(model, "int8", alloc.bits), "cost_float": deployed_cost(model, "float"),
            "float_top1": _top1(model, d["xt"], d["yt"]), "bits": alloc.bits,
            "variant": f"{label} + HAWQ-V3 Hessian/ILP: {n4} of {len(alloc.bits) + 1} convs INT4, rest INT8"}


RECIPES: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "ern_gated": ern_gated,
    "rexnet_lite_ec2t": rexnet_lite_ec2t,
    "rexnet_hawq_mixed": lambda d, e: _hawq_mixed(d, e, "rexnet", {"width_mult": 0.5, "depth_mult": 0.5, "input_shape": (32, 32, 3),
                                                                  "normalization": "cifar10"}, "ReXNet 0.5 (depth 0.5)"),
    "resnet20_hawq_mixed": lambda d, e: _hawq_mixed(d, e, "resnet20", {}, "ResNet-20"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=1500, help="CIFAR-10 training images (first N of the fixed order)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--test", type=int, default=1000, help="test images for the Keras top-1 in meta.json")
    p.add_argument("--ern-epsilon", type=float, default=8.0, help="ε of the ERN gates (8)")
    p.add_argument("--only", nargs="*", choices=sorted(RECIPES), help="recipes to run (default: all)")
    a = p.parse_args(argv)

    from tfqnn.keras import keras
    from tfqnn import data as tfdata
    from tfqnn.fileio import write_bytes_atomic, write_text_atomic

    x, y = tfdata.load_arrays("cifar10", "train", max_examples=a.train + 256)
    xt, yt = tfdata.load_arrays("cifar10", "test", max_examples=a.test)
    d = {"x": x[:a.train].astype(np.float32), "y": y[:a.train], "xh": x[a.train:].astype(np.float32),
         "xt": xt.astype(np.float32), "yt": yt, "ern_epsilon": a.ern_epsilon}
    command = " ".join(["python", "benchmarks/compose.py", *(argv if argv is not None else sys.argv[1:])])
    failed: list[str] = []
    for name in a.only or RECIPES:
        print(f"== {name}", flush=True)
        keras.utils.set_random_seed(0)
        t0 = time.time()
        try:
            res = RECIPES[name](d, a.epochs)
        except Exception:  # one recipe's failure must not cost the others their run; it is printed
            traceback.print_exc()
            failed.append(name)
            continue
        out = OUT / name
        out.mkdir(parents=True, exist_ok=True)
        for key in ("model.tflite", "float.tflite"):
            write_bytes_atomic(out / key, res.pop(key))
        model = res.pop("keras")
        meta = {"command": command, "name": name, "dataset": "cifar10", "train_images": a.train, "epochs": a.epochs,
                "keras_top1": _top1(model, d["xt"], d["yt"]), "test_images": a.test, "seconds": round(time.time() - t0, 1), **res}
        write_text_atomic(out / "meta.json", json.dumps(meta, indent=1, default=str) + "\n")
        print(json.dumps({k: v for k, v in meta.items() if k not in ("bits", "compression")}), flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
