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
    """The most confident parser; of equals, the first registered. Parsers that cannot be more
    confident than ``max_score`` are asked last, and only when they could still win."""
    is_dir = path.is_dir()
    best, best_score, best_at = None, 0.0, -1
    later = []
    for at, (name, parser) in enumerate(parsers.items()):
        if is_dir != bool(getattr(parser, "reads_directories", False)):
            continue
        cap = _max_score(parser)
        if cap < 1.0:
            later.append((at, name, parser, cap))
            continue
        score = _sniff(parser, path, head)
        if score > best_score:
            best, best_score, best_at = name, score, at
    for at, name, parser, cap in later:
        if cap < best_score or (cap == best_score and at > best_at):
            continue  # it cannot win: skip its sniff
        score = _sniff(parser, path, head)
        if score > best_score or (score == best_score and score > 0 and at < best_at):
            best, best_score, best_at = name, score, at
    return best


def _max_score(parser: Parser) -> float:
    try:
        return float(getattr(parser, "max_score", 1.0))
    except (TypeError, ValueError):
        return 1.0


def _sniff(parser: Parser, path: Path, head: bytes) -> float:
    try:
        return float(parser.sniff(path, head))
    except Exception:  # a parser's sniff must not break detection of others
        return 0.0
