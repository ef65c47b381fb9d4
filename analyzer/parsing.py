"""What parsers are made of: the Parser and OutputFormat types, and the shared
line-level tools every parser uses (streaming reader, ANSI/rank clean-up,
tolerant numbers, Python-dict lines).

Logs are read in binary mode and split on ``\\n`` only: text mode also splits at
every ``\\r`` of a progress bar and is ~6x slower (PERF_FINDINGS.md). A line
longer than :data:`MAX_LINE_BYTES` is handed out in pieces with the same line
number, so a 100 MB line never sits in memory whole.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Optional

try:  # orjson is a core dependency; json keeps the parser working without it
    import orjson as _orjson

    _fast_loads = _orjson.loads
    _JSONError: tuple[type[BaseException], ...] = (_orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    _orjson = None
    _fast_loads = json.loads
    _JSONError = (ValueError,)

if TYPE_CHECKING:  # pragma: no cover
    from .records import Run
    from .report import Report
    from .settings import Settings

HEAD_BYTES = 256 * 1024
MAX_LINE_BYTES = 1 << 20  # 1 MiB: longer lines come in pieces
MAX_DICT_CHARS = 200_000  # a metrics dict longer than this is not parsed
# JSON nested deeper than this is refused before decoding: orjson before 3.10 has no nesting limit and
# overflows the C stack on ~50,000 nested objects (a segfault, not an exception); Python's json raises
# RecursionError. No log or state file nests more than a few levels.
MAX_JSON_DEPTH = 512


# ---------------------------------------------------------------------------
# Plugin-facing types
# ---------------------------------------------------------------------------


@dataclass
class ParseContext:
    """What a parser gets besides the path."""

    settings: "Optional[Settings]" = None
    # Parsers that read a directory can hand files to other parsers through this.
    parse_file: "Optional[Callable[[Path], list[Run]]]" = None
    options: dict[str, Any] = field(default_factory=dict)


def load_speedups() -> Any:
    """``logcheck._speedups``, the optional C scanner of the console parsers, or None: when it was
    not built (no C compiler at install time) or ``LOGCHECK_NO_SPEEDUPS`` asks for the pure-Python
    paths (they give the same runs; the tests compare both)."""
    if os.environ.get("LOGCHECK_NO_SPEEDUPS"):
        return None
    try:
        from logcheck import _speedups
    except ImportError:
        return None
    return _speedups


class Parser:
    """Base class for parsers. Subclass it, set the attributes, implement two methods.

    ``sniff`` gets the first 256 KiB of a file (``b""`` for a directory) and
    returns a confidence from 0 (not mine) to 1 (certainly mine). ``parse``
    streams the file and returns one Run (or several, when the file holds
    several runs one after another). Raise :class:`~logcheck.ParseError` for a
    file that turns out not to be readable; never let another exception out.
    """

    name: str = ""
    format: str = "raw"
    framework: Optional[str] = None
    description: str = ""
    reads_directories: bool = False
    #: the highest score ``sniff`` can return; below 1, detection calls ``sniff`` only when no
    #: other parser is already more confident (a generic parser with a costly sniff says 0.35)
    max_score: float = 1.0

    def sniff(self, path: Path, head: bytes) -> float:  # pragma: no cover - interface
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":  # pragma: no cover
        raise NotImplementedError


class OutputFormat:
    """Base class for output formats (``--format NAME``)."""

    name: str = ""
    description: str = ""

    def render(self, report: "Report", settings: "Settings") -> str:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def iter_lines(path: Path | str, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, bytes)`` for each ``\\n``-terminated line, 1-based.

    The ``\\n`` (and a ``\\r`` before it) is removed. A line longer than
    ``max_line`` is yielded in pieces that share its line number. The file is
    read in binary mode; decoding is the caller's choice (see :func:`clean`).
    """
    with open(path, "rb") as f:
        yield from iter_lines_of(f, max_line)


def iter_lines_of(f: Any, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    n = 0
    readline = f.readline
    continuing = False
    while True:
        chunk = readline(max_line)
        if not chunk:
            return
        if chunk[-1:] == b"\n":
            if not continuing:
                n += 1
            continuing = False
            end = -2 if chunk[-2:-1] == b"\r" else -1
            yield n, chunk[:end]
        else:
            if not continuing:
                n += 1
            continuing = True
            yield n, chunk


def iter_line_blocks(f: Any, size: int = 1 << 20,
                     max_line: int = MAX_LINE_BYTES) -> Generator[tuple[int, bytes, bool], Optional[int], None]:
    """A binary file in blocks of whole lines: the lines and numbers of :func:`iter_lines_of`, with a
    Python step per block instead of per line (what a parser's hot loop needs).

    A consumer that has counted the lines of a whole block (it split them) may send the count back
    (``blocks.send(k)`` instead of ``next``): the block is then not scanned again for newlines
    (~0.8 ms a MiB). Anything sent after a piece is ignored.

    Yields ``(n, data, whole)``. ``whole``: ``data`` is complete ``\\n``-terminated lines, the first of
    them line ``n + 1`` (split it on ``\\n`` and drop the empty last item). Otherwise ``data`` is one
    non-empty piece of line ``n``, as ``iter_lines_of`` gives it: a line longer than a block, in
    ``max_line`` pieces, or the last line when it has no newline. A block never splits a line: the
    file is positioned back to the start of a line cut by the read. Blocks are at most ``max_line``
    bytes, so a line in a whole block never needs cutting into pieces.
    """
    n = 0
    size = min(size, max_line)
    read = f.read
    while True:
        buf = read(size)
        if not buf:
            return
        cut = buf.rfind(b"\n")
        if cut < 0:
            n += 1
            if len(buf) < size:  # the last line, without a newline
                for k in range(0, len(buf), max_line):
                    yield n, buf[k:k + max_line], False
                return
            f.seek(-len(buf), 1)  # a line longer than a block: in pieces
            for _k, piece in iter_lines_of(_OneLine(f), max_line):
                if piece:
                    yield n, piece, False
            continue
        if cut + 1 < len(buf):
            f.seek(cut + 1 - len(buf), 1)
            buf = buf[: cut + 1]
        k = yield n, buf, True
        n += buf.count(b"\n") if k is None else k


class LineBlocks:
    """:func:`iter_line_blocks` for a consumer that counts the lines of each whole block itself (it
    splits or scans them anyway): iterate it, and set ``counted`` to that count before the next
    block, so that the block is not scanned again for newlines."""

    def __init__(self, f: Any, size: int = 1 << 20, max_line: int = MAX_LINE_BYTES):
        self._blocks = iter_line_blocks(f, size, max_line)
        self.counted: Optional[int] = None

    def __iter__(self) -> "LineBlocks":
        return self

    def __next__(self) -> tuple[int, bytes, bool]:
        k, self.counted = self.counted, None
        return self._blocks.send(k)


class _OneLine:
    """``readline`` over a file that stops after the first ``\\n``: one long line in pieces."""

    def __init__(self, f: Any):
        self.f = f
        self.done = False

    def readline(self, size: int) -> bytes:
        if self.done:
            return b""
        chunk = self.f.readline(size)
        if chunk[-1:] == b"\n" or not chunk:
            self.done = True
        return chunk


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# [rank0]: ...   [rank: 0] ...   [default0]: ...   0: ...  (srun -l)   (TaskRunner pid=1) ...
_RANK_RE = re.compile(
    r"^(?:\[(?:rank|default|RANK)\s*:?\s*(\d+)\]\s*:?\s?"
    r"|(\d{1,4}):\s(?=\S)"
    r"|\((?:[A-Za-z_][\w.]*\s+)?pid=\d+(?:,\s*ip=[\d.]+)?\)\s?)"
)


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text) if "\x1b" in text else text


def clean(raw: bytes) -> str:
    """Decode (UTF-8, invalid bytes replaced), drop ANSI codes and NULs."""
    text = raw.decode("utf-8", "replace")
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def split_rank(text: str) -> tuple[Optional[int], str]:
    """Remove a leading rank prefix: ``[rank1]: x`` -> ``(1, "x")``."""
    m = _RANK_RE.match(text)
    if not m:
        return None, text
    r = m.group(1) or m.group(2)
    return (int(r) if r is not None else None), text[m.end():]


def last_frame(text: str) -> str:
    """What a terminal would show of a line with ``\\r`` redraws: the last non-blank frame."""
    if "\r" not in text:
        return text
    for part in reversed(text.split("\r")):
        if part.strip():
            return part
    return ""


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

_NONFINITE = {
    "nan": math.nan, "-nan": math.nan, "+nan": math.nan,
    "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
}


def parse_number(text: Any) -> Optional[float]:
    """A float from a logged value, or None.

    Accepts ints, floats, ``"3.412"`` (transformers 5 prints strings), ``nan``,
    ``NaN``, ``inf``, ``Infinity``, ``1.0E+00``, ``tensor(2.31)``, ``12.5%``.
    """
    if isinstance(text, bool):
        return float(text)
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    s = text.strip().strip("'\"")
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    low = s.lower()
    if low in _NONFINITE:
        return _NONFINITE[low]
    if low.startswith("tensor(") and low.endswith(")"):
        inner = s[7:-1].split(",")[0]
        return parse_number(inner)
    if s.endswith("%"):
        try:
            return float(s[:-1])
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------------------
# Python-dict lines ({'loss': 2.1, 'learning_rate': 5e-05, 'epoch': 0.1})
# ---------------------------------------------------------------------------

_KV_IN_DICT = re.compile(
    r"""['"]([^'"]{1,200})['"]\s*:\s*('[^']*'|"[^"]*"|[^,}]+)"""
)
_BAREWORD = re.compile(r"(?<=[:\[,\s])(nan|inf|-inf|NaN|Infinity|-Infinity)(?=\s*[,}\]])")


def parse_pydict(text: str) -> Optional[dict[str, Any]]:
    """Parse a ``str(dict)`` of metrics, as Trainer prints it. Never evaluates code.

    Fast path: swap quotes and decode as JSON. Lines with ``nan``/``inf`` (not
    JSON, not literals) and other odd lines take a ``'key': value`` scan.
    Returns None when ``text`` is not such a dict.
    """
    if len(text) > MAX_DICT_CHARS:
        return None
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    if '"' not in text:
        swapped = text.replace("'", '"')
        try:
            obj = loads_strict(swapped)
            if isinstance(obj, dict):
                return obj
        except _JSONError:
            pass
        if "nan" in swapped or "inf" in swapped or "NaN" in swapped or "Infinity" in swapped:
            try:
                obj = _py_loads(_BAREWORD.sub(lambda m: _JSON_NONFINITE[m.group(1)], swapped))
                if isinstance(obj, dict):
                    return obj
            except ValueError:
                pass
    out: dict[str, Any] = {}
    for m in _KV_IN_DICT.finditer(text):
        key, raw = m.group(1), m.group(2).strip()
        if raw[:1] in "'\"":
            out[key] = raw[1:-1]
            continue
        num = parse_number(raw)
        out[key] = num if num is not None else raw
    return out or None


_JSON_NONFINITE = {"nan": "NaN", "NaN": "NaN", "inf": "Infinity", "Infinity": "Infinity",
                   "-inf": "-Infinity", "-Infinity": "-Infinity"}


_NON_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_TO_SQUARE = bytes.maketrans(b"{}", b"[]")


def json_depth_ok(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets of ``data`` nest at most ``limit`` deep.

    Brackets inside strings count too, so False may be a false alarm on odd strings; True is
    always right. Short or bracket-poor data (every log line) costs a ``len`` or two ``count``;
    big data one ``bytes.translate`` (~2 GB/s) and a numpy pass over its brackets.
    """
    if len(data) <= limit:
        return True
    if isinstance(data, str):
        if data.count("{") + data.count("[") <= limit:
            return True
        data = data.encode("utf-8", "surrogatepass")
    elif len(data) < 1 << 16 and data.count(b"{") + data.count(b"[") <= limit:
        return True  # (on big data the counts cost as much as the exact pass below)
    import numpy as np

    opens = np.frombuffer(bytes(data).translate(_TO_SQUARE, _NON_BRACKETS), dtype=np.uint8) == ord("[")
    depth = np.cumsum(opens.astype(np.int8) * 2 - 1, dtype=np.int64)
    return not len(depth) or int(depth.max()) <= limit


def _too_deep(data: bytes | str) -> bool:
    # inline length test first: a log line (shorter than the limit) pays no call on this hot path
    return len(data) > MAX_JSON_DEPTH and not json_depth_ok(data)


_TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


def loads_strict(data: bytes | str) -> Any:
    """Strict JSON (orjson when installed): raises ValueError on anything else, NaN included, and on
    JSON nested deeper than :data:`MAX_JSON_DEPTH`."""
    if _too_deep(data):
        raise ValueError(_TOO_DEEP)
    return _fast_loads(data)


def _py_loads(data: bytes | str) -> Any:
    """Python's json (it reads NaN/Infinity), with the same depth limit."""
    if _too_deep(data):
        raise ValueError(_TOO_DEEP)
    return json.loads(data)


def loads_json(data: bytes | str) -> Any:
    """JSON that also accepts ``NaN``/``Infinity`` (Python's json writes them); ValueError for
    anything else, JSON nested deeper than :data:`MAX_JSON_DEPTH` included."""
    try:
        return loads_strict(data)
    except _JSONError:
        return _py_loads(data)
