"""EC2T experiment recipe (``configs/ec2t/*.yaml``): FP pre-training, then an EC2T (s, λ_div) sweep.

Mirrors [MC] ``main_grid_search.py`` (FP) and ``main_trained_quantization.py`` (EC2T grid over
``ini_c_divrs`` × ``lambda_max_divrs``; spec ``ec2t.md`` §1.7, §4). Each grid point starts from the
same pre-trained FP weights, runs ``ec2t.epochs`` phase-1 epochs + ``ec2t.retrain_epochs`` frozen
epochs with :class:`~tfqnn.training.ec2t.EC2TAdam` / :class:`~tfqnn.training.ec2t.EC2TCallback`,
and records accuracy, sparsity and the MicroNet score (reference mode, FP16 and FP32 adds) as a CSV row.
Sections ``fp`` / ``ec2t`` may be ``null`` (skip), e.g. to describe only the published FP command.
"""
from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

from tfqnn.config import _build  # the strict dataclass loader (unknown keys are errors)
from tfqnn.errors import ConfigError


@dataclass
class RecipeData:
    name: str = "cifar10"
    batch_size: int = 128
    eval_batch_size: int = 512
    augment: bool = True
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    data_dir: str | None = None


@dataclass
class FPStage:
    epochs: int = 250
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"


@dataclass
class EC2TStage:
    epochs: int = 20
    retrain_epochs: int = 20
    ini_c_divrs: list[float] = field(default_factory=lambda: [0.45])
    lambda_max_divrs: list[float] = field(default_factory=lambda: [0.15])
    learning_rate: float = 1e-4
    centroid_learning_rate: float = 1e-5
    weight_decay: float = 5e-6
    decay: str = "mc"
    do_prune: bool = False


@dataclass
class Recipe:
    name: str = "ec2t"
    description: str = ""
    model: dict[str, Any] = field(default_factory=lambda: {"name": "micronet", "options": {}})
    data: RecipeData = field(default_factory=RecipeData)
    fp: FPStage | None = field(default_factory=FPStage)
    ec2t: EC2TStage | None = field(default_factory=EC2TStage)
    seed: int = 363636
    run_dir: str = "runs/{name}"
    reference_command: str = ""


def load_recipe(path: str | Path) -> Recipe:
    """Read an EC2T recipe YAML; unknown keys raise :class:`ConfigError` naming the key and file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"EC2T recipe {p} does not exist")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: an EC2T recipe must be a mapping")
    fp, ec = raw.pop("fp", {}), raw.pop("ec2t", {})
    recipe = _build(Recipe, raw, "", str(p))
    recipe.fp = None if fp is None else _build(FPStage, fp, "fp", str(p))
    recipe.ec2t = None if ec is None else _build(EC2TStage, ec, "ec2t", str(p))
    if set(recipe.model) - {"name", "options"} or "name" not in recipe.model:
        raise ConfigError(f"{p}: model must have 'name' and optional 'options'")
    return recipe


def _datasets(recipe: Recipe):
    from tfqnn import data as tfdata

    d = recipe.data
    info = tfdata.info(d.name)
    train = tfdata.load(d.name, info.train_split, batch_size=d.batch_size, augment=d.augment, shuffle=True, seed=recipe.seed,
                        max_examples=d.max_train_examples, drop_remainder=True, data_dir=d.data_dir)
    val = tfdata.load(d.name, info.test_split, batch_size=d.eval_batch_size, shuffle=False, max_examples=d.max_eval_examples,
                      data_dir=d.data_dir)
    return info, train, val


def build_recipe_model(recipe: Recipe, info) -> keras.Model:
    from tfqnn.registry import build_model

    options = dict(recipe.model.get("options") or {})
    options.setdefault("num_classes", info.num_classes)
    options.setdefault("ternary", True)
    if recipe.model["name"] == "micronet":
        options.setdefault("normalization", (list(info.mean), list(info.std)))
    return build_model(recipe.model["name"], **options)


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def pretrain(recipe: Recipe, model: keras.Model, train, val) -> dict[str, list[float]]:
    """FP stage: SGD (Nesterov) + coupled L2 + cosine over ``fp.epochs`` (EC2T layers inactive = FP)."""
    from tfqnn.training.optimizers import add_l2_weight_decay
    from tfqnn.training.schedules import EpochSchedule

    fp = recipe.fp
    steps = int(train.cardinality().numpy())
    sched = EpochSchedule(fp.schedule, fp.learning_rate, steps, fp.epochs)
    add_l2_weight_decay(model, fp.weight_decay)
    model.compile(optimizer=keras.optimizers.SGD(sched, momentum=fp.momentum, nesterov=fp.nesterov), loss=_loss(), metrics=["accuracy"])
    return model.fit(train, epochs=fp.epochs, validation_data=val, verbose=2).history


def ec2t_point(recipe: Recipe, fp_weights: list, info, train, val, s: float, lam: float) -> dict[str, Any]:
    """One EC2T grid point from the FP weights; returns the CSV row."""
    from tfqnn.metrics.micronet_score import micronet_score
    from tfqnn.training.ec2t import EC2TAdam, EC2TCallback, ec2t_sparsity

    e = recipe.ec2t
    keras.utils.set_random_seed(recipe.seed)
    model = build_recipe_model(recipe, info)
    model.set_weights(fp_weights)
    if e.do_prune:  # step 2: already-ternarized layers are frozen, only the prune layers are quantized
        from tfqnn.layers.ternary_conv import ec2t_layers

        for layer in ec2t_layers(model):
            if not layer.prune:
                layer.trainable = False
    model.compile(optimizer=EC2TAdam(e.learning_rate, e.centroid_learning_rate, e.weight_decay), loss=_loss(), metrics=["accuracy"])
    cb = EC2TCallback(s, lam, quant_epochs=e.epochs, decay=e.decay)
    start = time.time()
    hist = model.fit(train, epochs=e.epochs + e.retrain_epochs, validation_data=val, callbacks=[cb], verbose=2).history
    _, acc = model.evaluate(val, verbose=0)
    r16 = micronet_score(model, "reference", add_bits=16)
    r32 = micronet_score(model, "reference", add_bits=32)
    return {
        "ini_c_divr": s, "lambda_max_divr": lam, "top1": round(float(acc), 4),
        "ternary_sparsity": round(ec2t_sparsity(model), 4), "sparsity_all_params": round(r16.sparsity, 4),
        "scoring_params": r16.total_scoring_params, "mflop_add16": round(r16.total_mflop, 4), "mflop_add32": round(r32.total_mflop, 4),
        "score_add16": round(r16.score, 6), "score_add32": round(r32.score, 6), "best_val_epoch_acc": round(max(hist.get("val_accuracy", [0])), 4),
        "seconds": round(time.time() - start, 1),
    }, model


def run(recipe: Recipe, out_dir: str | Path | None = None) -> Path:
    """Run the recipe; writes ``fp_history.csv``, ``ec2t_sweep.csv``, ``fp.keras`` and the best ``ec2t.keras``."""
    if recipe.fp is None and recipe.ec2t is None:
        raise ConfigError(f"recipe {recipe.name!r}: nothing to run (fp and ec2t are both null)")
    out = Path(out_dir or recipe.run_dir.format(name=recipe.name))
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(recipe.seed)
    info, train, val = _datasets(recipe)
    model = build_recipe_model(recipe, info)
    rows: list[dict[str, Any]] = []
    if recipe.fp is not None:
        t0 = time.time()
        hist = pretrain(recipe, model, train, val)
        _, fp_acc = model.evaluate(val, verbose=0)
        rows.append({"ini_c_divr": "", "lambda_max_divr": "fp", "top1": round(float(fp_acc), 4), "ternary_sparsity": 0.0,
                     "seconds": round(time.time() - t0, 1)})
        _write_csv(out / "fp_history.csv", [dict(zip(hist, vals)) for vals in zip(*hist.values())])
        model.save(out / "fp.keras")
    fp_weights = model.get_weights()
    best = None
    if recipe.ec2t is not None:
        for s in recipe.ec2t.ini_c_divrs:
            for lam in recipe.ec2t.lambda_max_divrs:
                row, m = ec2t_point(recipe, fp_weights, info, train, val, s, lam)
                rows.append(row)
                _write_csv(out / "ec2t_sweep.csv", rows)
                if best is None or row["top1"] > best[0]:
                    best = (row["top1"], m)
                    m.save(out / "ec2t.keras")
    _write_csv(out / "ec2t_sweep.csv", rows)
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def recipe_dict(recipe: Recipe) -> dict[str, Any]:
    return dataclasses.asdict(recipe)


def main(argv: list[str] | None = None) -> int:
    """``python -m tfqnn.training.ec2t_recipe CONFIG [--out DIR] [key=value ...]`` (dotted overrides)."""
    from tfqnn.cli.common import ArgumentParser, run_cli

    def _main(args_in):
        parser = ArgumentParser(prog="python -m tfqnn.training.ec2t_recipe", description="Run an EC2T recipe (FP pre-training + EC2T sweep).")
        parser.add_argument("config")
        parser.add_argument("--out")
        args = parser.parse_args(args_in)
        print(run(load_recipe(args.config), args.out))
        return 0

    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
