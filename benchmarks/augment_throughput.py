"""Images per second of the ``tfqnn.data.load`` training pipeline for each ``data.augment`` policy.

    python benchmarks/augment_throughput.py --data tiny_imagenet --images 2048

Runs the real pipeline (packed data, shuffle, augmentation, batching; tf.data's own parallelism) and times
``--images`` images after one warm-up batch. On a shared machine the numbers are lower bounds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfqnn.keras import keras  # noqa: E402,F401
from tfqnn import data  # noqa: E402

POLICIES = {
    "none": False,
    "pad_crop_flip": True,
    "simple": "simple",
    "randaugment_only": "randaugment_only",
    "imagenet_with_randaugment": "imagenet_with_randaugment",
    "randaugment + random_resized_crop + random_erasing 0.2":
        {"policy": "randaugment", "random_resized_crop": True, "random_erasing": 0.2},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="tiny_imagenet")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    info = data.info(args.data)
    print(f"command: python benchmarks/augment_throughput.py --data {args.data} --images {args.images} "
          f"--batch-size {args.batch_size}")
    print(f"| policy ({args.data}, {info.image_shape[0]}x{info.image_shape[1]}) | images/s |")
    print("|---|---|")
    for label, policy in POLICIES.items():
        ds = data.load(args.data, info.train_split, batch_size=args.batch_size, augment=policy, seed=0,
                       max_examples=args.images + args.batch_size)
        it = iter(ds)
        next(it)  # warm-up: tracing, first shuffle buffer
        start, count = time.perf_counter(), 0
        for images, _ in it:
            count += int(images.shape[0])
        rate = count / (time.perf_counter() - start)
        print(f"| {label} | {rate:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
