"""Streaming decoder for ``trainer_state.json``: ``log_history`` straight into typed columns.

``json.load`` of a 1,000,000-entry state file (~160 MB) takes 1.3 s and 516 MiB, and the million
dicts it builds are what makes a parser slow and large (PERF_FINDINGS.md, section 4). This module
never holds more than one chunk of entries as Python objects:

* the top-level keys before ``"log_history"`` (``best_metric``, ``epoch``, ``global_step``...) and
  after it (``logging_steps``, ``max_steps``, ``stateful_callbacks``...) are decoded separately;
* the array is read in large binary chunks; each chunk's complete entries (flat ``{...}`` objects, as
  the Trainer writes them) are decoded in one ``orjson.loads`` call, grouped by their key tuple (train
  logs, eval logs, the end-of-training summary each have their own), and every key of a group becomes
  one float64 column;
* ``NaN``/``Infinity`` (which Python's json writes and JSON forbids) are quoted before decoding and
  converted back by numpy; a chunk orjson still rejects goes through Python's json.

An entry holding a nested object or list, or a file without the usual layout, falls back to decoding
the whole file (with a note), so the answer is the same, only slower.
"""
from __future__ import annotations

import os
import re
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from logcheck.parsing import loads_json, loads_strict

# orjson (json without it), refusing JSON nested deeper than logcheck.parsing.MAX_JSON_DEPTH:
# an old orjson segfaults on very deep nesting
_loads = loads_strict
_JSONErr: tuple[type[BaseException], ...] = (ValueError,)

CHUNK = 2 << 20
MAX_HEAD = 16 << 20  # "log_history" must start within this many bytes, else the whole-file fallback
_KEY = b'"log_history"'
_NONFINITE = re.compile(rb':(\s*)(NaN|-?Infinity)(?=\s*[,}\]])')
_WS = b" \t\r\n"


class StateFormatError(ValueError):
    """The bytes are not a JSON object with a ``log_history`` list."""


@dataclass
class EntryGroup:
    """Entries that share one key tuple, as columns. ``order`` is each entry's index in log_history."""

    keys: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # float64; NaN where not a number
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # bool, only for keys with non-numbers
    order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    raw: dict[str, list[Any]] = field(default_factory=dict)  # non-numeric values of the last entries

    def __len__(self) -> int:
        return int(self.order.shape[0])


@dataclass
class TrainerStateColumns:
    top: dict[str, Any]
    groups: list[EntryGroup]
    entries: int
    streamed: bool  # False when the whole-file fallback was used
    note: str = ""


class _GroupBuilder:
    """Columns of one entry group, filled in place.

    The columns are allocated once at the expected size (``expected``: from the file size and the
    first chunk's mix of entries) and grown by half when that was too small. Appending one small
    array per chunk and joining them at the end held every column twice at the end, and the pieces
    (~100 KB each, from the heap) were not given back to the system: 50 MB more at 1M entries.
    """

    __slots__ = ("keys", "cols", "numeric", "order", "raw", "n")

    def __init__(self, keys: tuple[str, ...], expected: int = 0):
        cap = max(1024, int(expected))
        self.keys = keys
        self.cols: dict[str, np.ndarray] = {k: np.empty(cap) for k in keys}
        self.numeric: dict[str, np.ndarray] = {}
        self.order = np.empty(cap, dtype=np.int64)
        self.raw: dict[str, list[Any]] = {}
        self.n = 0

    def extract(self, entries: list[dict[str, Any]]) -> list[tuple[str, np.ndarray, Optional[np.ndarray], list]]:
        """One float64 column per key (KeyError when an entry lacks a key of this group)."""
        n = len(entries)
        out = []
        for k in self.keys:
            get = itemgetter(k)
            try:
                if isinstance(entries[0][k], bool):  # true/false are flags, not numbers
                    raise TypeError
                arr = np.fromiter(map(get, entries), dtype=np.float64, count=n)
                out.append((k, arr, None, []))
            except (TypeError, ValueError):
                vals = list(map(get, entries))
                arr, ok = _to_floats(vals)
                out.append((k, arr, ok, [v for v, good in zip(vals[-10:], ok[-10:]) if not good]))
        return out

    def _reserve(self, m: int) -> None:
        need = self.n + m
        cap = self.order.shape[0]
        if need <= cap:
            return
        cap = max(need, cap + cap // 2)
        self.order = _grown(self.order, self.n, cap)
        for k in self.cols:
            self.cols[k] = _grown(self.cols[k], self.n, cap)
        for k in self.numeric:
            self.numeric[k] = _grown(self.numeric[k], self.n, cap)

    def commit(self, cols: list[tuple[str, np.ndarray, Optional[np.ndarray], list]], order: np.ndarray) -> None:
        m = len(order)
        self._reserve(m)
        a, b = self.n, self.n + m
        self.order[a:b] = order
        for k, arr, ok, bad in cols:
            if ok is not None and k not in self.numeric:
                flags = np.empty(self.order.shape[0], dtype=bool)
                flags[:a] = True
                self.numeric[k] = flags
            if k in self.numeric:
                self.numeric[k][a:b] = True if ok is None else ok
            if bad:
                self.raw.setdefault(k, []).extend(bad)
            self.cols[k][a:b] = arr
        self.n = b

    def add(self, entries: list[dict[str, Any]], order: np.ndarray) -> None:
        self.commit(self.extract(entries), order)

    def build(self) -> EntryGroup:
        g = EntryGroup(keys=self.keys)
        g.order = _trimmed(self.order, self.n)
        for k, arr in self.cols.items():
            g.columns[k] = _trimmed(arr, self.n)
        for k, arr in self.numeric.items():
            g.numeric[k] = _trimmed(arr, self.n)
        g.raw = self.raw
        return g


def _grown(arr: np.ndarray, n: int, cap: int) -> np.ndarray:
    out = np.empty(cap, dtype=arr.dtype)
    out[:n] = arr[:n]
    return out


def _trimmed(arr: np.ndarray, n: int) -> np.ndarray:
    """The first n values: a view when the spare room is small, else a copy (the spare is freed)."""
    return arr[:n] if n >= 0.8 * arr.shape[0] else arr[:n].copy()


_NONFINITE_STR = {"nan": float("nan"), "infinity": float("inf"), "-infinity": float("-inf"),
                  "inf": float("inf"), "-inf": float("-inf")}


def _to_floats(vals: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    out = np.full(len(vals), np.nan)
    ok = np.zeros(len(vals), dtype=bool)
    for i, v in enumerate(vals):
        if isinstance(v, bool):  # true/false are flags, not numbers (the hf_state parser skips them)
            continue
        if isinstance(v, (int, float)):
            out[i] = float(v)
            ok[i] = True
        elif isinstance(v, str):
            s = v.strip()
            try:
                out[i] = float(s)
                ok[i] = True
            except ValueError:
                f = _NONFINITE_STR.get(s.lower())
                if f is not None:
                    out[i] = f
                    ok[i] = True
    return out, ok


def _decode_batch(region: bytes) -> list[Any]:
    data = b"[" + region + b"]"
    if b"NaN" in data or b"Infinity" in data:
        # json.dumps(indent=...) writes ": NaN"; plain replaces are memchr-fast, the regex is the fallback
        quoted = data.replace(b": NaN", b': "NaN"') if b"NaN" in data else data
        if b"Infinity" in data:
            quoted = quoted.replace(b": Infinity", b': "Infinity"').replace(b": -Infinity", b': "-Infinity"')
        try:
            return _loads(quoted)
        except _JSONErr:
            pass
        quoted = _NONFINITE.sub(rb':\1"\2"', data)
        try:
            return _loads(quoted)
        except _JSONErr:
            pass
    else:
        try:
            return _loads(data)
        except _JSONErr:
            pass
    return loads_json(data)  # raises ValueError for what is really not JSON


def _loads_lenient(data: bytes) -> Any:
    return loads_json(data)


def _scan_head(head: bytes) -> Optional[tuple[dict[str, Any], int]]:
    """Top-level keys before ``"log_history"`` and the offset just after its ``[``."""
    i = head.find(_KEY)
    while i != -1:
        j = i + len(_KEY)
        while j < len(head) and head[j] in _WS:
            j += 1
        if j < len(head) and head[j:j + 1] == b":":
            j += 1
            while j < len(head) and head[j] in _WS:
                j += 1
            if head[j:j + 1] == b"[":
                before = head[:i].rstrip()
                if before.endswith(b","):
                    before = before[:-1]
                try:
                    top = _loads_lenient(before + b"}") if before.lstrip().startswith(b"{") else None
                except ValueError:
                    top = None
                if isinstance(top, dict):
                    return top, j + 1
                return None
        i = head.find(_KEY, i + 1)
    return None


class _NestedEntry(ValueError):
    pass


def read_trainer_state(path: Path | str, chunk: int = CHUNK) -> TrainerStateColumns:
    """Decode a trainer_state.json into top-level values and per-key-tuple columns of log_history."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(min(chunk, MAX_HEAD))
        found = _scan_head(head)
        if found is None:
            if head.lstrip()[:1] != b"{":
                raise StateFormatError("the top level is not a JSON object")
            return _whole_file(path, "the log_history list was not found where the Trainer writes it")
        top, start = found
        builders: dict[tuple[str, ...], _GroupBuilder] = {}
        buf = head[start:]
        n_entries = 0
        tail: Optional[bytes] = None
        eof = False
        while True:
            close = buf.find(b"]")
            last = buf.rfind(b"}", 0, close if close != -1 else len(buf))
            if close != -1:
                # The array ends here, unless an entry holds a list (then "[" comes before it).
                region = buf[:close]
                if b"[" in region or b"{" in region[last + 1:]:
                    return _whole_file(path, "a log_history entry holds a list; decoded as a whole")
                body = region.strip(_WS + b",")
                if body:
                    try:
                        n_entries = _add_entries(builders, body, n_entries, size)
                    except _NestedEntry:
                        return _whole_file(path, "a log_history entry holds an object; decoded as a whole")
                tail = buf[close + 1:] + f.read()
                break
            if last == -1 or eof:
                more = f.read(chunk)
                if not more:
                    if eof:
                        raise StateFormatError("the file ends inside log_history (truncated)")
                    eof = True
                buf += more
                continue
            body = buf[:last + 1].strip(_WS + b",")
            if body:
                if b"[" in body:
                    return _whole_file(path, "a log_history entry holds a list; decoded as a whole")
                try:
                    n_entries = _add_entries(builders, body, n_entries, size)
                except _NestedEntry:
                    return _whole_file(path, "a log_history entry holds an object; decoded as a whole")
            more = f.read(chunk)
            buf = buf[last + 1:] + more
            if not more:
                eof = True
    rest = tail.strip(_WS) if tail is not None else b""
    if rest.startswith(b","):
        try:
            after = _loads_lenient(b"{" + rest[1:])
        except ValueError:
            after = None
        if isinstance(after, dict):
            top.update(after)
    elif rest and rest != b"}":
        raise StateFormatError("unexpected content after log_history")
    groups = [b.build() for b in builders.values()]
    return TrainerStateColumns(top=top, groups=groups, entries=n_entries, streamed=True)


def _add_entries(builders: dict[tuple[str, ...], _GroupBuilder], body: bytes, base: int,
                 total_bytes: int = 0) -> int:
    """Decode one run of complete entries into the group builders; ``total_bytes`` (the file's size)
    sizes a new group's columns: its share of this run's entries, scaled to the whole file."""
    try:
        batch = _decode_batch(body)
    except ValueError as e:
        if b"{" in body[1:] and body.count(b"{") != body.count(b"}"):
            raise _NestedEntry(str(e)) from None
        raise StateFormatError(f"log_history is not valid JSON near entry {base + 1}: {e}") from None
    n = len(batch)
    parts: list[tuple[tuple[str, ...], np.ndarray, list[Any]]] = []
    try:
        lens = np.fromiter(map(len, batch), dtype=np.int64, count=n)
    except TypeError:  # an entry that is not an object
        raise StateFormatError(f"log_history holds a non-object near entry {base + 1}") from None
    # Kinds of entries differ in their number of keys (train 5, eval 6, summary 7): split by length
    # in C and take the first entry's keys as the group's; extracting a key that an entry of the
    # same length lacks raises KeyError, and only then are that length's entries sorted one by one.
    uniq = np.unique(lens)
    for length in uniq:
        if len(uniq) == 1:
            idx, sub = np.arange(n, dtype=np.int64), batch
        else:
            idx = np.flatnonzero(lens == length)
            sub = [batch[i] for i in idx.tolist()]
        if not isinstance(sub[0], dict):
            raise StateFormatError(f"log_history holds a non-object near entry {base + 1}")
        parts.append((tuple(sub[0]), idx, sub))
    for sig, idx, entries in parts:
        if any(isinstance(entries[0][k], (dict, list)) for k in sig):
            raise _NestedEntry("nested value")
        b = builders.get(sig)
        if b is None:
            b = builders[sig] = _GroupBuilder(sig, int(1.1 * len(entries) * total_bytes / max(1, len(body))))
        try:
            cols = b.extract(entries)
        except KeyError:
            by_sig: dict[tuple[str, ...], list[int]] = {}
            for j, s in enumerate(map(tuple, entries)):
                by_sig.setdefault(s, []).append(j)
            for s, js in by_sig.items():
                bb = builders.get(s)
                if bb is None:
                    bb = builders[s] = _GroupBuilder(s, int(1.1 * len(js) * total_bytes / max(1, len(body))))
                sel = [entries[j] for j in js]
                if any(isinstance(sel[0][k], (dict, list)) for k in s):
                    raise _NestedEntry("nested value") from None
                bb.commit(bb.extract(sel), idx[js] + base)
            continue
        b.commit(cols, idx + base)
    return base + n


def _whole_file(path: Path, why: str) -> TrainerStateColumns:
    data = path.read_bytes()
    obj = _loads_lenient(data)
    del data
    if not isinstance(obj, dict):
        raise StateFormatError("the top level is not a JSON object")
    hist = obj.pop("log_history", None)
    if not isinstance(hist, list):
        raise StateFormatError("no log_history list in this JSON object")
    builders: dict[tuple[str, ...], _GroupBuilder] = {}
    by_sig: dict[tuple[str, ...], list[int]] = {}
    for i, d in enumerate(hist):
        if isinstance(d, dict):
            by_sig.setdefault(tuple(d), []).append(i)
    for sig, idx in by_sig.items():
        flat = tuple(k for k in sig if not isinstance(hist[idx[0]].get(k), (dict, list)))
        b = builders[flat] = builders.get(flat) or _GroupBuilder(flat, len(idx))
        b.add([{k: hist[i].get(k) for k in flat} for i in idx], np.asarray(idx, dtype=np.int64))
    return TrainerStateColumns(top=obj, groups=[b.build() for b in builders.values()], entries=len(hist),
                               streamed=False, note=why)
