"""ERN benchmark: one trained w1a2 ERN as (a) LCE bit-plane flatbuffer, (b) float TFLite, (c) int8 TFLite.

Side by side in one run (batch 1, one thread; LCE with ``use_indirect_bgemm=True``, float/int8 with
XNNPACK, ``converters.runtime``): test accuracy, flatbuffer size, median latency, ratios. Also:
Keras-vs-LCE agreement (max |Δlogit|, top-1 agreement) on ``--agree`` test images, LCE size vs the packed
size (``tfqnn.metrics.packed_size``) and the ten-crop TTA accuracy of the Keras model.

(b) is "the same architecture without quantizers": every ``QuantConv2D`` becomes a float ``Conv2D`` whose
kernel is the trained *quantized* kernel (``sign·α``) and whose input is no longer quantized. It is not a
trained float network, so its accuracy only shows what dropping the quantizers does; its size and latency
are the float baseline. (c) is int8 PTQ of (b) calibrated on 200 training images; the pixel embedding stays float
(TFLite has no int8 FLOOR), everything after it is int8.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _report_io import emit_report  # benchmarks/_report_io.py

ROOT = Path(__file__).resolve().parents[1]


def strip_quantizers(model):
    """Functional copy of ``model`` with every Larq ``QuantConv2D`` as a float ``Conv2D`` (kernel = quantized kernel)."""
    import larq as lq

    from tfqnn.keras import keras

    new_layers = {}
    for layer in model.layers:
        if isinstance(layer, lq.layers.QuantConv2D):
            cfg = layer.get_config()
            for key in ("input_quantizer", "kernel_quantizer", "metrics", "kernel_constraint", "pad_values"):
                cfg.pop(key, None)
            new_layers[id(layer)] = keras.layers.Conv2D.from_config(cfg)
    twin = keras.models.clone_model(model, clone_function=lambda l: new_layers.get(id(l), l))
    for layer in model.layers:
        if id(layer) in new_layers:
            wq = layer.kernel_quantizer(layer.kernel).numpy()
            twin.get_layer(layer.name).set_weights([wq] + [w.numpy() for w in layer.weights[1:]])
    return twin


def convert_int8_mixed(model, calib: np.ndarray) -> bytes:
    """Full-integer PTQ where possible; ops without an int8 kernel (the pixel embedding's FLOOR) stay float."""
    import tensorflow as tf

    from converters.flatbuffer import check_flatbuffer

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    data = bytes(conv.convert())
    check_flatbuffer(data, "int8 model")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="trained ERN .keras (e.g. runs/ern18_cifar10_cpu/model.keras)")
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per flatbuffer")
    parser.add_argument("--max-eval", type=int, default=None, help="test images for accuracy (default: all)")
    parser.add_argument("--agree", type=int, default=1000, help="test images for Keras-vs-LCE agreement")
    parser.add_argument("--tta-eval", type=int, default=2000, help="test images for the ten-crop Keras accuracy")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ern_benchmark.txt"))
    args = parser.parse_args(argv)

    from tfqnn import data as tfdata
    from tfqnn.evaluation import evaluate_model, topk_accuracy
    from tfqnn.fileio import write_bytes_atomic
    from tfqnn.metrics import count_macs, count_params, packed_size
    from tfqnn.serialization import load_model

    from converters.benchmark import benchmark, load_test_split
    from converters.lce import convert_lce
    from converters.runtime import FlatbufferModel
    from converters.tflite import convert

    t0 = time.perf_counter()
    model = load_model(args.model)
    out_dir = Path(args.model).parent
    keras_acc = evaluate_model(model, args.data, max_examples=args.max_eval, verbose=0)
    tta_acc = evaluate_model(model, args.data, max_examples=args.tta_eval, verbose=0, tta="tencrop")
    calib, _ = tfdata.load_arrays(args.data, "train", max_examples=200)
    twin = strip_quantizers(model)
    flatbuffers = {
        "a) w1a2 LCE (bit planes)": convert_lce(model),
        "b) float TFLite, no quantizers": convert(twin, "float"),
        "c) int8 TFLite of (b)": convert_int8_mixed(twin, calib.astype(np.float32)),
    }
    results = {}
    for label, fb in flatbuffers.items():
        path = write_bytes_atomic(out_dir / f"model.{label[0]}.tflite", fb)
        results[label] = benchmark(path, threads=(1,), runs=args.runs, warmup=5, data=args.data,
                                   max_examples=args.max_eval, progress=False)
    # Keras vs LCE on real test images
    x, _, _ = load_test_split(args.data, args.agree)
    lce_fb = flatbuffers["a) w1a2 LCE (bit planes)"]
    ref = np.concatenate([model(x[i:i + 250], training=False).numpy() for i in range(0, len(x), 250)])
    got = FlatbufferModel(lce_fb).predict(x)
    diff = np.abs(ref - got)
    size = packed_size(model)

    float_label = "b) float TFLite, no quantizers"
    base_ms = results[float_label].latency[0].median_ms
    base_size = results[float_label].size_bytes
    params = count_params(model)
    lines = [
        f"command: python benchmarks/ern.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"model: {model.name} from {args.model}; {params.trainable:,} trainable params, {count_macs(model) / 1e6:.1f} M MACs; "
        f"data: {args.data} test split (real images)",
        f"Keras top-1 {keras_acc.top1:.4f} on {keras_acc.examples} images; ten-crop TTA top-1 {tta_acc.top1:.4f} "
        f"on {tta_acc.examples} images (resize {round(model.input_shape[1] * 308 / 288)}, crops {model.input_shape[1]})",
        f"packed size (1-bit kernels + float BN/scales): {size.total_bytes:,} B (kernels {size.weight_bytes:,} B); "
        f"LCE flatbuffer / packed = {len(lce_fb) / size.total_bytes:.3f}",
        f"Keras vs LCE on {len(x)} test images: max |dlogit| {diff.max():.2e} (max |logit| {np.abs(ref).max():.2f}), "
        f"top-1 agreement {np.mean(ref.argmax(1) == got.argmax(1)):.4f}",
        "",
        "| flatbuffer | top-1 | size (bytes) | size vs float | median latency 1 thread (ms) | p90 (ms) | speed-up vs float |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, res in results.items():
        lat = res.latency[0]
        lines.append(f"| {label} | {res.accuracy['top1']:.4f} | {res.size_bytes:,} | {res.size_bytes / base_size:.3f}x | "
                     f"{lat.median_ms:.3f} | {lat.p90_ms:.3f} | {base_ms / lat.median_ms:.2f}x |")
    lines.append("")
    for label, res in results.items():
        lines.append(f"{label} ops: " + ", ".join(f"{k} x{v}" for k, v in res.ops.items()) + f"  (flags: {res.flags})")
    lines.append(f"wall time {time.perf_counter() - t0:.0f} s")
    emit_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
