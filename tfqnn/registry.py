"""Model registry: name → (builder, default options).

Builders are pure functions ``build_x(num_classes=..., input_shape=..., **options) -> keras.Model``
registered with :func:`register_model`. Unknown names raise :class:`UnknownModelError` naming the
closest registered names; unknown options raise :class:`ConfigError` listing the allowed ones.
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from tfqnn.discovery import import_submodules
from tfqnn.errors import ConfigError, UnknownModelError

# Every module of these packages is imported before the registry is read (tfqnn.discovery).
_BUILDER_PACKAGES = ("tfqnn.models",)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    family: str = ""
    description: str = ""

    def allowed_options(self) -> list[str]:
        params = inspect.signature(self.builder).parameters
        return sorted(p for p, v in params.items() if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD))


_REGISTRY: dict[str, ModelEntry] = {}
_loaded = False


def register_model(name: str, *, family: str = "", description: str = "", **defaults: Any) -> Callable:
    """Decorator: register ``builder`` under ``name`` with default options ``defaults``."""

    def wrap(builder: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, builder, dict(defaults), family, description or (builder.__doc__ or "").strip().split("\n")[0])
        return builder

    return wrap


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for package in _BUILDER_PACKAGES:
            import_submodules(package)
        _loaded = True


def list_models(family: str | None = None) -> list[str]:
    """Sorted registered model names (optionally of one family)."""
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (tfqnn.list_models() lists all {len(_REGISTRY)})")
    return _REGISTRY[name]


def _check_input_shape(name: str, shape: Any) -> None:
    """``input_shape`` must be (height, width, channels): positive ints (or None for a free size)."""
    ok = isinstance(shape, (list, tuple)) and len(shape) == 3 and all(
        s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0) for s in shape)
    if not ok:
        raise ConfigError(f"model {name!r}: input_shape must be (height, width, channels) of positive integers, "
                          f"got {shape!r}")


def build_model(name: str, **options: Any):
    """Build the registered model ``name``; ``options`` override its defaults.

    ``quantization=`` is accepted for every model: builders without their own option get the shared
    mechanism :func:`tfqnn.quantizers.apply.apply_quantization` applied to the built float model.
    """
    entry = get_entry(name)
    allowed = entry.allowed_options()
    if "quantization" in options and "quantization" not in allowed:
        from tfqnn.quantizers.apply import apply_quantization

        options = dict(options)
        quantization = options.pop("quantization")
        return apply_quantization(build_model(name, **options), quantization)
    accepts_kwargs = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(entry.builder).parameters.values())
    if not accepts_kwargs:
        for key in options:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown option {key!r} for model {name!r}{hint}; allowed: {', '.join(allowed)}")
    if "input_shape" in options:
        _check_input_shape(name, options["input_shape"])
    kwargs = {**entry.defaults, **options}
    try:
        return entry.builder(**kwargs)
    except TypeError as exc:  # wrong value types surface here
        raise ConfigError(f"model {name!r}: {exc}") from None
