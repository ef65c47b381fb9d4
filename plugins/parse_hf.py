"""Hugging Face parsers: Trainer console output, ``trainer_state.json``, ``*_results.json``.

The console parser streams the log once. Every logged dict gets an ordinal and
its points go into the RunBuilder with that ordinal as a provisional step; what
each dict's real global step is can only be decided once the whole run has been
seen (the progress-bar total, the steps per epoch and the logging interval often
appear late or only at the end), so a post-pass maps ordinals to steps. Per dict
only a few numbers are kept, in ``array`` columns.

How a step is derived, most trusted first:
1. the dict names it (ms-swift's ``global_step/max_steps``, a ``step`` key): logged;
2. the training progress bar's counter next to the dict, accepted only when the
   sequence is strictly increasing and agrees with the logged epochs: reconstructed;
3. ``k x logging_steps`` checked against ``epoch x steps_per_epoch``: reconstructed;
   ``epoch x steps_per_epoch`` rounded: estimated;
4. ``k x logging_steps`` (from a TrainingArguments dump) unchecked: reconstructed;
5. the dict's ordinal: index.
"""
from __future__ import annotations

import math
import operator
import re
from array import array
from itertools import repeat
from pathlib import Path
from typing import Any, Optional

import numpy as np

from logcheck import (
    Ending,
    ParseContext,
    ParseError,
    Parser,
    Run,
    RunBuilder,
    Series,
    Source,
    Split,
    StepOrigin,
    hookimpl,
)
from logcheck.plugins.stream_json import TrainerStateColumns, read_trainer_state

from logcheck.parsing import (
    MAX_DICT_CHARS,
    MAX_LINE_BYTES,
    clean,
    LineBlocks,
    load_speedups,
    loads_json,
    loads_strict,
    parse_number,
    parse_pydict,
    split_rank,
    strip_ansi,
)

# the C scanner of tqdm dict lines (optional: built by setup.py when a compiler is there)
_speedups = load_speedups()

# ---------------------------------------------------------------------------
# Line patterns
# ---------------------------------------------------------------------------

# tqdm frame: "desc:  5%|▌   | 40/792 [00:04<01:20,  9.31it/s, postfix]" (also "100% 8/8 [...]" without bars)
_BAR_RE = re.compile(
    r"(?P<pct>\d{1,3})%(?:\|[^|\r\n]{0,1000}\||\s)\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>[^<\]]{0,40})<(?P<remain>[^,\]]{0,40})(?:,\s*(?P<rate>[^\],]{0,40}))?[^\]]{0,2000}\]"
)
_BAR_RE_B = re.compile(_BAR_RE.pattern.encode())  # the same, for the fast path's ASCII frames
# what follows the counter's prefix in the usual frame; where it matches, _BAR_RE reads the same groups
_FRAME_START_RE = re.compile(rb"\r[^ 0-9]")  # a frame that does not start like the Trainer bar's
_BAR_TAIL_RE = re.compile(rb"(\d+)/(\d+) \[([^<\]]{0,40})<[^,\]]{0,40},\s*([^\],]{0,40})\]")
_RATE_RE = re.compile(r"([\d.]+)\s*([kMG]?)(it/s|s/it)")
# Bars whose description says they are a training loop (the Trainer's own bar has none).
_TRAIN_BAR_DESC = {"", "train", "training", "epoch"}

_EXPLICIT_LOG_RE = re.compile(
    r"^\[(?P<level>WARNING|ERROR|INFO|DEBUG|CRITICAL)\|(?P<file>[^\]:|]+)(?::\d+)?\]\s*(?:[\d\-:, ]+>>\s?)?(?P<msg>.*)$"
)
_HF5_PREFIX_RE = re.compile(r"^\[(?P<lib>transformers|trl|peft|accelerate|datasets)\]\s?(?P<msg>.*)$")
_PY_WARNING_RE = re.compile(r"^(?P<path>\S.*?):(?P<lineno>\d+): (?P<cat>\w*Warning): (?P<msg>.*)$")
_BASIC_LOG_RE = re.compile(r"^(?P<level>WARNING|ERROR|CRITICAL):(?P<logger>[\w.]*):(?P<msg>.*)$")
_BRACKET_LEVEL_RE = re.compile(r"\[(?P<level>WARNING|ERROR)\]\s*(?:\[(?P<where>[^\]]*)\]\s*)?(?P<msg>.*)$")
_WANDB_WARN_RE = re.compile(r"^wandb: (?P<level>WARNING|ERROR) (?P<msg>.*)$")
_BARE_WARNING_RE = re.compile(
    r"There were (?:missing|unexpected) keys in the checkpoint|Some weights of .{1,300}? were not|"
    r"Some weights of the model checkpoint|You should probably TRAIN this model|\bis deprecated\b|"
    r"\bwill be removed in\b|Detected kernel version|LOAD REPORT"
)
_EXCEPTION_LINE_RE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)|KeyboardInterrupt)\b(?::|$)")
_OOM_RE = re.compile(r"CUDA out of memory|OutOfMemoryError")
_RETURN_CODE_RE = re.compile(r"exits with return code = (-?\d+)|exited with return code (-?\d+)")

_INFO_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("num_examples", re.compile(r"Num examples = ([\d,]+)")),
    ("num_train_epochs", re.compile(r"Num Epochs = ([\d,.]+)")),
    ("train_batch_size", re.compile(r"Instantaneous batch size per device = ([\d,]+)")),
    ("total_train_batch_size", re.compile(r"Total train batch size \([^)]*\) = ([\d,]+)")),
    ("gradient_accumulation_steps", re.compile(r"Gradient Accumulation steps = ([\d,]+)")),
    ("max_steps", re.compile(r"Total optimization steps = ([\d,]+)")),
    ("steps_per_epoch", re.compile(r"Num update steps per epoch = ([\d,]+)")),
    ("trainable_parameters", re.compile(r"Number of trainable parameters = ([\d,]+)")),
    ("eval_batch_size", re.compile(r"^\s*Batch size = ([\d,]+)")),
]
_SAVE_RE = re.compile(r"Saving model checkpoint to (\S+)")
_BEST_RE = re.compile(r"Loading best model from (\S+) \(score: ([^)]*)\)")
_CKPT_STEP_RE = re.compile(r"checkpoint-(\d+)")
_TRAIN_OUTPUT_RE = re.compile(r"TrainOutput\(global_step=(\d+), training_loss=([^,]+)")
_VERSION_RE = re.compile(r'"transformers_version": "([^"]+)"|\btransformers(?:==| version |/)v?(\d+\.\d+(?:\.\d+)?\S*)')
_TARG_RE = re.compile(r"^([a-z_0-9]+)=(.*?),?$")
_TARG_KEYS = {
    "logging_steps": float, "eval_steps": float, "save_steps": float, "num_train_epochs": float,
    "max_steps": int, "per_device_train_batch_size": int, "per_device_eval_batch_size": int,
    "gradient_accumulation_steps": int, "learning_rate": float, "load_best_model_at_end": bool,
    "metric_for_best_model": str, "greater_is_better": bool, "fp16": bool, "bf16": bool,
    "logging_first_step": bool, "warmup_steps": float, "seed": int,
}
_TARG_RENAME = {"per_device_train_batch_size": "train_batch_size", "per_device_eval_batch_size": "eval_batch_size"}
_LOAD_ROW_RE = re.compile(r"^\s*(?P<key>\S+)\s*\|\s*(?P<status>MISSING|UNEXPECTED|MISMATCH|CONVERSION)\b")
_INFO_KEEP_RE = re.compile(r"Saving model checkpoint|Loading best model|Training completed")
# [transformers] lines in 5.x carry no level; these messages are known to be INFO.
_HF5_INFO_RE = re.compile(
    r"^\s*(?:\*{5}|Num examples|Num Epochs|Instantaneous batch|Total train batch|Gradient Accumulation|"
    r"Total optimization|Number of trainable|Batch size =|Saving model checkpoint|Loading best model|"
    r"Training completed|Configuration saved|Model weights saved|(?:tokenizer|chat template|Special tokens|"
    r"Generation config)[\w ]* (?:file )?saved|loading (?:file|configuration|weights)|Model config|"
    r"Generate config|Deleting older checkpoint|Using auto half precision|Using cpu_amp|Num update steps|"
    r"The following columns in the)"
)

_WARNING_WORDS_RE = re.compile(
    r"warn|deprecat|\bnot\b|n't|missing|unexpected|unrecogni[sz]ed|\bshould\b|please|cannot|could not|"
    r"fail|error|will be removed|ignor|instead|invalid|mismatch|overflow|\bnan\b|\binf\b|consider|"
    r"unsupported|no longer|exceed|too (?:long|large|small|many)|truncat|newly initialized|were not used",
    re.IGNORECASE,
)

_SUMMARY_MAP = {
    "train_runtime": "train_runtime_s",
    "train_samples_per_second": "train_samples_per_second",
    "train_steps_per_second": "train_steps_per_second",
    "total_flos": "total_flos",
    "train_loss": "mean_train_loss",
    "epoch": "epochs",
}
_EVAL_TIMINGS = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
_META_KEYS = {"epoch", "step", "global_step", "global_step/max_steps"}

_JSON_HEAD_RE = re.compile(rb'\s*(?:\[\s*)?\{\s*"')  # a JSON object or array of objects, not a str(dict)

_MAX_MESSAGE = 4096
_BLOCK = 1 << 20  # bytes read at a time
_MAX_COUNTER = 2**31 - 2  # a progress-bar counter or total that fits the int32 columns
_MIN_BULK = 16  # consecutive dict lines worth decoding and storing together
_DECODE_AT_ONCE = 1024  # dict lines decoded by one orjson call at most

_KIND_TRAIN, _KIND_EVAL, _KIND_TEST = 0, 1, 2
_AFTER_SUMMARY = 10  # added to a kind for dicts logged after the run's summary (final evaluate())

_ORIGIN_RANK = {StepOrigin.logged: 0, StepOrigin.reconstructed: 1, StepOrigin.estimated: 2, StepOrigin.index: 3}


def _int(text: str) -> Optional[int]:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return None


def _seconds(text: str) -> Optional[float]:
    """tqdm's elapsed time ``MM:SS``, ``H:MM:SS`` or ``1d, 02:03:04`` in seconds."""
    if len(text) == 5 and text[2] == ":" and text[:2].isdecimal() and text[3:].isdecimal():
        return float(int(text[:2]) * 60 + int(text[3:]))  # the common "MM:SS", without the general path
    if text.count(":") == 2:
        h, m, sec = text.split(":")
        if h.isdecimal() and m.isdecimal() and sec.isdecimal():
            return float((int(h) * 60 + int(m)) * 60 + int(sec))  # "H:MM:SS"
    text = text.strip()
    days = 0.0
    if "d," in text:
        d, _, text = text.partition("d,")
        try:
            days = float(d)
        except ValueError:
            return None
        text = text.strip()
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        return None
    total = 0.0
    for p in parts:
        if not p.isdecimal():  # isdigit() also accepts "²", which int() refuses
            return None
        total = total * 60 + int(p)
    return total + days * 86400


def _rate(text: Optional[str]) -> Optional[float]:
    """tqdm's rate as steps per second (``9.31it/s`` -> 9.31, ``7.12s/it`` -> 0.14)."""
    if not text:
        return None
    t = text.strip()
    unit = t[-4:]
    if unit == "it/s" or unit == "s/it":
        try:
            v = float(t[:-4])
        except ValueError:
            pass  # "?it/s", "1.2kit/s": the general path below
        else:
            if unit == "it/s":
                return v
            return 1.0 / v if v > 0 else None
    m = _RATE_RE.search(text)
    if not m:
        return None
    digits = m.group(1)
    if digits.count(".") > 1 or digits == ".":
        return None  # "1.2.3", "." (float() refuses both)
    v = float(digits)
    v *= {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
    if m.group(3) == "s/it":
        return 1.0 / v if v > 0 else None
    return v


def _quick_dict(body: bytes) -> Optional[dict[str, Any]]:
    """A ``str(dict)`` line by a quote swap and orjson, the common case; None for anything else
    (``nan``, quotes inside strings, not a dict), which ``parse_pydict`` then reads."""
    if b'"' in body:
        return None
    try:
        d = loads_strict(body.replace(b"'", b'"'))
    except ValueError:
        return None
    return d if type(d) is dict else None


def _floats(values: "list[Any] | tuple[Any, ...]") -> "Optional[list[float] | tuple[float, ...]]":
    """The values as floats when all are floats, or all strings float() reads (transformers 5)."""
    types = set(map(type, values))
    if types == {float}:
        return values
    if types == {str}:
        try:
            return list(map(float, values))
        except ValueError:
            return None
    return None


def _grid(lo: int, hi: int, c: int, shift: int, add: float, first_one: bool) -> np.ndarray:
    """Points lo..hi-1 of the grid ``c x (i + shift) + add`` (point 0 is 1 when first_one)."""
    g = np.arange(lo + shift, hi + shift, dtype=np.float64)
    g *= c
    if add:
        g += add
    if first_one and lo == 0 and len(g):
        g[0] = 1.0
    return g


def _grid_fit(e: np.ndarray, est_tol: Any, c: int, shift: int, add: float, first_one: bool) -> Optional[float]:
    """Sum of |grid - epoch x spe| when every point of the grid is within the epoch's
    rounding of it (and the grid starts at >= 1), else None; slice by slice."""
    total = 0.0
    for i in range(0, len(e), _CHUNK):
        part = e[i:i + _CHUNK]
        est, tol = est_tol(part)
        g = _grid(i, i + len(part), c, shift, add, first_one)
        if i == 0 and g[0] < 1:
            return None
        g -= est
        np.abs(g, out=g)
        if not bool(np.all(g <= tol)):
            return None
        total += float(g.sum())
    return total


def _counter(col: array, at: "slice | np.ndarray") -> np.ndarray:
    """Progress-bar counters kept as int32 (-1: none) as floats (NaN: none) at ``at``."""
    c = np.frombuffer(col, dtype=np.int32)[at].astype(np.float64) if len(col) else np.zeros(0)
    c[c < 0] = np.nan
    return c


_CHUNK = 1 << 18  # elements per slice when a test over a whole column would need big temporaries


def _all(pred: Any, *cols: np.ndarray) -> bool:
    """``pred(*slices).all()`` over the columns in slices: the temporaries stay small."""
    n = len(cols[0])
    for i in range(0, n, _CHUNK):
        if not bool(np.all(pred(*(c[i:i + _CHUNK] for c in cols)))):
            return False
    return True


def _epoch_tol(e: np.ndarray) -> np.ndarray:
    # 4.x rounds the epoch to 2 decimals; 5.x prints it with 4 significant digits.
    return np.maximum(0.0051, 0.0006 * np.abs(e))


def _is_train_desc(desc: str) -> bool:
    if not desc or desc.isspace():
        return True  # the Trainer's own bar has no description
    d = desc.strip().rstrip(":").strip().lower()
    if d.startswith("epoch"):
        return True
    return d in _TRAIN_BAR_DESC


def _dict_runs(lines: list[bytes], start: bytes) -> list[tuple[int, int]]:
    """Where ``lines`` has more than ``_MIN_BULK`` consecutive lines that start with ``start``
    and end with ``}``: ``(first, end)`` index pairs. ``\\r``: tqdm frames, then a dict;
    ``{'``: a dict alone (a log without progress bars)."""
    cand = list(map(operator.and_, map(bytes.startswith, lines, repeat(start)),
                    map(bytes.endswith, lines, repeat(b"}"))))
    runs = []
    i, n = 0, len(cand)
    while True:
        try:
            i = cand.index(True, i)
        except ValueError:
            break
        try:
            j = cand.index(False, i)
        except ValueError:
            j = n
        if j - i > _MIN_BULK:
            runs.append((i, j))
        i = j
    return runs


_FRAME_RES: dict[int, re.Pattern[bytes]] = {}
# a line that is one frame of a nested bar (tqdm position 1, the evaluation loop's) and nothing else
_NESTED_FRAME_RE = re.compile(rb"\r {0,3}\d{1,3}%\|[^|\r\n\x1b\x00]{0,1000}\| \d{1,18}/\d{1,18} \[[^\]\r\n\x1b\x00]{0,200}\]\x1b\[A")


def _frame_re(T: int) -> re.Pattern[bytes]:
    """A frame of the training bar of total T, one per line (``  5%|▌   | N/T [E<R, RATE]``):
    no description, ASCII but for the bar's glyphs. Where it matches, ``_BAR_RE`` reads the
    same description, counter, elapsed time and rate (the groups)."""
    p = _FRAME_RES.get(T)
    if p is None:
        if len(_FRAME_RES) > 64:
            _FRAME_RES.clear()
        p = _FRAME_RES[T] = re.compile(
            rb"(?m)^( {0,3})\d{1,3}%%\|[^|\n\x1b\x00]{0,1000}\| (\d{1,10})/%d "
            rb"\[([0-9:]{1,20})<[0-9:?]{1,20}, +([0-9.]{1,20}(?:it/s|s/it)|\?it/s)\]$" % T)
    return p


def _middle_frames_ok(batch: list[bytes], blob: bytes, k: int, T: int) -> bool:
    """Whether the frames between PREV and LAST of these lines (k frames a line in all) are all
    frames of the training bar, unfinished, with no description: checked by byte counts per line,
    as ``_skip_middle_frames`` checks them on one line. Only their number matters then: ``_bar``
    keeps what the last frame of a line leaves behind."""
    for mark in (b"/%d [" % T, b"]\r", b"%|"):
        if any(map(operator.ne, map(bytes.count, batch, repeat(mark)), repeat(k))):
            return False
    # no frame starts but with a space or digit (the dicts start with "{'", one a line)
    return b"%d/%d [" % (T, T) not in blob and len(_FRAME_START_RE.findall(blob)) == len(batch)


def _memo_read(memo: dict[Optional[str], float], texts: list[str], read: Any) -> list[float]:
    """``read`` of each text (NaN where it gives None), each distinct text read once."""
    out = list(map(memo.get, texts))
    if None in out:
        for t in set(texts).difference(memo):
            x = read(t)
            memo[t] = math.nan if x is None else x
        out = list(map(memo.__getitem__, texts))
    return out


class _TqdmFrames:
    """The frames of a run of tqdm dict lines of one shape, read together (one split, one regex
    over the joined last frames): ``\\r LAST \\r BLANK \\r DICT``, or
    ``\\r PREV [\\r FRAME ...] \\r LAST \\r BLANK \\r DICT``, where PREV is the previous line's LAST
    redrawn by ``tqdm.write``, the FRAMEs are the steps since (``logging_steps`` > 1) and LAST is
    a frame of the training bar (total T, no description). ``ok[i]`` says whether line i is such
    a line; for those, ``n[i]`` is LAST's counter, ``c[i]`` the counter of the line's first frame,
    ``rate``/``elapsed``/``desc`` LAST's texts and ``bodies[i]`` the dict. ``nf`` is the number
    of frames a line (the same for every line).
    """

    __slots__ = ("T", "ok", "n", "c", "nf", "rate", "elapsed", "desc", "bodies", "lasts")

    @classmethod
    def read(cls, batch: list[bytes], T: int) -> Optional["_TqdmFrames"]:
        """The frames of ``batch`` when every line has the same shape (else None): the lines are
        joined and split at their carriage returns at once, so that LAST, BLANK and DICT of every
        line are slices of one list (each dict but the last then ends with its newline)."""
        # 3: LAST, BLANK, DICT; 4: PREV, LAST, BLANK, DICT; more: frames between PREV and LAST
        per = batch[0].count(b"\r")
        if per < 3 or not 0 < T <= _MAX_COUNTER:
            return None
        N = len(batch)
        blob = b"\n".join(batch)
        parts = blob.split(b"\r")
        bodies = parts[per::per]
        # every dict but the last ends its line: then (N - 1 newlines in all) each line has
        # exactly `per` carriage returns, and the slices below are its pieces
        if len(parts) != per * N + 1 or parts[0] or not all(map(bytes.endswith, bodies[:-1], repeat(b"}\n"))):
            return None
        lasts = parts[per - 2::per]
        if per >= 4 and parts[1 + per::per] != lasts[:-1]:
            return None  # PREV is not the previous line's LAST (the first line's is not known here)
        if not all(b.isspace() for b in set(parts[per - 1::per])):
            return None
        if per > 4 and not _middle_frames_ok(batch, blob, per - 2, T):
            return None
        pat = _frame_re(T)
        ms = pat.findall(b"\n".join(lasts))
        if len(ms) == N:
            ok = [per == 3] + [True] * (N - 1)  # (the first line's PREV is checked by continues())
        else:  # not every LAST is a training-bar frame: which are
            ms = [m.groups() if m else (b"", b"0", b"", b"") for m in map(pat.fullmatch, lasts)]
            ok = [m[2] != b"" for m in ms]
            if per >= 4:  # PREV, the previous LAST, must be a training-bar frame too
                ok = [o and po for o, po in zip(ok, [False] + ok)]
        if not all(map(bytes.startswith, bodies, repeat(b"{'"))):
            ok = [o and b[:2] == b"{'" for o, b in zip(ok, bodies)]
        descs, nbs, ebs, rbs = zip(*ms)
        self = cls()
        self.T, self.ok, self.bodies, self.lasts, self.nf = T, ok, bodies, lasts, per - 2
        self.n = n = list(map(int, nbs))
        self.c = [-1] + n[:-1] if per >= 4 else n
        self.rate = list(map(bytes.decode, rbs))
        self.elapsed = list(map(bytes.decode, ebs))
        self.desc = list(map(bytes.decode, descs))
        return self

    def continues(self, rd: "_ConsoleReader", a: int, b: int) -> bool:
        """Whether lines a..b-1 (all ``ok``) continue the training bar as the reader left it:
        the same total, counters that never go back, the bar not finished."""
        cur = rd.cur
        T = self.T
        ent = rd.bars.get(T)
        if cur.T != T or ent is None or ent[1] != cur.train_n or cur.train_n is None:
            return False
        ns = self.n
        if self.c[a] < cur.train_n or (self.nf >= 2 and (a == 0 or ns[a - 1] != cur.train_n)):
            return False
        seg = ns[a:b]
        return seg[-1] < T and not any(map(operator.lt, seg[1:], seg))

    def apply(self, rd: "_ConsoleReader", a: int, b: int, i0: int) -> None:
        """What ``_bar`` does with the frames of lines a..b-1, whose dicts are ``i0``, ``i0 + 1``, ...
        (``continues`` said yes): counters before and after each dict, rate and elapsed time."""
        cur = rd.cur
        ns, cs = self.n, self.c
        after = cur.after
        for i in range(cur.pending_from, i0):  # dicts before these wait for the first frame's counter
            after[i] = cs[a]
        cur.before.extend(ns[a:b])
        after.extend(cs[a + 1:b])
        after.append(-1)
        cur.pending_from = i0 + b - a - 1
        memo = rd._memo
        rates, els = self.rate[a:b], self.elapsed[a:b]
        if len(memo) > 4096:
            memo.clear()
        cur.rate.extend(_memo_read(memo, rates, _rate))
        cur.elapsed.extend(_memo_read(memo, els, lambda e: _seconds(e) if e else None))
        rd.bar_seq += self.nf * (b - a)
        last = b - 1
        n, rate, el = ns[last], rates[-1], els[-1]
        ent = rd.bars[self.T]
        ent[1], ent[2], ent[3] = n, rate, el
        cur.train_n, cur.train_rate, cur.train_elapsed = n, rate, el
        for d in reversed(self.desc[a:b]):
            if d:
                if d != rd._desc:
                    rd._desc, rd._desc_ok = d, _is_train_desc(d)
                break
        hit = (self.desc[last], n, self.T, rate, el)
        rd._applied, rd._applied_run = hit, cur
        if len(rd._frames) > 8:
            rd._frames.clear()
        rd._frames[self.lasts[last]] = hit


class _CFrames:
    """What ``_TqdmFrames`` reads, read by the C scanner (``logcheck._speedups.scan_tqdm``), with
    each line's dict too: ``ok`` lines are the same shape, checked the same way line by line (or,
    shape 0, a line that is a dict), and for those whose dict is plain (floats or quoted numbers,
    ASCII keys) ``keyid`` names its key set in ``sigs`` and ``vals[voff[i]:]`` holds its values in
    key order. Rates and elapsed times come as numbers (NaN: none); the texts are sliced out of the
    last line of a bulk only (``tx``). ``dec``/``same``/``back``/``eq`` compare each line with the
    one before, for the checks ``_c_bulk`` makes over a run."""

    __slots__ = ("T", "per", "ok", "n", "desc", "rate", "elapsed", "keyid", "sigs", "vals", "voff", "batch", "code",
                 "epoch", "dec", "same", "back", "tx", "eq", "starts", "N", "pc")

    @classmethod
    def read(cls, batch: "list[bytes] | bytes", T: int) -> Optional["_CFrames"]:
        """The lines of ``batch``: a list, or a block of whole lines (each ended by a newline),
        which is then split only where a line is needed (``line``, ``lines``)."""
        r = _speedups.scan_tqdm(batch, T)
        if r is None:
            return None
        self = cls()
        self.T, self.batch = T, batch
        (pers, ok, n, desc, rate, elapsed, keyid, self.sigs, vals, voff, epoch, self.dec, self.same, self.back, tx,
         self.eq, starts, pc) = r
        self.pc = np.frombuffer(pc, dtype=np.int32)
        self.N = len(pers)
        self.starts = None if starts is None else np.frombuffer(starts, dtype=np.int64).tolist()
        self.epoch = np.frombuffer(epoch, dtype=np.float64)
        self.tx = np.frombuffer(tx, dtype=np.int32).reshape(-1, 6)
        self.per = np.frombuffer(pers, dtype=np.uint8)
        self.ok = np.frombuffer(ok, dtype=np.uint8)
        self.n = np.frombuffer(n, dtype=np.int32)
        self.desc = desc
        self.rate = np.frombuffer(rate, dtype=np.float64)
        self.elapsed = np.frombuffer(elapsed, dtype=np.float32)
        self.keyid = np.frombuffer(keyid, dtype=np.int32)
        self.vals = np.frombuffer(vals, dtype=np.float64)
        self.voff = np.frombuffer(voff, dtype=np.int64)
        # per line: its key set and shape when it can be stored in bulk; -2: a frame of a nested
        # bar (the eval loop's), which the fast path skips; else -1
        self.code = np.where((self.ok != 0) & (self.keyid >= 0), self.keyid * 256 + self.per,
                             np.minimum(self.keyid, -1))
        return self

    def c_at(self, a: int) -> int:
        """The counter of ok line a's first frame: PREV (the training-bar frame drawn last: the
        previous line's LAST, or the frame redrawn alone before an evaluation) when it has one."""
        return int(self.pc[a])

    def continues(self, rd: "_ConsoleReader", a: int, b: int) -> bool:
        """``_TqdmFrames.continues`` for lines a..b-1."""
        cur = rd.cur
        T = self.T
        ent = rd.bars.get(T)
        if cur.T != T or ent is None or ent[1] != cur.train_n or cur.train_n is None:
            return False
        c = self.c_at(a)
        # a PREV redraws the bar as the reader left it (its counter is the current one)
        if c < cur.train_n or (self.per[a] >= 4 and c != cur.train_n):
            return False
        # unfinished, and no counter lower than the one before it
        return int(self.n[b - 1]) < T and b"\x01" not in self.dec[a + 1:b]

    def line(self, i: int) -> bytes:
        if self.starts is None:
            return self.batch[i]
        return self.batch[self.starts[i]:self.starts[i + 1] - 1]

    def lines(self, i: int, j: int) -> list[bytes]:
        """Lines i..j-1."""
        if self.starts is None:
            return self.batch[i:j]
        return self.batch[self.starts[i]:self.starts[j] - 1].split(b"\n")

    def body(self, i: int) -> bytes:
        line = self.line(i)
        return line[line.rfind(b"\r") + 1:]

    def apply(self, rd: "_ConsoleReader", a: int, b: int, i0: int) -> None:
        """``_TqdmFrames.apply`` for lines a..b-1, whose dicts are ``i0``, ``i0 + 1``, ..."""
        cur = rd.cur
        ns = self.n
        after = cur.after
        ca = self.c_at(a)
        for i in range(cur.pending_from, i0):
            after[i] = ca
        cur.before.frombytes(ns[a:b].tobytes())
        per = int(self.per[a])  # (the same for lines a..b-1)
        after.frombytes((ns[a:b - 1] if per >= 4 else ns[a + 1:b]).tobytes())
        after.append(-1)
        cur.pending_from = i0 + b - a - 1
        cur.rate.frombytes(self.rate[a:b].tobytes())
        cur.elapsed.frombytes(self.elapsed[a:b].tobytes())
        rd.bar_seq += (per - 2) * (b - a)
        last = b - 1
        # the last line's frame and its texts, where the scanner found them
        line = self.line(last)
        at, ln, e_at, e_len, r_at, r_len = self.tx[last].tolist()
        fb = line[at:at + ln]
        n, rate, el = int(ns[last]), line[r_at:r_at + r_len].decode(), line[e_at:e_at + e_len].decode()
        dtext = " " * self.desc[last]
        ent = rd.bars[self.T]
        ent[1], ent[2], ent[3] = n, rate, el
        cur.train_n, cur.train_rate, cur.train_elapsed = n, rate, el
        descs = self.desc[a:b].rstrip(b"\0")
        if descs:
            d = " " * descs[-1]
            if d != rd._desc:
                rd._desc, rd._desc_ok = d, _is_train_desc(d)
        hit = (dtext, n, self.T, rate, el)
        rd._applied, rd._applied_run = hit, cur
        if len(rd._frames) > 8:
            rd._frames.clear()
        rd._frames[fb] = hit


# ---------------------------------------------------------------------------
# Console parser
# ---------------------------------------------------------------------------


class _Group:
    """Train series always logged together (one key set): one ordinal column for all of them."""

    __slots__ = ("idx", "cols")

    def __init__(self, cols: list[tuple[str, array]]):
        self.idx = array("I")  # dict ordinals
        self.cols = cols  # (dict key, values) per metric, in the dict's key order

    def append(self, d: dict[str, Any]) -> bool:
        """One value per metric of ``d`` (the ordinal is the caller's); False, with nothing
        appended, when one is not a number (the per-key path then decides)."""
        done = 0
        try:
            for k, vals in self.cols:
                v = d[k]
                t = type(v)
                if t is str:
                    v = float(v)  # what parse_number gives whenever float() takes it (transformers 5)
                elif t is bool:
                    raise TypeError
                vals.append(v)
                done += 1
        except (TypeError, ValueError, OverflowError):
            for _, vals in self.cols[:done]:
                vals.pop()
            return False
        return True


class _ConsoleRun:
    """One Trainer run inside a console log, while it is being read.

    Memory is what limits a gigabyte log, so per logged dict only compact columns are kept:
    counters as uint32/int32, the elapsed time as float32 (whole seconds), and train metrics
    logged together share one ordinal column (``_Group``). The real steps, epochs and lines of
    the series are gathered once at the end, shared by every series of a group.
    """

    def __init__(self, path: str):
        self.b = RunBuilder(path, "hf")
        # one entry per logged dict (train/eval/test), in log order
        self.kind = array("b")
        self.epoch = array("d")
        self.before = array("i")  # training-bar counter last seen before the dict (-1: none)
        self.after = array("i")  # first training-bar counter after it (tqdm.write redraws the bar)
        self.explicit: Optional[array] = None  # a step the dict names; created on the first one
        self.dline = array("I")
        self.rate = array("d")  # progress-bar it/s next to the dict (NaN: none)
        self.elapsed = array("f")  # progress-bar elapsed seconds (whole seconds: exact in float32)
        self.pending_from = 0  # dicts from here on wait for an "after" counter
        self.names: set[tuple[str, str]] = set()  # eval/test series (added to the builder directly)
        # train series: (name, key) -> parts [(ordinals, values)], merged by ordinal at the end
        self.train_parts: dict[str, tuple[str, list[tuple[array, array]]]] = {}
        self.groups: dict[tuple[str, ...], Optional[_Group]] = {}  # dict key set -> its group
        self.loose: dict[str, tuple[array, array]] = {}  # train key -> ordinals, values outside groups
        self.prev_body: Optional[bytes] = None
        self.prev_train_n: Optional[int] = None
        self.duplicates = 0
        self.T: Optional[int] = None  # training-bar total
        self.train_n: Optional[int] = None
        self.train_rate: Optional[str] = None  # tqdm's text; parsed only when a dict uses it
        self.train_elapsed: Optional[str] = None
        self.summary_seen = False
        self.summary_epoch: Optional[float] = None
        self.summary_line: Optional[int] = None
        self.last_train_epoch = -math.inf
        self.last_dict_line = 0
        self.fatal: list[tuple[int, str]] = []  # exception lines / fatal errors, in order
        self.checkpoints: set[int] = set()
        self.started = False  # saw a dict or a summary
        self.n_events = 0
        self.post_events: list[tuple[int, str, str, Optional[str]]] = []
        self.ambiguous: list[tuple[int, str, Optional[str], Optional[int]]] = []  # 5.x lines without a level

    def series_part(self, key: str) -> None:
        """Register a train key as a series (in first-seen order, as the report lists them)."""
        if key not in self.train_parts:
            name = key[6:] if key.startswith("train/") else key
            self.train_parts[key] = (name, [])
            self.b.reserve("train", name, key)

    def new_group(self, keys: tuple[str, ...], d: dict[str, Any]) -> Optional[_Group]:
        """The group for a key set, from its first dict: the keys holding numbers, when every
        non-meta key does (else None: such dicts take the per-key path)."""
        metric = [k for k in keys if k not in _META_KEYS]
        if not metric or len(self.groups) >= 256:
            return None
        for k in metric:
            v = d[k]
            t = type(v)
            if t is str:  # transformers 5 prints its numbers as strings ('loss': '10.71')
                try:
                    float(v)
                except ValueError:
                    return None
            elif t is not float and t is not int:
                return None
        g = _Group([(k, array("d")) for k in metric])
        for k, vals in g.cols:
            self.series_part(k)
            self.train_parts[k][1].append((g.idx, vals))
        return g

    def add_loose(self, key: str, i: int, val: float) -> None:
        cols = self.loose.get(key)
        if cols is None:
            self.series_part(key)
            cols = self.loose[key] = (array("I"), array("d"))
            self.train_parts[key][1].append(cols)
        cols[0].append(i)
        cols[1].append(val)


class HFConsoleParser(Parser):
    name = "hf_console"
    format = "hf"
    framework = "transformers"
    description = "Hugging Face Trainer console output (transformers 4.x and 5.x, TRL, ms-swift)"

    def sniff(self, path: Path, head: bytes) -> float:
        if _JSON_HEAD_RE.match(head):
            return 0.0
        if b"{'loss':" in head or b"{'eval_loss':" in head or b"'train_runtime'" in head:
            return 0.95
        if b"***** Running training *****" in head:
            return 0.95
        if (b"[INFO|trainer.py" in head or b"[WARNING|trainer.py" in head or b"[transformers] " in head
                or b"[INFO:swift]" in head):
            return 0.7
        if b"transformers" in head and b"it/s]" in head:
            return 0.3
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":
        try:
            return _ConsoleReader(Path(path)).read()
        except ParseError:
            raise
        except (OSError, ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError,
                MemoryError, RecursionError, UnicodeError, AttributeError) as e:
            raise ParseError(f"{path}: cannot read as Hugging Face console output: {e}") from e


class _ConsoleReader:
    #: lines of the common tqdm shape skip the general line handler (tests turn it off to
    #: check that both give the same run)
    fast = True
    #: the C scanner reads the runs of tqdm dict lines when it is built (tests turn it off to
    #: check that the pure-Python bulk path gives the same run)
    use_c = _speedups is not None

    def __init__(self, path: Path):
        self.path = path
        self.spath = str(path)
        self.runs: list[_ConsoleRun] = []
        self.cur = self._new_run()
        self.nbytes = 0
        self.nlines = 0
        self.version: Optional[str] = None
        self.hf5 = False
        self.header_mode: Optional[str] = None
        self.in_traceback = False
        self.in_targs = False
        self.load_report: Optional[dict[str, Any]] = None
        self.dict_rank: Optional[int] = None
        self.hf5_info_visible = False
        # unfinished train-like bars: total -> [start order, n, rate text, elapsed text]
        self.bars: dict[int, list[Any]] = {}
        self.bar_seq = 0
        # tqdm.write redraws the bar it cleared: the same frame comes back on the next line,
        # so the last frame and what _BAR_RE found in it are kept (saves a regex per line)
        self._bar_frame: Optional[str] = None
        self._bar_hit: Optional[tuple[Any, ...]] = None
        self._desc, self._desc_ok = "", True  # the last bar description, and whether it is a training bar
        self._sigs: dict[tuple[str, ...], tuple[bool, bool, bool, bool, bool]] = {}  # dict keys -> their kind
        self._frames: dict[bytes, Any] = {}  # recent frames of the fast path -> what they are
        self._memo: dict[Optional[str], float] = {}  # tqdm rate / elapsed text -> its number
        self._plain: set[tuple[str, ...]] = set()  # key sets of plain train dicts
        self._tmpl, self._tmpl_desc = b"", ""  # the last bar frame up to its counter, and its description
        # the fast path's last frame that _bar applied to the training bar, and in which run
        self._applied: Any = None
        self._marks: dict[int, tuple[bytes, bytes]] = {}  # bar total -> b"/T [", b"T/T ["
        self._applied_run: Optional[_ConsoleRun] = None

    def _new_run(self) -> _ConsoleRun:
        r = _ConsoleRun(self.spath)
        self.runs.append(r)
        return r

    def _start_new_run(self) -> None:
        old = self.cur
        self.cur = self._new_run()
        # what was printed after a run's summary is usually the next run's set-up
        for lineno, level, text, logger in old.post_events:
            self._event(lineno, level, text, logger)
        old.post_events = []

    # -- reading ----------------------------------------------------------------
    def read(self) -> "Run | list[Run]":
        self.nbytes = self.path.stat().st_size
        self._read_lines()
        if self.load_report is not None:
            self._flush_load_report()
        last = self.cur
        last.b.last_step = None if last.train_n is None else float(last.train_n)
        for lineno, level, text, logger in last.post_events:
            last.n_events += 1
            last.b.event(lineno, level, text, logger=logger, source=self.spath)
        last.post_events = []
        runs = [r for r in self.runs if r.started or r.n_events or r.ambiguous or r.b.config]
        if not runs:
            if self.nbytes == 0:
                raise ParseError(f"{self.spath}: empty file")
            raise ParseError(f"{self.spath}: no Hugging Face Trainer output found")
        built = []
        many = len(runs) > 1
        for i, r in enumerate(runs, 1):
            if many:
                r.b.name = f"{self.spath}#{i}"
            built.append(self._finish(r))
        return built if many else built[0]

    def _read_lines(self) -> None:
        """Every line through ``_line``, or through one of the fast paths when it can take it.

        Lines are split on ``\\n`` only, in blocks of 1 MiB (the same lines and numbers as
        ``iter_lines``, without a generator step per line). With the C scanner, a block of tqdm dict
        lines (once the training bar's total is known) or of dict lines goes to ``_c_piece`` whole;
        otherwise runs of tqdm dict lines (frames, then the dict) go to ``_tqdm_lines``, runs of
        dict lines to ``_dense_lines`` and the rest to ``_plain_lines``.
        """
        lineno = 0
        with open(self.path, "rb") as f:
            blocks = LineBlocks(f, _BLOCK, MAX_LINE_BYTES)
            for first, data, whole in blocks:
                if not whole:  # a piece of a line longer than a block, or the last line without a newline
                    lineno = first
                    self._line(lineno, data)
                    continue
                T = self.cur.T
                if self.fast and self.use_c and (
                        T is not None if b"\r{'" in data else data[:2] == b"{'" or b"\n{'" in data):
                    # tqdm dict lines (once the training bar's total is known: before, _tqdm_lines
                    # finds it) or lines that are a dict each: the C scanner reads the whole block
                    # at once (it splits it too), and finds the runs of lines to store in bulk itself
                    cfr = _CFrames.read(data, T or 0)
                    if cfr is not None:
                        self._c_piece(first, cfr, 0)
                        blocks.counted = cfr.N
                        lineno = first + cfr.N
                        continue
                lines = data.split(b"\n")
                lines.pop()
                blocks.counted = len(lines)
                lineno = first + len(lines)
                pos = 0
                if self.fast:
                    runs = _dict_runs(lines, b"\r") if b"\r" in data else []
                    if data[:2] == b"{'" or b"\n{'" in data:  # lines that are one dict each
                        runs = sorted(runs + _dict_runs(lines, b"{'"))
                    for i, j in runs:
                        if pos < i:
                            self._plain_lines(first + pos, lines[pos:i])
                        if lines[i][:1] == b"\r":
                            self._tqdm_lines(first + i, lines[i:j])
                        else:
                            self._dense_lines(first + i + 1, lines[i:j], lines[i:j])
                        pos = j
                self._plain_lines(first + pos, lines[pos:] if pos else lines)
        self.nlines = lineno

    def _plain_lines(self, start: int, lines: list[bytes]) -> None:
        """Lines ``start + 1``, ``start + 2``, ... one by one: a dict line through
        ``_fast_dict_line``, the rest through ``_line`` (runs of dict lines long enough to be
        stored together were taken out by ``_read_lines``)."""
        line = self._line
        fast = self._fast_dict_line if self.fast else (lambda lineno, raw: False)
        skip_nested = self.fast
        lineno = start
        for raw in lines:
            lineno += 1
            if raw[-1:] == b"}":
                if fast(lineno, raw) or (skip_nested and self._nested_dict_line(lineno, raw)):
                    continue
            elif skip_nested and raw[-3:] == b"\x1b[A" and _NESTED_FRAME_RE.fullmatch(raw):
                self._applied = None  # a frame of a nested bar (the eval loop's): _line would do no more
                continue
            elif skip_nested and raw[-1:] == b"]" and self._redrawn_frame(raw):
                continue
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            line(lineno, raw)

    def _nested_dict_line(self, lineno: int, raw: bytes) -> bool:
        """A dict printed while a nested bar (the eval loop's) is drawn: tqdm's blank, then the
        cursor-up code and the dict (``\\r<spaces>\\r\\x1b[A{'eval_loss': ...}``). Handled as
        ``_line`` handles it, without decoding and splitting the line; False for anything else."""
        j = raw.find(b"\r\x1b[A{'")
        if j < 1 or raw[:1] != b"\r" or raw.count(b"\r") != 2 or not raw[1:j].isspace():
            return False
        body = raw[j + 4:]
        if (len(body) > MAX_DICT_CHARS or not body.isascii() or b"\x1b" in body or b"\x00" in body
                or (b"%" in body and b"/" in body)):  # (_line would look for a bar in it)
            return False
        self._applied = None
        self._dict_bytes(body, lineno)
        return True

    def _redrawn_frame(self, raw: bytes) -> bool:
        """A line that is only the training bar's frame the fast path applied last, drawn again
        (tqdm redraws its bar before the evaluation loop's starts): what ``_line`` and ``_bar``
        would do with it, which is to count it and give its counter to the dicts waiting for one."""
        if raw[:1] != b"\r" or b"\r" in raw[1:]:
            return False
        h = self._frames.get(raw[1:])
        if h is None or h is not self._applied or self.cur is not self._applied_run:
            return False
        self._redraw(h)
        self._applied = None
        return True

    def _redraw(self, h: Any) -> None:
        """The frame ``_bar`` just applied (``h``), drawn again: all it can still change is the
        counter of the dicts waiting for one."""
        cur = self.cur
        self.bar_seq += 1
        k = len(cur.kind)
        if cur.pending_from < k:
            after = cur.after
            for i in range(cur.pending_from, k):
                after[i] = h[1]
            cur.pending_from = k

    def _tqdm_lines(self, start: int, batch: list[bytes]) -> None:
        """Lines ``start + 1``, ... that each start with a carriage return and end with a dict.

        The usual one is what the Trainer prints with ``logging_steps=1``: the bar redrawn after
        the previous dict, the bar's next frame, tqdm's blank, then the dict. Runs of such lines
        whose frames are all the training bar's (``_TqdmFrames``) are stored together by
        ``_dense_lines``, with each dict's counters, rate and elapsed time; any other line is
        taken alone, by the same code as before. Either way the run is the same.
        """
        one = self._one_dense_line
        one(start + 1, batch[0])  # it sets the bar state the others continue
        T = self.cur.T
        if T is not None and len(batch) > _MIN_BULK + 1 and self.use_c:
            cfr = _CFrames.read(batch, T)  # (line 0 only for its last frame: the next one's PREV)
            if cfr is not None:
                self._c_piece(start, cfr, 1)
                return
        # the lines in pieces of one shape (as many carriage returns): tqdm skips frames at
        # times, and the first line after an evaluation has no redrawn frame
        counts = list(map(bytes.count, batch, repeat(b"\r")))
        i, n = 1, len(batch)
        while i < n:
            c = counts[i]
            j = i + 1
            while j < n and counts[j] == c:
                j += 1
            T = self.cur.T
            fr = _TqdmFrames.read(batch[i:j], T) if T is not None and j - i > _MIN_BULK else None
            if fr is None:
                for k in range(i, j):
                    one(start + k + 1, batch[k])
            else:
                self._tqdm_piece(start + i, batch[i:j], fr)
            i = j

    def _c_piece(self, start: int, fr: _CFrames, begin: int) -> None:
        """Lines ``begin``... of what ``fr`` read (line ``start + 1`` first) with the C scanner's
        reading: runs of lines of one shape and key set in bulk (``_c_bulk``), the rest line by
        line, as ``_tqdm_piece`` and ``_dense_lines`` do."""
        plain = self._plain_lines
        code = fr.code
        n = fr.N
        # where the key set and shape (or -1: not for the bulk path) change
        cuts = [begin, *(np.flatnonzero(code[begin + 1:] != code[begin:-1]) + begin + 1).tolist(), n]
        for i, j in zip(cuts, cuts[1:]):
            c = code[i]
            if c == -2:  # frames of a nested bar: what _plain_lines does with them
                self._applied = None
                continue
            if c < 0 or j - i <= _MIN_BULK:
                plain(start + i, fr.lines(i, j))
                continue
            if self._c_bulk(start + i + 1, fr, i, j):
                continue
            # the first dict of a key set makes its group: one line, then try the rest
            plain(start + i, [fr.line(i)])
            if not self._c_bulk(start + i + 2, fr, i + 1, j):
                plain(start + i + 1, fr.lines(i + 1, j))

    def _c_bulk(self, first: int, fr: _CFrames, a: int, b: int) -> bool:
        """``_dense_bulk`` for lines a..b-1 of ``fr`` (one key set and shape, line ``first`` first):
        tqdm dict lines, or (shape 0) lines that are a dict each."""
        keys, _ = fr.sigs[int(fr.keyid[a])]
        cur = self.cur
        g = cur.groups.get(keys)
        if not g or keys not in self._plain or cur.summary_seen or (cur.T is None and self.bars):
            return False
        n = b - a
        bars = fr.per[a] != 0
        if bars:
            if not fr.continues(self, a, b):
                return False
            # the same dict again with the same counter: a duplicate, skipped line by line
            if int(fr.n[a]) == cur.prev_train_n and fr.body(a) == cur.prev_body:
                return False
            k = fr.same.find(b"\x01", a + 1, b)
            while k >= 0:  # (the counter usually moves: no duplicate)
                if fr.body(k - 1) == fr.body(k):
                    return False
                k = fr.same.find(b"\x01", k + 1, b)
        else:
            # a dict printed again right after itself is skipped as a duplicate: not here
            if (cur.train_n == cur.prev_train_n and fr.line(a) == cur.prev_body) or b"\x01" in fr.eq[a + 1:b]:
                return False
        K = len(keys)
        off = int(fr.voff[a])
        ep = fr.epoch[a:b]
        if ep[0] < cur.last_train_epoch - 0.011 or b"\x01" in fr.back[a + 1:b]:
            return False  # an epoch that goes back (a new run): line by line
        rows = fr.vals[off:off + n * K].reshape(n, K)
        i0 = len(cur.kind)
        for key, vals in g.cols:
            vals.frombytes(rows[:, keys.index(key)].tobytes())
        g.idx.frombytes(np.arange(i0, i0 + n, dtype=np.uint32).tobytes())
        cur.kind.frombytes(bytes(n))  # _KIND_TRAIN
        cur.epoch.frombytes(ep.tobytes())
        if cur.explicit is not None:
            cur.explicit.extend(array("d", [math.nan]) * n)
        cur.dline.frombytes(np.arange(first, first + n, dtype=np.uint32).tobytes())
        cur.last_dict_line = first + n - 1
        cur.started = True
        cur.last_train_epoch = float(ep[-1])
        if bars:
            fr.apply(self, a, b, i0)
            cur.prev_body, cur.prev_train_n = fr.body(b - 1), cur.train_n
        else:
            tn = cur.train_n
            cur.before.extend(array("i", [-1 if tn is None else tn]) * n)
            cur.after.extend(array("i", [-1]) * n)
            rate, elapsed = self._bar_reading(cur)
            cur.rate.extend(array("d", [rate]) * n)
            cur.elapsed.extend(array("f", [elapsed]) * n)
            cur.prev_body, cur.prev_train_n = fr.line(b - 1), tn
        return True

    def _tqdm_piece(self, start: int, batch: list[bytes], fr: "_TqdmFrames") -> None:
        """Lines ``start + 1``, ... of one shape, read by ``fr``: runs of its ``ok`` lines in bulk."""
        ok = fr.ok
        i, n = 0, len(batch)
        while i < n:
            if not ok[i]:
                self._one_dense_line(start + i + 1, batch[i])
                i += 1
                continue
            try:
                j = ok.index(False, i)
            except ValueError:
                j = n
            if j - i <= _MIN_BULK:
                for k in range(i, j):
                    self._one_dense_line(start + k + 1, batch[k])
            else:
                self._dense_lines(start + i + 1, batch[i:j], fr.bodies[i:j], fr=fr, off=i)
            i = j

    def _dense_lines(self, first: int, batch: list[bytes], bodies: list[bytes], split: bool = True,
                     fr: Optional["_TqdmFrames"] = None, off: int = 0) -> None:
        """Lines ``first``, ``first + 1``, ... whose dicts are ``bodies`` (the lines themselves in a
        log without progress bars; what follows the frames with ``fr``, lines ``off``... of it).

        The dicts are decoded with one ``orjson`` call, and runs of plain train dicts of one key
        set are stored column by column (``_dense_bulk``); everything else, and a batch that does
        not decode (a ``nan`` in one dict), goes line by line as before: the same run either way.
        """
        ds: Any = None
        if split and len(bodies) > _DECODE_AT_ONCE:
            # in pieces: a dict orjson refuses (nan) then costs a second decode of its piece only
            for k in range(0, len(bodies), _DECODE_AT_ONCE):
                end = k + _DECODE_AT_ONCE
                self._dense_lines(first + k, batch[k:end], bodies[k:end], True, fr, off + k)
            return
        if len(bodies) >= _MIN_BULK:
            joined = b",".join(bodies)
            if b'"' not in joined and b"\x1b" not in joined and b"\x00" not in joined \
                    and max(map(len, bodies)) <= MAX_DICT_CHARS:
                try:
                    ds = loads_strict(b"[" + joined.replace(b"'", b'"') + b"]")
                except ValueError:
                    if split and len(bodies) > 4 * _MIN_BULK:  # one odd dict: find it in smaller pieces
                        step = 4 * _MIN_BULK
                        for k in range(0, len(bodies), step):
                            self._dense_lines(first + k, batch[k:k + step], bodies[k:k + step], False, fr, off + k)
                        return
                if type(ds) is not list or len(ds) != len(bodies) or not all(type(d) is dict for d in ds):
                    ds = None  # e.g. "{'a': 1}, {'b': 2}" on one line
        start = 0
        if ds is not None:
            keys = list(map(tuple, ds))
            i, n = 0, len(bodies)
            while i < n:
                j = i + 1
                k = keys[i]
                while j < n and keys[j] == k:
                    j += 1
                if j - i > _MIN_BULK:
                    for raw_i in range(start, i):  # what comes first changes what the bulk path sees
                        self._one_dense_line(first + raw_i, batch[raw_i])
                    start = i
                    if self._dense_bulk(first + i, bodies[i:j], ds[i:j], k, fr, off + i):
                        start = j
                    else:
                        # the first dict of a key set makes its group: one line, then try the rest
                        self._one_dense_line(first + i, batch[i])
                        start = i + 1
                        if self._dense_bulk(first + i + 1, bodies[i + 1:j], ds[i + 1:j], k, fr, off + i + 1):
                            start = j
                i = j
        for raw_i in range(start, len(bodies)):
            self._one_dense_line(first + raw_i, batch[raw_i])

    def _one_dense_line(self, lineno: int, raw: bytes) -> None:
        if not self._fast_dict_line(lineno, raw):
            self._line(lineno, raw)

    def _dense_bulk(self, first: int, batch: list[bytes], ds: list[dict[str, Any]], keys: tuple[str, ...],
                    fr: Optional["_TqdmFrames"] = None, off: int = 0) -> bool:
        """What ``_fast_dict_line`` does for each of these dicts (plain train dicts, one key set,
        mid-run), done column by column; False, with nothing changed, when one of its
        conditions does not hold for every dict. With ``fr``, each dict comes after its line's
        frames of the training bar (lines ``off``... of ``fr``), which ``_bar`` would apply."""
        cur = self.cur
        g = cur.groups.get(keys)
        if not g or keys not in self._plain or cur.summary_seen or (cur.T is None and self.bars):
            return False
        n = len(batch)
        if fr is not None:
            if not fr.continues(self, off, off + n):
                return False
            ns = fr.n[off:off + n]
            # the same dict again with the same counter: a duplicate, skipped line by line
            # (the dicts but the last of fr end with their newline)
            last = batch[-1].rstrip(b"\n")
            if batch[0].rstrip(b"\n") == cur.prev_body and ns[0] == cur.prev_train_n:
                return False
            if any(map(operator.eq, ns, ns[1:])) and any(  # (the counter usually moves: no duplicate)
                    a == b and c == d for a, b, c, d in zip(batch[:-1], batch[1:-1] + [last + b"\n"], ns, ns[1:])):
                return False
        elif (batch[0] == cur.prev_body and cur.train_n == cur.prev_train_n) or any(map(bytes.__eq__, batch, batch[1:])):
            return False  # a dict printed again right after itself is skipped as a duplicate: not here
        # the epochs and each metric's values, one tuple a column
        epochs, *columns = zip(*map(operator.itemgetter("epoch", *(k for k, _ in g.cols)), ds))
        epochs = _floats(epochs)
        if epochs is None:
            return False
        ep = np.array(epochs)
        if not np.isfinite(ep).all() or ep[0] < cur.last_train_epoch - 0.011 or bool((ep[1:] < ep[:-1] - 0.011).any()):
            return False  # a non-finite epoch, or one that goes back (a new run): line by line
        cols = []
        for (_, vals), column in zip(g.cols, columns):
            v = _floats(column)
            if v is None:
                return False  # ints, booleans, odd strings: the per-dict path decides
            cols.append((vals, v))
        i0 = len(cur.kind)
        for vals, v in cols:
            vals.extend(v)
        g.idx.extend(range(i0, i0 + n))
        cur.kind.frombytes(bytes(n))  # _KIND_TRAIN
        cur.epoch.extend(epochs)
        if fr is None:
            tn = cur.train_n
            cur.before.extend(array("i", [-1 if tn is None else tn]) * n)
            cur.after.extend(array("i", [-1]) * n)
        if cur.explicit is not None:
            cur.explicit.extend(array("d", [math.nan]) * n)
        cur.dline.extend(range(first, first + n))
        cur.last_dict_line = first + n - 1
        cur.started = True
        cur.last_train_epoch = epochs[-1]
        if fr is None:
            rate, elapsed = self._bar_reading(cur)
            cur.rate.extend(array("d", [rate]) * n)
            cur.elapsed.extend(array("f", [elapsed]) * n)
            cur.prev_body, cur.prev_train_n = batch[-1], tn
        else:
            fr.apply(self, off, off + n, i0)
            cur.prev_body, cur.prev_train_n = last, cur.train_n
        return True

    def _fast_dict_line(self, lineno: int, raw: bytes) -> bool:
        """The common line of a tqdm run: progress-bar frames, then ``\\r{'loss': ...}``.

        Handles it with what ``_line`` would do, and returns False (nothing changed) for
        anything else: a rank prefix, ANSI codes, NULs, text that is not a bar frame.
        """
        j = raw.rfind(b"\r")
        body = raw[j + 1:] if j >= 0 else raw
        if body[:2] != b"{'" or len(body) > MAX_DICT_CHARS:
            return False
        c = raw[0]
        if c != 13 and c != 123 and c != 32:  # "\\r", "{", " ": nothing a rank prefix starts with
            return False
        if b"\x1b" in raw or b"\x00" in raw:
            return False
        if j > 0:
            hits = []
            frames = self._frames
            parts = raw[:j].split(b"\r")
            if len(parts) > 8 and self.cur.T is not None:
                parts = self._skip_middle_frames(parts, self.cur.T)
            for fb in parts:
                if not fb:
                    continue
                hit = frames.get(fb)
                if hit is None:
                    hit = self._frame_next(fb)
                    if len(frames) > 8:
                        frames.clear()
                    frames[fb] = hit
                if hit is False:
                    return False
                if hit is not True:
                    hits.append(hit)
            for h in hits:
                cur = self.cur
                if h is self._applied and cur is self._applied_run:
                    self._redraw(h)  # the frame _bar just applied, redrawn after a dict (tqdm.write)
                    continue
                t_before = cur.T
                self._bar(*h)
                applied = (t_before is not None and t_before == h[2] and (not h[0] or self._desc_ok)
                           and h[1] <= _MAX_COUNTER)  # what _bar took
                self._applied = h if applied else None
                self._applied_run = cur
        cur = self.cur
        if body == cur.prev_body and cur.train_n == cur.prev_train_n:
            cur.duplicates += 1
            return True
        d = _quick_dict(body)
        if d is None:
            self._dict_bytes(body, lineno)
            return True
        cur.prev_body, cur.prev_train_n = body, cur.train_n
        # a train dict of a known key set, mid-run: what _metrics would do, inlined
        keys = tuple(d)
        g = cur.groups.get(keys)
        e = d.get("epoch")
        if type(e) is str:
            try:
                e = float(e)
            except ValueError:
                e = None
        if not (g and type(e) is float and e - e == 0.0 and keys in self._plain and (cur.T is not None or not self.bars)
                and not cur.summary_seen and e >= cur.last_train_epoch - 0.011):
            self._metrics(d, lineno)
            return True
        if not g.append(d):
            self._metrics(d, lineno)
            return True
        i = len(cur.kind)
        g.idx.append(i)
        cur.kind.append(_KIND_TRAIN)
        cur.epoch.append(e)
        tn = cur.train_n
        cur.before.append(-1 if tn is None else tn)
        cur.after.append(-1)
        if cur.explicit is not None:
            cur.explicit.append(math.nan)
        cur.dline.append(lineno)
        cur.last_dict_line = lineno
        cur.started = True
        cur.last_train_epoch = e
        rate, elapsed = self._bar_reading(cur)
        cur.rate.append(rate)
        cur.elapsed.append(elapsed)
        return True

    def _bar_reading(self, cur: _ConsoleRun) -> tuple[float, float]:
        """The training bar's rate (it/s) and elapsed seconds as last drawn (NaN: none).
        tqdm's texts repeat from dict to dict, so each is parsed once."""
        memo = self._memo
        rt = cur.train_rate
        rate = memo.get(rt)
        if rate is None:
            rate = _rate(rt)
            rate = memo[rt] = math.nan if rate is None else rate
        et = cur.train_elapsed
        elapsed = memo.get(et)
        if elapsed is None:
            elapsed = _seconds(et) if et else None
            elapsed = memo[et] = math.nan if elapsed is None else elapsed
        if len(memo) > 4096:
            memo.clear()
        return rate, elapsed

    def _skip_middle_frames(self, parts: list[bytes], T: int) -> list[bytes]:
        """With ``logging_steps`` > 1 a dict line holds a frame per step since the last dict.

        Of those, ``_bar`` keeps only what the first (the counter for dicts waiting for one)
        and the last (counter, rate, elapsed) leave behind, so the frames between are only
        checked to be frames of the Trainer's bar (no description, total T, not finished,
        nothing after the bar); when they all are, the first and last three are returned.
        """
        mark = self._marks.get(T)
        if mark is None:
            mark = self._marks[T] = (b"/%d [" % T, b"%d/%d [" % (T, T))
        total, done = mark
        head, tail = parts[:4], parts[-4:]
        # the training bar's frame must be the last bar frame of the tail (else a middle one counts)
        last = next((fb for fb in reversed(tail) if fb and not fb.isspace()), b"")
        if not (last[:1] in (b" ", b"1") and total in last):
            return parts
        # parts[3] too: then the dicts waiting for a counter get it in the head, as they would.
        # Checked on the joined frames at once (byte counts), not frame by frame.
        middle = parts[3:-4]
        k = len(middle)
        mid = b"\r".join(middle)
        if (mid.count(total) != k or mid.count(b"]\r") != k - 1 or mid[-1:] != b"]" or mid.count(b"%") < k
                or done in mid or not (mid[:1] == b" " or b"0" <= mid[:1] <= b"9")
                or _FRAME_START_RE.search(mid) is not None):
            return parts
        return head + tail

    def _frame_next(self, fb: bytes) -> Any:
        """``_frame_hit`` for the next frame of the bar seen last: the same bytes up to the
        counter (``  5%|▌    | ``), then ``N/T [E<R, RATE]``, read with plain byte searches.
        Only frames the pattern would read the same way are taken here; the rest go to it."""
        if fb.isspace():
            return True  # tqdm clearing the line before a message
        pre = self._tmpl
        if pre and fb.startswith(pre) and len(fb) < 4000:
            m = _BAR_TAIL_RE.fullmatch(fb, len(pre))
            if m is not None:
                nb, tb, eb, rb = m.groups()
                if eb.isascii() and rb.isascii():
                    return (self._tmpl_desc, int(nb), int(tb), rb.decode(), eb.decode())
        hit = self._frame_hit(fb)
        self._tmpl = b""
        if type(hit) is tuple and hit[0].isspace() and len(fb) < 4000:
            # the Trainer's own bar (no description): its frames share everything up to the counter
            m = _BAR_RE_B.search(fb, 0, 4096)
            if m is not None:
                self._tmpl, self._tmpl_desc = fb[:m.start("n")], hit[0]
        return hit

    @staticmethod
    def _frame_hit(fb: bytes) -> Any:
        """A frame as ``_line`` reads it: True when blank, the ``_bar`` arguments when it is a
        progress bar and nothing else, False otherwise (or when unsure: ``_line`` decides)."""
        if fb.isspace():
            return True
        # the bytes pattern finds what the text one finds when everything but the bar's
        # glyphs is ASCII (no Unicode digits or spaces for the text pattern to see)
        k = fb.find(b"%|")
        if k >= 0:
            k2 = fb.find(b"|", k + 2)
            if k2 < 0 or not (fb[:k].isascii() and fb[k2:].isascii()):
                return False
        elif not fb.isascii():
            return False
        m = _BAR_RE_B.search(fb, 0, 4096)
        if m is None or not fb[m.end():].isspace() and m.end() != len(fb):
            return False
        n, total, rate, elapsed = m.group("n", "total", "rate", "elapsed")
        desc = fb[: m.start()]
        if not (desc.isascii() and (rate is None or rate.isascii()) and (elapsed is None or elapsed.isascii())):
            return False  # e.g. a second bar after the first one's glyphs: _line reads the decoded text
        return (desc.decode(), int(n), int(total), None if rate is None else rate.decode(),
                None if elapsed is None else elapsed.decode())

    def _line(self, lineno: int, raw: bytes) -> None:
        self._applied = None
        if not raw:
            return
        nested: Optional[list[bool]] = None  # None: no frame carries a cursor-up
        if b"\r" in raw:
            # ANSI codes are removed per frame, after noting which frames belong to a nested bar
            # (tqdm position >= 1, e.g. the eval bar: its frames carry a cursor-up ESC[A)
            text = raw.decode("utf-8", "replace")
            if "\x00" in text:
                text = text.replace("\x00", "")
            frames = text.split("\r")
            if "\x1b" in text:
                nested = ["\x1b[A" in f for f in frames]
                frames = [strip_ansi(f) for f in frames]
            f0 = frames[0]
            # a rank prefix starts with "[", "(" or a digit (_RANK_RE is anchored there)
            if f0 and (f0[0] in "[(" or f0[0].isdigit()):
                rank, frames[0] = split_rank(f0)
            else:
                rank = None
        else:
            text = clean(raw)
            c = text[:1]
            if c and (c in "[(" or c.isdigit()):
                rank, text = split_rank(text)
            else:
                rank = None
            frames = [text]
            if b"\x1b[A" in raw:
                nested = [True]
        fi = -1
        for frame in frames:
            fi += 1
            if not frame:
                continue
            rest = frame
            if "%" in frame and "/" in frame:
                if frame == self._bar_frame:
                    hit = self._bar_hit
                else:
                    # a bar sits at the start of its frame; bounding the search keeps huge lines linear
                    m = _BAR_RE.search(frame, 0, 4096)
                    hit = None if m is None else (frame[: m.start()], m.end(),
                                                  *m.group("n", "total", "rate", "elapsed"))
                    self._bar_frame, self._bar_hit = frame, hit
                if hit is not None:
                    if (nested is None or not nested[fi]) and (
                            rank is None or self.dict_rank is None or rank == self.dict_rank):
                        self._bar(hit[0], int(hit[2]), int(hit[3]), hit[4], hit[5])
                    rest = frame[hit[1]:]
            idx = rest.find("{'")
            if idx >= 0 and (idx == 0 or not rest[:idx].strip()):
                body = rest[idx:].rstrip()
                if body.endswith("}"):
                    self._dict(body, lineno, rank)
                continue
            if rest.strip():
                self._message(rest, lineno)

    # -- progress bars ------------------------------------------------------------
    def _bar(self, desc: str, n: int, total: int, rate: Optional[str], elapsed: Optional[str]) -> None:
        if desc:
            if desc != self._desc:
                self._desc, self._desc_ok = desc, _is_train_desc(desc[-40:] if len(desc) > 40 else desc)
            if not self._desc_ok:
                return
        if total <= 0 or total > _MAX_COUNTER or n > _MAX_COUNTER:
            return  # the counters are kept in int32 columns: such a bar is not a Trainer's
        # unfinished bars by total, with when each (re)started: the training bar of a run
        # is the most recently started one still running when its first dict appears
        self.bar_seq += 1
        ent = self.bars.get(total)
        if ent is None or n < ent[1]:
            self.bars[total] = [self.bar_seq, n, rate, elapsed]
            if len(self.bars) > 16:
                del self.bars[min(self.bars, key=lambda t: self.bars[t][0])]
        else:
            ent[1], ent[2], ent[3] = n, rate, elapsed
        if n >= total:
            self.bars.pop(total, None)
        cur = self.cur
        if cur.T is None:
            # the bar of a finished run printed after its summary: its total is the run's
            # step count when it matches train_runtime x train_steps_per_second
            if cur.summary_seen and n == total and self._matches_summary_steps(cur, total):
                cur.T = total
                cur.train_n = n
            return
        if total == cur.T:
            cur.train_n = n
            cur.train_rate = rate
            cur.train_elapsed = elapsed
            k = len(cur.kind)
            if cur.pending_from < k:
                after = cur.after
                for j in range(cur.pending_from, k):
                    after[j] = n
                cur.pending_from = k

    def _matches_summary_steps(self, cur: _ConsoleRun, total: int) -> bool:
        rt = cur.b.summary.get("train_runtime_s")
        sps = cur.b.summary.get("train_steps_per_second")
        if rt is None or sps is None or not (math.isfinite(rt) and math.isfinite(sps)):
            return False
        est = rt * sps
        return abs(est - total) <= max(2.0, 0.002 * total)

    # -- metric dicts ---------------------------------------------------------------
    def _dict(self, body: str, lineno: int, rank: Optional[int]) -> None:
        cur = self.cur
        key = body.encode("utf-8", "replace")
        if key == cur.prev_body and cur.train_n == cur.prev_train_n and rank is None:
            # the same dict again with no training progress in between: printed by every rank
            cur.duplicates += 1
            return
        d = parse_pydict(body)
        if not d:
            return
        if rank is not None:
            if self.dict_rank is None:
                self.dict_rank = rank
            elif rank != self.dict_rank:
                return
        cur.prev_body, cur.prev_train_n = key, cur.train_n
        self._metrics(d, lineno)

    def _dict_bytes(self, body: bytes, lineno: int) -> None:
        """``_dict`` for a line the fast path took: no rank prefix, valid dict bytes."""
        cur = self.cur
        if body == cur.prev_body and cur.train_n == cur.prev_train_n:
            cur.duplicates += 1
            return
        d = _quick_dict(body)
        if d is None:
            d = parse_pydict(body.decode("utf-8", "replace"))
            if not d:
                return
        cur.prev_body, cur.prev_train_n = body, cur.train_n
        self._metrics(d, lineno)

    def _metrics(self, d: dict[str, Any], lineno: int) -> None:
        cur = self.cur
        keys = tuple(d)
        sig = self._sigs.get(keys)
        if sig is None:  # once per distinct key set: what kind of dict this is
            for v in d.values():
                if not isinstance(v, (int, float, str)):
                    return  # a dataset sample or config dict, not metrics
            eval_like = test_like = summary_like = False
            for k in keys:
                if k[:5] == "eval_":
                    eval_like = True
                elif k[:5] == "test_" or k[:8] == "predict_":
                    test_like = True
                elif k == "train_runtime":
                    summary_like = True
            train_by_keys = "loss" in d or "learning_rate" in d or "grad_norm" in d or "lr" in d
            has_step = "global_step/max_steps" in d or "step" in d or "global_step" in d
            sig = (eval_like, test_like, summary_like, train_by_keys, has_step)
            if len(self._sigs) < 256:
                self._sigs[keys] = sig
                if (train_by_keys and not (eval_like or test_like or summary_like or has_step)
                        and "epoch" in d and not ("train_loss" in d and "loss" not in d)):
                    self._plain.add(keys)  # a plain train dict: the fast path may handle it inline
        else:
            for v in d.values():
                t = type(v)
                if t is not float and t is not int and t is not str and not isinstance(v, (int, float, str)):
                    return
        eval_like, test_like, summary_like, train_by_keys, has_step = sig
        if eval_like:
            kind = _KIND_EVAL
        elif test_like:
            kind = _KIND_TEST
        elif summary_like or ("train_loss" in d and "loss" not in d):
            self._summary(d, lineno)
            return
        elif train_by_keys or (
            "epoch" in d and any(k not in _META_KEYS and parse_number(v) is not None for k, v in d.items())
        ):
            kind = _KIND_TRAIN
        else:
            return
        e = d.get("epoch")
        if type(e) is float:
            epoch = e
        else:
            epoch = parse_number(e)
            epoch = math.nan if epoch is None else epoch
        explicit = self._explicit_step(d) if has_step else math.nan
        # _maybe_new_run_for decides nothing unless one of these holds (it is called per dict)
        if cur.started and (cur.summary_seen or (kind == _KIND_TRAIN and epoch < cur.last_train_epoch - 0.011)):
            self._maybe_new_run_for(kind, epoch)
            cur = self.cur
        if kind == _KIND_TRAIN:
            if cur.T is None and self.bars:
                total = max(self.bars, key=lambda t: self.bars[t][0])
                _, n, rate, elapsed = self.bars[total]
                cur.T, cur.train_n, cur.train_rate, cur.train_elapsed = total, n, rate, elapsed
            if math.isfinite(epoch):
                cur.last_train_epoch = epoch
        stored_kind = kind + (_AFTER_SUMMARY if cur.summary_seen else 0)
        i = len(cur.kind)
        cur.kind.append(stored_kind)
        cur.epoch.append(epoch)
        cur.before.append(-1 if cur.train_n is None else cur.train_n)
        cur.after.append(-1)
        if explicit == explicit:  # not NaN
            if cur.explicit is None:
                cur.explicit = array("d", [math.nan]) * i
            cur.explicit.append(explicit)
        elif cur.explicit is not None:
            cur.explicit.append(math.nan)
        cur.dline.append(lineno)
        cur.last_dict_line = lineno
        cur.started = True
        if kind == _KIND_TRAIN:
            g = cur.groups.get(keys, False)
            if g is False:
                g = cur.groups[keys] = cur.new_group(keys, d)
            if g is not None and g.append(d):
                g.idx.append(i)
            else:
                g = None  # not a number this time: per key below
            if g is None:
                for k, v in d.items():
                    if k in _META_KEYS:
                        continue
                    val = v if type(v) is float else (parse_number(v) if not isinstance(v, bool) else None)
                    if val is None:
                        continue
                    cur.add_loose(k, i, val)
            rate, elapsed = self._bar_reading(cur)
            cur.rate.append(rate)
            cur.elapsed.append(elapsed)
        else:
            cur.rate.append(math.nan)
            cur.elapsed.append(math.nan)
            b = cur.b
            pos = float(i)
            split = "eval" if kind == _KIND_EVAL else "test"
            prefixes = ("eval_",) if kind == _KIND_EVAL else ("test_", "predict_")
            for k, v in d.items():
                if not k.startswith(prefixes):
                    continue
                val = parse_number(v) if not isinstance(v, bool) else None
                if val is None:
                    continue
                name = k.split("_", 1)[1]
                b.add(split, name, pos, val, epoch, lineno, key=k)
                cur.names.add((split, name))

    def _explicit_step(self, d: dict[str, Any]) -> float:
        gs = d.get("global_step/max_steps")
        if isinstance(gs, str) and "/" in gs:
            a, _, m = gs.partition("/")
            ai, mi = _int(a), _int(m)
            if ai is not None:
                if mi is not None and mi > 0:  # '-3/-5' names no step count
                    self.cur.b.config.setdefault("max_steps", mi)
                return float(ai)
        for k in ("step", "global_step"):
            v = parse_number(d.get(k)) if k in d else None
            if v is not None and math.isfinite(v):
                return v
        return math.nan

    def _maybe_new_run_for(self, kind: int, epoch: float) -> None:
        cur = self.cur
        if not cur.started:
            return
        new = False
        if cur.summary_seen:
            if kind == _KIND_TRAIN:
                new = True
            elif math.isfinite(epoch) and cur.summary_epoch is not None and epoch < cur.summary_epoch - 0.011:
                new = True
        elif kind == _KIND_TRAIN and math.isfinite(epoch) and epoch < cur.last_train_epoch - 0.011:
            new = True  # the epoch went back: a second Trainer run without a summary in between
        if new:
            self._start_new_run()

    def _summary(self, d: dict[str, Any], lineno: int) -> None:
        if self.cur.summary_seen:
            self._start_new_run()
        cur = self.cur
        s = cur.b.summary
        for k, v in d.items():
            val = parse_number(v) if not isinstance(v, bool) else None
            if k == "global_step/max_steps" and isinstance(v, str):
                a, _, m = v.partition("/")
                if _int(a) is not None:
                    s["global_step"] = _int(a)
                if _int(m) is not None:
                    s["max_steps"] = _int(m)
                continue
            if val is None:
                continue
            if k in _SUMMARY_MAP:
                s[_SUMMARY_MAP[k]] = val
            else:
                cur.b.summary_extra[k] = val
        s["line"] = lineno
        cur.summary_seen = True
        cur.summary_line = lineno
        cur.summary_epoch = s.get("epochs")
        cur.started = True

    # -- other lines --------------------------------------------------------------------
    def _message(self, msg: str, lineno: int) -> None:
        if len(msg) > _MAX_MESSAGE:
            msg = msg[:_MAX_MESSAGE]  # events keep 2000 characters; the patterns need no more
        cur = self.cur
        stripped = msg.strip()
        if self.load_report is not None:
            if self._load_report_line(stripped):
                return
        if self.in_traceback:
            if msg[:1] in (" ", "\t") or not stripped:
                return
            if stripped.startswith(("During handling", "The above exception", "Traceback (most recent")):
                return
            self.in_traceback = False
            self._event(lineno, "error", stripped, "traceback")
            cur.fatal.append((lineno, stripped))
            return
        if stripped.startswith("Traceback (most recent call last)"):
            self.in_traceback = True
            return
        if self.in_targs:
            if stripped == ")":
                self.in_targs = False
                return
            m = _TARG_RE.match(stripped)
            if m:
                self._targ(m.group(1), m.group(2))
                return
            self.in_targs = False
        if stripped.startswith("TrainingArguments("):
            self.in_targs = True
            return
        if stripped.startswith(("warnings.warn(", "warnings.warn_explicit(")):
            return

        level: Optional[str] = None
        logger: Optional[str] = None
        body = stripped
        m = _EXPLICIT_LOG_RE.match(stripped)
        if m:
            lv = m.group("level")
            body = m.group("msg").strip()
            logger = "transformers." + m.group("file").rsplit(".", 1)[0]
            level = {"WARNING": "warning", "ERROR": "error", "CRITICAL": "error"}.get(lv, "info")
        else:
            m = _HF5_PREFIX_RE.match(stripped)
            if m:
                self.hf5 = self.hf5 or m.group("lib") == "transformers"
                body = m.group("msg").strip()
                logger = m.group("lib")
                if _HF5_INFO_RE.match(body):
                    level = "info"
                    self.hf5_info_visible = True
                elif body and "LOAD REPORT" not in body:
                    # 5.x prints no level: decided at the end, once it is known whether
                    # INFO messages were printed at all (then only warning-like text is a warning)
                    self._info(body, lineno)
                    cur.ambiguous.append((lineno, body, logger, cur.train_n))
                    return
        self._info(body, lineno)
        if "LOAD REPORT" in body:
            self.load_report = {"line": lineno, "head": body, "rows": {}, "logger": logger}
            return
        if level == "info":
            if _INFO_KEEP_RE.search(body):
                self._event(lineno, "info", body, logger)
            return
        if level is not None:
            if not body:
                return
            self._event(lineno, level, body, logger)
            if level == "error":
                self._maybe_fatal(lineno, body)
            return
        m = _PY_WARNING_RE.match(stripped)
        if m:
            self._event(lineno, "warning", f"{m.group('cat')}: {m.group('msg').strip()}", "py.warnings")
            return
        m = _BASIC_LOG_RE.match(stripped)
        if m:
            lv = "warning" if m.group("level") == "WARNING" else "error"
            self._event(lineno, lv, m.group("msg").strip(), m.group("logger") or "root")
            if lv == "error":
                self._maybe_fatal(lineno, m.group("msg").strip())
            return
        m = _WANDB_WARN_RE.match(stripped)
        if m:
            self._event(lineno, m.group("level").lower(), m.group("msg").strip(), "wandb")
            return
        if "WARNING]" in stripped or "ERROR]" in stripped:
            m = _BRACKET_LEVEL_RE.search(stripped)
            if m:
                lv = m.group("level").lower()
                self._event(lineno, lv, m.group("msg").strip(), m.group("where"))
                return
        if _EXCEPTION_LINE_RE.match(stripped) or _OOM_RE.search(stripped):
            self._event(lineno, "error", stripped, None)
            cur.fatal.append((lineno, stripped))
            return
        m = _RETURN_CODE_RE.search(stripped)
        if m:
            code = _int(m.group(1) or m.group(2) or "0")
            if code:
                self._event(lineno, "error", stripped, None)
                cur.fatal.append((lineno, stripped))
            return
        if _BARE_WARNING_RE.search(stripped):
            self._event(lineno, "warning", stripped, None)

    def _maybe_fatal(self, lineno: int, body: str) -> None:
        if _OOM_RE.search(body) or _EXCEPTION_LINE_RE.match(body):
            self.cur.fatal.append((lineno, body))

    def _event(self, lineno: int, level: str, text: str, logger: Optional[str]) -> None:
        cur = self.cur
        if cur.summary_seen:
            cur.post_events.append((lineno, level, text, logger))
            return
        # the event's step is the training bar's counter at that moment (the provisional
        # step of the last added point is only an ordinal)
        cur.b.last_step = None if cur.train_n is None else float(cur.train_n)
        cur.n_events += 1
        cur.b.event(lineno, level, text, logger=logger, source=self.spath)

    def _load_report_line(self, s: str) -> bool:
        """Collect a 5.x LOAD REPORT table; True when the line belonged to it."""
        rep = self.load_report
        assert rep is not None
        m = _LOAD_ROW_RE.match(s)
        if m:
            rep["rows"].setdefault(m.group("status"), []).append(m.group("key"))
            return True
        if s.startswith("Key ") and "Status" in s or (s and set(s) <= set("-+ ")):
            return True
        self._flush_load_report()
        return False

    def _flush_load_report(self) -> None:
        rep = self.load_report
        self.load_report = None
        if rep is None:
            return
        parts = [f"{st}: {', '.join(keys[:50])}" + (" …" if len(keys) > 50 else "") for st, keys in rep["rows"].items()]
        text = rep["head"] + (" — " + "; ".join(parts) if parts else "")
        self._event(rep["line"], "warning", text, rep["logger"] or "transformers")

    def _info(self, body: str, lineno: int) -> None:
        cur = self.cur
        if "*****" in body:
            if "Running training" in body:
                if cur.started:
                    self._start_new_run()
                    cur = self.cur
                self.header_mode = "train"
                self._event(lineno, "info", body.strip(), "transformers.trainer")
            elif "Running Evaluation" in body or "Running Prediction" in body:
                self.header_mode = "eval"
            return
        if " = " in body:
            for key, rx in _INFO_PATTERNS:
                m = rx.search(body)
                if not m:
                    continue
                if key == "num_examples" and self.header_mode != "train":
                    return
                if key == "eval_batch_size" and self.header_mode != "eval":
                    return
                v = m.group(1).replace(",", "")
                try:
                    num: Any = int(v) if key != "num_train_epochs" else float(v)
                except ValueError:
                    return
                if key in ("total_train_batch_size", "trainable_parameters"):
                    cur.b.config_extra[key] = num
                else:
                    cur.b.config[key] = num
                return
        if "checkpoint" in body:
            m = _SAVE_RE.search(body)
            if m:
                s = _CKPT_STEP_RE.search(m.group(1))
                if s:
                    cur.checkpoints.add(int(s.group(1)))
                return
            m = _BEST_RE.search(body)
            if m:
                ck = m.group(1).rstrip(".")
                cur.b.config["restored_checkpoint"] = ck
                cur.b.config["best_model_checkpoint"] = ck
                score = parse_number(m.group(2))
                if score is not None:
                    cur.b.config["best_metric"] = score
                s = _CKPT_STEP_RE.search(ck)
                if s:
                    cur.b.config["best_global_step"] = int(s.group(1))
                return
        if "TrainOutput(" in body:
            m = _TRAIN_OUTPUT_RE.search(body)
            if m:
                cur.b.summary["global_step"] = int(m.group(1))
            return
        if "transformers" in body and self.version is None:
            m = _VERSION_RE.search(body)
            if m:
                self.version = m.group(1) or m.group(2)

    def _targ(self, key: str, value: str) -> None:
        typ = _TARG_KEYS.get(key)
        if typ is None:
            return
        value = value.strip()
        try:
            if typ is bool:
                v: Any = {"True": True, "False": False}.get(value)
                if v is None:
                    return
            elif typ is str:
                v = value
            else:
                v = typ(float(value)) if typ is int else float(value)
        except ValueError:
            return
        if key == "max_steps" and v <= 0:
            return
        cfg = self.cur.b.config
        name = _TARG_RENAME.get(key, key)
        if key in ("logging_first_step", "warmup_steps", "seed"):
            self.cur.b.config_extra[name] = v
        else:
            cfg.setdefault(name, v)

    # -- post-pass ------------------------------------------------------------------------
    def _finish(self, r: _ConsoleRun) -> Run:
        b = r.b
        cfg = b.config
        n = len(r.kind)
        kind = np.frombuffer(r.kind, dtype=np.int8) if n else np.zeros(0, np.int8)
        base_kind = kind % _AFTER_SUMMARY
        epoch = np.frombuffer(r.epoch, dtype=np.float64) if n else np.zeros(0)
        explicit = np.frombuffer(r.explicit, dtype=np.float64) if r.explicit is not None else None

        T = cfg.get("max_steps") if isinstance(cfg.get("max_steps"), int) else None
        if T is None and r.T is not None:
            T = r.T
        if T is not None:
            cfg["max_steps"] = T
        E = r.summary_epoch if r.summary_epoch else cfg.get("num_train_epochs")
        spe: Optional[float] = None
        if T and E and E > 0:
            spe = T / E
            cfg.setdefault("steps_per_epoch", round(spe, 4))
        L = cfg.get("logging_steps")
        L = int(L) if isinstance(L, (int, float)) and L >= 1 and float(L).is_integer() else None

        steps = np.full(n, np.nan)
        train = np.flatnonzero(base_kind == _KIND_TRAIN)
        if n < 2**31:
            train = train.astype(np.int32)  # half the memory of the default index type
        # with no eval dicts (the usual big log) the train dicts are all of them: views, not copies
        sel: "slice | np.ndarray" = slice(None) if len(train) == n else train
        t_origin = StepOrigin.index
        bar_used = False
        if len(train):
            e_tr = epoch[sel]
            if explicit is not None and np.all(np.isfinite(explicit[sel])):
                steps[sel] = explicit[sel]
                t_origin = StepOrigin.logged
                b.note("train steps: logged in each metrics dict")
            else:
                chosen = self._bar_steps(_counter(r.before, sel), _counter(r.after, sel), e_tr, spe, T)
                if chosen is not None:
                    steps[sel] = chosen
                    del chosen
                    t_origin = StepOrigin.reconstructed
                    bar_used = True
                    b.note("train steps: read from the training progress bar's counter next to each logged dict")
                else:
                    s, t_origin, how = self._grid_steps(e_tr, spe, L)
                    steps[sel] = s
                    b.note(how)
            del e_tr
        # eval / test dicts
        origins = {"eval": StepOrigin.logged, "test": StepOrigin.logged}
        eval_steps = cfg.get("eval_steps")
        eval_steps = float(eval_steps) if isinstance(eval_steps, (int, float)) and eval_steps > 0 else None
        others = np.flatnonzero(base_kind != _KIND_TRAIN)
        if len(others):
            before = _counter(r.before, slice(None))
            if explicit is None:
                explicit = np.full(n, np.nan)
            # the last train dict before each other dict (-1: none)
            last_train = np.searchsorted(train, others) - 1
            for counter, (j, lt) in enumerate(zip(others.tolist(), last_train.tolist()), 1):
                bk = int(base_kind[j])
                sp = "eval" if bk == _KIND_EVAL else "test"
                last_train_step = float(steps[train[lt]]) if lt >= 0 else math.nan
                s, o = self._other_step(j, kind, base_kind, steps, epoch, before, explicit, spe, T, eval_steps,
                                        bar_used, t_origin, last_train_step, counter)
                steps[j] = s
                if _ORIGIN_RANK[o] > _ORIGIN_RANK[origins[sp]]:
                    origins[sp] = o
            del before
        r.before = r.after = array("i")
        r.explicit = None
        explicit = None
        self._train_series(r, steps, epoch, train, bar_used or t_origin == StepOrigin.logged)
        # ordinals -> steps
        for sp, name in r.names:
            cols = b.columns(sp, name)
            if cols is None:
                continue
            idx = np.frombuffer(cols.step, dtype=np.float64).astype(np.int64)
            mapped = steps[idx]
            fresh = array("d")
            fresh.frombytes(mapped.astype(np.float64).tobytes())
            cols.step = fresh
        if r.duplicates:
            b.note(f"{r.duplicates} metrics dicts printed again right after themselves (one per rank) were skipped")
        if origins["eval"] in (StepOrigin.estimated, StepOrigin.index) and (base_kind == _KIND_EVAL).any():
            b.note(f"eval steps: {origins['eval'].value} (from the epoch and the steps per epoch, "
                   "or the train step logged before them)")
        b.set_step_origin(t_origin, "train")
        b.set_step_origin(origins["eval"], "eval")
        b.set_step_origin(origins["test"], "test")
        if r.checkpoints:
            cfg["checkpoints"] = tuple(sorted(r.checkpoints))
        if "global_step" not in b.summary and r.summary_seen and T is not None and r.train_n == T:
            b.summary["global_step"] = T
        if T is not None:
            b.summary.setdefault("max_steps", T)
        self._ending(r, T)
        for lineno, text, logger, step in r.ambiguous[:5000]:
            level = "warning" if (not self.hf5_info_visible or _WARNING_WORDS_RE.search(text)) else "info"
            if level == "info" and not _INFO_KEEP_RE.search(text):
                continue
            b.last_step = None if step is None else float(step)
            b.event(lineno, level, text, logger=logger, source=self.spath)
        b.sources.append(Source(
            path=self.spath, parser="hf_console", format="hf", framework="transformers",
            framework_version=self.version or ("5.x" if self.hf5 else None),
            lines=self.nlines, bytes=self.nbytes,
        ))
        return b.build()

    @staticmethod
    def _train_series(r: _ConsoleRun, steps: np.ndarray, epoch: np.ndarray, train: np.ndarray,
                      with_rates: bool) -> None:
        """Train series from their parts, with one step/epoch/line column per group of
        series logged together (views, not copies, when a group holds every dict)."""
        b = r.b
        n = len(r.kind)
        lines = np.frombuffer(r.dline, dtype=np.uint32) if n else np.zeros(0, np.uint32)
        # ordinals already gathered, by their bytes' hash: a log with thousands of key sets has
        # thousands of ordinal columns, and comparing each with every other was quadratic
        known: dict[int, list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}

        def gather(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if len(idx) == n:  # ordinals are increasing and unique: every dict, in order
                return steps, epoch, lines
            same = known.setdefault(hash(idx.tobytes()), [])
            for other, cols in same:
                if other is idx or (len(other) == len(idx) and np.array_equal(other, idx)):
                    return cols
            cols = (steps[idx], epoch[idx], lines[idx])
            same.append((idx, cols))
            return cols

        for key, (name, parts) in r.train_parts.items():
            if len(parts) == 1:
                idx = np.frombuffer(parts[0][0], dtype=np.uint32)
                vals = np.frombuffer(parts[0][1], dtype=np.float64)
            else:
                idx = np.concatenate([np.frombuffer(p[0], dtype=np.uint32) for p in parts])
                vals = np.concatenate([np.frombuffer(p[1], dtype=np.float64) for p in parts])
                order = np.argsort(idx, kind="stable")
                idx, vals = idx[order], vals[order]
            st, ep, ln = gather(idx)
            b.set_columns("train", name, st, vals, ep, ln, key=key)
        r.train_parts = {}
        r.groups = {}
        r.loose = {}
        # progress-bar throughput at the steps it was read (only where the bar counter was trusted)
        if with_rates and len(train):
            rate = np.frombuffer(r.rate, dtype=np.float64)
            elapsed = np.frombuffer(r.elapsed, dtype=np.float32)
            for name, key, v in (("steps_per_second", "progress_bar_rate", rate),
                                 ("elapsed_s", "progress_bar_elapsed", elapsed)):
                vt = v if len(train) == n else v[train]
                ok = np.isfinite(vt)
                if not ok.any():
                    continue
                idx = train if ok.all() else train[ok]
                st, ep, ln = gather(idx)
                b.set_columns("train", name, st, vt[ok] if not ok.all() else vt, ep, ln, key=key)
            del rate, elapsed, vt
            r.rate, r.elapsed = array("d"), array("f")

    @staticmethod
    def _bar_steps(before: np.ndarray, after: np.ndarray, e: np.ndarray, spe: Optional[float],
                   T: Optional[int]) -> Optional[np.ndarray]:
        """The bar counters next to each train dict, when they are trustworthy steps.
        Owns ``before`` and ``after`` (one of them is returned); tests run in slices."""
        np.copyto(after, before, where=np.isnan(after))  # no redraw seen: the counter before it
        after_f = after

        def valid(s: np.ndarray) -> bool:
            if not _all(lambda x: np.isfinite(x) & (x >= 1), s):
                return False
            if len(s) > 1 and not _all(lambda a, b: b > a, s[:-1], s[1:]):
                return False
            if spe is not None:
                def near(x: np.ndarray, ep: np.ndarray) -> np.ndarray:
                    ok = np.isfinite(ep)
                    return ~ok | (np.abs(x - ep * spe) <= _epoch_tol(ep) * spe * 1.1 + 2)
                if not _all(near, s, e):
                    return False
            return True

        def on_grid(s: np.ndarray) -> bool:
            # logging happens every N steps: the steps are multiples of their usual spacing
            if len(s) < 2:
                return True
            counts: dict[float, int] = {}
            for i in range(0, len(s) - 1, _CHUNK):
                hi = min(i + _CHUNK, len(s) - 1)
                d = s[i + 1:hi + 1] - s[i:hi]
                vals, cnt = np.unique(d, return_counts=True)
                for v, c in zip(vals.tolist(), cnt.tolist()):
                    counts[v] = counts.get(v, 0) + c
            # the most common spacing; ties go to the smallest, as np.unique + argmax did
            step = min(counts, key=lambda v: (-counts[v], v))
            if step <= 0:
                return False

            def fits(x: np.ndarray) -> np.ndarray:
                ok = (np.mod(x, step) == 0) | (x == 1)
                return ok | (x == T) if T is not None else ok
            return _all(fits, s)

        va, vb = valid(after_f), valid(before)
        if va and (on_grid(after_f) or not vb or not on_grid(before)):
            return after_f
        if vb:
            return before
        return None

    @staticmethod
    def _grid_steps(e: np.ndarray, spe: Optional[float], L: Optional[int]) -> tuple[np.ndarray, StepOrigin, str]:
        """Steps as ``c x dict index`` (three layouts) checked against ``epoch x spe``; each
        candidate grid is tested slice by slice and only the chosen one is made whole."""
        m = len(e)
        if spe is not None and m and _all(np.isfinite, e):
            def est_tol(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return x * spe, _epoch_tol(x) * spe * 1.1 + 2

            (est0, est_last), (tol0, tol_last) = est_tol(e[[0, -1]])
            if L is not None:
                cands: list[int] = [L]
            else:
                # logging intervals compatible with the first and last epochs
                if m > 1:
                    slope, spread = (est_last - est0) / (m - 1), (tol0 + tol_last) / (m - 1) + 1
                else:
                    slope, spread = float(est0), float(tol0) + 1
                lo, hi = max(1, int(math.floor(slope - spread))), int(math.ceil(slope + spread))
                cands = list(range(lo, hi + 1)) if hi - lo <= 200 else []
            found = []
            for c in cands:
                offset = round((float(est0) - c) / c) * c
                # grid_i = c * (i + shift) + add, the first point 1 when first_one
                for shift, add, first_one, how in ((1, 0, False, ""),
                                                   (0, 0, True, " after a first log at step 1"),
                                                   (1, offset, False, f" from step {offset:g} on (resumed run)")):
                    fit = _grid_fit(e, est_tol, c, shift, add, first_one)
                    if fit is not None:
                        found.append((c, shift, add, first_one, how, fit))
                        break
            if found:
                def roundness(c: int) -> tuple[bool, bool, bool]:
                    return (c % 100 == 0, c % 10 == 0, c % 5 == 0)  # logging_steps are usually round

                found.sort(key=lambda f: (roundness(f[0]), -f[5]), reverse=True)
                c, shift, add, first_one, how, _ = found[0]
                grid = _grid(0, m, c, shift, add, first_one)
                exact = L is not None or len(found) == 1 or roundness(c) > roundness(found[1][0])
                src = "logging_steps" if L is not None else "the interval implied by the epochs"
                return grid, (StepOrigin.reconstructed if exact else StepOrigin.estimated), (
                    f"train steps: {c} x dict index{how} ({src}), consistent with epoch x "
                    f"{spe:g} steps per epoch" + ("" if exact else f"; {len(found)} intervals fit"))
            s = e * spe
            np.round(s, out=s)
            np.maximum(s, 1.0, out=s)
            np.maximum.accumulate(s, out=s)
            return s, StepOrigin.estimated, (
                f"train steps: estimated as epoch x {spe:g} steps per epoch (epochs are rounded in the log)")
        k = np.arange(1, m + 1, dtype=np.float64)
        if L is not None:
            return k * L, StepOrigin.reconstructed, (
                f"train steps: logging_steps ({L}) x dict index; assumes logging started at step {L} "
                "(no resume, no logging_first_step)")
        return k, StepOrigin.index, "train steps: unknown; points are numbered 1, 2, 3, ... in log order"

    @staticmethod
    def _other_step(j: int, kind: np.ndarray, base_kind: np.ndarray, steps: np.ndarray, epoch: np.ndarray,
                    before: np.ndarray, explicit: np.ndarray, spe: Optional[float], T: Optional[int],
                    eval_steps: Optional[float], bar_used: bool, t_origin: StepOrigin, last_train_step: float,
                    counter: int) -> tuple[float, StepOrigin]:
        if math.isfinite(explicit[j]):
            return float(explicit[j]), StepOrigin.logged
        e = epoch[j]
        if j > 0 and math.isfinite(e) and math.isfinite(epoch[j - 1]) and math.isfinite(steps[j - 1]) \
                and abs(epoch[j - 1] - e) < 1e-9:
            # logged right after a dict of the same epoch: the same optimizer step
            return float(steps[j - 1]), t_origin if t_origin != StepOrigin.logged else StepOrigin.reconstructed
        if kind[j] >= _AFTER_SUMMARY:
            if T is not None:
                return float(T), StepOrigin.reconstructed
            if math.isfinite(last_train_step):
                return last_train_step, StepOrigin.estimated
        if bar_used and math.isfinite(before[j]):
            s = float(before[j])
            near = spe is None or not math.isfinite(e) or \
                abs(s - e * spe) <= float(_epoch_tol(np.array([e]))[0]) * spe * 1.1 + 2
            if near:
                if not math.isfinite(last_train_step) or s >= last_train_step:
                    return s, StepOrigin.reconstructed
        if spe is not None and math.isfinite(e):
            est = e * spe
            tol = float(_epoch_tol(np.array([e]))[0]) * spe * 1.1 + 2
            if eval_steps is not None:
                snapped = round(est / eval_steps) * eval_steps
                if T is not None and abs(T - est) < abs(snapped - est):
                    snapped = float(T)
                if abs(snapped - est) <= tol:
                    return float(snapped), StepOrigin.reconstructed
            if abs(e - round(e)) < 1e-9 and abs(spe - round(spe)) < 1e-9:
                return float(round(e) * round(spe)), StepOrigin.reconstructed
            return float(max(round(est), 1)), StepOrigin.estimated
        if math.isfinite(last_train_step):
            return last_train_step, StepOrigin.estimated
        return float(counter), StepOrigin.index

    def _ending(self, r: _ConsoleRun, T: Optional[int]) -> None:
        b = r.b
        if r.summary_seen:
            b.end(Ending.completed, r.summary_line, "the Trainer printed its end-of-training summary")
            return
        fatal = [f for f in r.fatal if f[0] > r.last_dict_line]
        if fatal:
            at = f" at step {r.train_n} of {T}" if T is not None and r.train_n is not None else ""
            ki = [f for f in fatal if f[1].startswith("KeyboardInterrupt")]
            if ki:
                b.end(Ending.interrupted, ki[0][0], f"KeyboardInterrupt (line {ki[0][0]}){at}")
            else:
                b.end(Ending.crashed, fatal[-1][0], fatal[-1][1])
            return
        if len(r.kind) or r.train_n is not None:
            if T is not None and r.train_n is not None:
                reason = f"the log stops at step {r.train_n} of {T} without a training summary"
            else:
                reason = "the log ends without the Trainer's end-of-training summary"
            b.end(Ending.interrupted, self.nlines, reason)


# ---------------------------------------------------------------------------
# trainer_state.json
# ---------------------------------------------------------------------------

MAX_JSON_BYTES = 1 << 30


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size == 0:
            raise ParseError(f"{path}: empty file")
        if size > MAX_JSON_BYTES:
            raise ParseError(f"{path}: {what} larger than {MAX_JSON_BYTES >> 20} MiB")
        data = path.read_bytes()
        obj = loads_json(data)
    except ParseError:
        raise
    except (OSError, ValueError, TypeError, RecursionError, MemoryError, UnicodeError) as e:
        raise ParseError(f"{path}: not a valid {what}: {e}") from e
    if not isinstance(obj, dict):
        raise ParseError(f"{path}: not a valid {what}: the top level is not a JSON object")
    return obj


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    return parse_number(v)


class HFStateParser(Parser):
    name = "hf_state"
    format = "hf"
    framework = "transformers"
    description = "Hugging Face trainer_state.json (log_history)"

    def sniff(self, path: Path, head: bytes) -> float:
        if head.lstrip()[:1] == b"{" and b'"log_history"' in head:
            return 1.0
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Run:
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e.strerror or e}") from None
        if size == 0:
            raise ParseError(f"{path}: empty file")
        if size > MAX_JSON_BYTES:
            raise ParseError(f"{path}: trainer_state.json larger than {MAX_JSON_BYTES >> 20} MiB")
        try:
            cols = read_trainer_state(path)
        except (OSError, ValueError, TypeError, RecursionError, MemoryError, UnicodeError) as e:
            raise ParseError(f"{path}: not a valid trainer_state.json: {e}") from e
        try:
            return self._build_columns(path, cols)
        except ParseError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError, IndexError) as e:
            raise ParseError(f"{path}: unexpected trainer_state.json content: {e}") from e

    def _build_columns(self, path: Path, cols: "TrainerStateColumns") -> Run:
        """``_build`` on log_history decoded as columns (stream_json): the same Run, no dict per entry."""
        obj = cols.top
        spath = str(path)
        b = RunBuilder(spath, "hf")
        n = cols.entries
        gs0 = _num(obj.get("global_step"))
        # the step and epoch of every entry, in log_history order
        step_all = np.full(n, np.nan)
        epoch_all = np.full(n, np.nan)
        for g in cols.groups:
            if "step" in g.columns:
                st = g.columns["step"]
                if "step" in g.numeric:
                    st = np.where(g.numeric["step"], st, np.nan)
                step_all[g.order] = st
            if "epoch" in g.columns:
                ep = g.columns["epoch"]
                if "epoch" in g.numeric:
                    ep = np.where(g.numeric["epoch"], ep, np.nan)
                epoch_all[g.order] = ep
        missing = ~np.isfinite(step_all)
        unstepped = int(missing.sum())
        if unstepped:
            # e.g. predict_* entries: logged after the last step, without one -> the step before them
            idx = np.where(~missing, np.arange(n), -1)
            np.maximum.accumulate(idx, out=idx)
            first = np.arange(n) + 1.0 if gs0 is None else np.full(n, gs0)
            step_all = np.where(idx >= 0, step_all[np.clip(idx, 0, None)], first)
        parts: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray, str, Any]]] = {}
        summary_entry: Optional[dict[str, Any]] = None
        summary_pos = -1
        for g in cols.groups:
            keys = g.keys
            if "train_runtime" in keys or ("train_loss" in keys and "loss" not in keys):
                last = int(np.argmax(g.order))
                if int(g.order[last]) > summary_pos:
                    summary_pos = int(g.order[last])
                    summary_entry = {k: (float(g.columns[k][last]) if k not in g.numeric or g.numeric[k][last]
                                         else None) for k in keys}
                continue
            if any(k.startswith("eval_") for k in keys):
                split, prefixes = "eval", ("eval_",)
            elif any(k.startswith(("test_", "predict_")) for k in keys):
                split, prefixes = "test", ("test_", "predict_")
            else:
                split, prefixes = "train", None
            for k in keys:
                if k in ("step", "epoch"):
                    continue
                if prefixes is not None and not k.startswith(prefixes):
                    continue
                if prefixes is None:
                    name = k[6:] if k.startswith("train/") else k
                    if name == "lr" and "learning_rate" not in keys:
                        name = "learning_rate"
                else:
                    name = k.split("_", 1)[1]
                ok = g.numeric.get(k)
                if ok is not None and not ok.any():
                    continue
                order = g.order if ok is None else g.order[ok]
                vals = g.columns[k] if ok is None else g.columns[k][ok]
                parts.setdefault((split, name), []).append((order, vals, k, g))
        if unstepped:
            b.note(f"{unstepped} log_history entries had no step; they were placed at the step before them")
        if not cols.streamed and cols.note:
            b.note(f"trainer_state.json read whole: {cols.note}")
        s = b.summary
        cfg = b.config
        if summary_entry is not None:
            for k, val in summary_entry.items():
                if val is None:
                    continue
                if k in _SUMMARY_MAP:
                    s[_SUMMARY_MAP[k]] = val
                elif k != "step":
                    b.summary_extra[k] = val
        gs = gs0
        ms = _num(obj.get("max_steps"))
        if gs is not None and math.isfinite(gs):
            s["global_step"] = int(gs)
        if ms is not None and math.isfinite(ms) and ms > 0:
            s["max_steps"] = int(ms)
            cfg["max_steps"] = int(ms)
        ep_top = _num(obj.get("epoch"))
        if "epochs" not in s and ep_top is not None and math.isfinite(ep_top):
            s["epochs"] = ep_top
        if "total_flos" not in s and _num(obj.get("total_flos")) is not None:
            s["total_flos"] = _num(obj.get("total_flos"))
        for k in ("num_train_epochs", "logging_steps", "eval_steps", "save_steps", "best_metric"):
            v = _num(obj.get(k))
            if v is not None and math.isfinite(v):
                cfg[k] = v
        tbs = _num(obj.get("train_batch_size"))
        if tbs is not None and math.isfinite(tbs):
            cfg["train_batch_size"] = int(tbs)
        bgs = _num(obj.get("best_global_step"))
        if bgs is not None and math.isfinite(bgs):
            cfg["best_global_step"] = int(bgs)
        bmc = obj.get("best_model_checkpoint")
        if isinstance(bmc, str):
            cfg["best_model_checkpoint"] = bmc
            if "best_global_step" not in cfg:
                m = _CKPT_STEP_RE.search(bmc)
                if m:
                    cfg["best_global_step"] = int(m.group(1))
        if gs and ep_top and ep_top > 0:
            cfg["steps_per_epoch"] = round(gs / ep_top, 4)
        ckpts = _checkpoint_steps(path)
        if ckpts:
            cfg["checkpoints"] = ckpts
        if summary_entry is not None:
            b.end(Ending.completed, None, "the state file holds the end-of-training summary")
        elif gs is not None and ms is not None and ms > 0 and gs >= ms:
            b.end(Ending.completed, None, f"global_step {int(gs)} reached max_steps {int(ms)}")
        elif gs is not None:
            of = f" of {int(ms)}" if ms is not None and ms > 0 else ""
            b.end(Ending.interrupted, None, f"state file of a run stopped at step {int(gs)}{of}")
        b.sources.append(Source(path=spath, parser=self.name, format="hf", framework="transformers",
                                framework_version=None, lines=0, bytes=path.stat().st_size))
        run = b.build()
        # Series of one group share its step/epoch arrays and use its value columns as they are:
        # a million entries cost their columns once, not once per metric (PERF_FINDINGS.md, section 3).
        group_axes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # no lines in a JSON file; a series may span several groups (entries with other keys)
        zeros = np.zeros(cols.entries, dtype=np.int32)
        series: dict[str, Series] = {}
        for (split, name), ps in parts.items():
            if not b.admit(split, name, len(series)):
                continue
            if len(ps) == 1 and len(ps[0][0]) and ps[0][0] is ps[0][3].order:
                g = ps[0][3]
                if id(g) not in group_axes:
                    own_step = not unstepped and "step" in g.columns and "step" not in g.numeric
                    own_epoch = "epoch" in g.columns and "epoch" not in g.numeric
                    group_axes[id(g)] = (g.columns["step"] if own_step else step_all[g.order],
                                         g.columns["epoch"] if own_epoch else epoch_all[g.order])
                st, ep = group_axes[id(g)]
                order, vals = g.order, ps[0][1]
            else:
                order = np.concatenate([p[0] for p in ps]) if len(ps) > 1 else ps[0][0]
                vals = np.concatenate([p[1] for p in ps]) if len(ps) > 1 else ps[0][1]
                if len(ps) > 1:
                    srt = np.argsort(order, kind="stable")
                    order, vals = order[srt], vals[srt]
                st, ep = step_all[order], epoch_all[order]
            series[f"{split}/{name}"] = Series(
                name=name, split=Split(split), key=ps[0][2], step=st, value=np.asarray(vals, dtype=np.float64),
                epoch=ep, line=zeros[:len(order)], step_origin=StepOrigin.logged, source=spath)
        return run.model_copy(update={"series": series, "notes": run.notes + b.dropped_notes()})


def _checkpoint_steps(path: Path) -> tuple[int, ...]:
    d = path.parent
    steps: set[int] = set()
    m = re.fullmatch(r"checkpoint-(\d+)", d.name)
    if m:
        steps.add(int(m.group(1)))
        d = d.parent
    try:
        for p in d.iterdir():
            mm = re.fullmatch(r"checkpoint-(\d+)", p.name)
            if mm and p.is_dir():
                steps.add(int(mm.group(1)))
    except OSError:
        pass
    return tuple(sorted(steps))


# ---------------------------------------------------------------------------
# all_results.json / train_results.json / eval_results.json
# ---------------------------------------------------------------------------

_RESULTS_NAMES = {"all_results.json", "train_results.json", "eval_results.json", "test_results.json",
                  "predict_results.json"}


class HFResultsParser(Parser):
    name = "hf_results"
    format = "hf"
    framework = "transformers"
    description = "Hugging Face all_results.json / train_results.json / eval_results.json"

    def sniff(self, path: Path, head: bytes) -> float:
        h = head.lstrip()
        if h[:1] != b"{" or b'"log_history"' in head:
            return 0.0
        if Path(path).name in _RESULTS_NAMES:
            return 0.9
        if len(head) < 64 * 1024 and (b'"train_runtime"' in head or b'"eval_runtime"' in head):
            return 0.6
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Run:
        path = Path(path)
        obj = _read_json_object(path, "results JSON")
        spath = str(path)
        b = RunBuilder(spath, "hf")
        s = b.summary
        gstep = self._sibling_global_step(path)
        evals: list[tuple[str, str, float]] = []
        for k, v in obj.items():
            val = _num(v)
            if val is None:
                continue
            if k in _SUMMARY_MAP:
                s[_SUMMARY_MAP[k]] = val
            elif k.startswith(("eval_", "test_", "predict_")) and k not in ("eval_samples", "test_samples",
                                                                               "predict_samples"):
                sp = "eval" if k.startswith("eval_") else "test"
                evals.append((sp, k, val))
            else:
                b.summary_extra[k] = val
        if gstep is not None and evals:
            for sp, k, val in evals:
                b.add(sp, k.split("_", 1)[1], float(gstep), val, s.get("epochs", math.nan), 0, key=k)
            b.set_step_origin(StepOrigin.reconstructed)
            b.note(f"final evaluation placed at global step {gstep} (from the trainer_state.json beside it)")
        else:
            for _, k, val in evals:
                b.summary_extra[k] = val
        if gstep is not None:
            s["global_step"] = gstep
        if not s and not b.summary_extra and not evals:
            raise ParseError(f"{path}: no Hugging Face result figures in this JSON object")
        if "train_runtime_s" in s or "mean_train_loss" in s:
            b.end(Ending.completed, None, "the results file holds the end-of-training figures")
        b.sources.append(Source(path=spath, parser=self.name, format="hf", framework="transformers",
                                lines=0, bytes=path.stat().st_size))
        return b.build()

    @staticmethod
    def _sibling_global_step(path: Path) -> Optional[int]:
        st = path.parent / "trainer_state.json"
        try:
            if not st.is_file() or st.stat().st_size > 64 << 20:
                return None
            obj = loads_json(st.read_bytes())
        except (OSError, ValueError, TypeError, RecursionError):
            return None
        gs = _num(obj.get("global_step")) if isinstance(obj, dict) else None
        return int(gs) if gs is not None and math.isfinite(gs) else None


@hookimpl
def logcheck_register_parsers(register) -> None:
    register(HFConsoleParser())
    register(HFStateParser())
    register(HFResultsParser())
