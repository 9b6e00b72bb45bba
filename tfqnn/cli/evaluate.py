"""``tfqnn-eval MODEL --data NAME``: top-1 / top-5 accuracy of a saved Keras model."""
from __future__ import annotations

import json
from typing import Sequence

from tfqnn.cli.common import ArgumentParser, run_cli


def _main(argv: Sequence[str] | None) -> int:
    parser = ArgumentParser(prog="tfqnn-eval", description="Evaluate a saved model on a dataset split.")
    parser.add_argument("model", help=".keras file, .h5 file or SavedModel folder")
    parser.add_argument("--data", required=True, help="dataset name (tfds name, e.g. cifar10)")
    parser.add_argument("--split", help="split (default: the dataset's test split)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--data-dir", help="tfds data_dir or folder of packed data")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--tta", choices=("tencrop",), help="test-time augmentation (tencrop: ERN's ten crops)")
    parser.add_argument("--tta-resize", type=int, help="squash-resize size before ten-crop (default: input·308/288)")
    args = parser.parse_args(argv)

    from tfqnn import data as tfdata
    from tfqnn.evaluation import evaluate_model
    from tfqnn.serialization import load_model

    tfdata.info(args.data)  # fail on an unknown dataset before loading the model
    model = load_model(args.model)
    acc = evaluate_model(model, args.data, args.split, batch_size=args.batch_size,
                         max_examples=args.max_examples, data_dir=args.data_dir,
                         **({"tta": args.tta, "tta_resize": args.tta_resize} if args.tta else {}))
    if args.json:
        print(json.dumps({"model": args.model, "data": args.data, **acc.to_dict()}))
    else:
        top5 = f"  top-5 {acc.top5:.4f}" if acc.top5 is not None else ""
        print(f"{args.model} on {args.data}: top-1 {acc.top1:.4f}{top5}  ({acc.examples} images)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
