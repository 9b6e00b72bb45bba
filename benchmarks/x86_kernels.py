"""Our x86 LCE kernels vs LCE's best x86 path vs float and int8 TFLite (XNNPACK), side by side.

Three models, each as (a) LCE flatbuffer on our kernels (``--runtime tfqnn``), (b) the same
flatbuffer in the LCE interpreter with ``use_indirect_bgemm=True`` (LCE's fastest x86 path,
stack.md §2.5), (c) float TFLite of the same architecture on XNNPACK, (d) int8 TFLite (PTQ of (c))
on XNNPACK:

1. the binary stack of specs/x86-kernels.md: six 3x3 256->256 binary convs at 28x28 (+ BN);
2. a Bi-Real-Net-18-style binary ResNet at 224x224 (larq ``QuantConv2D`` 3x3 binary convs, each
   with its float shortcut; float stem, float 1x1 downsample shortcuts, float classifier);
3. a w1a2 ERN (ERNs18 for CIFAR): the trained one of ``runs/ern18_cifar10_cpu`` and its three
   flatbuffers made by ``benchmarks/ern.py`` when present, else an untrained ern18 built and
   converted here (the report says which).

Latency: batch 1, median of ``--runs`` after warm-up, 1 and 2 threads. Binary MACs are counted
from the flatbuffer's ``LceBconv2d`` ops (N·OH·OW·Cout·KH·KW·Cin/groups); G binary-MACs/s use the
whole-model latency. The POPCNT ceiling is one 512-bit VPOPCNTQ per cycle and core
(512 binary MACs/cycle) at the clock ``/proc/cpuinfo`` reports; the AMX-INT8 ceiling (the ``amx``
path computes binary MACs as +-1 int8 MACs) is measured in the run: back-to-back TDPBSSD on random
+-1 tiles held in tile registers (``converters.kernels.amx_peak_gmacs``). Run it alone (``flock``): it
uses both cores.

``python benchmarks/x86_kernels.py --out benchmarks/results/x86_kernels.txt``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- models
def binary_stack(binary: bool):
    import larq as lq

    from tfqnn.keras import keras

    x = inp = keras.Input((28, 28, 256))
    for i in range(6):
        if binary:
            x = lq.layers.QuantConv2D(256, 3, padding="same", pad_values=1.0, use_bias=False, name=f"conv{i}",
                                      input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                      kernel_constraint="weight_clip")(x)
        else:
            x = keras.layers.Conv2D(256, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
    return keras.Model(inp, x, name="binary_stack" if binary else "float_stack")


def bireal18(binary: bool, size: int = 224, classes: int = 1000):
    """Bi-Real-Net-18 layout: every 3x3 conv (binary) has its own shortcut (Liu et al. 2018)."""
    import larq as lq

    from tfqnn.keras import keras

    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.MaxPool2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, filters in enumerate((64, 128, 256, 512)):
        for b in range(4):
            name = f"stage{s + 1}_conv{b + 1}"
            stride = 2 if s > 0 and b == 0 else 1
            shortcut = x
            if stride == 2:
                shortcut = L.AveragePooling2D(2, strides=2, padding="same", name=name + "_pool")(x)
                shortcut = L.Conv2D(filters, 1, use_bias=False, name=name + "_down")(shortcut)
                shortcut = L.BatchNormalization(name=name + "_down_bn")(shortcut)
            if binary:
                y = lq.layers.QuantConv2D(filters, 3, strides=stride, padding="same", pad_values=1.0, use_bias=False,
                                          input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                          kernel_constraint="weight_clip", name=name)(x)
            else:
                y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name)(L.ReLU()(x))
            y = L.BatchNormalization(name=name + "_bn")(y)
            x = L.Add(name=name + "_add")([y, shortcut])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(classes, name="fc")(x)
    return keras.Model(inp, x, name="bireal18" if binary else "bireal18_float")


def randomise_bn(model, seed: int = 0) -> None:
    from tfqnn.keras import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0.0, 0.5, b.shape),
                               rng.normal(0, 3, m.shape), rng.uniform(4, 40, v.shape)])


def convert_set(binary_model, float_model, calib: np.ndarray) -> dict[str, bytes]:
    from converters.lce import convert_lce
    from converters.tflite import convert_float, convert_int8

    return {"lce": convert_lce(binary_model, bitplanes=False), "float": convert_float(float_model),
            "int8": convert_int8(float_model, calib)}


def ern_set(run_dir: Path) -> tuple[dict[str, bytes], str]:
    files = {"lce": "model.a.tflite", "float": "model.b.tflite", "int8": "model.c.tflite"}
    if all((run_dir / f).is_file() for f in files.values()):
        return ({k: (run_dir / f).read_bytes() for k, f in files.items()},
                f"trained ERNs18 of {run_dir.name} (CIFAR-10, 60.2 % top-1), flatbuffers a/b/c from benchmarks/ern.py")
    import tfqnn
    from converters.lce import convert_lce
    from converters.tflite import convert_float, convert_int8

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ern import strip_quantizers  # same float twin as benchmarks/ern.py

    model = tfqnn.build_model("ern18", num_classes=10, input_shape=(32, 32, 3))
    twin = strip_quantizers(model)
    calib = np.random.default_rng(0).uniform(0, 255, (20, 32, 32, 3)).astype(np.float32)
    return ({"lce": convert_lce(model), "float": convert_float(twin), "int8": convert_int8(twin, calib)},
            f"UNTRAINED ern18 built and converted here ({run_dir} has no flatbuffers)")


# ----------------------------------------------------------------------------- measuring
def bconv_macs(fb: bytes) -> int:
    """Binary MACs of all LceBconv2d ops, from the flatbuffer's shapes and options."""
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(fb, 0)
    total = 0
    for sg in m.subgraphs:
        for op in sg.operators:
            code = m.operatorCodes[op.opcodeIndex]
            if code.customCode != b"LceBconv2d":
                continue
            opts = flexbuffers.Loads(bytes(op.customOptions))
            n, oh, ow, _ = sg.tensors[op.outputs[0]].shape
            cout, kh, kw, words_pg = sg.tensors[op.inputs[1]].shape
            words_in = sg.tensors[op.inputs[0]].shape[3]
            cin_pg = opts["channels_in"] // (words_in // words_pg)
            total += int(n) * int(oh) * int(ow) * int(cout) * int(kh) * int(kw) * int(cin_pg)
    return total


def clock_ghz() -> float:
    mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
           if line.startswith("cpu MHz")]
    return max(mhz) / 1000 if mhz else float("nan")


def time_all(sets: dict[str, bytes], threads: list[int], runs: int) -> dict[tuple[str, int], float]:
    from converters.benchmark import time_model
    from converters.runtime import FlatbufferModel

    variants = [("a", "lce", "tfqnn"), ("b", "lce", "lce"), ("c", "float", "tflite"), ("d", "int8", "tflite")]
    out = {}
    for key, fb_name, runtime in variants:
        if fb_name not in sets:
            continue
        for t in threads:
            fb = FlatbufferModel(sets[fb_name], num_threads=t, runtime=runtime)
            out[(key, t)] = time_model(fb, runs=runs, warmup=max(3, runs // 10), progress=False).median_ms
            log(f"  ({key}) {runtime:6s} {fb_name:5s} {t} thread(s): {out[(key, t)]:.3f} ms")
    return out


def agreement(fb: bytes) -> float:
    """max |ours - LCE indirect| on one random input (float outputs)."""
    from converters.benchmark import random_input
    from converters.runtime import FlatbufferModel

    ours = FlatbufferModel(fb, runtime="tfqnn")
    x = random_input(ours)
    a = ours.invoke_one(x).astype(np.float64)
    b = FlatbufferModel(fb, runtime="lce").invoke_one(x).astype(np.float64)
    return float(np.max(np.abs(a - b)))


def paths_on(fb: bytes, runs: int, threads: tuple[int, ...] = (1,), macs: int = 0) -> list[str]:
    """Latency of ``fb`` on every kernel path this CPU has (TFQNN_KERNELS forces each, for every layer);
    with ``macs``, also G binary MACs/s."""
    import os

    from converters.benchmark import time_model
    from converters.kernels import cpu_paths
    from converters.runtime import FlatbufferModel

    old = os.environ.get("TFQNN_KERNELS")
    lines = []
    try:
        for t in threads:
            cells = []
            for path in reversed(cpu_paths()):
                if path == "scalar" and (t > 1 or macs):
                    continue
                os.environ["TFQNN_KERNELS"] = path
                n = runs if path != "scalar" else 3
                ms = time_model(FlatbufferModel(fb, runtime="tfqnn", num_threads=t), runs=n, warmup=1,
                                progress=False).median_ms
                log(f"  path {path}, {t} thread(s): {ms:.3f} ms")
                rate = f" ({macs / (ms * 1e-3) / 1e9:.0f} G/s)" if macs else ""
                cells.append(f"{path} {ms:.3f} ms{rate}")
            lines.append(f"our kernel paths, {t} thread(s) (TFQNN_KERNELS=...): " + ", ".join(cells))
    finally:
        if old is None:
            os.environ.pop("TFQNN_KERNELS", None)
        else:
            os.environ["TFQNN_KERNELS"] = old
    return lines


def single_layer(runs: int, threads: list[int]) -> list[str]:
    """One 3x3 256->256 LceBconv2d at 28x28 (bitpacked in and out), the stack's layer, per path."""
    from converters.kernels import modelgen as mg

    case = mg.BconvCase(h=28, w=28, cin=256, cout=256, out="bitpacked")
    fb, _ = mg.bconv_model(case)
    macs = 28 * 28 * 256 * 256 * 9
    return ["### 0. one LceBconv2d, 3x3 256->256 at 28x28, bitpacked in/out (the stack's layer)",
            *paths_on(fb, 4 * runs, tuple(threads), macs), ""]


LABELS = {"a": "(a) ours (tfqnn kernels)", "b": "(b) LCE use_indirect_bgemm", "c": "(c) float TFLite XNNPACK",
          "d": "(d) int8 TFLite XNNPACK"}


def report(name: str, note: str, sets: dict[str, bytes], times: dict, threads: list[int], ghz: float,
           path: str, diff: float, amx_peak: float = 0.0, int8_line: bool = False) -> list[str]:
    bmacs = bconv_macs(sets["lce"])
    lines = [f"### {name}", note,
             f"binary MACs (LceBconv2d): {bmacs / 1e9:.3f} G; max |ours - LCE| on one random input: {diff:.3g}", "",
             "| variant | size (bytes) | " + " | ".join(f"{t} thr (ms)" for t in threads) +
             " | ours faster by (1 thr) | ours faster by (2 thr) |",
             "|---|---|" + "---|" * len(threads) + "---|---|"]
    sizes = {"a": len(sets["lce"]), "b": len(sets["lce"]), "c": len(sets.get("float", b"")),
             "d": len(sets.get("int8", b""))}
    for key in "abcd":
        if (key, threads[0]) not in times:
            continue
        cells = [f"{times[(key, t)]:.3f}" for t in threads]
        ratios = [f"{times[(key, t)] / times[('a', t)]:.2f}x" if key != "a" else "-" for t in threads[:2]]
        lines.append(f"| {LABELS[key]} | {sizes[key]:,} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    ceiling = 512 * ghz  # G binary MACs/s per core
    for t in threads:
        rate = bmacs / (times[("a", t)] * 1e-3) / 1e9
        amx = (f", {rate / (amx_peak * t):.1%} of the measured AMX-INT8 ceiling ({amx_peak * t:.0f} G/s = {t} x "
               f"{amx_peak:.0f})") if path == "amx" and amx_peak > 0 else ""
        lines.append(f"ours, {t} thread(s): {rate:.0f} G binary-MACs/s over the whole model = "
                     f"{rate / (ceiling * t):.1%} of the POPCNT ceiling ({ceiling * t:.0f} G/s = {t} core(s) x 512 x "
                     f"{ghz:.2f} GHz){amx}, kernel path {path}")
    if int8_line and amx_peak > 0 and ("d", threads[0]) in times:
        int8_rate = bmacs / (times[("d", threads[0])] * 1e-3) / 1e9
        lines.append(f"int8 TFLite, {threads[0]} thread(s): {int8_rate:.0f} G int8-MACs/s; 3x its speed would need "
                     f"{3 * int8_rate:.0f} G MACs/s = {3 * int8_rate / (amx_peak * threads[0]):.0%} of the measured "
                     f"{threads[0]}-core AMX-INT8 ceiling")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30, help="timed runs per variant and thread count")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--ern-dir", type=Path, default=ROOT / "runs" / "ern18_cifar10_cpu")
    p.add_argument("--bireal-size", type=int, default=224)
    p.add_argument("--out", type=Path, help="write the report here too")
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    start = time.time()

    from converters.kernels import status

    st = status()
    if not st.available:
        log(f"error: {st.reason}")
        return 2
    ghz = clock_ghz()
    from converters.kernels import amx_peak_gmacs

    amx_peak = amx_peak_gmacs(0.5)
    sections = []
    rng = np.random.default_rng(0)

    log("binary stack: building and converting ...")
    calib = rng.normal(size=(8, 28, 28, 256)).astype(np.float32)
    b, f = binary_stack(True), binary_stack(False)
    randomise_bn(b)
    randomise_bn(f)
    sets = convert_set(b, f, calib)
    times = time_all(sets, threads, args.runs)
    sections.append(report("1. binary stack: 6 x (3x3 conv 256->256 + BN) at 28x28, batch 1",
                           "LCE chain with bitpacked outputs between layers; (c)/(d) are the float twin and its int8 PTQ",
                           sets, times, threads, ghz, st.path, agreement(sets["lce"]), amx_peak, int8_line=True))
    stack_times = times
    sections[-1][-1:-1] = paths_on(sets["lce"], args.runs)
    sections.insert(0, single_layer(args.runs, threads))

    log(f"Bi-Real-Net-18 style ({args.bireal_size}x{args.bireal_size}): building and converting ...")
    calib = rng.uniform(-2, 2, (8, args.bireal_size, args.bireal_size, 3)).astype(np.float32)
    b, f = bireal18(True, args.bireal_size), bireal18(False, args.bireal_size)
    randomise_bn(b)
    randomise_bn(f)
    sets = convert_set(b, f, calib)
    times = time_all(sets, threads, max(5, args.runs // 2))
    sections.append(report(f"2. Bi-Real-Net-18-style binary ResNet, {args.bireal_size}x{args.bireal_size}, 1000 classes, "
                           "batch 1", "16 binary 3x3 convs (BN + float shortcut each), float stem / 1x1 downsample / FC; "
                           "(c) is the same graph with float convs (+ReLU), (d) its int8 PTQ (random calibration)",
                           sets, times, threads, ghz, st.path, agreement(sets["lce"]), amx_peak))

    log("ERN w1a2 ...")
    sets, note = ern_set(args.ern_dir)
    times_ern = time_all(sets, threads, args.runs)
    sections.append(report("3. w1a2 ERN (ERNs18, CIFAR 32x32), batch 1", note + "; every w1a2 conv = 2 LceBconv2d "
                           "(bit planes); (c) = same architecture without quantizers, (d) = its int8 PTQ",
                           sets, times_ern, threads, ghz, st.path, agreement(sets["lce"]), amx_peak))
    sections[-1][-1:-1] = paths_on(sets["lce"], args.runs)

    def best(times: dict, key: str) -> tuple[float, int]:
        return min((times[(key, t)], t) for t in threads)

    (ours_best, ours_t), (lce_best, lce_t) = best(stack_times, "a"), best(stack_times, "b")
    (int8_best, int8_t) = best(stack_times, "d")
    targets = [
        f"binary stack: ours vs LCE best x86 path (1 thread) {stack_times[('b', 1)] / stack_times[('a', 1)]:.1f}x "
        "(target >= 15x)",
        f"binary stack: ours ({ours_t} thr, {ours_best:.3f} ms) vs LCE's best ({lce_t} thr, {lce_best:.3f} ms) "
        f"{lce_best / ours_best:.1f}x (target >= 15x)",
        f"binary stack: ours vs int8 TFLite (1 thread) {stack_times[('d', 1)] / stack_times[('a', 1)]:.2f}x (target >= 3x)",
        f"binary stack: ours ({ours_t} thr) vs int8 TFLite's best ({int8_t} thr) {int8_best / ours_best:.2f}x "
        "(target >= 3x)",
        f"w1a2 ERN: ours {times_ern[('a', 1)]:.3f} ms vs int8 TFLite {times_ern[('d', 1)]:.3f} ms (1 thread): "
        f"{'faster' if times_ern[('a', 1)] < times_ern[('d', 1)] else 'NOT faster'} "
        f"({times_ern[('d', 1)] / times_ern[('a', 1)]:.2f}x)",
    ]
    cmd = "python benchmarks/x86_kernels.py " + " ".join(argv if argv is not None else sys.argv[1:])
    amx_note = (f"; measured AMX-INT8 ceiling {amx_peak:.0f} G MACs/s per core (TDPBSSD, random +-1 tiles in "
                "registers); auto path: amx for feature maps >= 8 wide, avx512 below") if amx_peak > 0 else ""
    text = "\n".join([f"command: {cmd}", f"kernel path: {st.path}; CPU clock from /proc/cpuinfo {ghz:.2f} GHz{amx_note}; "
                      "x86 numbers, they say nothing about ARM", "", *[ln for s in sections for ln in s],
                      "targets:", *[f"- {t}" for t in targets], f"wall time {time.time() - start:.0f} s"]) + "\n"
    print(text)
    if args.out:
        from tfqnn.fileio import write_text_atomic

        write_text_atomic(args.out, text, overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
