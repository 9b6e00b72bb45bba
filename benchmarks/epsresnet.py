"""ε-ResNet: gated full model vs the compressed model (discarded blocks removed), side by side.

Loads a trained gated ε-ResNet (``tfqnn-train configs/epsresnet/epsresnet_cifar_cpu.yaml``),
removes the blocks whose moving-average ``is_discarded`` is ≥ 1 − 5e-6
(:func:`tfqnn.compress.remove_discarded_blocks`), saves ``compressed.keras`` beside it, converts
both (the gated model with frozen gates and without its training-only side head) to float and
int8 TFLite, and prints
parameters, MACs, flatbuffer size, batch-1 latency (LCE interpreter + XNNPACK, 1 thread) and
test accuracy, with compressed/gated ratios. All numbers come from this one run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _report_io import emit_report  # benchmarks/_report_io.py

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "runs/epsresnet_cifar_cpu/model.keras"))
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per flatbuffer")
    parser.add_argument("--max-eval", type=int, default=2000, help="test images for accuracy")
    parser.add_argument("--out", help="also write the report here")
    parser.add_argument("--curve", help="write the training curve (val error, discarded blocks, LR per epoch) of the "
                        "run's history.csv to CURVE.csv and CURVE.png")
    args = parser.parse_args(argv)
    if args.curve:
        write_curve(Path(args.model).parent / "history.csv", Path(args.curve))

    from tfqnn.keras import keras
    from tfqnn import data as tfdata
    from tfqnn.compress import remove_discarded_blocks
    from tfqnn.compress.epsresnet import freeze_gates
    from tfqnn.evaluation import evaluate_model
    from tfqnn.fileio import write_bytes_atomic
    from tfqnn.metrics import count_macs, count_params
    from tfqnn.serialization import load_model

    from converters.benchmark import benchmark
    from converters.tflite import convert

    model = load_model(args.model)
    frozen = freeze_gates(model)  # spec §h.1: deploy a gated model with constant gates
    gated = keras.Model(frozen.input, frozen.outputs[0], name="gated_full") if len(frozen.outputs) > 1 else frozen
    plain, report = remove_discarded_blocks(model)
    out_dir = Path(args.model).parent
    plain.save(str(out_dir / "compressed.keras"))
    calib, _ = tfdata.load_arrays(args.data, "train", max_examples=200)

    rows = {}
    for label, m in (("gated full", gated), ("compressed", plain)):
        acc = evaluate_model(m, args.data, batch_size=256, max_examples=args.max_eval, verbose=0)
        rows[label] = {"params": count_params(m).trainable, "macs": count_macs(m), "keras_top1": acc.top1}
        for target in ("float", "int8"):
            fb = convert(m, target, representative_data=calib.astype("float32"))
            path = write_bytes_atomic(out_dir / f"{label.replace(' ', '_')}.{target}.tflite", fb)
            bench = benchmark(path, threads=(1,), runs=args.runs, warmup=20, data=args.data,
                              max_examples=args.max_eval, progress=False)
            rows[label][target] = (bench.size_bytes, bench.latency[0].median_ms, bench.accuracy["top1"])

    g, c = rows["gated full"], rows["compressed"]
    lines = [
        f"command: python benchmarks/epsresnet.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
        f"model: {args.model}; discarded blocks (EMA >= 1-5e-6): {', '.join(report['discarded']) or 'none'} "
        f"({report['blocks_removed']} of {sum(report['blocks_per_stage'])}); kept per stage {report['kept_blocks_per_stage']}",
        f"accuracy on the first {args.max_eval} test images; latency: batch 1, 1 thread, LCE interpreter (XNNPACK), "
        f"median of {args.runs} runs, x86 CPU",
        "",
        "| model | trainable params | MACs | Keras top-1 | float size (B) | float ms | float top-1 | int8 size (B) | int8 ms | int8 top-1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        int8 = f"{r['int8'][0]:,} | {r['int8'][1]:.3f} | {r['int8'][2]:.4f}"
        lines.append(f"| {label} | {r['params']:,} | {r['macs'] / 1e6:.1f} M | {r['keras_top1']:.4f} | {r['float'][0]:,} | "
                     f"{r['float'][1]:.3f} | {r['float'][2]:.4f} | {int8} |")
    lines += [
        "",
        f"compressed / gated: params {c['params'] / g['params']:.3f}x, MACs {c['macs'] / g['macs']:.3f}x, "
        f"float size {c['float'][0] / g['float'][0]:.3f}x, int8 size {c['int8'][0] / g['int8'][0]:.3f}x",
        f"speed-up of compressed over gated: float {g['float'][1] / c['float'][1]:.2f}x, int8 {g['int8'][1] / c['int8'][1]:.2f}x",
        f"compressed int8 over gated float: {g['float'][1] / c['int8'][1]:.2f}x faster, "
        f"{g['float'][0] / c['int8'][0]:.2f}x smaller",
        f"parameter reduction 1 - compressed/full = {report['param_reduction']:.4f}",
        "note: 'gated full' is exported with frozen gates (0 for the discarded blocks, else 1; spec §h.1): "
        "it still computes every block but no longer gates per image in the batch-1 interpreter.",
    ]
    emit_report(lines, args.out)
    return 0


def write_curve(history: Path, prefix: Path) -> None:
    """CSV + matplotlib plot of val error, EMA discarded count, discarded blocks and LR per epoch."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history, newline="") as fh:
        rows = list(csv.DictReader(fh))
    acc_key = "val_classifier_accuracy" if "val_classifier_accuracy" in rows[0] else "val_accuracy"
    table = [{"epoch": int(r["epoch"]) + 1, "val_error": 1.0 - float(r[acc_key]), "discarded_cnt_ema": float(r["discarded_cnt"]),
              "discarded_blocks": int(float(r["discarded_blocks"])), "lr": float(r["lr"])} for r in rows]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    epochs = [r["epoch"] for r in table]
    fig, axes = plt.subplots(3, 1, figsize=(6, 7), sharex=True)
    axes[0].plot(epochs, [r["val_error"] for r in table], "o-")
    axes[0].set_ylabel("val error")
    axes[1].plot(epochs, [r["discarded_cnt_ema"] for r in table], "o-", label="EMA discarded_cnt")
    axes[1].step(epochs, [r["discarded_blocks"] for r in table], where="mid", label="blocks with EMA ≥ 1−5e-6")
    axes[1].set_ylabel("discarded blocks")
    axes[1].legend(fontsize=8)
    axes[2].step(epochs, [r["lr"] for r in table], where="mid")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("LR during epoch")
    axes[2].set_xlabel("epoch")
    fig.suptitle(f"ε-ResNet CPU run ({history.parent.name})")
    fig.tight_layout()
    fig.savefig(prefix.with_suffix(".png"), dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
