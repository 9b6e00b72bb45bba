"""Helpers of the CLI tests: a tiny training config and the one-line-error / nothing-written checks.

A uniquely named module (not ``conftest``) so that test files can import it unambiguously.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

TINY_RUN = """\
name: tiny
model: {name: cifar_resnet, options: {depth: 8, base_width: 4}}
data: {name: cifar10, batch_size: 16, max_train_examples: 64, max_eval_examples: 32}
training:
  epochs: 1
  tensorboard: false
  verbose: 0
  run_dir: RUN
"""


def write_config(folder: Path, replace: dict[str, str] | None = None, append: str = "") -> Path:
    """``folder/tiny.yaml``: :data:`TINY_RUN` with text replacements, running into ``folder/run``."""
    text = TINY_RUN
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    config = folder / "tiny.yaml"
    config.write_text(text.replace("RUN", str(folder / "run")) + append)
    return config


def one_error_line(capfd, rc: int, *names: str) -> str:
    """Assert exit code 2 and exactly one ``error:`` line on stderr containing every one of ``names``."""
    err = capfd.readouterr().err
    assert rc == 2, f"exit code {rc}, stderr: {err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path → content hash of everything below ``folder`` (``<dir>`` for folders)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


def refused(capfd, folder: Path, main: Callable[[list[str]], int], argv: list, *names: str) -> str:
    """Run ``main(argv)``: it must fail with one line naming ``names`` and leave ``folder`` as it was."""
    before = snapshot(folder)
    line = one_error_line(capfd, main([str(a) for a in argv]), *names)
    assert snapshot(folder) == before, "the failed command changed files"
    return line
