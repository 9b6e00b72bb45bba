"""ReXNet-lite 1.0 vs Keras-applications MobileNetV2 1.0 and EfficientNet-B0 at 224×224, side by side.

Params (trainable), MACs (``tfqnn.metrics.count_macs``), float and int8 TFLite size, median latency
(batch 1, one thread, LCE interpreter with XNNPACK) and ratios to ReXNet-lite 1.0. ReXNet int8 goes
through TF-MOT QAT (``tfqnn.quantizers.rexnet_qat``: quantize, calibrate ranges, convert); the
Keras-applications models (built locally, ``weights=None``) are post-training quantized with the
same calibration images. No ImageNet weights exist here, so this measures cost, not accuracy.
``--variants`` additionally converts every registered ReXNet / ReXNet-lite to float and int8 (at
``--variant-size``) and checks that the int8 graph has no float op.

    flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/rexnet.py --out benchmarks/results/rexnet_bench.txt
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _report_io import emit_report  # benchmarks/_report_io.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _float_ops(fb: bytes) -> list[str]:
    from converters.diagnose import float_ops_inside

    return float_ops_inside(fb)


def _rexnet_int8(model, calib: np.ndarray) -> bytes:
    from converters.tflite import convert
    from tfqnn.quantizers.rexnet_qat import calibrate_ranges, quantize_rexnet

    qat = quantize_rexnet(model)
    calibrate_ranges(qat, model, [calib[i:i + 4] for i in range(0, len(calib), 4)])
    return convert(qat, "int8", representative_data=calib, calibration_samples=len(calib))


def _models(size: int):
    from tfqnn.keras import keras
    import tfqnn

    shape = (size, size, 3)
    return [
        ("ReXNet-lite 1.0", tfqnn.build_model("rexnet_lite_1.0", input_shape=shape), True),
        ("MobileNetV2 1.0", keras.applications.MobileNetV2(input_shape=shape, alpha=1.0, weights=None), False),
        ("EfficientNet-B0", keras.applications.EfficientNetB0(input_shape=shape, weights=None), False),
    ]


def compare(size: int, runs: int, calib_n: int) -> list[str]:
    from converters.benchmark import benchmark
    from converters.tflite import convert
    from tfqnn.metrics import count_macs, count_params

    # Pixels 0..255 for every model (ReXNet and EfficientNet normalise inside; MobileNetV2 expects
    # [-1, 1] but only cost is measured here, and its int8 ranges come from these same images).
    calib = np.random.default_rng(0).uniform(0, 255, (calib_n, size, size, 3)).astype(np.float32)
    rows = []
    for name, model, is_rexnet in _models(size):
        print(f"[{name}] converting float + int8, then timing {runs} runs each ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        fb_float = convert(model, "float")
        fb_int8 = _rexnet_int8(model, calib) if is_rexnet else convert(model, "int8", representative_data=calib,
                                                                     calibration_samples=calib_n)
        conv_s = time.perf_counter() - t0
        lat = [benchmark(fb, threads=(1,), runs=runs, warmup=10, progress=False).latency[0].median_ms
               for fb in (fb_float, fb_int8)]
        rows.append(dict(name=name, params=count_params(model).trainable, macs=count_macs(model),
                         float_size=len(fb_float), int8_size=len(fb_int8), float_ms=lat[0], int8_ms=lat[1],
                         float_ops_in_int8=_float_ops(fb_int8), conv_s=conv_s))
        print(f"[{name}] done in {conv_s:.0f} s", file=sys.stderr, flush=True)
    base = rows[0]
    out = [f"input {size}x{size}, batch 1, 1 thread, LCE interpreter + XNNPACK, {runs} timed runs (median); "
           f"int8 calibrated on {calib_n} uniform-random images",
           "",
           "| model | params | MACs | float size (B) | int8 size (B) | float ms | int8 ms | int8 speed-up | float ops left in int8 |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['params']:,} | {r['macs']:,} | {r['float_size']:,} | {r['int8_size']:,} | "
                   f"{r['float_ms']:.2f} | {r['int8_ms']:.2f} | {r['float_ms'] / r['int8_ms']:.2f}x | "
                   f"{', '.join(r['float_ops_in_int8']) or 'none'} |")
    out += ["", "ratios (model / ReXNet-lite 1.0):", "",
            "| model | params | MACs | float size | int8 size | float latency | int8 latency |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | " + " | ".join(f"{r[k] / base[k]:.2f}" for k in
                                                     ("params", "macs", "float_size", "int8_size", "float_ms", "int8_ms")) + " |")
    return out


def _hist_text(fb: bytes) -> str:
    from converters.flatbuffer import op_histogram

    return " ".join(f"{k}:{v}" for k, v in op_histogram(fb).items())


def all_variants(size: int, only: list[str] | None = None) -> list[str]:
    from tfqnn.keras import keras
    import tfqnn
    from tfqnn.errors import TfqnnError
    from converters.diagnose import float_ops_inside
    from converters.runtime import FlatbufferModel
    from converters.tflite import convert

    calib = np.random.default_rng(1).uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    names = [n for n in tfqnn.list_models(family="rexnet") if n not in ("rexnet", "rexnet_lite")]
    names = [n for n in names if not only or n in only]
    out = ["", f"every variant, {size}x{size} input (1000 classes), float and TF-MOT QAT int8 "
           f"(quantize_rexnet + calibrate_ranges on 4 uniform-random images):", "",
           "| variant | trainable params | float size (B) | int8 size (B) | int8/float | float max abs err vs Keras | "
           "float ops between first QUANTIZE and last DEQUANTIZE | convert s |", "|---|---|---|---|---|---|---|---|"]
    hists = ["", "int8 op histograms (execution order of first use):", ""]
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        model = tfqnn.build_model(name, input_shape=(size, size, 3))
        from tfqnn.metrics import count_params

        params = count_params(model).trainable
        try:
            fb_float = convert(model, "float")
            err = float(np.abs(FlatbufferModel(fb_float).predict(calib) - model.predict(calib, verbose=0)).max())
            fb_int8 = _rexnet_int8(model, calib)
        except TfqnnError as exc:  # record the failure, keep going
            out.append(f"| {name} | {params:,} | FAILED: {exc} | | | | | {time.perf_counter() - t0:.0f} |")
            print(out[-1], file=sys.stderr, flush=True)
            keras.backend.clear_session()
            continue
        inside = float_ops_inside(fb_int8)  # converters.diagnose: float ops between first QUANTIZE and last DEQUANTIZE
        out.append(f"| {name} | {params:,} | {len(fb_float):,} | {len(fb_int8):,} | {len(fb_int8) / len(fb_float):.3f} | "
                   f"{err:.2g} | {', '.join(inside) or 'none'} | {time.perf_counter() - t0:.0f} |")
        hists.append(f"- {name}: {_hist_text(fb_int8)}")
        print(out[-1], file=sys.stderr, flush=True)
        keras.backend.clear_session()
    return out + hists


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--calibration", type=int, default=8, help="calibration images for int8")
    p.add_argument("--variants", action="store_true", help="also convert every registered variant")
    p.add_argument("--variant-size", type=int, default=64)
    p.add_argument("--only", nargs="*", help="with --variants: just these registered names")
    p.add_argument("--skip-compare", action="store_true")
    p.add_argument("--out", help="write the report here (benchmarks/results/rexnet_*.txt)")
    args = p.parse_args(argv)
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"command: python benchmarks/rexnet.py {argv_text}".rstrip()]
    t0 = time.perf_counter()
    if not args.skip_compare:
        lines += compare(args.size, args.runs, args.calibration)
    if args.variants:
        lines += all_variants(args.variant_size, args.only)
    lines.append(f"\nwall time {time.perf_counter() - t0:.0f} s")
    emit_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
