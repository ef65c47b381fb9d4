"""TensorBoard event files (``events.out.tfevents.*``): scalars into a Run (``tensorboard`` parser).

The file is TFRecord framing around ``Event`` protobufs, read here by a small hand-written decoder of
exactly the fields a scalar needs::

    record  = uint64 length | uint32 masked crc32c(length) | Event bytes | uint32 masked crc32c(Event)
    Event   = {wall_time=1 double, step=2 int64, file_version=3 string, summary=5 Summary, ...}
    Summary = {value=1 repeated Value}
    Value   = {tag=1 string, simple_value=2 float, metadata=9 {plugin_data=1 {plugin_name=1}},
               tensor=8 TensorProto{dtype=1, tensor_content=4, float_val=5, double_val=6, int_val=7,
                                    int64_val=10, half_val=13}}

Why not tensorboard's own reader: with TensorFlow absent it checks two CRC32C per record in pure
Python, so 1,000,000 scalars take ~50x longer than this decoder (measured numbers in
``benchmarks/bench_peers.py --tb-readers``). The CRCs are not verified (the stdlib has no CRC32C);
the framing is checked instead (every length must fit the file), and a truncated last record, as a
killed writer leaves it, ends the read with a note.

Tags are mapped to splits and metric names per writer:

* Hugging Face ``TensorBoardCallback``: ``train/loss``, ``train/learning_rate``, ``train/grad_norm``,
  ``train/epoch`` (-> the epoch column), ``eval/loss``..., end-of-run ``train/train_runtime``... (->
  the summary). The step is the Trainer's ``global_step``.
* Lightning ``TensorBoardLogger``: ``train_loss``, ``train_loss_step``, ``train_loss_epoch``,
  ``val_loss``, ``epoch`` (-> the epoch column), ``hp_metric`` (a placeholder, -> config). Lightning
  logs ``step = fit_loop.epoch_loop._batches_that_stepped``, the 0-based index of the optimizer step
  just taken, so the stored step is logged step + 1 (optimizer steps completed), the scale of the
  console bars, ``metrics.csv`` as the ``lightning_csv`` parser stores it and Hugging Face's
  ``global_step``; the run's notes say so.
* Keras ``TensorBoard`` callback: ``train/`` and ``validation/`` folders with ``epoch_loss``...
  (step = epoch).
* Anything else: ``<split>/<name>`` or ``<split>_<name>`` prefixes, else the train split.
"""
from __future__ import annotations

import math
import re
import struct
from array import array
from pathlib import Path
from typing import Any, Optional

import numpy as np

from logcheck import (Ending, ParseContext, ParseError, Parser, Run, RunBuilder, Series, Source, Split,
                      StepOrigin, hookimpl)

NAN = math.nan
CHUNK = 2 << 20  # bytes read at a time; memory stays O(chunk + columns)
MAX_RECORD = 256 << 20  # a longer length field means the file is not TFRecord (or is corrupt)

_U64 = struct.Struct("<Q").unpack_from
_F64 = struct.Struct("<d").unpack_from
_F32 = struct.Struct("<f").unpack_from
_F16 = struct.Struct("<e").unpack_from

# TensorProto dtypes that hold one number we can read
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF, _DT_BFLOAT16 = 1, 2, 3, 9, 19, 14
_SCALAR_PLUGINS = (b"", b"scalars")

_HF_SUMMARY = {
    "train_runtime": "train_runtime_s", "train_samples_per_second": "train_samples_per_second",
    "train_steps_per_second": "train_steps_per_second", "train_loss": "mean_train_loss",
    "total_flos": "total_flos",
}
_SPLIT_PREFIX = re.compile(r"^(train|training|eval|val|valid|validation|dev|test)(?:[_/\-.])(.+)$", re.I)
_SPLIT_DIRS = {"train": "train", "training": "train", "validation": "eval", "val": "eval", "eval": "eval",
               "valid": "eval", "test": "test"}
_NON_NAME = re.compile(r"[^a-z0-9/]+")
_ALIASES = {"lr": "learning_rate", "gnorm": "grad_norm", "ppl": "perplexity", "acc": "accuracy"}


# ---------------------------------------------------------------------------
# Record and Event decoding
# ---------------------------------------------------------------------------


def _varint(buf: bytes, p: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, p
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _skip_field(buf: bytes, p: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, p)[1]
    if wire == 1:
        return p + 8
    if wire == 2:
        n, p = _varint(buf, p)
        return p + n
    if wire == 5:
        return p + 4
    raise ValueError(f"unsupported wire type {wire}")


def _tensor_scalar(buf: bytes, p: int, end: int) -> tuple[Optional[float], bool]:
    """The single number of a TensorProto (a scalar or a one-element tensor) or None, and whether
    it was stored as float32 (or narrower)."""
    dtype = 0
    content: Optional[bytes] = None
    vals: list[float] = []
    narrow = True
    while p < end:
        key, p = _varint(buf, p)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            dtype, p = _varint(buf, p)
        elif field == 4 and wire == 2:
            n, p = _varint(buf, p)
            content = buf[p:p + n]
            p += n
        elif field == 5 and wire == 5:
            vals.append(_F32(buf, p)[0])
            p += 4
        elif field == 5 and wire == 2:  # packed float_val
            n, p = _varint(buf, p)
            vals.extend(struct.unpack_from(f"<{n // 4}f", buf, p))
            p += n
        elif field == 6 and wire == 1:
            vals.append(_F64(buf, p)[0])
            narrow = False
            p += 8
        elif field == 6 and wire == 2:
            n, p = _varint(buf, p)
            vals.extend(struct.unpack_from(f"<{n // 8}d", buf, p))
            narrow = False
            p += n
        elif field in (7, 10, 13) and wire == 0:  # int_val, int64_val, half_val (unpacked)
            v, p = _varint(buf, p)
            if field == 13:
                vals.append(_F16(struct.pack("<H", v & 0xFFFF))[0])
            else:
                vals.append(float(v - (1 << 64) if v >= 1 << 63 else v))
                narrow = False
        elif field in (7, 10, 13) and wire == 2:  # packed ints
            n, p = _varint(buf, p)
            q, stop = p, p + n
            while q < stop:
                v, q = _varint(buf, q)
                if field == 13:
                    vals.append(_F16(struct.pack("<H", v & 0xFFFF))[0])
                else:
                    vals.append(float(v - (1 << 64) if v >= 1 << 63 else v))
                    narrow = False
            p = stop
        else:
            p = _skip_field(buf, p, wire)
    if content is not None:
        width = {_DT_FLOAT: ("<f", 4), _DT_DOUBLE: ("<d", 8), _DT_INT32: ("<i", 4), _DT_INT64: ("<q", 8),
                 _DT_HALF: ("<e", 2)}.get(dtype)
        if dtype == _DT_BFLOAT16 and len(content) == 2:
            return struct.unpack("<f", b"\x00\x00" + content)[0], True
        if width is None or len(content) != width[1]:
            return None, True
        return float(struct.unpack(width[0], content)[0]), dtype in (_DT_FLOAT, _DT_HALF)
    if len(vals) == 1:
        return float(vals[0]), narrow
    return None, True


def _value(buf: bytes, p: int, end: int) -> tuple[Optional[bytes], Optional[float], bool]:
    """``(tag, number, stored as float32)`` of one Summary.Value; number None for images, histograms, text..."""
    tag: Optional[bytes] = None
    simple: Optional[float] = None
    tensor: Optional[tuple[int, int]] = None
    plugin = b""
    while p < end:
        key, p = _varint(buf, p)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 2:
            n, p = _varint(buf, p)
            tag = buf[p:p + n]
            p += n
        elif field == 2 and wire == 5:
            simple = _F32(buf, p)[0]
            p += 4
        elif field == 8 and wire == 2:
            n, p = _varint(buf, p)
            tensor = (p, p + n)
            p += n
        elif field == 9 and wire == 2:  # SummaryMetadata: plugin_data=1 {plugin_name=1}
            n, p = _varint(buf, p)
            plugin = _plugin_name(buf, p, p + n)
            p += n
        else:
            p = _skip_field(buf, p, wire)
    if simple is not None:
        return tag, simple, True
    if tensor is not None and plugin in _SCALAR_PLUGINS:
        val, narrow = _tensor_scalar(buf, tensor[0], tensor[1])
        return tag, val, narrow
    return tag, None, True


def _plugin_name(buf: bytes, p: int, end: int) -> bytes:
    while p < end:
        key, p = _varint(buf, p)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 2:  # plugin_data
            n, p = _varint(buf, p)
            q, stop = p, p + n
            while q < stop:
                k2, q = _varint(buf, q)
                if k2 == 0x0A:  # plugin_name
                    m, q = _varint(buf, q)
                    return buf[q:q + m]
                q = _skip_field(buf, q, k2 & 7)
            p = stop
        else:
            p = _skip_field(buf, p, wire)
    return b""


class _Sink:
    """Per-tag columns (step, value, wall time) while the file streams."""

    __slots__ = ("cols", "records", "scalars", "skipped", "file_version", "truncated", "bad", "wide")

    def __init__(self) -> None:
        self.cols: dict[bytes, tuple[array, array, array]] = {}
        self.wide: set[bytes] = set()  # tags with values stored as double or integers, not float32
        self.records = 0
        self.scalars = 0
        self.skipped = 0  # non-scalar values (images, histograms, text, hparams)
        self.file_version = ""
        self.truncated = False
        self.bad = 0

    def add(self, tag: bytes, step: float, value: float, wall: float) -> None:
        c = self.cols.get(tag)
        if c is None:
            c = self.cols[tag] = (array("d"), array("d"), array("d"))
        c[0].append(step)
        c[1].append(value)
        c[2].append(wall)


def _event_slow(buf: bytes, p: int, end: int, sink: _Sink) -> None:
    """Any Event: wall_time, step, summary values; other fields skipped."""
    wall = NAN
    step = 0
    summary: Optional[tuple[int, int]] = None
    while p < end:
        key, p = _varint(buf, p)
        wire = key & 7
        if key == 0x09:
            wall = _F64(buf, p)[0]
            p += 8
        elif key == 0x10:
            step, p = _varint(buf, p)
            if step >= 1 << 63:
                step -= 1 << 64
        elif key == 0x1A:  # file_version
            n, p = _varint(buf, p)
            sink.file_version = buf[p:p + n].decode("utf-8", "replace")
            p += n
        elif key == 0x2A:
            n, p = _varint(buf, p)
            summary = (p, p + n)
            p += n
        else:
            p = _skip_field(buf, p, wire)
    if p != end:
        raise ValueError("event fields overrun the record")
    if summary is None:
        return
    q, stop = summary
    while q < stop:
        key, q = _varint(buf, q)
        if key == 0x0A:
            n, q = _varint(buf, q)
            tag, val, narrow = _value(buf, q, q + n)
            q += n
            if tag is not None and val is not None:
                sink.add(tag, float(step), val, wall)
                if not narrow:
                    sink.wide.add(tag)
                sink.scalars += 1
            else:
                sink.skipped += 1
        else:
            q = _skip_field(buf, q, key & 7)


def read_events(path: Path, sink: _Sink, chunk: int = CHUNK) -> None:
    """Stream one events file into ``sink``. Raises ValueError when it is not TFRecord framing.

    Per chunk, a Python loop only walks the record lengths; the common record (what torch's
    SummaryWriter writes for ``add_scalar``: wall_time, step, one Value{tag, simple_value}) is then
    decoded for all records at once with numpy, and any other record goes through ``_event_slow``.
    """
    U64 = _U64
    with open(path, "rb") as f:
        buf = f.read(chunk)
        base = 0  # file offset of buf[0]
        while True:
            blen = len(buf)
            starts = array("q")
            push = starts.append
            p = 0
            try:
                while True:  # the only per-record Python work: hop from length to length
                    q = p + U64(buf, p)[0] + 16
                    if q > blen:
                        break
                    push(p)
                    p = q
            except struct.error:  # fewer than 8 bytes left
                pass
            if p + 8 <= blen and U64(buf, p)[0] > MAX_RECORD:
                raise ValueError(f"record length {U64(buf, p)[0]} at byte {base + p} is not plausible")
            if starts:
                st = np.frombuffer(starts, dtype=np.int64)
                a = np.frombuffer(buf, dtype=np.uint8)
                lens = a[st[:, None] + np.arange(8)].copy().view("<u8").ravel().astype(np.int64)
                _decode_records(buf, st + 12, st + 12 + lens, sink)
            more = f.read(max(chunk, (U64(buf, p)[0] + 16) if p + 8 <= blen else chunk))
            if not more:
                if p < blen:
                    sink.truncated = True
                break
            buf = buf[p:] + more
            base += p


_VARINT_WEIGHTS = (np.uint64(7) * np.arange(10, dtype=np.uint64))


def _decode_records(buf: bytes, s: np.ndarray, e: np.ndarray, sink: _Sink) -> None:
    """Decode the records ``buf[s[i]:e[i]]``: the common scalar layout vectorised, the rest one by one."""
    a = np.frombuffer(buf, dtype=np.uint8)
    last = len(a) - 1
    sink.records += len(s)

    def at(idx: np.ndarray) -> np.ndarray:
        return a[np.minimum(idx, last)]

    fast = (e - s >= 21) & (at(s) == 0x09)
    q = s + 9
    # step: optional varint (absent = 0), up to 10 bytes
    has_step = at(q) == 0x10
    vb = at(q[:, None] + 1 + np.arange(10)).astype(np.uint64)
    cont = (vb & np.uint64(0x80)) != 0
    vlen = np.argmin(cont, axis=1) + 1  # bytes in the varint (the first without the high bit)
    ok_varint = ~cont.all(axis=1)
    keep = np.arange(10)[None, :] < vlen[:, None]
    step = (((vb & np.uint64(0x7F)) << _VARINT_WEIGHTS) * keep).sum(axis=1, dtype=np.uint64)
    step = np.where(has_step, step.view(np.int64), 0)
    q = np.where(has_step, q + 1 + vlen, q)
    fast &= ~has_step | ok_varint
    # summary{value{tag, simple_value}} with one-byte lengths
    l1, l2, l3 = at(q + 1).astype(np.int64), at(q + 3).astype(np.int64), at(q + 5).astype(np.int64)
    t = q + 6 + l3
    fast &= (at(q) == 0x2A) & (at(q + 2) == 0x0A) & (at(q + 4) == 0x0A) & (l1 < 0x80)
    fast &= (l1 == l2 + 2) & (l2 == l3 + 7) & (t + 5 == e) & (at(t) == 0x15)
    slow = np.flatnonzero(~fast)
    for i in slow.tolist():
        try:
            _event_slow(buf, int(s[i]), int(e[i]), sink)
        except (ValueError, IndexError, struct.error):
            sink.bad += 1
    idx = np.flatnonzero(fast)
    if not len(idx):
        return
    s, q, t, l3, step = s[idx], q[idx], t[idx], l3[idx], step[idx]
    wall = a[(s + 1)[:, None] + np.arange(8)].copy().view("<f8").ravel()
    value = a[(t + 1)[:, None] + np.arange(4)].copy().view("<f4").ravel().astype(np.float64)
    # group by tag: a fixed-width window of each tag's bytes (zero beyond its length), compared with
    # each distinct tag in turn (a few per file); many distinct tags switch to one sort
    width = int(l3.max())
    cols = np.arange(width)
    win = np.where(cols[None, :] < l3[:, None], at((q + 6)[:, None] + cols), 0).astype(np.uint8)
    stepf = step.astype(np.float64)
    groups: list[tuple[int, np.ndarray]] = []
    todo = np.ones(len(idx), dtype=bool)
    while todo.any():
        j = int(np.argmax(todo))
        if len(groups) >= 64:
            rest = np.flatnonzero(todo)
            keys = np.ascontiguousarray(np.concatenate([win[rest], l3[rest, None].astype(np.uint8)], axis=1))
            _, first, inverse = np.unique(keys.view(f"V{width + 1}").ravel(), return_index=True,
                                          return_inverse=True)
            for u in range(len(first)):
                groups.append((int(rest[first[u]]), rest[inverse.ravel() == u]))
            break
        same = todo & (l3 == l3[j]) & (win == win[j]).all(axis=1)
        groups.append((j, np.flatnonzero(same)))
        todo &= ~same
    for j, sel in groups:
        tag = buf[int(q[j]) + 6:int(t[j])]
        c = sink.cols.get(tag)
        if c is None:
            c = sink.cols[tag] = (array("d"), array("d"), array("d"))
        c[0].frombytes(stepf[sel].tobytes())
        c[1].frombytes(value[sel].tobytes())
        c[2].frombytes(wall[sel].tobytes())
    sink.scalars += len(idx)


def looks_like_events(head: bytes) -> bool:
    """TFRecord framing whose first record is an Event starting with wall_time."""
    if len(head) < 13:
        return False
    n = _U64(head, 0)[0]
    return 2 <= n <= 4096 and head[12] == 0x09 and (len(head) < 12 + n + 4 or b"brain.Event" in head[:12 + n]
                                                       or head[21] in (0x10, 0x1A, 0x2A))


# ---------------------------------------------------------------------------
# Tags to metrics
# ---------------------------------------------------------------------------


def _plain_name(key: str) -> str:
    low = key.lower()
    name = _ALIASES.get(low)
    if name:
        return name
    if low.startswith(("lr-", "lr_", "lr/")):
        return "learning_rate"
    return _NON_NAME.sub("_", low).strip("_") or "value"


def map_tag(tag: str, writer: str, dir_split: Optional[str]) -> tuple[str, str]:
    """``(split, name)`` for a scalar tag; name ``""`` means "not a series" (handled by the caller)."""
    if writer == "hf":
        head, _, rest = tag.partition("/")
        if head in ("train", "eval", "test") and rest:
            return head, _plain_name(rest)
    if writer == "keras" and dir_split is not None:
        t = tag[6:] if tag.startswith("epoch_") else tag
        return dir_split, _plain_name(t)
    m = _SPLIT_PREFIX.match(tag)
    if m:
        w = m.group(1).lower()
        split = "test" if w == "test" else "train" if w.startswith("train") else "eval"
        rest = m.group(2)
        low = rest.lower()
        if split == "train" and low.endswith("_step"):
            rest = rest[:-5]
        elif split != "train" and low.endswith("_epoch"):
            rest = rest[:-6]
        return split, _plain_name(rest)
    if dir_split is not None:
        return dir_split, _plain_name(tag)
    low = tag.lower()
    if low.endswith("_step"):
        return "train", _plain_name(tag[:-5])
    return "train", _plain_name(tag)


def _writer_of(tags: set[str], path: Path) -> str:
    if "train/epoch" in tags or any(t.startswith(("train/", "eval/")) for t in tags) and \
            not any(t in ("epoch", "hp_metric") for t in tags):
        return "hf"
    if "hp_metric" in tags or "epoch" in tags or "lightning_logs" in path.parts or \
            (path.parent / "hparams.yaml").is_file():
        return "lightning"
    if any(t.startswith("epoch_") for t in tags) and path.parent.name in _SPLIT_DIRS:
        return "keras"
    return "generic"


def shortest_float32(values: np.ndarray) -> np.ndarray:
    """Each float32 value as the shortest decimal that reads back as the same float32.

    TensorBoard stores float32: ``0.0005625`` comes back as ``0.0005624999757856131``. Other sources
    (a console, a state file) print the decimal, and merging compares them within the printed
    rounding, so the float32 noise would look like a disagreement. Vectorised: try 1..9 significant
    digits and keep, per value, the first that round-trips.
    """
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    v32 = v.astype(np.float32)
    todo = np.isfinite(v) & (v != 0)
    if not todo.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.floor(np.log10(np.abs(np.where(todo, v, 1.0))))
        for digits in range(1, 10):
            idx = np.flatnonzero(todo)
            if not len(idx):
                break
            x = v[idx]
            e = (digits - 1 - mag[idx]).astype(np.int64)
            pos = e >= 0
            r = np.empty_like(x)
            p10 = 10.0 ** np.abs(e)
            r[pos] = np.round(x[pos] * p10[pos]) / p10[pos]
            r[~pos] = np.round(x[~pos] / p10[~pos]) * p10[~pos]
            ok = np.isfinite(r) & (r.astype(np.float32) == v32[idx])
            out[idx[ok]] = r[ok]
            todo[idx[ok]] = False
    return out


def _epoch_at(steps: np.ndarray, ep_steps: np.ndarray, ep_vals: np.ndarray) -> np.ndarray:
    """The epoch logged at each step (exact step, else the last one logged before it)."""
    if not len(ep_steps):
        return np.full(len(steps), NAN)
    order = np.argsort(ep_steps, kind="stable")
    es, ev = ep_steps[order], ep_vals[order]
    idx = np.searchsorted(es, steps, side="right") - 1
    out = np.where(idx >= 0, ev[np.clip(idx, 0, None)], NAN)
    return out.astype(np.float64)


def build_run(files: list[Path], run_path: str, parser_name: str = "tensorboard") -> Run:
    """One Run from events files of one run (several files, e.g. restarts, are merged by step)."""
    b = RunBuilder(run_path, "tensorboard")
    series_cols: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray, str]]] = {}
    epoch_cols: list[tuple[np.ndarray, np.ndarray]] = []
    writers: set[str] = set()
    any_scalars = False
    last_wall = NAN
    for path in files:
        sink = _Sink()
        try:
            read_events(path, sink)
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e.strerror or e}") from None
        except (ValueError, IndexError, struct.error) as e:
            raise ParseError(f"{path}: not a TensorBoard events file ({e})") from None
        if sink.records == 0:
            raise ParseError(f"{path}: no TFRecord in this file")
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        # sink.file_version ("brain.Event:2") is the record format's version, not the framework's
        b.sources.append(Source(path=str(path), parser=parser_name, format="tensorboard", lines=0, bytes=size))
        if sink.truncated:
            b.note(f"{path.name}: the last record is cut short (the writer was stopped mid-write); "
                   "read up to it")
        if sink.bad:
            b.note(f"{path.name}: {sink.bad} records could not be decoded and were skipped")
        tags = {t.decode("utf-8", "replace") for t in sink.cols}
        writer = _writer_of(tags, path)
        writers.add(writer)
        dir_split = _SPLIT_DIRS.get(path.parent.name.lower()) if writer in ("keras", "generic") else None
        offset = 1.0 if writer == "lightning" else 0.0
        for raw_tag, (st, va, wt) in sink.cols.items():
            tag = raw_tag.decode("utf-8", "replace")
            steps = np.frombuffer(st, dtype=np.float64) + offset
            vals = np.frombuffer(va, dtype=np.float64)
            if raw_tag not in sink.wide:
                vals = shortest_float32(vals)
            any_scalars = True
            if len(wt):
                last_wall = max(last_wall, float(wt[-1])) if not math.isnan(last_wall) else float(wt[-1])
            if (writer == "hf" and tag == "train/epoch") or (writer == "lightning" and tag == "epoch"):
                epoch_cols.append((steps, vals))
                continue
            if writer == "lightning" and tag == "hp_metric":
                b.config_extra["hp_metric"] = float(vals[-1])
                if np.all(vals == -1):
                    b.note("hp_metric is Lightning's -1 placeholder (default_hp_metric=True); not a metric")
                continue
            if writer == "hf" and tag.startswith("train/") and tag[6:] in _HF_SUMMARY:
                b.summary[_HF_SUMMARY[tag[6:]]] = float(vals[-1])
                b.summary["global_step"] = int(steps[-1])
                continue
            split, name = map_tag(tag, writer, dir_split)
            series_cols.setdefault((split, name), []).append((steps, vals, tag))
    if not any_scalars:
        b.note("the events files hold no scalars (only images, histograms, text or graphs)")
    ep_steps = np.concatenate([s for s, _ in epoch_cols]) if epoch_cols else np.empty(0)
    ep_vals = np.concatenate([v for _, v in epoch_cols]) if epoch_cols else np.empty(0)
    run = b.build()
    series: dict[str, Series] = {}
    for (split, name), parts in series_cols.items():
        if not b.admit(split, name, len(series)):
            continue
        steps = np.concatenate([p[0] for p in parts])
        vals = np.concatenate([p[1] for p in parts])
        if len(parts) > 1 or (len(steps) > 1 and np.any(np.diff(steps) < 0)):
            # restarts or several files: sort by step; a step written twice keeps the later file's value
            order = np.argsort(steps, kind="stable")
            steps, vals = steps[order], vals[order]
            keep = np.ones(len(steps), dtype=bool)
            keep[:-1] = steps[1:] != steps[:-1]
            steps, vals = steps[keep], vals[keep]
        series[f"{split}/{name}"] = Series(
            name=name, split=Split(split), key=parts[0][2], step=steps.copy(), value=vals.copy(),
            epoch=_epoch_at(steps, ep_steps, ep_vals), line=np.zeros(len(steps), dtype=np.int64),
            step_origin=StepOrigin.logged, source=str(files[0]) if len(files) == 1 else run_path,
        )
    notes = list(run.notes)
    if "lightning" in writers:
        notes.append("Lightning's TensorBoardLogger logs the 0-based fit_loop.epoch_loop._batches_that_stepped; "
                      "stored as step + 1 = optimizer steps completed (the scale of the console bars, "
                      "metrics.csv and Hugging Face's global_step)")
    if "keras" in writers:
        notes.append("Keras writes one point per epoch: the step is the epoch")
    ending = Ending.completed if run.summary.train_runtime_s is not None else Ending.unknown
    reason = ("Hugging Face logged its end-of-training summary (train/train_runtime)" if ending is Ending.completed
              else "an events file does not say how the run ended")
    extra: dict[str, Any] = {}
    if not math.isnan(last_wall):
        extra["last_wall_time"] = last_wall
    return run.model_copy(update={
        "series": series, "notes": tuple(notes) + b.dropped_notes(), "ending": ending, "ending_reason": reason,
        "config": run.config.model_copy(update={"extra": {**run.config.extra, **extra}}),
        "format": "hf" if writers == {"hf"} else "lightning" if writers == {"lightning"} else "tensorboard",
    })


class TensorBoardParser(Parser):
    name = "tensorboard"
    format = "tensorboard"
    framework = None
    description = "TensorBoard event files (events.out.tfevents.*): scalars, as simple_value or tensor"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head:
            return 0.0
        named = Path(path).name.startswith("events.out.tfevents")
        if looks_like_events(head):
            return 1.0 if named else 0.9
        return 0.3 if named else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Run:
        path = Path(path)
        try:
            return build_run([path], str(path), self.name)
        except ParseError:
            raise
        except (MemoryError, ValueError, TypeError, IndexError, OverflowError, struct.error) as e:
            raise ParseError(f"{path}: unreadable as TensorBoard events ({type(e).__name__}: {e})") from None


@hookimpl
def logcheck_register_parsers(register):
    register(TensorBoardParser())
