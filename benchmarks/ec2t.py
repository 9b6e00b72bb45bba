"""EC2T deployment benchmark: size and latency of one ternary MicroNet exported three ways, side by side.

float TFLite (T baked in, float32), int8 "merged" (one conv, smaller centroid rounded), int8
"split" (two convs with exact {0, c} kernels) and the same two as INT4 weight tensors
(``converters.ternary_int4``), all from the same Keras model in one run; prints the ratios, the
top-1 of every flatbuffer next to the Keras model's (``--data``), the flatbuffer sizes next to the theoretical 2-bit / entropy-coded sizes, and the MicroNet
score. With ``--sweep runs/micronet_cifar10_cpu`` it also copies the recorded λ-sweep CSV and plots
accuracy vs sparsity vs score into ``benchmarks/results/``.

    flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/ec2t.py [--model runs/micronet_cifar10_cpu/ec2t.keras --data cifar10]
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _model(path: str | None):
    import tfqnn
    from tfqnn.training.ec2t import initialize_ec2t

    if path:
        return tfqnn.load_model(path)
    model = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10, ternary=True)
    initialize_ec2t(model, 0.45)
    return model


def plot_sweep(run_dir: Path) -> list[str]:
    """Copy ``ec2t_sweep.csv`` into results/ and plot top-1 vs ternary sparsity and vs score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = run_dir / "ec2t_sweep.csv"
    dst = RESULTS / f"ec2t_{run_dir.name}_sweep.csv"
    shutil.copyfile(src, dst)
    rows = list(csv.DictReader(open(src)))
    fp = [r for r in rows if r["lambda_max_divr"] == "fp"]
    pts = [r for r in rows if r["lambda_max_divr"] != "fp"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in pts:
        label = f"λ_div={r['lambda_max_divr']}"
        axes[0].scatter(float(r["ternary_sparsity"]), float(r["top1"]), label=label)
        axes[1].scatter(float(r["score_add32"]), float(r["top1"]), label=label)
    for ax in axes:
        if fp:
            ax.axhline(float(fp[0]["top1"]), color="gray", ls="--", label="FP")
        ax.set_ylabel("top-1 (test subset)")
        ax.legend(fontsize=8)
    axes[0].set_xlabel("sparsity of the ternary layers")
    axes[1].set_xlabel("MicroNet score (reference accounting, FP32 adds)")
    axes[1].ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    fig.suptitle(f"EC2T λ sweep: {run_dir.name}")
    fig.tight_layout()
    png = RESULTS / f"ec2t_{run_dir.name}_sweep.png"
    fig.savefig(png, dpi=100)
    return [str(dst), str(png)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a saved ternary model (default: tiny MicroNet, EC2T-initialised random weights)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sweep", help="run dir of configs/ec2t/micronet_cifar10_cpu.yaml to plot")
    parser.add_argument("--data", help="dataset: calibration from its training split (default: random images) and top-1 "
                        "on its test split")
    parser.add_argument("--max-eval", type=int, default=2000, help="test images for the top-1 column (2000)")
    parser.add_argument("--calibration", type=int, default=32, help="calibration images (32)")
    args = parser.parse_args(argv)

    import numpy as np

    from tfqnn.metrics.micronet_score import micronet_score

    from converters import ternary as ct
    from converters.benchmark import time_model
    from converters.runtime import FlatbufferModel
    from converters.ternary_int4 import convert_int4
    from converters.tflite import convert

    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    model = _model(args.model)
    x_test = y_test = None
    if args.data:
        from tfqnn import data as tdata

        info = tdata.info(args.data)
        calib = tdata.load_arrays(args.data, info.train_split, max_examples=args.calibration)[0].astype("float32")
        x_test, y_test = tdata.load_arrays(args.data, info.test_split, max_examples=args.max_eval)
        x_test = x_test.astype("float32")
        keras_top1 = float((np.argmax(model.predict(x_test, batch_size=250, verbose=0), 1) == y_test).mean())
        print(f"calibration: first {len(calib)} {args.data} training images; Keras ternary model top-1 on the first "
              f"{len(x_test)} test images: {keras_top1:.4f}")
    else:
        calib = np.random.default_rng(0).uniform(0, 255, size=(args.calibration, *model.input_shape[1:])).astype("float32")
    variants = {
        "float (merged)": convert(ct.export_model(model, "merged"), "float"),
        "int8 merged": ct.convert_int8(model, calib, "merged"),
        "int8 split": ct.convert_int8(model, calib, "split"),
        "INT4 merged": convert_int4(model, calib, "merged"),
        "INT4 split": convert_int4(model, calib, "split"),
    }
    base = None
    print(f"\n{'variant':<16}{'bytes':>10}{'size ratio':>12}{'median ms':>11}{'latency ratio':>15}{'top-1':>8}  {'exact ternary kernels'}")
    for name, fb in variants.items():
        runner = FlatbufferModel(fb, num_threads=1, runtime="tflite")
        lat = time_model(runner, runs=args.runs, warmup=10, progress=False)
        if base is None:
            base = (len(fb), lat.median_ms)
        top1 = "-" if x_test is None else f"{float((np.argmax(runner.predict(x_test), 1) == y_test).mean()):.4f}"
        check = ct.check_kernels(model, fb) if name != "float (merged)" else None
        kinds = "+".join(f"{v} {k}" for k, v in sorted(check.dtypes.items())) if check else ""
        exact = f"{check.exact}/{check.tensors} (max rel err {check.max_abs_error:.2e}; kernels {kinds})" if check else "float32"
        print(f"{name:<16}{len(fb):>10,}{len(fb) / base[0]:>12.3f}{lat.median_ms:>11.3f}{lat.median_ms / base[1]:>15.3f}{top1:>8}  {exact}")
    for name in ("int8 split", "INT4 split"):
        print(f"\nsize report against the {name} flatbuffer:")
        print(ct.size_report(model, variants[name]).table())
    print()
    print(micronet_score(model, "reference", task="cifar100").table())
    if args.sweep:
        print("\nsweep outputs:", *plot_sweep(Path(args.sweep)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
