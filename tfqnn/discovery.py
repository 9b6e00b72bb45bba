"""Import every module of a package, so that decorators in family modules register themselves.

Families add files (``models/ern.py``, ``layers/gate.py``, ...) and nothing else: the registry and
``tfqnn.custom_objects()`` find them here.
"""
from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str) -> None:
    """Import ``package_name`` and all its modules, recursively (private ``_x`` modules skipped)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=package_name + "."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(info.name)
