"""One benchmark report across families: every deployed model converted and measured in one run.

For each family the trained Keras models of its CPU recipe (``runs/…``, gitignored) are converted here
with the family benchmark scripts' own helpers (``benchmarks/ern.py``, ``benchmarks/rexnet.py``,
``converters.ternary`` …), plus the composed models of ``benchmarks/compose.py`` (``runs/compose/*``,
whose flatbuffers are re-measured). Every flatbuffer is then measured in this process on this machine:
file size, median latency (batch 1, 1 thread, the interpreter/flags ``converters.benchmark`` picks:
LCE/tfqnn kernels for LCE ops, XNNPACK otherwise) and top-1 on the first ``--max-eval`` test images.
Params / MACs / GBOPs / packed size are counted on the Keras model that was converted:
GBOPs = Σ MACs·w_bits·a_bits, packed = Σ kernel weights·w_bits/8 + 4 B per output channel (HAWQ-V3 §4
accounting, ``tfqnn.metrics.hawq_size``). "speed-up" is against the float TFLite of the same
architecture measured in the same run. A family whose run is missing is built untrained and its
accuracy reported as "untrained".

Writes ``report.md``, ``report.csv`` and ``pareto.png`` (top-1 vs flatbuffer size and vs latency,
Pareto fronts drawn) into ``--out-dir``::

    make bench      # = flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/report.py
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RUNS = ROOT / "runs"


@dataclass
class Deployed:
    """One flatbuffer to measure; ``group`` names the architecture whose float TFLite is the baseline."""

    family: str
    variant: str
    dataset: str
    group: str
    fb: bytes
    cost: dict[str, Any]
    trained: bool
    baseline: bool = False
    source: str = ""
    measured: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- counting
def deployed_cost(model: Any, kind: str, weight_bits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Params, MACs, GBOPs and packed bytes of ``model`` as deployed.

    ``kind``: "float" (32/32), "int8" (8/8), "own" (the layers' own quantizer bits, float where none),
    "ternary" (EC2T layers 2-bit weights, the rest 8/8); ``weight_bits`` overrides single layers' weight bits.
    """
    from tfqnn.layers.ternary_conv import _EC2TMixin
    from tfqnn.metrics import count_macs, count_params, layer_table, unwrap
    from tfqnn.metrics.counting import WEIGHTED_KINDS
    from tfqnn.metrics.hawq_size import size_bops

    rows = layer_table(model)
    bits: dict[str, tuple[int, int]] = {}
    for r in rows:
        if r.kind not in WEIGHTED_KINDS:
            continue
        if kind == "float":
            wb, ab = 32, 32
        elif kind == "own":
            wb, ab = r.kernel_bits or 32, r.input_bits or 32
        else:
            wb, ab = 8, 8
            if kind == "ternary" and isinstance(unwrap(model.get_layer(r.name.split("/")[0])), _EC2TMixin):
                wb = 2
        if weight_bits and r.name in weight_bits:
            wb = int(weight_bits[r.name])
        bits[r.name] = (wb, ab)
    c = size_bops(rows, bits)
    return {"params": count_params(model).trainable, "macs": count_macs(model), "gbops": round(c["gbops"], 4),
            "packed_bytes": int(round(c["size_weights_plus_int32_bias_MiB"] * 2**20))}


# --------------------------------------------------------------------------- data / loading
_CALIB: dict[str, np.ndarray] = {}


def calib(dataset: str = "cifar10", n: int = 200) -> np.ndarray:
    if dataset not in _CALIB:
        from tfqnn import data as tfdata

        _CALIB[dataset] = tfdata.load_arrays(dataset, "train", max_examples=n)[0].astype(np.float32)
    return _CALIB[dataset]


def _load(path: Path, fallback: Callable[[], Any]) -> tuple[Any, bool, str]:
    """``(model, trained, source)``: the run's model, or an untrained one when the run is absent."""
    from tfqnn.serialization import load_model

    if path.exists():
        return load_model(path), True, str(path.relative_to(ROOT))
    return fallback(), False, f"untrained (no {path.relative_to(ROOT)})"


# --------------------------------------------------------------------------- families
def resnet_rows() -> list[Deployed]:
    import tfqnn
    from converters.tflite import convert

    model, trained, src = _load(RUNS / "demo/model.keras", lambda: tfqnn.build_model("resnet20", num_classes=10))
    return [Deployed("ResNet (demo)", "ResNet-20 float", "cifar10", "resnet20-demo", convert(model, "float"),
                     deployed_cost(model, "float"), trained, True, src),
            Deployed("ResNet (demo)", "ResNet-20 int8 PTQ", "cifar10", "resnet20-demo",
                     convert(model, "int8", representative_data=calib()), deployed_cost(model, "int8"), trained, False, src)]


def ern_rows() -> list[Deployed]:
    import tfqnn
    from ern import convert_int8_mixed, strip_quantizers  # benchmarks/ern.py
    from converters.lce import convert_lce
    from converters.tflite import convert

    model, trained, src = _load(RUNS / "ern18_cifar10_cpu/model.keras",
                                lambda: tfqnn.build_model("ern18", num_classes=10, input_shape=(32, 32, 3)))
    twin = strip_quantizers(model)
    return [Deployed("ERN", "ERNs18 w1a2 LCE (bit planes)", "cifar10", "ern18", convert_lce(model), deployed_cost(model, "own"),
                     trained, False, src),
            Deployed("ERN", "ERNs18 float twin (no quantizers)", "cifar10", "ern18", convert(twin, "float"),
                     deployed_cost(twin, "float"), trained, True, src),
            Deployed("ERN", "ERNs18 int8 PTQ of the twin", "cifar10", "ern18", convert_int8_mixed(twin, calib()),
                     deployed_cost(twin, "int8"), trained, False, src)]


def ec2t_rows() -> list[Deployed]:
    import tfqnn
    from converters import ternary as ct
    from converters.tflite import convert
    from tfqnn.training.ec2t import initialize_ec2t

    def untrained():
        m = tfqnn.build_model("micronet", d_multiplier=0.25, w_multiplier=0.5, num_classes=10, ternary=True)
        initialize_ec2t(m, 0.45)
        return m

    model, trained, src = _load(RUNS / "micronet_cifar10_cpu/ec2t.keras", untrained)
    merged = ct.export_model(model, "merged")
    return [Deployed("EC2T", "MicroNet float (T baked in)", "cifar10", "micronet", convert(merged, "float"),
                     deployed_cost(merged, "float"), trained, True, src),
            Deployed("EC2T", "MicroNet ternary, int8 split", "cifar10", "micronet", ct.convert_int8(model, calib(), "split"),
                     deployed_cost(model, "ternary"), trained, False, src)]


def hawq_rows() -> list[Deployed]:
    import tfqnn
    from converters.tflite import convert
    from tfqnn.serialization import load_model

    model, trained, src = _load(RUNS / "hawq_resnet20_cifar10_cpu/model.keras",
                                lambda: tfqnn.build_model("hawq_resnet20", num_classes=10, bit_config="fp"))
    rows = [Deployed("HAWQ-V3", "ResNet-20 (1x1 proj.) float", "cifar10", "hawq_resnet20", convert(model, "float"),
                     deployed_cost(model, "float"), trained, True, src)]
    for scheme in ("uniform8", "mixed", "uniform4"):
        path = RUNS / "hawq_resnet20_cifar10_cpu_qat" / f"{scheme}.h5"
        if path.exists():
            qat = load_model(path)
            rows.append(Deployed("HAWQ-V3", f"ResNet-20 {scheme} QAT", "cifar10", "hawq_resnet20",
                                 convert(qat, "int8", representative_data=calib()), deployed_cost(qat, "own"), True, False,
                                 str(path.relative_to(ROOT))))
    return rows


def rexnet_rows() -> list[Deployed]:
    import tfqnn
    from rexnet import _rexnet_int8  # benchmarks/rexnet.py: TF-MOT QAT + calibrated ranges → int8
    from converters.tflite import convert

    model, trained, src = _load(RUNS / "rexnet_cifar10_cpu/model.keras",
                                lambda: tfqnn.build_model("rexnet", width_mult=0.5, num_classes=10, input_shape=(32, 32, 3),
                                                          small_input=True, normalization="cifar10"))
    return [Deployed("ReXNet", "ReXNet 0.5 float", "cifar10", "rexnet0.5", convert(model, "float"),
                     deployed_cost(model, "float"), trained, True, src),
            Deployed("ReXNet", "ReXNet 0.5 int8 (TF-MOT)", "cifar10", "rexnet0.5", _rexnet_int8(model, calib()[:64]),
                     deployed_cost(model, "int8"), trained, False, src)]


def epsresnet_rows() -> list[Deployed]:
    import tfqnn
    from tfqnn.keras import keras
    from tfqnn.compress import remove_discarded_blocks
    from tfqnn.compress.epsresnet import freeze_gates  # deploy form: constant gates (spec §h.1), as benchmarks/epsresnet.py
    from converters.tflite import convert

    model, trained, src = _load(RUNS / "epsresnet_cifar_cpu/model.keras",
                                lambda: tfqnn.build_model("epsresnet_cifar_20", side_supervision=False))
    frozen = freeze_gates(model)
    gated = keras.Model(frozen.input, frozen.outputs[0], name="gated_full") if len(frozen.outputs) > 1 else frozen
    plain, report = remove_discarded_blocks(model)
    n = report["blocks_removed"]
    return [Deployed("ε-ResNet", "ε-ResNet-20 gated float (frozen gates)", "cifar10", "epsresnet20", convert(gated, "float"),
                     deployed_cost(gated, "float"), trained, True, src),
            Deployed("ε-ResNet", f"ε-ResNet-20 compressed ({n} blocks removed) float", "cifar10", "epsresnet20",
                     convert(plain, "float"), deployed_cost(plain, "float"), trained, False, src),
            Deployed("ε-ResNet", f"ε-ResNet-20 compressed ({n} blocks removed) int8", "cifar10", "epsresnet20",
                     convert(plain, "int8", representative_data=calib()), deployed_cost(plain, "int8"), trained, False, src)]


def compose_rows() -> list[Deployed]:
    import json

    rows = []
    for meta_path in sorted((RUNS / "compose").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        folder = meta_path.parent
        src = str(folder.relative_to(ROOT))
        rows.append(Deployed("composed", f"{meta['name']}: float TFLite", meta["dataset"], meta["name"],
                             (folder / "float.tflite").read_bytes(), meta["cost_float"], True, True, src))
        rows.append(Deployed("composed", meta["variant"], meta["dataset"], meta["name"], (folder / "model.tflite").read_bytes(),
                             meta["cost"], True, False, src))
    if not rows:
        raise FileNotFoundError("no runs/compose/*/meta.json: run benchmarks/compose.py first")
    return rows


FAMILIES: dict[str, Callable[[], list[Deployed]]] = {
    "resnet": resnet_rows, "ern": ern_rows, "ec2t": ec2t_rows, "hawq": hawq_rows, "rexnet": rexnet_rows,
    "epsresnet": epsresnet_rows, "compose": compose_rows,
}


# --------------------------------------------------------------------------- measuring and writing
def measure(rows: list[Deployed], runs: int, max_eval: int) -> None:
    from converters.benchmark import benchmark

    for i, d in enumerate(rows, start=1):
        print(f"[{i}/{len(rows)}] measuring {d.family}: {d.variant}", flush=True)
        res = benchmark(d.fb, threads=(1,), runs=runs, warmup=5, data=d.dataset, max_examples=max_eval, progress=False)
        d.measured = {"size": res.size_bytes, "median_ms": res.latency[0].median_ms, "p90_ms": res.latency[0].p90_ms,
                      "top1": res.accuracy["top1"], "runtime": res.runtime,
                      "flags": "+".join(sorted(k for k, v in res.flags.items() if v is True or (k == "kernels" and v)))}
    base = {d.group: d.measured["median_ms"] for d in rows if d.baseline}
    for d in rows:
        d.measured["speedup"] = base[d.group] / d.measured["median_ms"] if d.group in base else float("nan")


COLUMNS = ("family", "variant", "dataset", "top1", "params", "MACs (M)", "GBOPs", "packed (bytes)", "flatbuffer (bytes)",
           "median ms (1 thread)", "speed-up vs float", "runtime / flags", "source")


def _cells(d: Deployed) -> list[str]:
    m, c = d.measured, d.cost
    top1 = f"{m['top1']:.4f}" if d.trained else f"untrained ({m['top1']:.4f})"
    return [d.family, d.variant, d.dataset, top1, f"{c['params']:,}", f"{c['macs'] / 1e6:.1f}", f"{c['gbops']:.3f}",
            f"{c['packed_bytes']:,}", f"{m['size']:,}", f"{m['median_ms']:.3f}", f"{m['speedup']:.2f}x",
            f"{m['runtime']} ({m['flags']})", d.source]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower x, higher y) by any other, sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot(rows: list[Deployed], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [d for d in rows if d.trained]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    families = sorted({d.family for d in trained})
    colors = {f: plt.cm.tab10(i % 10) for i, f in enumerate(families)}
    for ax, key, label in ((axes[0], "size", "flatbuffer size (bytes, log)"), (axes[1], "median_ms", "median latency, batch 1, 1 thread (ms, log)")):
        pts = [(d.measured[key], d.measured["top1"]) for d in trained]
        for d, (x, y) in zip(trained, pts):
            ax.scatter(x, y, color=colors[d.family], marker="o" if not d.baseline else "s", s=36,
                       label=d.family)
            ax.annotate(d.variant[:28], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(pts)
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("CIFAR-10 test top-1 (flatbuffer)")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
    fig.suptitle("Deployed models on this machine (squares: float TFLite baselines)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    from tfqnn.fileio import write_bytes_atomic

    write_bytes_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30, help="timed runs per flatbuffer (reduced; family scripts use 50-200)")
    p.add_argument("--max-eval", type=int, default=1000, help="test images for each flatbuffer's top-1")
    p.add_argument("--only", nargs="*", choices=sorted(FAMILIES), help="families to include (default: all)")
    p.add_argument("--out-dir", default=str(HERE / "results"))
    a = p.parse_args(argv)

    from tfqnn.fileio import write_text_atomic

    t0 = time.time()
    rows: list[Deployed] = []
    skipped: list[str] = []
    for name in a.only or FAMILIES:
        print(f"== converting {name}", flush=True)
        try:
            rows += FAMILIES[name]()
        except Exception as exc:  # one family's failure must not lose the others' rows; it is reported
            skipped.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            traceback.print_exc()
    measure(rows, a.runs, a.max_eval)
    out = Path(a.out_dir)
    command = " ".join(["python", "benchmarks/report.py", *(argv if argv is not None else sys.argv[1:])])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for d in rows:
        writer.writerow([d.family, d.variant, d.dataset, f"{d.measured['top1']:.4f}" if d.trained else "untrained",
                         d.cost["params"], d.cost["macs"], d.cost["gbops"], d.cost["packed_bytes"], d.measured["size"],
                         f"{d.measured['median_ms']:.4f}", f"{d.measured['speedup']:.3f}",
                         f"{d.measured['runtime']} ({d.measured['flags']})", d.source])
    write_text_atomic(out / "report.csv", buf.getvalue())
    plot(rows, out / "pareto.png")
    lines = [f"command: {command}   (`make bench`)",
             f"top-1 on the first {a.max_eval} test images, run through each flatbuffer; latency: batch 1, 1 thread, "
             f"{a.runs} timed runs after 5 warm-up runs, median; all rows measured in this one run "
             f"({time.time() - t0:.0f} s wall, machine shared with other jobs)", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(d)) + " |" for d in rows]
    if skipped:
        lines += ["", "skipped (error while converting):", *[f"- {s}" for s in skipped]]
    lines += ["", "![accuracy vs size and latency](pareto.png)"]
    write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
