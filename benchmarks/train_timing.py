"""Wall-time estimate of a ``tfqnn-train`` config from a bounded number of real steps.

Builds the config's model, datasets, optimizer and loss with the trainer's own functions
(``tfqnn.training.trainer``), runs ``--warmup`` + ``--steps`` training steps of ``model.fit`` on the
real data, one validation pass (or ``--eval-batches`` batches of it, extrapolated), and
extrapolates to the configured epochs (how the ≤ 45-minute CPU configs of ERN and ReXNet are checked):

    total ≈ setup (decode + build) + tracing + epochs · (steps/epoch · s/step + validation pass)

The tracing cost (the warm-up steps and the first validation batch) is counted once.

    flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/train_timing.py \\
        configs/rexnet/rexnet_tinyimagenet_cpu.yaml --steps 30 --out benchmarks/results/rexnet_tinyimagenet_cpu_timing.txt
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfqnn.keras import keras  # noqa: E402
from tfqnn import data as tfdata  # noqa: E402
from tfqnn.config import load_config  # noqa: E402
from tfqnn.metrics import count_macs, count_params  # noqa: E402
from tfqnn.registry import build_model  # noqa: E402
from tfqnn.training import trainer  # noqa: E402

from _report_io import emit_report  # noqa: E402  (benchmarks/_report_io.py)


class _StepClock(keras.callbacks.Callback):
    """End time of every training batch (and a one-line progress counter on stderr)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total, self.ends = total, []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())
        print(f"  step {len(self.ends)}/{self.total}", file=sys.stderr, end="\r", flush=True)


def measure(config: str, overrides: list[str], steps: int, warmup: int, eval_batches: int | None = None) -> list[str]:
    t0 = time.perf_counter()
    cfg = load_config(config, overrides)
    info = tfdata.info(cfg.data.name)
    keras.utils.set_random_seed(cfg.training.seed)
    steps_per_epoch = trainer._steps_per_epoch(cfg, info)
    train_ds, val_ds = trainer._datasets(cfg, info)
    model = build_model(cfg.model.name, **trainer.model_kwargs(cfg, info))
    trainer.compile_model(model, cfg, steps_per_epoch, info.num_classes)
    next(iter(train_ds))  # decodes the packed JPEGs (or reads the cache)
    setup = time.perf_counter() - t0

    clock = _StepClock(warmup + steps)
    t1 = time.perf_counter()
    model.fit(train_ds.repeat(), epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock])
    tracing = clock.ends[warmup - 1] - t1
    per_step = (clock.ends[-1] - clock.ends[warmup - 1]) / steps
    print(file=sys.stderr)

    t2 = time.perf_counter()
    model.evaluate(val_ds.take(1), verbose=0)  # traces the test step
    val_tracing = time.perf_counter() - t2
    n_val = tfdata.split_size(cfg.data.name, cfg.data.eval_split or info.test_split, data_dir=cfg.data.data_dir)
    n_val = min(n_val, cfg.data.max_eval_examples or n_val)
    val_batches = -(-n_val // cfg.data.eval_batch_size)
    timed = min(eval_batches or val_batches, val_batches)
    t3 = time.perf_counter()
    val = model.evaluate(val_ds.take(timed), verbose=0, return_dict=True)
    val_pass = (time.perf_counter() - t3) * val_batches / timed

    epochs = cfg.training.epochs
    per_epoch = steps_per_epoch * per_step + val_pass
    total = setup + tracing + val_tracing + epochs * per_epoch
    load = os.getloadavg()
    return [
        f"config: {config} {' '.join(overrides)}".rstrip(),
        f"model: {cfg.model.name} {cfg.model.options}, input {trainer.model_kwargs(cfg, info)['input_shape']}, "
        f"{count_params(model).trainable:,} trainable params, {count_macs(model):,} MACs per image",
        f"data: {cfg.data.name} train {steps_per_epoch} steps/epoch x batch {cfg.data.batch_size} "
        f"(augment={cfg.data.augment}), validation {n_val} images",
        f"machine: {os.cpu_count()} cores, SHARED with other developers' jobs; load average at the end "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)",
        "",
        "| measured | seconds |",
        "|---|---|",
        f"| setup (data decode/cache + build + compile) | {setup:.1f} |",
        f"| first {warmup} training steps (incl. tracing) | {tracing:.1f} |",
        f"| training step, mean of the next {steps} | {per_step:.3f} |",
        f"| validation tracing (first batch) | {val_tracing:.1f} |",
        f"| validation pass ({n_val} images, batch {cfg.data.eval_batch_size}; "
        f"{'timed in full' if timed == val_batches else f'{timed} of {val_batches} batches timed, extrapolated'}) "
        f"| {val_pass:.1f} |",
        "",
        f"extrapolated epoch: {steps_per_epoch} x {per_step:.3f} + {val_pass:.1f} = {per_epoch:.0f} s",
        f"extrapolated run ({epochs} epochs): {setup:.0f} + {tracing + val_tracing:.0f} + {epochs} x {per_epoch:.0f} "
        f"= {total:.0f} s = {total / 60:.1f} min",
        f"(validation after {warmup + steps} steps, not a result: top-1 {val.get('accuracy', float('nan')):.4f})",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="key.sub=value, as for tfqnn-train")
    p.add_argument("--steps", type=int, default=20, help="timed training steps after the warm-up")
    p.add_argument("--warmup", type=int, default=3, help="first steps (tracing), timed separately")
    p.add_argument("--eval-batches", type=int, default=None, help="time only this many validation batches "
                   "and extrapolate (default: the full pass)")
    p.add_argument("--out", help="write the report here")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        p.error("--steps and --warmup must be >= 1")
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"command: python benchmarks/train_timing.py {argv_text}",
             *measure(args.config, args.overrides, args.steps, args.warmup, args.eval_batches)]
    emit_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
