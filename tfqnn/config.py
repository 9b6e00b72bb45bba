"""Typed experiment configs loaded from YAML.

An experiment file has four sections — ``model``, ``data``, ``training``, ``conversion`` — each
a dataclass below. Unknown or misspelt keys are errors naming the key, the file and the allowed
keys; a wrong type names the field. Command-line overrides use dotted keys
(``training.epochs=3``, ``model.options.base_width=8``); values are parsed as YAML scalars.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import yaml

from tfqnn.augment_policy import AugmentConfig
from tfqnn.errors import ConfigError

_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-3, 2.5E+4


@dataclass
class ModelConfig:
    name: str = "resnet20"
    options: dict[str, Any] = field(default_factory=dict)  # builder keyword arguments


@dataclass
class DataConfig:
    name: str = "cifar10"
    train_split: str | None = None  # default: the dataset's train split
    eval_split: str | None = None  # default: the dataset's test split
    batch_size: int = 128
    eval_batch_size: int = 256
    augment: bool | AugmentConfig = True  # true / false / policy name / mapping (tfqnn.augment_policy)
    data_dir: str | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    cache: bool = True
    image_size: list[int] | None = None


@dataclass
class OptimizerConfig:
    name: str = "sgd"  # sgd | adam | adamw
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    weight_decay_mode: str = "l2"  # l2: wd·w added to the gradient (PyTorch SGD); decoupled: AdamW-style
    clipnorm: float | None = None
    epsilon: float | None = None  # Adam/AdamW epsilon (None: the Keras default 1e-7)


@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | step | cosine
    warmup_epochs: float = 0.0
    milestones: list[float] = field(default_factory=list)  # epochs, for "step"
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class CallbackConfig:
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingConfig:
    epochs: int = 1
    steps_per_epoch: int | None = None  # None: one pass over the training split
    validation_steps: int | None = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    label_smoothing: float = 0.0
    run_dir: str = "runs/{name}"
    checkpoint: bool = True
    tensorboard: bool = True
    resume: bool = False
    distribution: str = "none"  # none | default | one_device | mirrored | multi_worker_mirrored
    seed: int = 0
    verbose: int = 1
    jit_compile: bool = False
    callbacks: list[CallbackConfig] = field(default_factory=list)


@dataclass
class ConversionConfig:
    targets: list[str] = field(default_factory=lambda: ["float"])
    int8_io: bool = False
    calibration_samples: int = 200


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)


# ----------------------------------------------------------------------------- validation

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return getattr(origin, "__name__", str(origin)) + "[" + ", ".join(_type_name(a) for a in typing.get_args(tp)) + "]"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a name or a mapping" if hasattr(tp, "from_name") else "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (nested dataclasses built)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where, source)
            except ConfigError as exc:
                if _is_section_value(arg, value):
                    raise  # the value is that section: keep the message naming the bad key
                errors.append(exc)
        raise ConfigError(f"{source}: {where} must be {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and hasattr(tp, "from_name"):
            value = tp.from_name(value)  # a section given by name (augment: simple)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where} must be a mapping, got {type(value).__name__} {value!r}")
        return build_section(tp, value, where, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where} must be a list, got {type(value).__name__} {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where} must be a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {where} must be true or false, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {where} must be int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)  # PyYAML (YAML 1.1) reads 1e-3 and 1e30, without a dot, as strings
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {where} must be float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {where} must be str, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # programming error


def _is_section_value(tp: Any, value: Any) -> bool:
    """Whether ``value`` is meant as the dataclass section ``tp`` (a mapping, or a name it accepts)."""
    return dataclasses.is_dataclass(tp) and (isinstance(value, dict) or (isinstance(value, str) and hasattr(tp, "from_name")))


def build_section(cls: type, raw: dict, where: str, source: str):
    """The dataclass ``cls`` from ``raw``; its ``check(where, source)`` runs when it has one."""
    obj = _build(cls, raw, where, source)
    check = getattr(obj, "check", None)
    if check is not None:
        check(where, source)
    return obj


def _build(cls: type, raw: dict, where: str, source: str):
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{source}: unknown key {path!r}{hint}; allowed keys{' in ' + where if where else ''}: {', '.join(allowed)}")
        kwargs[key] = _convert(value, hints[key], path, source)
    return cls(**kwargs)


# ----------------------------------------------------------------------------- overrides

def apply_overrides(raw: dict, overrides: Sequence[str], source: str = "command line") -> dict:
    """Apply ``key.sub=value`` strings to a raw config mapping (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override {item!r} must look like key.sub=value")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            value = text
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"{source}: override {item!r} has an empty key")
        node = raw
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"{source}: override {item!r}: {part!r} is not a section")
            node = nxt
        node[parts[-1]] = value
    return raw


# ----------------------------------------------------------------------------- public API

def config_from_dict(raw: dict, source: str = "<dict>", overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Validate a raw mapping (+ overrides) into an :class:`ExperimentConfig`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(raw).__name__}")
    raw = apply_overrides(dict(raw), overrides, source=f"{source} (override)") if overrides else raw
    cfg = _build(ExperimentConfig, raw, "", source)
    _check_ranges(cfg, source)
    return cfg


# Numbers that must be > 0 / >= 0 (None, where allowed, means "not set").
_POSITIVE = ("data.batch_size", "data.eval_batch_size", "training.epochs", "training.steps_per_epoch",
             "training.validation_steps", "training.optimizer.learning_rate", "conversion.calibration_samples")
_NON_NEGATIVE = ("data.max_train_examples", "data.max_eval_examples", "training.optimizer.weight_decay",
                 "training.label_smoothing", "training.schedule.warmup_epochs", "training.schedule.min_lr")


def _check_ranges(cfg: ExperimentConfig, source: str) -> None:
    for keys, positive in ((_POSITIVE, True), (_NON_NEGATIVE, False)):
        for key in keys:
            value: Any = cfg
            for part in key.split("."):
                value = getattr(value, part)
            if value is not None and (value <= 0 if positive else value < 0):
                raise ConfigError(f"{source}: {key} must be {'> 0' if positive else '>= 0'}, got {value!r}")


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load a YAML experiment file into an :class:`ExperimentConfig` (errors name the file)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}:{loc} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    cfg = config_from_dict(raw, source=str(p), overrides=overrides)
    if cfg.name == "experiment" and "name" not in (raw or {}):
        cfg.name = p.stem
    return cfg


def config_to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def dump_config(cfg: ExperimentConfig) -> str:
    """YAML text of a resolved config (what the trainer writes beside the model)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
