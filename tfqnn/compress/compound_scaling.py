"""Compound-scaling grid search of the MicroNet entry (Tan & Le 2019 eq. 3; [MC] ``main_grid_search.py``).

For each grid point (d, w) the MicroNet is built with depth multiplier ``d**φ`` and width
multiplier ``w**φ`` (spec ``ec2t.md`` §2.1), trained briefly and evaluated; the result is a table of
accuracy vs parameters (and the FLOPs factor ``d·w²`` the EfficientNet constraint ``d·w² ≈ 2`` refers
to). The reference trains each point for 200–250 epochs on CIFAR-100; ``epochs`` /
``max_train_examples`` size the search for a CPU.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

from tfqnn.keras import keras
import tensorflow as tf  # noqa: F401

from tfqnn.errors import ConfigError


@dataclass(frozen=True)
class GridPoint:
    d: float
    w: float
    phi: float
    blocks_per_stage: int
    widths: tuple[int, ...]
    params: int
    flops_factor: float
    accuracy: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def train_and_evaluate(model: keras.Model, *, data: str = "cifar10", epochs: int = 1, batch_size: int = 128,
                       max_train_examples: int | None = 2000, max_eval_examples: int | None = 1000,
                       learning_rate: float = 0.1, seed: int = 363636) -> float:
    """Short FP training (SGD-Nesterov, cosine, coupled L2 5e-4 as the reference) → top-1 on the test split."""
    from tfqnn import data as tfdata
    from tfqnn.training.optimizers import add_l2_weight_decay
    from tfqnn.training.schedules import EpochSchedule

    info = tfdata.info(data)
    train = tfdata.load(data, info.train_split, batch_size=batch_size, augment=True, shuffle=True, seed=seed,
                        max_examples=max_train_examples, drop_remainder=True)
    val = tfdata.load(data, info.test_split, batch_size=500, max_examples=max_eval_examples)
    steps = max(1, int(train.cardinality().numpy()))
    add_l2_weight_decay(model, 5e-4)
    opt = keras.optimizers.SGD(EpochSchedule("cosine", learning_rate, steps, epochs), momentum=0.9, nesterov=True)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(train, epochs=epochs, verbose=0)
    return float(model.evaluate(val, verbose=0)[1])


def compound_scaling_grid(
    d_values: Sequence[float] = (1.0, 1.2, 1.4),
    w_values: Sequence[float] = (1.0, 1.1, 1.2),
    phi: float = 1.0,
    *,
    pairs: Iterable[tuple[float, float]] | None = None,
    max_params: int | None = None,
    base_d_multiplier: float = 1.0,
    base_w_multiplier: float = 1.0,
    num_classes: int = 10,
    data: str | None = "cifar10",
    evaluate: Callable[[keras.Model], float] | None = None,
    **train_options,
) -> list[GridPoint]:
    """Grid over (d, w) (or explicit ``pairs``): build, (train + evaluate), report accuracy vs params.

    ``base_d_multiplier`` / ``base_w_multiplier`` shrink the ResNet-44 base before scaling (depth
    multiplier ``base_d·d**φ``, width ``base_w·w**φ``) so that a grid fits a CPU budget.
    ``max_params`` skips larger models (not trained, accuracy None). ``evaluate(model) -> accuracy``
    replaces the default :func:`train_and_evaluate` (``train_options`` are passed to it); with
    ``data=None`` and no ``evaluate`` only the architecture is reported.
    """
    from tfqnn.models.micronet import build_micronet, micronet_plan

    grid = list(pairs) if pairs is not None else list(itertools.product(d_values, w_values))
    if base_d_multiplier <= 0 or base_w_multiplier <= 0:
        raise ConfigError(f"compound_scaling_grid: base multipliers must be > 0, got ({base_d_multiplier}, {base_w_multiplier})")
    if not grid:
        raise ConfigError("compound_scaling_grid: empty (d, w) grid")
    rows = []
    for d, w in grid:
        if d <= 0 or w <= 0:
            raise ConfigError(f"compound_scaling_grid: d and w must be > 0, got ({d}, {w})")
        dm, wm = base_d_multiplier * d**phi, base_w_multiplier * w**phi
        blocks, widths = micronet_plan(d_multiplier=dm, w_multiplier=wm)
        model = build_micronet(num_classes=num_classes, d_multiplier=dm, w_multiplier=wm)
        params = sum(int(v.shape.num_elements()) for v in model.trainable_weights)
        acc = None
        if max_params is None or params <= max_params:
            if evaluate is not None:
                acc = float(evaluate(model))
            elif data is not None:
                acc = train_and_evaluate(model, data=data, **train_options)
        rows.append(GridPoint(d, w, phi, blocks, tuple(widths), params, (d * w * w) ** phi, acc))
        keras.backend.clear_session()
    return rows


def format_grid(rows: Sequence[GridPoint]) -> str:
    """Plain-text table: d, w, φ, blocks, widths, params, d·w², accuracy."""
    lines = [f"{'d':>5}{'w':>5}{'phi':>5}{'blocks':>8}{'widths':>14}{'params':>12}{'d*w^2':>8}{'top1':>8}"]
    for r in rows:
        acc = "-" if r.accuracy is None else f"{r.accuracy:.4f}"
        lines.append(f"{r.d:>5}{r.w:>5}{r.phi:>5}{r.blocks_per_stage:>8}{'/'.join(map(str, r.widths)):>14}{r.params:>12,}{r.flops_factor:>8.3f}{acc:>8}")
    return "\n".join(lines)
