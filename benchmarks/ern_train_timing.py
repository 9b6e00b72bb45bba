"""Estimate the wall time of a ``tfqnn-train`` config from a bounded number of real steps.

Builds the config's model and datasets with the trainer's own functions, runs ``--steps`` training
steps of ``model.fit`` on the real data (the first ``--warmup`` steps, which include tracing, are
timed separately), evaluates ``--eval-batches`` validation batches, and extrapolates to the
configured epochs:

    total ≈ one-time (data decode + build + tracing) + epochs · (steps/epoch · s/step + val batches · s/batch)

    python benchmarks/ern_train_timing.py configs/ern/ern18_tinyimagenet_cpu.yaml --steps 30 --eval-batches 8

The machine may be shared with other jobs, so the per-step times are pessimistic upper bounds.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfqnn.keras import keras  # noqa: E402
from tfqnn import data as tfdata  # noqa: E402
from tfqnn.config import load_config  # noqa: E402
from tfqnn.registry import build_model  # noqa: E402
from tfqnn.training import trainer  # noqa: E402


class _StepClock(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.ends.append(time.perf_counter())
        print(f"  step {len(self.ends)}", file=sys.stderr, end="\r", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="key.sub=value, as for tfqnn-train")
    p.add_argument("--steps", type=int, default=30, help="training steps to time (after the warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="first steps (tracing) timed separately")
    p.add_argument("--eval-batches", type=int, default=8)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    cfg = load_config(args.config, args.overrides)
    info = tfdata.info(cfg.data.name)
    keras.utils.set_random_seed(cfg.training.seed)
    steps_per_epoch = trainer._steps_per_epoch(cfg, info)
    train_ds, val_ds = trainer._datasets(cfg, info)
    model = build_model(cfg.model.name, **trainer.model_kwargs(cfg, info))
    trainer.compile_model(model, cfg, steps_per_epoch, info.num_classes)
    iterator = iter(train_ds.repeat())
    next(iterator)  # first element: packed data decoded (or read from the cache)
    t_setup = time.perf_counter() - t0

    clock = _StepClock()
    n = args.warmup + args.steps
    t1 = time.perf_counter()
    model.fit(train_ds.repeat(), epochs=1, steps_per_epoch=n, verbose=0, callbacks=[clock])
    warm = clock.ends[args.warmup - 1] - t1 if args.warmup else 0.0
    per_step = (clock.ends[-1] - clock.ends[args.warmup - 1 if args.warmup else 0]) / max(1, args.steps - (0 if args.warmup else 1))

    model.evaluate(val_ds.take(1), verbose=0)  # tracing
    t2 = time.perf_counter()
    model.evaluate(val_ds.take(args.eval_batches), verbose=0)
    per_val_batch = (time.perf_counter() - t2) / args.eval_batches
    n_val = tfdata.split_size(cfg.data.name, cfg.data.eval_split or info.test_split, data_dir=cfg.data.data_dir)
    if cfg.data.max_eval_examples:
        n_val = min(n_val, cfg.data.max_eval_examples)
    val_batches = math.ceil(n_val / cfg.data.eval_batch_size)

    epochs = cfg.training.epochs
    per_epoch = steps_per_epoch * per_step + val_batches * per_val_batch
    total = t_setup + warm + epochs * per_epoch
    print(f"config: {args.config} {' '.join(args.overrides)}")
    print(f"model: {cfg.model.name} {cfg.model.options}; batch {cfg.data.batch_size}; "
          f"{steps_per_epoch} steps/epoch; {epochs} epochs; {val_batches} validation batches of {cfg.data.eval_batch_size}")
    print(f"setup (config, data decode or cache read, model build): {t_setup:.1f} s")
    print(f"first {args.warmup} steps (incl. tracing): {warm:.1f} s")
    print(f"training: {per_step:.3f} s/step (mean of {args.steps} steps)")
    print(f"validation: {per_val_batch:.3f} s/batch (mean of {args.eval_batches} batches)")
    print(f"per epoch: {steps_per_epoch} x {per_step:.3f} + {val_batches} x {per_val_batch:.3f} = {per_epoch / 60:.1f} min")
    print(f"estimated total: {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
