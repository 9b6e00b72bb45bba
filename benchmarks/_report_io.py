"""The end of every benchmark script: print the text report and, given ``--out``, write it atomically."""
from __future__ import annotations

import os
from typing import Iterable


def emit_report(lines: Iterable[str], out: str | os.PathLike | None) -> str:
    """Join ``lines`` (one newline at the end), print the report and write it to ``out`` (atomically) if given."""
    from tfqnn.fileio import write_text_atomic  # after the calling script has put the repo on sys.path

    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        write_text_atomic(out, report)
    return report
