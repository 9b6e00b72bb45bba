"""``tfqnn-score MODEL``: MicroNet-challenge table (params, sparsity, scoring params, ops, score)."""
from __future__ import annotations

import json
from typing import Sequence

from tfqnn.cli.common import ArgumentParser, run_cli


def _main(argv: Sequence[str] | None) -> int:
    parser = ArgumentParser(prog="tfqnn-score", description="MicroNet-challenge score of a saved model (EC2T authors' accounting or the rules).")
    parser.add_argument("model", help=".keras file, .h5 file or SavedModel folder")
    parser.add_argument("--mode", choices=("reference", "rules"), default="reference",
                        help="reference: the EC2T scoring script exactly (quirks included); rules: the challenge rules as written")
    parser.add_argument("--task", choices=("cifar100", "imagenet"), help="baseline (default: from the architecture)")
    parser.add_argument("--add-bits", type=int, choices=(16, 32), default=16, help="accumulator width (reference mode; rules: 32)")
    parser.add_argument("--num-bits", type=int, choices=(16, 32), default=16, help="parameter bits (16 = --halfprecision)")
    parser.add_argument("--mul-bits", type=int, choices=(8, 16, 32), default=16)
    parser.add_argument("--image-size", type=int, help="input size used for counting (default: the model's)")
    parser.add_argument("--prune-threshold", type=float, help="EfficientNet: depthwise magnitude prune t·max|w| before counting")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)

    from tfqnn.metrics.micronet_score import micronet_score
    from tfqnn.serialization import load_model

    model = load_model(args.model)
    report = micronet_score(model, args.mode, task=args.task, add_bits=args.add_bits, num_bits=args.num_bits, mul_bits=args.mul_bits,
                            image_size=args.image_size, prune_threshold=args.prune_threshold)
    if args.json:
        print(json.dumps({"model": args.model, "mode": report.mode, "task": report.task, "parts": {k: p.as_dict() for k, p in report.parts.items()},
                          "total_params": report.total_params, "total_scoring_params": report.total_scoring_params,
                          "total_mflop": report.total_mflop, "sparsity": report.sparsity, "score": report.score}))
    else:
        print(report.table())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
