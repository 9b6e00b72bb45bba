"""HAWQ-V3 two-phase recipe (Yao et al., ICML 2021 §4; spec ``hawq.md`` §7): train the float model,
then quantization-aware fine-tuning per bit configuration, starting each time from the float weights
(BN folded with its running statistics = fix-BN; activation ranges by EMA). A mixed scheme comes from
:func:`tfqnn.compress.bit_allocation.allocate_bits` (Hutchinson traces on real training images + ILP).

``python -m tfqnn.training.hawq_recipe FLOAT.yaml [--qat QAT.yaml] [--schemes uniform8 mixed uniform4]``
writes ``<out>.csv`` (scheme, accuracy, size, BOPS, bits) and ``<out>.png`` (accuracy against size).
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any, Sequence

from tfqnn.keras import keras

from tfqnn import data as tfdata  # noqa: E402
from tfqnn.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_dict, load_config  # noqa: E402
from tfqnn.metrics.hawq_size import quantized_size_bops  # noqa: E402
from tfqnn.registry import build_model  # noqa: E402
from tfqnn.training.trainer import _datasets, _steps_per_epoch, compile_model, model_kwargs, train  # noqa: E402

FIELDS = ("scheme", "top1", "size_weights_only_MiB", "gbops", "train_seconds", "bit_config")


def _evaluate(model: keras.Model, val_ds: Any) -> float:
    metric = keras.metrics.SparseCategoricalAccuracy()
    for x, y in val_ds:
        metric.update_state(y, model(x, training=False))
    return float(metric.result())


def mixed_config(float_model: keras.Model, cfg: ExperimentConfig, ratio: float = 0.5, kind: str = "bops") -> dict[str, int]:
    """Bit config from Hutchinson traces on 2 real training batches + the ILP (``ratio`` of ``kind``)."""
    from tfqnn.compress.bit_allocation import allocate_bits

    ds = tfdata.load(cfg.data.name, "train", batch_size=64, augment=False, shuffle=True, seed=1, max_examples=128)
    alloc = allocate_bits(float_model, ds, ratio=ratio, kind=kind, n_samples=4, max_batches=2)
    return alloc.hawq_bit_config()


def run(float_yaml: str, qat_yaml: str, schemes: Sequence[str], out: Path, mixed: Sequence[str] = ("bops", "0.5")) -> list[dict]:
    """Float phase, then QAT for every scheme; returns and writes the result rows."""
    from tfqnn.models.hawq import transfer_float_weights

    fcfg = load_config(float_yaml)
    t0 = time.time()
    float_model = train(fcfg).model
    info = tfdata.info(fcfg.data.name)
    _, fval = _datasets(fcfg, info)
    rows = [{"scheme": "fp", "top1": _evaluate(float_model, fval), **_costs(float_model), "train_seconds": round(time.time() - t0, 1),
             "bit_config": ""}]
    print(f"fp: {rows[-1]}", flush=True)
    for scheme in schemes:
        t1 = time.time()
        bit_config: Any = mixed_config(float_model, fcfg, float(mixed[1]), mixed[0]) if scheme == "mixed" else scheme
        raw = config_to_dict(load_config(qat_yaml))
        raw["model"]["options"]["bit_config"] = bit_config
        qcfg = config_from_dict(apply_overrides(raw, [f"name=hawq_resnet20_qat_{scheme}"]), source=qat_yaml)
        model = build_model(qcfg.model.name, **model_kwargs(qcfg, info))
        transfer_float_weights(float_model, model)
        steps = _steps_per_epoch(qcfg, info)
        train_ds, val_ds = _datasets(qcfg, info)
        compile_model(model, qcfg, steps, info.num_classes)
        model.fit(train_ds, epochs=qcfg.training.epochs, steps_per_epoch=steps, verbose=qcfg.training.verbose)
        models_dir = Path(qcfg.training.run_dir.format(name="hawq_resnet20_cifar10_cpu_qat"))
        models_dir.mkdir(parents=True, exist_ok=True)
        model.save(str(models_dir / f"{scheme}.h5"))  # QAT models: .h5 / SavedModel, not .keras (stack.md §4.3)
        rows.append({"scheme": scheme, "top1": _evaluate(model, val_ds), **_costs(model), "train_seconds": round(time.time() - t1, 1),
                     "bit_config": json.dumps(bit_config) if isinstance(bit_config, dict) else bit_config})
        print(f"{scheme}: {rows[-1]}", flush=True)
    write(rows, out)
    return rows


def _costs(model: keras.Model) -> dict[str, float]:
    c = quantized_size_bops(model)
    return {"size_weights_only_MiB": round(c["size_weights_only_MiB"], 5), "gbops": round(c["gbops"], 4)}


def write(rows: Sequence[dict], out: Path) -> None:
    """``out.csv`` and ``out.png`` (accuracy against size, one point per scheme, BOPS annotated)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
        ax.scatter(r["size_weights_only_MiB"], 100 * r["top1"])
        ax.annotate(f"{r['scheme']} ({r['gbops']:.2f} GBOPs)", (r["size_weights_only_MiB"], 100 * r["top1"]), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks([r["size_weights_only_MiB"] for r in rows])
    ax.set_xlabel("weight size (MiB, log)")
    ax.set_ylabel("CIFAR-10 top-1 (%)")
    ax.set_title("HAWQ-V3 ResNet-20: accuracy vs size")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("float_config")
    p.add_argument("--qat", default=None, help="QAT config (default: <float_config>_qat.yaml)")
    p.add_argument("--schemes", nargs="+", default=["uniform8", "mixed", "uniform4"])
    p.add_argument("--out", default="benchmarks/results/hawq_resnet20_cifar10_cpu")
    a = p.parse_args(argv)
    qat = a.qat or a.float_config.replace(".yaml", "_qat.yaml")
    run(a.float_config, qat, a.schemes, Path(a.out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; :class:`tfqnn.errors.TfqnnError` → ``error: ...`` and exit code 2."""
    from tfqnn.cli.common import run_cli

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
