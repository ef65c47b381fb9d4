"""Built-in format detection: the registered parser whose ``sniff`` is most confident.

Runs last (``trylast``), so a third-party ``logcheck_detect_format`` that
returns a name wins over it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from logcheck import Parser, hookimpl


@hookimpl(trylast=True)
def logcheck_detect_format(path: Path, head: bytes, parsers: dict[str, Parser]) -> Optional[str]:
    is_dir = path.is_dir()
    best, best_score = None, 0.0
    for name, parser in parsers.items():
        if is_dir != bool(getattr(parser, "reads_directories", False)):
            continue
        try:
            score = float(parser.sniff(path, head))
        except Exception:  # a parser's sniff must not break detection of others
            continue
        if score > best_score:
            best, best_score = name, score
    return best
