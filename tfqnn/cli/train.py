"""``tfqnn-train CONFIG.yaml [key.sub=value ...]``: train an experiment with ``model.fit``."""
from __future__ import annotations

from typing import Sequence

from tfqnn.cli.common import ArgumentParser, run_cli


def _main(argv: Sequence[str] | None) -> int:
    parser = ArgumentParser(prog="tfqnn-train", description="Train a tfqnn experiment from a YAML config.")
    parser.add_argument("config", help="experiment YAML file (configs/<family>/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. training.epochs=3 model.options.base_width=8")
    parser.add_argument("--run-dir", help="output folder (default: training.run_dir of the config)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run dir")
    args = parser.parse_args(argv)

    from tfqnn.config import load_config

    overrides = list(args.overrides) + (["training.resume=true"] if args.resume else [])
    cfg = load_config(args.config, overrides)

    from tfqnn.training.trainer import train

    result = train(cfg, run_dir=args.run_dir)
    last = {k: v[-1] for k, v in result.history.items() if v}
    summary = " ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch")
    print(f"saved {result.run_dir / 'model.keras'}  ({summary})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
