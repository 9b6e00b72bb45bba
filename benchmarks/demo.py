"""`make demo`: train ResNet-20 on real CIFAR-10, convert to float and int8 TFLite, benchmark both.

Prints one table (accuracy, size, median latency, speed-up vs float) and writes it, with the
command that made it, to ``--out``. Float and int8 flatbuffers run in the LCE interpreter with
XNNPACK (``specs/stack.md`` §2.5), batch 1, one thread.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _report_io import emit_report  # benchmarks/_report_io.py

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs/resnet/resnet20_cifar10_demo.yaml"))
    parser.add_argument("--run-dir", default=str(ROOT / "runs/demo"))
    parser.add_argument("--out", help="also write the report here (benchmarks/results/demo.txt)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per flatbuffer")
    parser.add_argument("--max-eval", type=int, default=None, help="test images for accuracy (default: all 10,000)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. training.steps_per_epoch=20")
    args = parser.parse_args(argv)

    from tfqnn import data as tfdata
    from tfqnn.config import load_config
    from tfqnn.evaluation import evaluate_model
    from tfqnn.fileio import write_bytes_atomic
    from tfqnn.metrics import count_macs, count_params
    from tfqnn.training.trainer import train

    from converters.benchmark import benchmark
    from converters.flatbuffer import op_histogram
    from converters.tflite import convert

    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.run_dir)
    t0 = time.perf_counter()
    result = train(cfg, run_dir=run_dir)
    train_s = time.perf_counter() - t0
    model = result.model
    keras_acc = evaluate_model(model, cfg.data.name, max_examples=args.max_eval)

    calib, _ = tfdata.load_arrays(cfg.data.name, "train", max_examples=cfg.conversion.calibration_samples)
    rows = []
    for target in ("float", "int8"):
        fb = convert(model, target, representative_data=calib.astype("float32"))
        path = write_bytes_atomic(run_dir / f"model.{target}.tflite", fb)
        bench = benchmark(path, threads=(1,), runs=args.runs, warmup=10, data=cfg.data.name,
                          max_examples=args.max_eval)
        rows.append((target, path, bench, op_histogram(fb)))

    float_ms = rows[0][2].latency[0].median_ms
    params = count_params(model)
    lines = [
        f"command: make demo  (python benchmarks/demo.py {' '.join(argv if argv is not None else sys.argv[1:])})".rstrip(),
        f"model: {cfg.model.name}, {params.trainable:,} trainable params, {count_macs(model) / 1e6:.1f} M MACs; "
        f"data: {cfg.data.name} (real images, JPEG q75 copy)",
        f"training: {cfg.training.epochs} epoch(s), {int(model.optimizer.iterations.numpy())} steps of batch "
        f"{cfg.data.batch_size} in {train_s:.0f} s on this machine; final train loss "
        f"{result.history['loss'][-1]:.3f}",
        f"Keras top-1 on {keras_acc.examples} test images: {keras_acc.top1:.4f}",
        "",
        "| model | top-1 | size (bytes) | median latency 1 thread (ms) | p90 (ms) | speed-up vs float |",
        "|---|---|---|---|---|---|",
        f"| Keras (tf_keras) | {keras_acc.top1:.4f} | - | - | - | - |",
    ]
    for target, path, bench, ops in rows:
        lat = bench.latency[0]
        lines.append(f"| TFLite {target} | {bench.accuracy['top1']:.4f} | {bench.size_bytes:,} | {lat.median_ms:.3f} | "
                     f"{lat.p90_ms:.3f} | {float_ms / lat.median_ms:.2f}x |")
    lines.append("")
    for target, path, bench, ops in rows:
        lines.append(f"{target} ops: " + ", ".join(f"{k} x{v}" for k, v in ops.items()) + f"  (interpreter flags: {bench.flags})")
    emit_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
