"""EC2T / MicroNet compound-scaling grid on real CIFAR-10, sized for a 2-core CPU.

Runs :func:`tfqnn.compress.compound_scaling_grid` one grid point at a time (progress + seconds per
point), around a shrunken ResNet-44 base (``--base-d`` / ``--base-w``), and records accuracy vs
parameters as ``benchmarks/results/ec2t_compound_grid.{csv,png,txt}`` (the txt holds the command).

    flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/ec2t_compound_grid.py
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# depth-only, width-only and balanced points of roughly equal cost d·w² ≈ 2, plus the base
DEFAULT_PAIRS = "1.0:1.0,2.0:1.0,1.0:1.4,1.4:1.2"


def _pairs(text: str) -> list[tuple[float, float]]:
    try:
        pairs = [tuple(float(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected d:w pairs like 1.0:1.0,1.4:1.2, got '{text}'") from None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"expected d:w pairs like 1.0:1.0,1.4:1.2, got '{text}'")
    return pairs  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=_pairs, default=_pairs(DEFAULT_PAIRS), help=f"d:w grid points ({DEFAULT_PAIRS})")
    p.add_argument("--phi", type=float, default=1.0)
    p.add_argument("--base-d", type=float, default=0.25, help="base depth multiplier (0.25: 2 blocks/stage)")
    p.add_argument("--base-w", type=float, default=0.5, help="base width multiplier (0.5: widths 8/16/32)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-examples", type=int, default=8000)
    p.add_argument("--eval-examples", type=int, default=2000)
    p.add_argument("--out", type=Path, default=RESULTS / "ec2t_compound_grid")
    args = p.parse_args(argv)

    from tfqnn.errors import TfqnnError
    from tfqnn.fileio import write_bytes_atomic, write_text_atomic
    import tfqnn.compress
    from tfqnn.compress.compound_scaling import format_grid

    command = "flock /tmp/tfqnn-heavy.lock .venv/bin/python benchmarks/ec2t_compound_grid.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows, seconds = [], []
    try:
        for i, (d, w) in enumerate(args.pairs, 1):
            print(f"[{i}/{len(args.pairs)}] d={d} w={w} phi={args.phi} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            (row,) = tfqnn.compress.compound_scaling_grid(
                pairs=[(d, w)], phi=args.phi, base_d_multiplier=args.base_d, base_w_multiplier=args.base_w,
                data="cifar10", epochs=args.epochs, max_train_examples=args.train_examples,
                max_eval_examples=args.eval_examples)
            seconds.append(time.perf_counter() - t0)
            rows.append(row)
            print(f"    {row.params:,} params, top-1 {row.accuracy:.4f}, {seconds[-1]:.0f} s", file=sys.stderr, flush=True)
    except TfqnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    buf = io.StringIO()
    fields = ["d", "w", "phi", "depth_multiplier", "width_multiplier", "blocks_per_stage", "widths", "params", "flops_factor", "top1", "seconds"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r, s in zip(rows, seconds):
        writer.writerow({"d": r.d, "w": r.w, "phi": r.phi, "depth_multiplier": round(args.base_d * r.d**r.phi, 6),
                         "width_multiplier": round(args.base_w * r.w**r.phi, 6), "blocks_per_stage": r.blocks_per_stage,
                         "widths": "/".join(map(str, r.widths)), "params": r.params, "flops_factor": round(r.flops_factor, 4),
                         "top1": f"{r.accuracy:.4f}", "seconds": f"{s:.0f}"})
    write_text_atomic(args.out.with_suffix(".csv"), buf.getvalue(), overwrite=True)

    setting = (f"CIFAR-10 (packed JPEG copy), first {args.train_examples} training images, {args.epochs} epochs "
               f"(SGD-Nesterov lr 0.1 cosine, L2 5e-4, batch 128, augmentation), top-1 on the first {args.eval_examples} test images; "
               f"base = ResNet-44 x (depth {args.base_d}, width {args.base_w}), phi = {args.phi}")
    text = "\n".join([f"command: {command}", setting, "", format_grid(rows), "",
                      "seconds per point: " + ", ".join(f"{s:.0f}" for s in seconds), ""])
    write_text_atomic(args.out.with_suffix(".txt"), text, overwrite=True)
    print(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r.params, r.accuracy)
        ax.annotate(f"d={r.d} w={r.w}\n{r.blocks_per_stage} blk, {'/'.join(map(str, r.widths))}", (r.params, r.accuracy),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"top-1 (first {args.eval_examples} CIFAR-10 test images)")
    ax.set_title(f"MicroNet compound-scaling grid, {args.epochs} epochs x {args.train_examples} images", fontsize=9)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, dpi=110)
    write_bytes_atomic(args.out.with_suffix(".png"), png.getvalue(), overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
