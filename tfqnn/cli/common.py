"""Shared CLI plumbing: one-line errors and exit code 2 on bad input."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from tfqnn.errors import TfqnnError

EXIT_BAD_INPUT = 2


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` parser whose usage errors are one line ``error: ...`` and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; a :class:`TfqnnError` becomes ``error: <message>`` on stderr and 2."""
    try:
        rc = main(argv)
        return 0 if rc is None else int(rc)
    except TfqnnError as exc:
        msg = " ".join(str(exc).split())  # force a single line
        sys.stderr.write(f"error: {msg}\n")
        return EXIT_BAD_INPUT
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
