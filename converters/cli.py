"""``tfqnn-convert`` and ``tfqnn-bench``: thin argument parsing around the converters library.

Both return an exit code (console scripts do ``sys.exit(convert_main())``): 0 on success,
2 with one line ``error: ...`` on stderr for bad input (:func:`tfqnn.cli.common.run_cli`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfqnn.cli.common import ArgumentParser, run_cli
from tfqnn.errors import ConfigError, ConversionError, DataError, OutputPathError
from tfqnn.fileio import check_output_path, write_bytes_atomic

TARGETS = ("float", "int8", "int4", "lce")  # converters.tflite.TARGETS + int4 (EC2T ternary, converters.ternary_int4)
CHECK_BATCH = 8

# --------------------------------------------------------------------------- helpers
def default_output(model_path: Path, target: str) -> Path:
    """``<model stem>.<target>.tflite`` beside the model (file or SavedModel folder)."""
    stem = model_path.name if model_path.is_dir() else model_path.stem
    return model_path.parent / f"{stem}.{target}.tflite"

def _check_output(path: Path, overwrite: bool) -> Path:
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"output folder {path.parent} cannot be created: {parent} is a file")
            break
    return check_output_path(path, overwrite=overwrite)

def config_data_name(model_path: Path) -> str | None:
    """``data.name`` from the ``config.yaml`` the trainer writes beside the model, if any."""
    cfg = model_path.parent / "config.yaml"
    if not cfg.is_file():
        return None
    import yaml

    try:
        doc = yaml.safe_load(cfg.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {cfg}: {type(exc).__name__}") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else None

def _load_split(name: str, which: str, max_examples: int, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``name``'s train/test split, resized (bilinear) to ``size`` when that differs."""
    import tfqnn.data as tdata

    if not hasattr(tdata, "load_arrays") or not hasattr(tdata, "info"):
        raise DataError("tfqnn.data.load_arrays is not available")
    info = tdata.info(name)
    split = info.train_split if which == "train" else info.test_split
    resize = {} if size is None or tuple(getattr(info, "image_shape", (None, None))[:2]) == size else {"image_size": size}
    x, y = tdata.load_arrays(name, split, max_examples=max_examples, **resize)
    return np.asarray(x), np.asarray(y)

def _input_size(model: Any) -> tuple[int, int] | None:
    """Static (H, W) of an image model's input, else ``None``."""
    shape = tuple(model.inputs[0].shape)
    return (int(shape[1]), int(shape[2])) if len(shape) == 4 and None not in shape[1:3] else None

def _ops_table(ops: dict[str, int]) -> str:
    width = max([len("op"), *map(len, ops)])
    lines = [f"  {'op':<{width}}  count"]
    lines += [f"  {name:<{width}}  {count:>5}" for name, count in ops.items()]
    return "\n".join(lines)

def _threads(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated thread counts like 1,2, got '{text}'") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got '{text}'")
    return values

def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value

def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'")
    return value

# --------------------------------------------------------------------------- convert
def convert_parser() -> ArgumentParser:
    p = ArgumentParser(prog="tfqnn-convert", description="Convert a Keras model to a TFLite / LCE flatbuffer.")
    p.add_argument("model", type=Path, help=".keras / .h5 file or SavedModel folder")
    p.add_argument("--target", required=True, choices=TARGETS, help="float TFLite, full-integer int8, int4 (EC2T ternary model: INT4 ternary kernels, int8 rest), or LCE")
    p.add_argument("-o", "--output", type=Path, help="output .tflite (default: <model stem>.<target>.tflite)")
    p.add_argument("--int8-io", action="store_true", help="int8 inputs/outputs (int8 / QAT / lce targets)")
    p.add_argument("--data", help="dataset for calibration and the check batch (default: config.yaml beside the model)")
    p.add_argument("--ternary-mode", choices=("split", "merged"), default="split",
                   help="int4: split = two exact {0, c} kernels per ternary conv (default), merged = one kernel, smaller centroid rounded")
    p.add_argument("--calibration-samples", type=_positive, default=200, help="representative images for int8 (200)")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                   help="replace an existing output file (default: refuse)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check batch when no data is known")
    return p

def _int8_path(model: Any, target: str, representative: np.ndarray | None) -> tuple[Any, str]:
    """The model the int8 converter gets: a float ReXNet goes through TF-MOT QAT (custom SE and
    partial-residual QuantizeConfigs, ranges calibrated on the representative images), so the whole
    graph is int8; any other model is returned unchanged (post-training quantization or its own QAT)."""
    from converters import diagnose

    if target != "int8" or representative is None or diagnose.is_qat_model(model):
        return model, ""
    from tfqnn.quantizers.rexnet_qat import int8_qat_model, is_rexnet

    if not is_rexnet(model):
        return model, ""
    return int8_qat_model(model, representative), f"; ReXNet TF-MOT QAT, ranges from {len(representative)} images"

def _convert(argv: Sequence[str] | None) -> int:
    args = convert_parser().parse_args(argv)
    model_path: Path = args.model
    out = args.output or default_output(model_path, args.target)
    _check_output(out, args.overwrite)

    from tfqnn.serialization import load_model

    model = load_model(model_path)

    from converters import diagnose
    from converters.benchmark import compare_outputs
    from converters.flatbuffer import op_histogram
    from converters.runtime import FlatbufferModel, load_flatbuffer
    from converters.tflite import convert

    data_name = args.data or config_data_name(model_path)
    representative = None
    if args.target in ("int8", "int4"):
        if data_name is not None:
            representative, _ = _load_split(data_name, "train", args.calibration_samples, _input_size(model))
        elif args.target == "int4" or not diagnose.is_qat_model(model):
            raise ConversionError(
                f"{args.target} conversion of {model_path} needs --data or a config.yaml beside the model (representative images)"
            )
    to_convert, path_note = _int8_path(model, args.target, representative)
    if sys.stderr.isatty():  # conversion is one blocking call: say what is going on
        print(f"converting {model_path} to {args.target} ...", file=sys.stderr, flush=True)
    if args.target == "int4":
        from converters.ternary_int4 import convert_int4

        flat = convert_int4(model, representative, args.ternary_mode, int8_io=args.int8_io,
                            calibration_samples=args.calibration_samples)
    else:
        flat = convert(to_convert, args.target, representative_data=representative, int8_io=args.int8_io,
                       calibration_samples=args.calibration_samples)
        if path_note:  # the ReXNet QAT path promises a whole-int8 graph
            diagnose.check_int8_window(to_convert, flat)

    # Check before writing: the flatbuffer must load and run.
    if data_name is not None:
        batch, _ = _load_split(data_name, "test", CHECK_BATCH, _input_size(model))
        source = f"{len(batch)} {data_name} test images"
    else:
        shape = (CHECK_BATCH, *model.inputs[0].shape[1:])
        batch = np.random.default_rng(args.seed).uniform(0, 255, shape).astype(np.float32)
        source = f"{CHECK_BATCH} random images (uniform 0..255)"
    diff = compare_outputs(model, flat, batch)
    fb = FlatbufferModel(flat)

    write_bytes_atomic(out, flat, overwrite=args.overwrite)
    written = load_flatbuffer(out)  # re-load what is on disk

    print(f"wrote {out} (target {args.target}{', int8 I/O' if args.int8_io else ''}{path_note})")
    print(_ops_table(op_histogram(written)))
    print(f"file size: {len(written):,} bytes")
    if args.target in ("int8", "int4"):  # per-layer weight type (INT8 / INT4) and bytes vs weights x declared bits / 8
        from converters.weight_report import weight_report

        print(weight_report(written, model))
    if args.target == "int4":  # on-disk size next to the INT4 / 2-bit / entropy-coded sizes of the ternary weights
        from converters.ternary import size_report

        print(size_report(model, written).table())
    step = f" (output quantization step {fb.output_quantization[0]:.3g})" if fb.output_quantization else ""
    print(f"max |Keras - TFLite| on {source}: {diff:.3g}{step}")
    return 0

def convert_main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfqnn-convert``; returns the exit code."""
    return run_cli(_convert, argv)

# --------------------------------------------------------------------------- bench
def bench_parser() -> ArgumentParser:
    p = ArgumentParser(prog="tfqnn-bench", description="Latency, size and accuracy of a .tflite flatbuffer.")
    p.add_argument("model", type=Path, help=".tflite flatbuffer")
    p.add_argument("--threads", type=_threads, default=[1], help="comma-separated thread counts (default 1)")
    p.add_argument("--runs", type=_positive, default=50, help="timed runs per thread count (50)")
    p.add_argument("--warmup", type=_non_negative, default=5, help="untimed runs first (5)")
    p.add_argument("--batch-size", type=_positive, default=1, help="images per timed run (1)")
    p.add_argument("--data", help="dataset whose test split gives the accuracy")
    p.add_argument("--max-examples", type=_positive, help="limit the accuracy to the first N test images")
    p.add_argument("--runtime", choices=("lce", "tfqnn", "tflite"), default=None,
                   help="tfqnn = our x86 kernels for the LCE ops in TF's interpreter (default for LCE "
                        "flatbuffers when available), lce = the LCE interpreter (default otherwise), "
                        "tflite = tf.lite.Interpreter")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    return p

def format_result(res: dict[str, Any]) -> str:
    """Human-readable report of :meth:`BenchResult.to_dict`."""
    flags = ", ".join(f"{k}={v}" for k, v in res["flags"].items() if k != "runtime")
    lines = [
        f"model:    {res['model']}",
        f"size:     {res['size_bytes']:,} bytes",
        f"input:    {tuple(res['input_shape'])} {res['input_dtype']}, batch {res['batch_size']}",
        f"runtime:  {res['runtime']} ({flags})",
        "ops:",
        _ops_table(res["ops"]),
        "latency (ms, this x86 machine; says nothing about ARM):",
        f"  {'threads':>7}  {'runs':>5}  {'min':>9}  {'median':>9}  {'p90':>9}",
    ]
    for lat in res["latency"]:
        lines.append(f"  {lat['threads']:>7}  {lat['runs']:>5}  {lat['min_ms']:>9.3f}  {lat['median_ms']:>9.3f}  "
                     f"{lat['p90_ms']:>9.3f}")
    acc = res.get("accuracy")
    if acc:
        top5 = f", top-5 {acc['top5']:.4f}" if "top5" in acc else ""
        lines.append(f"accuracy: {acc['dataset']} {acc['split']} ({acc['examples']} images): top-1 {acc['top1']:.4f}{top5}")
    return "\n".join(lines)

def _bench(argv: Sequence[str] | None) -> int:
    args = bench_parser().parse_args(argv)
    from converters.benchmark import benchmark

    result = benchmark(
        args.model,
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        data=args.data,
        max_examples=args.max_examples,
        batch_size=args.batch_size,
        runtime=args.runtime,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    res = result.to_dict()
    if res.get("runtime_note"):
        print(f"note: {res['runtime_note']}", file=sys.stderr)
    print(json.dumps(res, indent=2) if args.json else format_result(res))
    return 0

def bench_main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfqnn-bench``; returns the exit code."""
    return run_cli(_bench, argv)

