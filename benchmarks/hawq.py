"""HAWQ-V3 side by side: float vs uniform8 vs mixed 4/8 vs uniform4 of one network (CIFAR ResNet-20).

Each model (from ``python -m tfqnn.training.hawq_recipe``) is converted in this run (float → float
TFLite, QAT → int8 TFLite with INT4 weights where the bit config says 4), then: file size, theoretical
weight size and GBOPs (``tfqnn.metrics.hawq_size``), median latency (batch 1, one thread, TFLite
interpreter with XNNPACK), top-1 on CIFAR-10 test images. Ratios are against the float model.

    flock /tmp/tfqnn-heavy.lock python benchmarks/hawq.py --out benchmarks/results/hawq_resnet20_bench.txt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMES = ("uniform8", "mixed", "uniform4")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--float-model", default=str(ROOT / "runs/hawq_resnet20_cifar10_cpu/model.keras"))
    p.add_argument("--qat-dir", default=str(ROOT / "runs/hawq_resnet20_cifar10_cpu_qat"))
    p.add_argument("--runs", type=int, default=100, help="timed runs per flatbuffer")
    p.add_argument("--max-eval", type=int, default=2000, help="CIFAR-10 test images for accuracy")
    p.add_argument("--calibration", type=int, default=200, help="training images for the converter")
    p.add_argument("--out", help="also write the report here")
    a = p.parse_args(argv)

    from tfqnn.keras import keras  # noqa: F401

    from converters.benchmark import benchmark
    from converters.tflite import convert
    from converters.weight_report import weight_report
    from tfqnn import data as tfdata
    from tfqnn.metrics.hawq_size import quantized_size_bops
    from tfqnn.serialization import load_model

    calib, _ = tfdata.load_arrays("cifar10", "train", max_examples=a.calibration)
    models = {"float": load_model(a.float_model)}
    for s in SCHEMES:
        path = Path(a.qat_dir) / f"{s}.h5"
        if path.exists():
            models[s] = load_model(path)
    rows, reports = [], []
    for name, model in models.items():
        flat = convert(model, "float" if name == "float" else "int8", representative_data=None if name == "float" else calib)
        res = benchmark(flat, threads=(1,), runs=a.runs, data="cifar10", max_examples=a.max_eval, runtime="tflite", progress=False)
        cost = quantized_size_bops(model)
        rows.append((name, len(flat), cost["size_weights_only_MiB"], cost["gbops"], res.latency[0].median_ms, res.accuracy["top1"]))
        if name == "mixed":
            reports.append(weight_report(flat, model))
    base = rows[0]
    lines = [f"command: {' '.join([Path(sys.executable).name, *sys.argv])}",
             f"CIFAR-10 test images: {a.max_eval}; latency: batch 1, 1 thread, tf.lite.Interpreter (XNNPACK), {a.runs} runs",
             "",
             f"{'model':9s} {'file KB':>8s} {'weights MiB':>11s} {'GBOPs':>7s} {'median ms':>9s} {'top-1':>6s} "
             f"{'size x':>6s} {'speed-up':>8s} {'BOPs x':>6s}"]
    for n, size, wmib, gb, ms, top1 in rows:
        lines.append(f"{n:9s} {size / 1024:8.1f} {wmib:11.4f} {gb:7.3f} {ms:9.3f} {100 * top1:6.2f} "
                     f"{base[1] / size:6.2f} {base[4] / ms:8.2f} {base[3] / gb:6.1f}")
    lines += ["", "per-layer weight storage of the mixed model:", *reports]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
