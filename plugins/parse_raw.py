"""Parsers for raw text logs of hand-written and non-Hugging-Face training loops.

Five parsers share one streaming loop (:class:`_RawParser`):

``nanogpt``     Karpathy nanoGPT (``iter N: loss X, time Yms, mfu Z%`` / ``step N: train loss X, val loss Y``),
                build-nanogpt (``step N | loss: X | lr | norm | dt | tok/sec`` and its ``log.txt``),
                modded-nanogpt (``step:N/M train_loss:X``), ``[train] iter`` / ``[eval] iter`` variants and
                ``step N | loss X | lr | grad | tok/s | mfu %`` custom loops.
``megatron``    Megatron-LM / Megatron-DeepSpeed ``iteration N/ M | ... | lm loss: ...`` and validation blocks.
``fairseq``     fairseq classic ``| epoch 001 | loss ...``, "simple" ``| INFO | train_inner | ... loss=..``,
                and hydra JSON ``[train_inner][INFO] - {...}`` records.
``torchtitan``  ``[titan] ... step: N  loss: X  grad_norm: ...  tps: ...  mfu: ...%``.
``kv_generic``  the fallback for hand-written loops: a step/iter/epoch indicator plus metric pairs
                (``key=value``, ``key: value``, ``key value``) in ``|``/``,``/``-``/space separated fields,
                and ``epoch, loss, ppl`` csv-ish files.

Shared behaviour (all five): lines are read as bytes with ``iter_lines``, ANSI codes and rank prefixes
are removed, ``\\r`` redraws keep the last frame; when several ranks print metric lines, only the first
rank that printed one is kept. Warnings become events; a ``Traceback`` whose exception line ends the log
makes the run ``crashed`` (``KeyboardInterrupt``: ``interrupted``), as does a CUDA out-of-memory error.
A step counter that goes back is kept and noted; one that goes back to (or below) the first step of
the run starts a new run (``path#1``, ``path#2``): several runs appended to one file.
"""
from __future__ import annotations

import io
import math
import re
from array import array
from itertools import compress, count
from pathlib import Path
from typing import Any, Optional

import numpy as np

from logcheck import Ending, ParseContext, ParseError, Parser, Run, RunBuilder, Source, StepOrigin, hookimpl
from logcheck.parsing import (MAX_LINE_BYTES, LineBlocks, clean, iter_lines_of, last_frame, load_speedups,
                              loads_json, parse_number, parse_pydict, split_rank)

_speedups = load_speedups()  # the C reading of runs of same-shape lines (optional)

NAN = math.nan

# ---------------------------------------------------------------------------
# Key normalisation, shared by every parser here
# ---------------------------------------------------------------------------

_EVAL_WORDS = frozenset({"val", "valid", "validation", "dev", "eval", "evaluation", "eval_loss"})
_TEST_WORDS = frozenset({"test", "testing"})
_TRAIN_WORDS = frozenset({"train", "training", "tr"})
_AVG_WORDS = frozenset({"avg", "average", "averaged", "mean"})

_ALIASES = {
    "lr": "learning_rate", "learning_rate": "learning_rate", "learningrate": "learning_rate",
    "grad": "grad_norm", "gnorm": "grad_norm", "norm": "grad_norm", "grad_norm": "grad_norm",
    "gradient_norm": "grad_norm", "grad_l2_norm": "grad_norm", "grad_total_norm": "grad_norm",
    "ppl": "perplexity", "perplexity": "perplexity",
    "acc": "accuracy", "accuracy": "accuracy",
    "tok_s": "tokens_per_sec", "tok_sec": "tokens_per_sec", "tokens_s": "tokens_per_sec",
    "tokens_sec": "tokens_per_sec", "tps": "tokens_per_sec", "global_tokens_s": "tokens_per_sec",
    "tokens_per_second": "tokens_per_sec", "tokens_per_sec": "tokens_per_sec",
    "dt": "step_time", "ms_batch": "step_time_ms", "ms_iter": "step_time_ms", "ms_step": "step_time_ms",
    "s_iter": "step_time_s", "s_it": "step_time_s",
    "wps": "words_per_sec", "ups": "updates_per_sec",
    "": "loss",  # a bare split word ("val 2.31") means that split's loss
}

# What makes a key a metric: a long word anywhere in the name, or a short one as a whole token
# ("acc1", "kl", "lr"), so "answer" is not a WER and "value_by" is not a metric.
_METRIC_SUBSTR = (
    "loss", "accura", "perplex", "learning_rate", "grad", "norm", "bleu", "rouge", "score", "reward",
    "time", "throughput", "entropy", "precision", "recall", "memory", "tflops", "per_sec", "tokens_per",
    "psnr", "ssim", "words_per", "updates_per", "samples_per",
)
_METRIC_TOKENS = frozenset({
    "acc", "ppl", "f1", "wer", "cer", "kl", "tok", "tps", "mfu", "auc", "mse", "mae", "rmse", "bpb", "bpc",
    "nll", "mem", "iou", "map", "dice", "fid", "lr", "top1", "top5", "em", "mrr", "ndcg",
})
_TOKEN_SPLIT = re.compile(r"[_/.\-]")


def _is_metric(name: str) -> bool:
    for w in _METRIC_SUBSTR:
        if w in name:
            return True
    for t in _TOKEN_SPLIT.split(name):
        if t in _METRIC_TOKENS or (t.rstrip("0123456789") in _METRIC_TOKENS and t[-1:].isdigit()):
            return True
    return False


_QUALIFIERS = frozenset({
    "train", "training", "val", "valid", "validation", "eval", "evaluation", "dev", "test", "testing",
    "avg", "average", "averaged", "mean", "batch", "global", "lm", "token", "tokens", "seq", "sequence",
    "word", "char", "top1", "top5", "total", "learning", "grad", "gradient", "peak", "gpu", "max", "min",
    "running", "current", "moving", "smoothed", "best", "final", "ms", "tr", "loss", "kl", "policy",
    "value", "actor", "critic", "sample", "samples", "step", "iter", "epoch",
})

_UNIT_SUFFIX = {"ms": "_ms", "s": "_s", "sec": "_s", "gib": "_gib", "gb": "_gb", "mib": "_mib", "mb": "_mb"}

_key_cache: dict[tuple[str, str, str], tuple[Optional[str], str, bool]] = {}
_NON_ALNUM = re.compile(r"[^a-z0-9/]+")


def normalise_key(key: str, unit: str = "", default_split: str = "") -> tuple[Optional[str], str, bool]:
    """``(split or None when the key names none, lower_snake name, metric-like?)``.

    ``val loss`` -> ``("eval", "loss")``, ``avg_train_loss`` -> ``("train", "loss")``,
    ``LR`` -> ``(None, "learning_rate")``, ``actor/pg_loss`` -> ``(None, "actor/pg_loss")``.
    """
    ck = (key, unit, default_split)
    hit = _key_cache.get(ck)
    if hit is not None:
        return hit
    low = key.strip().lower()
    low = _NON_ALNUM.sub("_", low).strip("_")
    split: Optional[str] = None
    if low.replace("/", "_") in _ALIASES:
        low = low.replace("/", "_")
    if "/" in low:
        head, _, rest = low.partition("/")
        if head in _EVAL_WORDS:
            split, low = "eval", rest
        elif head in _TEST_WORDS:
            split, low = "test", rest
        elif head in _TRAIN_WORDS:
            split, low = "train", rest
        name = low.replace("__", "_")
    else:
        words = [w for w in low.split("_") if w]
        kept = []
        for w in words:
            if w in _EVAL_WORDS:
                split = "eval"
            elif w in _TEST_WORDS:
                split = "test"
            elif w in _TRAIN_WORDS:
                split = split or "train"
            else:
                kept.append(w)
        if len(kept) > 1 and kept[0] in _AVG_WORDS:
            kept = kept[1:]
        elif kept and kept[0] in _AVG_WORDS and split is not None:
            kept = kept[1:]
        name = "_".join(kept)
        name = _ALIASES.get(name, name)
    u = unit.lower()
    if u in _UNIT_SUFFIX and not name.endswith(_UNIT_SUFFIX[u]) and "per" not in name:
        name += _UNIT_SUFFIX[u]
    metric = _is_metric(name) or (not name and split is not None)
    res = (split, name or "loss", metric)
    if len(_key_cache) < 20000:
        _key_cache[ck] = res
    return res


_NUM = (
    r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|[-+]?(?:[Nn]a[Nn]|NAN|[Ii]nf(?:inity)?|INF)"
)
_PAIR_RE = re.compile(
    r"(?<![\w.\-@])(?P<key>[A-Za-z_][\w./\-@]*(?:[ ][A-Za-z_][\w./\-@]*){0,4}?)"
    r"(?P<sep>\s*[:=]\s*|\s+is\s+|\s+)\[?\s*"
    r"(?P<val>" + _NUM + r")(?P<unit>%|[A-Za-z]{1,3}(?:/[A-Za-z]+)?)?\]?(?![\w.:/])"
)
# "113.4k tok/s": the value before the key (throughput only)
_REVERSED_RE = re.compile(
    r"(?<![\w.])(?P<val>\d+(?:\.\d+)?)(?P<mult>[kKMG])?\s*(?P<key>tok/s|tokens/s|tok/sec|tokens/sec|samples/s|it/s|ex/s)"
)
_MULT = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def to_float(text: str) -> float:
    """A logged number (``1,812`` and ``nan``/``inf`` spellings included); NaN when unreadable."""
    try:
        return float(text)
    except ValueError:
        pass
    if "," in text:
        try:
            return float(text.replace(",", ""))
        except ValueError:
            pass
    v = parse_number(text)
    return NAN if v is None else v


def kv_pairs(text: str) -> list[tuple[str, str, str, str]]:
    """``(key, separator, value, unit)`` for each metric-looking pair in ``text``.

    Multi-word keys keep only their last word plus the qualifier words just before it, so
    ``Saved model at loss 2.3`` gives ``loss`` while ``Train Loss: 2.1`` gives ``Train Loss``.
    """
    out = []
    for m in _PAIR_RE.finditer(text):
        key = m.group("key")
        if " " in key:
            words = key.split(" ")
            i = len(words) - 1
            while i > 0 and words[i - 1].lower() in _QUALIFIERS:
                i -= 1
            key = " ".join(words[i:])
        sep = m.group("sep")
        sep2 = sep.strip()
        if sep2 == "=" and sep != "=":
            sep2 = "= "  # "x = 5" in prose or generated text is not an explicit key=value
        out.append((key, sep2, m.group("val"), m.group("unit") or ""))
    if "/s" in text or "/sec" in text:
        for m in _REVERSED_RE.finditer(text):
            v = to_float(m.group("val")) * _MULT[m.group("mult") or ""]
            out.append((m.group("key"), "", repr(v), ""))
    return out


# ---------------------------------------------------------------------------
# Events, endings, restarts: shared stream state
# ---------------------------------------------------------------------------

_EXC_LINE_RE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning|Failure|Killed)\b|^[A-Za-z_][\w.]*: ")
_EVENT_PREFIX_RE = re.compile(
    r"^(?:\[titan\]\s*)?(?:\[?[WIEF]\d{4} \d\d:\d\d:\d\d\.\d+(?: \d+)?[^\]]*\]\s*"
    r"|\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\]?\s*(?:-\s*)?)?"
    r"(?:\[[\w.\-]+\]\[[A-Z]+\] - |[\w.]+ - (?:INFO|WARNING|ERROR|DEBUG) - |\| (?:INFO|WARNING|ERROR) \| [\w.]+ \| )?"
)
_COMPLETE_RE = re.compile(
    r"\b(?:training|train)\b[^A-Za-z]{0,5}(?:is\s+)?(?:done|completed?|finished)\b"
    r"|\bdone training\b|\bend of training\b|\bafter training is done\b|\bstopping[_ ]early\b"
    r"|\bfinished training\b|\btraining complete\b",
    re.IGNORECASE,
)
_OOM_WORDS = ("out of memory", "OutOfMemoryError", "OOM")


class _Stream:
    """Per-file state of one parse: the current run, restarts, events, ending clues."""

    def __init__(self, parser: "_RawParser", path: Path):
        self.parser = parser
        self.path = path
        self.spath = str(path)
        self.runs: list[RunBuilder] = []
        self.b = self._new_builder()
        self.last_step: Optional[float] = None
        self.first_step: Optional[float] = None
        self.metric_rank: Optional[int] = None
        self.tb_line: Optional[int] = None
        self.crash: Optional[tuple[Ending, int, str]] = None
        self.complete: Optional[tuple[Optional[int], str]] = None
        self.total: Optional[float] = None  # declared number of steps (iter N/M)
        self.epoch_total: Optional[float] = None
        self.last_epoch: Optional[float] = None
        self.first_epoch: Optional[float] = None
        self.lines = 0
        self.metric_lines = 0
        self.origins: dict[tuple[str, str], StepOrigin] = {}
        self.appenders: dict[tuple[str, str], tuple] = {}
        self.groups: dict[tuple, _Group] = {}

    def _new_builder(self) -> RunBuilder:
        b = RunBuilder(self.spath, self.parser.format)
        b.sources.append(Source(path=self.spath, parser=self.parser.name, format=self.parser.format,
                                framework=self.parser.framework))
        return b

    # -- ranks ------------------------------------------------------------------
    def rank_ok(self, rank: Optional[int]) -> bool:
        """Keep the metric lines of one rank only (the first that printed one)."""
        if rank is None:
            return True
        if self.metric_rank is None:
            self.metric_rank = rank
            return True
        return rank == self.metric_rank

    # -- steps --------------------------------------------------------------------
    def step_seen(self, step: float, lineno: int) -> None:
        """Call once per metric line before its points: detects restarts and appended runs."""
        last = self.last_step
        if last is not None and step < last:
            if self.first_step is not None and step <= self.first_step and self.has_points():
                self.new_run(lineno, last, step)
            else:
                self.b.note(f"step counter went back from {_fmt(last)} to {_fmt(step)} at line {lineno} "
                            "(resumed or a new run)")
        if self.first_step is None:
            self.first_step = step
        self.last_step = step
        self.b.last_step = step  # events carry the last step seen (RunBuilder.add sets it for train points only)
        self.metric_lines += 1
        if self.crash is not None:
            self.b.note(f"an error at line {self.crash[1]} did not end the run: metrics continue at line {lineno}")
            self.crash = None

    def new_run(self, lineno: int, last: float, step: float) -> None:
        self.b.note(f"the step counter restarted from {_fmt(last)} to {_fmt(step)} at line {lineno}: "
                    "the lines from there on are read as the next run in this file")
        self.finish_run(restarted=True)
        self.runs.append(self.b)
        self.appenders = {}
        self.groups = {}
        self.crash = None
        self.tb_line = None
        self.b = self._new_builder()
        self.b.note(f"a new run starts at line {lineno} (step counter back to {_fmt(step)})")
        self.first_step = step
        self.last_step = None
        self.last_epoch = None
        self.first_epoch = None
        self.complete = None
        self.parser.on_new_run(self)

    def add(self, split: str, name: str, step: float, value: float, lineno: int, epoch: float = NAN,
            key: str = "", origin: StepOrigin = StepOrigin.logged) -> None:
        """Append one point; after a series' first point, straight to its array columns (hot path)."""
        ap = self.appenders.get((split, name))
        if ap is not None:
            ap[0](step)
            ap[1](value)
            ap[2](epoch)
            ap[3](lineno)
            return
        b = self.b
        b.add(split, name, step, value, epoch, lineno, key)
        cols = b.columns(split, name)
        if cols is not None:
            self.appenders[(split, name)] = (cols.step.append, cols.value.append, cols.epoch.append,
                                             cols.line.append)
        self.origins[(split, name)] = origin

    def has_points(self) -> bool:
        return self.b.has_points() or any(len(g.step) for g in self.groups.values())

    # -- series logged together (one line shape): shared step and line columns --------------------
    def group(self, names: tuple) -> "_Group":
        g = self.groups.get(names)
        if g is None:
            g = self.groups[names] = _Group(names)
        return g

    def _register(self, g: "_Group", values: Any, step: float, n: int) -> None:
        """Give the builder an (empty) entry for each series of ``g`` at its first point, so series
        keep the order in which they were first logged; the points stay in ``g`` until the run ends."""
        b = self.b
        for k in sorted(g.pending):
            if values[k] is None:
                continue
            split, name, key = g.names[k]
            if b.columns(split, name) is None:
                b.add(split, name, step, 0.0, NAN, n, key)
                cols = b.columns(split, name)
                if cols is None:  # one series too many for the builder (MAX_SERIES)
                    g.pending.discard(k)
                    continue
                del cols.step[:], cols.value[:], cols.epoch[:], cols.line[:]
                self.origins.setdefault((split, name), StepOrigin.logged)
            g.pending.discard(k)

    def add_group(self, names: tuple, step: float, n: int, values: tuple) -> None:
        """Append one line of series logged together (``None``: this line lacks that series)."""
        g = self.groups.get(names)
        if g is None:
            g = self.group(names)
        if g.pending:
            self._register(g, values, step, n)
        i = len(g.step)
        g.step.append(step)
        g.line.append(n)
        for k, v in enumerate(values):
            if v is None:
                g.missing[k].append(i)
                v = NAN
            g.values[k].append(v)
        if g.names[0][0] == "train":
            self.b.last_step = step

    def add_group_bulk(self, names: tuple, step: np.ndarray, line: np.ndarray, values: list) -> None:
        """Append many lines of one shape at once (numpy columns, all values present)."""
        g = self.group(names)
        if g.pending:
            self._register(g, [0.0] * len(names), float(step[0]), int(line[0]))
        g.step.frombytes(memoryview(step).cast("B"))
        g.line.frombytes(memoryview(line).cast("B"))
        for col, v in zip(g.values, values):
            col.frombytes(memoryview(v).cast("B"))

    def flush_groups(self) -> None:
        """Hand the grouped columns to the builder: series of one group share its step/line arrays."""
        groups = [g for g in self.groups.values() if len(g.step)]
        self.groups = {}
        if not groups:
            return
        b = self.b
        last_step = b.last_step  # set_columns moves it to each train series' end; the run's own stays
        nan = np.broadcast_to(np.float64(NAN), (max(len(g.step) for g in groups),))  # no memory per point
        pieces: dict[tuple[str, str], list] = {}
        for g in groups:
            step = np.frombuffer(g.step, dtype=np.float64)
            line = np.frombuffer(g.line, dtype=np.int32)
            epoch = nan[: len(step)]
            for (split, name, _key), col, miss in zip(g.names, g.values, g.missing):
                value = np.frombuffer(col, dtype=np.float64)
                if miss:
                    if len(miss) == len(value):
                        continue
                    if miss[-1] == len(miss) - 1:  # missing only at the start (nanoGPT's first mfu values)
                        k = len(miss)
                        pieces.setdefault((split, name), []).append((step[k:], value[k:], epoch[k:], line[k:]))
                        continue
                    keep = np.ones(len(value), dtype=bool)
                    keep[miss] = False
                    pieces.setdefault((split, name), []).append((step[keep], value[keep], epoch[keep], line[keep]))
                    continue
                pieces.setdefault((split, name), []).append((step, value, epoch, line))
        for (split, name), parts in pieces.items():
            cols = b.columns(split, name)
            key = cols.key if cols is not None else name
            if cols is not None and len(cols.value):  # points added one by one (other line shapes)
                parts = [(np.frombuffer(cols.step, dtype=np.float64), np.frombuffer(cols.value, dtype=np.float64),
                          np.frombuffer(cols.epoch, dtype=np.float64), np.frombuffer(cols.line, dtype=np.int64)),
                         *parts]
            if len(parts) == 1:
                st_, va, ep, ln = parts[0]
            else:  # several pieces: back into file order (stable: one line's points keep their order)
                ln = np.concatenate([p[3].astype(np.int64) for p in parts])
                order = np.argsort(ln, kind="stable")
                ln = ln[order]
                st_ = np.concatenate([p[0] for p in parts])[order]
                va = np.concatenate([p[1] for p in parts])[order]
                ep = np.concatenate([p[2] for p in parts])[order]
            b.set_columns(split, name, st_, va, ep, ln, key=key)
        b.last_step = last_step

    def epoch_seen(self, epoch: float, total: Optional[float]) -> None:
        if self.first_epoch is None:
            self.first_epoch = epoch
        self.last_epoch = epoch
        if total is not None:
            self.epoch_total = total

    # -- events -----------------------------------------------------------------
    def events(self, text: str, lineno: int) -> None:
        """Warnings, tracebacks, OOM, Ctrl-C, end-of-run messages (cheap substring tests first)."""
        b = self.b
        if self.tb_line is not None:
            s = text.strip()
            if not s or text[:1] in " \t" or s.startswith(("Traceback", "During handling", "The above exception",
                                                            "^", "~", "File ", "...")):
                return
            if _EXC_LINE_RE.match(s):
                tb = self.tb_line
                self.tb_line = None
                reason = s[:500]
                b.event(tb, "error", reason, logger="traceback")
                if s.startswith(("KeyboardInterrupt", "torch.distributed.elastic.multiprocessing.api.SignalException")):
                    self.crash = (Ending.interrupted, lineno, reason)
                else:
                    self.crash = (Ending.crashed, lineno, reason)
                return
            self.tb_line = None  # not a traceback after all (or a truncated one): read the line normally
        if "Traceback (most recent call last)" in text:
            self.tb_line = lineno
            return
        c0 = text[:1]
        if (c0 == "W" or c0 == "E") and text[1:5].isdigit() and text[5:6] == " ":
            # glog-style "W0326 17:26:02.787000 58469 file.py:803] message" (torch.distributed, absl)
            msg = _EVENT_PREFIX_RE.sub("", text.strip())
            if any(ch.isalpha() for ch in msg):
                b.event(lineno, "warning" if c0 == "W" else "error", msg)
            return
        if "Warning" in text or "WARNING" in text or "warning:" in text:
            if "warnings.warn(" in text:
                return
            msg = _EVENT_PREFIX_RE.sub("", text.strip())
            b.event(lineno, "warning", msg)
            return
        if "OVERFLOW" in text or "overflow" in text:
            b.event(lineno, "warning", _EVENT_PREFIX_RE.sub("", text.strip()))
            return
        if "KeyboardInterrupt" in text:
            b.event(lineno, "error", text.strip())
            self.crash = (Ending.interrupted, lineno, text.strip()[:500])
            return
        if "out of memory" in text or "OutOfMemoryError" in text:
            b.event(lineno, "error", _EVENT_PREFIX_RE.sub("", text.strip()))
            if self.crash is None or self.crash[0] is not Ending.crashed:
                self.crash = (Ending.crashed, lineno, text.strip()[:500])
            return
        if "Error" in text or "ERROR" in text:
            s = text.strip()
            if s.startswith("Error executing job") or " - ERROR - " in s or "[ERROR]" in s or s.startswith(
                    ("ERROR", "Error:", "RuntimeError", "ValueError")):
                b.event(lineno, "error", _EVENT_PREFIX_RE.sub("", s))
                if s.startswith("Error executing job"):
                    self.crash = (Ending.crashed, lineno, s[:500])
            return
        if "esum" in text and ("heckpoint" in text or " step" in text) and len(text) < 400:
            b.note(f"line {lineno}: {_EVENT_PREFIX_RE.sub('', text.strip())[:200]}")
            return
        self.check_complete(text, lineno)

    def check_complete(self, text: str, lineno: int) -> None:
        if ("rain" in text or "early" in text or "done" in text or "inish" in text) and len(text) < 400:
            m = _COMPLETE_RE.search(text)
            if m:
                self.complete = (lineno, text.strip()[:300])

    # -- end ----------------------------------------------------------------------
    def finish_run(self, restarted: bool = False) -> None:
        b = self.b
        self.flush_groups()
        self.parser.on_finish(self)
        for (split, name), origin in self.origins.items():
            cols = b.columns(split, name)
            if cols is not None:
                cols.origin = origin
        self.origins = {}
        if restarted:
            b.end(Ending.interrupted, None, "the step counter restarted (another run follows in the same file)")
            return
        last = b.last_step
        total = self.total
        if self.crash is not None:
            ending, line, reason = self.crash
            b.end(ending, line, reason)
        elif total is not None and last is not None and (
                last >= total or (self.first_step == 0 and last >= total - 1)):
            b.end(Ending.completed, None, f"the last step {_fmt(last)} reached the declared total {_fmt(total)}")
        elif (self.epoch_total is not None and self.last_epoch is not None and total is None
              and (self.last_epoch >= self.epoch_total
                   or (self.first_epoch == 0 and self.last_epoch >= self.epoch_total - 1))):
            b.end(Ending.completed, None,
                  f"the last epoch {_fmt(self.last_epoch)} reached the declared total {_fmt(self.epoch_total)}")
        elif self.complete is not None:
            b.end(Ending.completed, self.complete[0], self.complete[1])
        elif total is not None and last is not None:
            b.end(Ending.interrupted, None,
                  f"the log stops at step {_fmt(last)} of the declared {_fmt(total)}, with no end-of-run message")
        elif not b.has_points():
            b.end(Ending.unknown, None, "no metrics were found")
        else:
            b.end(Ending.unknown, None,
                  "the log shows no end-of-run message and no declared total; it may have been cut off")

    def result(self) -> "Run | list[Run]":
        self.finish_run()
        runs = self.runs + [self.b]
        for b in runs:
            src = b.sources[0]
            b.sources[0] = src.model_copy(update={"lines": self.lines})
        if len(runs) == 1:
            return runs[0].build()
        out = []
        for i, b in enumerate(runs, 1):
            b.name = f"{self.spath}#{i}"
            b.note(f"run {i} of {len(runs)} in this file (split where the step counter restarted)")
            out.append(b.build())
        return out


class _Group:
    """Series printed together on one line shape (``iter N: loss X, time Y, mfu Z``): one step and one
    line column for all of them, a value column each. ``missing[k]``: rows where series ``k`` was absent."""
    __slots__ = ("names", "step", "line", "values", "missing", "pending")

    def __init__(self, names: tuple):
        self.names = names  # ((split, name, key), ...)
        self.step = array("d")
        self.line = array("i")
        self.values = [array("d") for _ in names]
        self.missing: list[list[int]] = [[] for _ in names]
        self.pending = set(range(len(names)))  # series not yet given an entry in the builder


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ---------------------------------------------------------------------------
# Base parser: the streaming loop
# ---------------------------------------------------------------------------

_BINARY_CHECK = 4096
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))  # not tab/LF/FF/CR/ESC


def head_is_text(head: bytes, allow_some_nul: bool = False) -> bool:
    """False for NUL bytes (with ``allow_some_nul``: for mostly NULs) or mostly non-text bytes.

    Sniffing is strict (a head with NULs is not claimed); parsing tolerates a few NULs, which a text
    log can hold after a crash (pre-allocated blocks), and drops them.
    """
    sample = head[:_BINARY_CHECK]
    if not sample:
        return False
    if b"\x00" in sample:
        if not allow_some_nul:
            return False
        stripped = sample.replace(b"\x00", b"")
        if len(stripped) < len(sample) // 2:
            return False
        sample = stripped  # the rest must be text (checked below)
    ctrl = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if ctrl > max(2, len(sample) // 100):
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 4:  # cut in the middle of a character
            return True
    bad = sum(1 for c in sample if c < 9 or 13 < c < 32)
    high = sum(1 for c in sample if c >= 128)
    return bad == 0 and high < len(sample) * 0.3


_BLOCK = 1 << 20  # read size; blocks end at a line end
_FAST_BLOCK_MIN = 4096  # smaller blocks go line by line (a small file gains nothing)


class _RawParser(Parser):
    format = "raw"

    def parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":
        path = Path(path)
        try:
            with open(path, "rb") as f:
                head = f.read(_BINARY_CHECK)
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        if head and not head_is_text(head, allow_some_nul=True):
            raise ParseError(f"{path}: not a text log (binary content)")
        st = _Stream(self, path)
        self.on_new_run(st)
        try:
            st.lines = self._read(st, path)
            return st.result()
        except ParseError:
            raise
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        except Exception as e:  # the contract: nothing but ParseError leaves a parser
            raise ParseError(f"{path}: {self.name} parser failed: {type(e).__name__}: {e}") from e

    def _read(self, st: _Stream, path: Path) -> int:
        """Read the file in blocks of whole lines; the same lines and numbers as ``iter_lines``."""
        n = 0
        block = self.fast_block or self._block
        with open(path, "rb") as f:
            blocks = LineBlocks(f, _BLOCK, MAX_LINE_BYTES)
            for first, data, whole in blocks:
                if whole:
                    n = block(st, first, data)
                    blocks.counted = n - first
                else:  # a piece of a line longer than a block, or the last line without a newline
                    n = first
                    self._one(st, n, data, False)
        return n

    def _block(self, st: _Stream, n: int, buf: bytes) -> int:
        """Whole ``\n``-terminated lines; returns the number of the last one."""
        lines = buf.split(b"\n")
        lines.pop()
        fast = self.fast_line
        text_line = self._text_line
        if b"\r" in buf or len(buf) > MAX_LINE_BYTES:
            one = self._one
            for raw in lines:
                n += 1
                if raw:
                    one(st, n, raw, True)
            return n
        for raw in lines:
            n += 1
            if raw and (fast is None or not fast(st, n, raw)):
                text_line(st, n, raw)
        return n

    def _one(self, st: _Stream, n: int, raw: bytes, terminated: bool) -> None:
        """One line as read (without its ``\n``): long ones in pieces, a ``\r`` before the ``\n`` dropped."""
        if len(raw) + terminated > MAX_LINE_BYTES:
            for _k, piece in iter_lines_of(io.BytesIO(raw + b"\n" if terminated else raw), MAX_LINE_BYTES):
                if piece:
                    self._dispatch(st, n, piece)
            return
        if terminated and raw[-1:] == b"\r":
            raw = raw[:-1]
        if raw:
            self._dispatch(st, n, raw)

    def _dispatch(self, st: _Stream, n: int, raw: bytes) -> None:
        fast = self.fast_line
        if fast is None or not fast(st, n, raw):
            self._text_line(st, n, raw)

    def _text_line(self, st: _Stream, n: int, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if "\x1b" in text or "\x00" in text:
            text = clean(raw)
        if "\r" in text:
            text = last_frame(text)
        rank = None
        if text[:1] in "[(0123456789":
            rank, text = split_rank(text)
        self.line(st, n, text, rank)

    # hooks for subclasses
    #: ``fast_line(st, n, raw_bytes) -> bool``: handles the dense metric line of a format before decoding
    fast_line: Any = None
    #: ``fast_block(st, n, block) -> n``: handles a block of whole lines (numbered from ``n + 1``) at once
    fast_block: Any = None

    def on_new_run(self, st: _Stream) -> None:
        pass

    def on_finish(self, st: _Stream) -> None:
        pass

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------
# nanoGPT family
# ---------------------------------------------------------------------------

_NANO_ITER = re.compile(r"iter (\d+): loss (\S+?), time ([\d.]+)ms(?:, mfu (-?[\d.]+)%)?")
_NANO_EVAL = re.compile(r"step (\d+): train loss (\S+?), val loss (\S+)")
_BUILD_STEP = re.compile(
    r"step\s+(\d+) \| loss: (\S+) \| lr (\S+) \| norm: (\S+) \| dt: ([\d.]+)ms \| tok/sec: ([\d.]+)")
_STEP_PIPE = re.compile(r"step\s+(\d+)\s*\|(.*)")
_LOGTXT = re.compile(r"(\d+) (train|val|hella) (\S+)\s*$")  # trailing blanks too, as the bytes path reads them
_MODDED = re.compile(r"step:(\d+)/(\d+) (.*)")
_MODDED_KV = re.compile(r"(\w+):(\S+)")
_BRACKET_TRAIN = re.compile(r"\[train\] iter (\d+): loss (\S+)(?:\s+(\d+(?:\.\d+)?) ms/iter)?")
_BRACKET_EVAL = re.compile(r"\[eval\] iter (\d+): train (\S+) val (\S+)(?: lr (\S+))?")
_VALIDATION = re.compile(r"validation loss: (\S+)")
_HELLA = re.compile(r"HellaSwag accuracy: (\d+)/(\d+)=(\S+)")
_NANO_SNIFF = re.compile(
    rb"(?m)^(?:\[?\d{4}-\d\d-\d\d[^\n]{0,60}?[-|:\]] |INFO:[\w.]*:)?"  # an optional logging prefix
    rb"(?:iter \d+: loss [\d.naif]+, time|step \d+: train loss|step\s+\d+ \| loss:? [\d.]+"
    rb"|\d+ (?:train|val) \d+\.\d+\s*$|step:\d+/\d+ (?:train|val)_loss:|\[train\] iter \d+: loss|\[eval\] iter \d+: train)"
)
_ITER3 = (("train", "loss", "loss"), ("train", "step_time_ms", "time"), ("train", "mfu", "mfu"))
_BUILD5 = (("train", "loss", "loss"), ("train", "learning_rate", "lr"), ("train", "grad_norm", "norm"),
           ("train", "step_time_ms", "dt"), ("train", "tokens_per_sec", "tok/sec"))
_LOGTXT1 = (("train", "loss", "train"),)
_LOG_PREFIX = re.compile(
    r"^(?:\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\]?\s*(?:[-|:]\s*)?"
    r"(?:(?:[\w.]+\s*-\s*)?(?:INFO|DEBUG|WARNING)\s*[-|:]\s*)?|(?:INFO|DEBUG):[\w.]*:\s*)")
_MODDED_NAMES = {"train_loss": ("train", "loss", ""), "val_loss": ("eval", "loss", ""),
                 "val_bpb": ("eval", "bpb", ""), "train_time": ("train", "train_time_ms", "ms"),
                 "step_avg": ("train", "step_avg_ms", "ms")}


# A field with an ANSI code or a NUL is left to the text path, which removes them before reading the number.
_NANO_ITER_B = re.compile(rb"iter (\d+): loss ([^,\s\x00\x1b]+), time ([\d.]+)ms(?:, mfu (-?[\d.]+)%)?\s*$")
_BUILD_STEP_B = re.compile(
    rb"step\s+(\d+) \| loss: ([^\s\x00\x1b]+) \| lr ([^\s\x00\x1b]+) \| norm: ([^\s\x00\x1b]+) "
    rb"\| dt: ([\d.]+)ms \| tok/sec: ([\d.]+)\s*$")
_LOGTXT_TRAIN_B = re.compile(rb"(\d+) train ([^\s\x00\x1b]+)\s*$")


_DIGITS = b"0123456789."
_NUMBERS_ONLY = bytes(c if c in _DIGITS else 32 for c in range(256))  # every other byte -> space


class _LineShape:
    """A line shape with plain decimal numbers (``iter {}: loss {}, time {}ms, mfu {}%``), read for a
    run of lines at once.

    Lines whose text without digits and dots is the template's are candidates. A run of them is read
    in one go: every other byte becomes a space and the numbers come out of ``split()`` and ``float()``
    (the same ``float`` of the same bytes as the per-line regex path). The run is taken only when the
    template filled with those numbers gives back its exact bytes (so every field holds one number
    and nothing else holds any), integer fields have no dot and every number is readable; otherwise
    it is left to the per-line path.
    """

    #: read by the C scanner when it is built (tests turn it off to compare)
    use_c = True

    def __init__(self, fmt: bytes, int_fields: tuple = ()):
        parts = fmt.split(b"{}")
        self.parts = tuple(parts)
        self.skeleton = b"".join(parts)
        self.k = len(parts) - 1
        self.first, self.last = parts[0], parts[-1]
        self.between = [*parts[1:-1], parts[-1] + b"\n" + parts[0]]  # the text after each field
        self.int_fields = int_fields

    def other_lines(self, buf: bytes) -> list[int]:
        """The (0-based) lines of ``buf`` (``\\n``-ended) that do not have the shape."""
        skel = buf.translate(None, _DIGITS).split(b"\n")
        skel.pop()
        return list(compress(count(), map(self.skeleton.__ne__, skel)))

    def values(self, seg: bytes, nlines: int) -> Optional[np.ndarray]:
        """``values[field]`` for ``nlines`` lines of the shape joined by ``\\n``; None when any is not plain."""
        k = self.k
        if self.use_c and _speedups is not None:  # the same reading in C (tests/test_speedups.py)
            got = _speedups.shape_values(seg, self.parts, nlines, self.int_fields)
            return None if got is None else np.frombuffer(got, dtype=np.float64).reshape(k, nlines)
        tokens = seg.translate(_NUMBERS_ONLY).split()
        nt = len(tokens)
        if nt != k * nlines:
            return None
        rebuilt: list = [self.first] * (2 * nt + 1)
        rebuilt[1::2] = tokens
        rebuilt[2::2] = self.between * nlines
        rebuilt[-1] = self.last
        if b"".join(rebuilt) != seg:
            return None
        for f in self.int_fields:
            if b"." in b"".join(tokens[f::k]):
                return None
        try:
            vals = np.fromiter(map(float, tokens), dtype=np.float64, count=nt)
        except ValueError:  # "1.2.3", "."
            return None
        return vals.reshape(nlines, k).T.copy()


_ITER_SHAPE = _LineShape(b"iter {}: loss {}, time {}ms, mfu {}%", int_fields=(0,))


def _bfloat(b: bytes) -> float:
    try:
        return float(b)
    except ValueError:
        return to_float(b.decode("utf-8", "replace"))  # as the text path decodes it (float() takes "٣")


class NanoGPTParser(_RawParser):
    name = "nanogpt"
    framework = "nanogpt"
    description = "nanoGPT / build-nanogpt / modded-nanogpt stdout and log.txt"

    def _fast_step(self, st: _Stream, step: float, n: int) -> None:
        last = st.last_step
        if last is None or step < last or st.crash is not None:
            st.step_seen(step, n)
        else:
            st.last_step = step
            st.b.last_step = step
            st.metric_lines += 1

    def fast_line(self, st: _Stream, n: int, raw: bytes) -> bool:  # type: ignore[override]
        c = raw[:1]
        if c == b"i":
            m = _NANO_ITER_B.match(raw)
            if m is None:
                return False
            step, loss, ms, mfu = m.groups()
            step = float(step)
            self._fast_step(st, step, n)
            st.add_group(_ITER3, step, n, (
                _bfloat(loss), _bfloat(ms),
                _bfloat(mfu) if mfu is not None and mfu != b"-100.00" else None))  # -100: "not measured yet"
            return True
        if c == b"s" and raw[:5] == b"step ":
            m = _BUILD_STEP_B.match(raw)
            if m is None:
                return False
            step = float(m.group(1))
            self._fast_step(st, step, n)
            st.add_group(_BUILD5, step, n, (_bfloat(m.group(2)), _bfloat(m.group(3)), _bfloat(m.group(4)),
                                            _bfloat(m.group(5)), _bfloat(m.group(6))))
            return True
        if b"0" <= c <= b"9":
            m = _LOGTXT_TRAIN_B.match(raw)
            if m is None:
                return False
            step = float(m.group(1))
            self._fast_step(st, step, n)
            st.add_group(_LOGTXT1, step, n, (_bfloat(m.group(2)),))
            return True
        return False

    def fast_block(self, st: _Stream, n: int, buf: bytes) -> int:  # type: ignore[override]
        """A block of whole lines: runs of ``iter N: loss X, time Yms, mfu Z%`` lines at once, every
        other line (and any run that is not plain numbers) one by one."""
        if (len(buf) < _FAST_BLOCK_MIN or len(buf) > MAX_LINE_BYTES or b"iter " not in buf or b"\r" in buf
                or n + len(buf) >= 2**31):
            return self._block(st, n, buf)
        shape = _ITER_SHAPE
        bad = shape.other_lines(buf)
        lines = buf.split(b"\n")
        lines.pop()
        total = len(lines)
        if len(bad) == total:
            return self._block(st, n, buf)
        dispatch = self._dispatch
        i = 0
        bad.append(total)
        for z in bad:
            if z > i:  # lines i..z-1 have the shape
                vals = shape.values(b"\n".join(lines[i:z]), z - i)
                if vals is not None:
                    self._iter_run(st, n + 1 + i, lines[i:z], vals)
                else:
                    for j in range(i, z):
                        dispatch(st, n + 1 + j, lines[j])
            if z < total and lines[z]:
                dispatch(st, n + 1 + z, lines[z])
            i = z + 1
        return n + total

    def _iter_run(self, st: _Stream, n: int, lines: list, vals: np.ndarray) -> None:
        """Consecutive ``iter`` lines from line ``n``: appended in bulk while the step does not go back."""
        steps = vals[0]
        m = len(lines)
        r = 0
        while r < m:
            last = st.last_step
            if st.crash is None and last is not None and steps[r] >= last:
                back = np.flatnonzero(steps[r + 1:] < steps[r:-1])
                r2 = r + 1 + int(back[0]) if len(back) else m
                step = float(steps[r2 - 1])
                st.last_step = step
                st.b.last_step = step
                st.metric_lines += r2 - r
                st.add_group_bulk(_ITER3, steps[r:r2], np.arange(n + r, n + r2, dtype=np.int32),
                                  [vals[1][r:r2], vals[2][r:r2], vals[3][r:r2]])
                r = r2
            else:  # the first line, a step that goes back, a line after an error: the per-line rules
                self.fast_line(st, n + r, lines[r])
                r += 1

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or b"\x00" in head[:_BINARY_CHECK]:
            return 0.0
        return 0.9 if _NANO_SNIFF.search(head) else 0.0

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int], depth: int = 0) -> None:
        c = text[:1]
        if c == "i":
            m = _NANO_ITER.match(text)
            if m and st.rank_ok(rank):
                step = to_float(m.group(1))
                st.step_seen(step, n)
                st.add("train", "loss", step, to_float(m.group(2)), n, key="loss")
                st.add("train", "step_time_ms", step, to_float(m.group(3)), n, key="time")
                mfu = m.group(4)
                if mfu is not None and mfu != "-100.00":  # nanoGPT's "not measured yet"
                    st.add("train", "mfu", step, to_float(mfu), n, key="mfu")
                return
        elif c == "s":
            if text.startswith("step "):
                m = _NANO_EVAL.match(text)
                if m and st.rank_ok(rank):
                    step = to_float(m.group(1))
                    st.step_seen(step, n)
                    st.add("train", "loss_estimate", step, to_float(m.group(2)), n, key="train loss")
                    st.add("eval", "loss", step, to_float(m.group(3)), n, key="val loss")
                    return
                m = _BUILD_STEP.match(text)
                if m and st.rank_ok(rank):
                    step = to_float(m.group(1))
                    st.step_seen(step, n)
                    add = st.add
                    add("train", "loss", step, to_float(m.group(2)), n, key="loss")
                    add("train", "learning_rate", step, to_float(m.group(3)), n, key="lr")
                    add("train", "grad_norm", step, to_float(m.group(4)), n, key="norm")
                    add("train", "step_time_ms", step, to_float(m.group(5)), n, key="dt")
                    add("train", "tokens_per_sec", step, to_float(m.group(6)), n, key="tok/sec")
                    return
                m = _STEP_PIPE.match(text)
                if m and st.rank_ok(rank):
                    if self._fields(st, n, to_float(m.group(1)), m.group(2)):
                        return
            elif text.startswith("step:"):
                m = _MODDED.match(text)
                if m and st.rank_ok(rank):
                    step, total = to_float(m.group(1)), to_float(m.group(2))
                    st.total = total
                    st.step_seen(step, n)
                    for k, v in _MODDED_KV.findall(m.group(3)):
                        split, name, unit = _MODDED_NAMES.get(k, (None, "", ""))
                        if split is None:
                            sp, name, metric = normalise_key(k)
                            if not metric:
                                continue
                            split = sp or "train"
                        if unit and v.endswith(unit):
                            v = v[: -len(unit)]
                        st.add(split, name, step, to_float(v), n, key=k)
                    return
        elif c == "[":
            if text.startswith("[train] iter"):
                m = _BRACKET_TRAIN.match(text)
                if m and st.rank_ok(rank):
                    step = to_float(m.group(1))
                    st.step_seen(step, n)
                    st.add("train", "loss", step, to_float(m.group(2)), n, key="loss")
                    if m.group(3):
                        st.add("train", "step_time_ms", step, to_float(m.group(3)), n, key="ms/iter")
                    return
            elif text.startswith("[eval] iter"):
                m = _BRACKET_EVAL.match(text)
                if m and st.rank_ok(rank):
                    step = to_float(m.group(1))
                    st.step_seen(step, n)
                    st.add("train", "loss_estimate", step, to_float(m.group(2)), n, key="train")
                    st.add("eval", "loss", step, to_float(m.group(3)), n, key="val")
                    if m.group(4):
                        st.add("train", "learning_rate", step, to_float(m.group(4)), n, key="lr")
                    return
        elif "0" <= c <= "9":
            m = _LOGTXT.match(text)
            if m and st.rank_ok(rank):
                step = to_float(m.group(1))
                kind = m.group(2)
                st.step_seen(step, n)
                if kind == "train":
                    st.add("train", "loss", step, to_float(m.group(3)), n, key="train")
                elif kind == "val":
                    st.add("eval", "loss", step, to_float(m.group(3)), n, key="val")
                else:
                    st.add("eval", "hellaswag_accuracy", step, to_float(m.group(3)), n, key="hella")
                return
        elif c == "v" and text.startswith("validation loss:"):
            m = _VALIDATION.match(text)
            if m and st.rank_ok(rank):
                # build-nanogpt evaluates at the top of step N, before printing "step N |"
                step = 0.0 if st.last_step is None else st.last_step + 1
                st.nano_eval_step = step  # type: ignore[attr-defined]
                st.step_seen(step, n)
                st.add("eval", "loss", step, to_float(m.group(1)), n, key="validation loss")
                return
        elif c == "H" and text.startswith("HellaSwag accuracy:"):
            m = _HELLA.match(text)
            if m and st.rank_ok(rank):
                step = getattr(st, "nano_eval_step", None)
                if step is None or step != st.last_step:
                    step = 0.0 if st.last_step is None else st.last_step + 1
                st.add("eval", "hellaswag_accuracy", step, to_float(m.group(3)), n, key="HellaSwag accuracy")
                return
        if depth == 0 and ("loss" in text or "val" in text or "train" in text):
            mp = _LOG_PREFIX.match(text)
            if mp and mp.end() < len(text):
                # "2024-01-01 12:00:00 - INFO - iter 10: loss ...": the same line without its prefix
                return self.line(st, n, text[mp.end():], rank, 1)
        if "stopping_early" in text:
            st.complete = (n, text.strip())
            m = re.search(r"step:(\d+)/(\d+)", text)
            if m:
                st.total = None  # stopped early on purpose: the declared total no longer applies
        elif " val_loss" in text and st.last_step is not None and ("val_loss:" in text or "val_loss=" in text):
            # post-training evaluations (modded-nanogpt "final_int8_roundtrip val_loss:1.93")
            label = text.split(" ", 1)[0].strip(":")
            for k, _sep, v, _u in kv_pairs(text):
                _sp, name, metric = normalise_key(k)
                if metric:
                    st.b.summary_extra[f"{label}.{k}"] = to_float(v)
            return
        st.events(text, n)

    def _fields(self, st: _Stream, n: int, step: float, rest: str) -> bool:
        pairs = kv_pairs(rest)
        if not pairs:
            return False
        st.step_seen(step, n)
        for k, _sep, v, unit in pairs:
            split, name, metric = normalise_key(k, unit)
            if not metric:
                continue
            if name == "step_time" and unit == "ms":
                name = "step_time_ms"
            st.add(split or "train", name, step, to_float(v), n, key=k)
        return True


# ---------------------------------------------------------------------------
# Megatron-LM / Megatron-DeepSpeed
# ---------------------------------------------------------------------------

_MEG_ITER = re.compile(r"(?:^|\s|\])iteration\s+(\d+)\s*/\s*(\d+)\s*\|(.*)")
_MEG_VAL = re.compile(r"(?:^|\s|\])(validation|test|valid) loss at (?:iteration\s+(\d+)|(.*?))\s*(?:on [^|]*)?\|(.*)",
                      re.I)
_MEG_NAMES = {
    "lm loss": ("train", "loss"), "lm loss value": (None, "loss"), "lm loss ppl": (None, "perplexity"),
    "elapsed time per iteration (ms)": ("train", "step_time_ms"), "learning rate": ("train", "learning_rate"),
    "global batch size": ("train", "global_batch_size"), "loss scale": ("train", "loss_scale"),
    "grad norm": ("train", "grad_norm"), "number of skipped iterations": ("train", "skipped_iterations"),
    "number of nan iterations": ("train", "nan_iterations"), "tflops": ("train", "tflops"),
    "consumed samples": ("train", "consumed_samples"), "consumed tokens": ("train", "consumed_tokens"),
    "samples per second": ("train", "samples_per_sec"),
    "tokens per gpu per second (tgs)": ("train", "tokens_per_gpu_per_sec"),
    "throughput per gpu (tflop/s/gpu)": ("train", "tflops"), "num zeros": ("train", "num_zeros"),
    "actual seqlen": ("train", "seq_len"), "mtp_1 loss": ("train", "mtp_1_loss"),
}
_MEG_SNIFF = re.compile(rb"elapsed time per iteration \(ms\)|validation loss at iteration|lm loss value:")
_MEG_HINT = re.compile(rb"[Mm]egatron|------------------------ arguments ------------------------")


class MegatronParser(_RawParser):
    name = "megatron"
    framework = "megatron"
    description = "Megatron-LM / Megatron-DeepSpeed iteration lines and validation blocks"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or b"\x00" in head[:_BINARY_CHECK]:
            return 0.0
        if _MEG_SNIFF.search(head):
            return 0.9
        if b"megatron" in head.lower() and b"arguments" in head and b"iteration" in head:
            return 0.6
        if _MEG_HINT.search(head) and b"iteration" in head:
            return 0.5
        return 0.0

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:
        if "iteration" in text and "|" in text:
            m = _MEG_ITER.search(text)  # newer Megatron prefixes a "[2024-05-01 12:00:00] " timestamp
            if m:
                if not st.rank_ok(rank):
                    return
                step = to_float(m.group(1))
                st.total = to_float(m.group(2))
                st.step_seen(step, n)
                self._fields(st, n, step, m.group(3), "train")
                return
            m = _MEG_VAL.search(text)
            if m:
                if not st.rank_ok(rank):
                    return
                kind = m.group(1).lower()
                split = "test" if kind == "test" or "test" in (m.group(3) or "").lower() else "eval"
                if m.group(2) is not None:
                    step = to_float(m.group(2))
                else:
                    step = st.last_step if st.last_step is not None else 0.0
                st.step_seen(step, n)
                self._fields(st, n, step, m.group(4), split)
                return
        st.events(text, n)

    def _fields(self, st: _Stream, n: int, step: float, rest: str, split: str) -> None:
        for field in rest.split("|"):
            k, sep, v = field.partition(":")
            if not sep:
                continue
            k = k.strip()
            v = v.strip()
            if not v:
                continue
            known = _MEG_NAMES.get(k.lower())
            if known is not None:
                sp, name = known
                sp = sp if split == "train" and sp else split
            else:
                sp0, name, _metric = normalise_key(k.replace(" value", ""))
                sp = sp0 or split
            val = to_float(v.split()[0]) if v else NAN
            st.add(sp, name, step, val, n, key=k)


# ---------------------------------------------------------------------------
# fairseq
# ---------------------------------------------------------------------------

_FS_HYDRA = re.compile(r"\[[\d\-: ,.]+\]\[([\w\-./]+)\]\[\w+\] - (\{.*\})\s*$")
_FS_SIMPLE = re.compile(r".*?\| (?:INFO|WARNING) \| ([\w\-./]+) \| (.*)$")
_FS_CLASSIC = re.compile(r"\| epoch (\d+)(?: \| valid on '([\w\-]+)' subset)?( \|.*)$")
_FS_PROGRESS = re.compile(r"\| epoch (\d+):\s+\d+\s*/\s*\d+ (.*)$")
_FS_PROGRESS_KV = re.compile(r"([\w\-/]+)=([^,\s]+)")
_FS_PIPE_KV = re.compile(r"\| ([\w\-/]+) ([^|\s]+)")
_FS_SNIFF = re.compile(
    rb"\]\[(?:train_inner|train|valid)\]\[INFO\] - \{|\| INFO \| (?:train_inner|train|valid) \||"
    rb"\| epoch \d+ \| loss |fairseq_cli\.train|fairseq\.trainer")
_FS_SKIP = frozenset({"epoch", "update", "num_updates"})
_FS_MAX = re.compile(r"'max_(epoch|update)': (\d+)")


class FairseqParser(_RawParser):
    name = "fairseq"
    framework = "fairseq"
    description = "fairseq training logs: classic '| epoch 001 | ...', simple and hydra JSON formats"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or b"\x00" in head[:_BINARY_CHECK]:
            return 0.0
        return 0.9 if _FS_SNIFF.search(head) else 0.0

    def on_new_run(self, st: _Stream) -> None:
        st.fs_subsets = []  # type: ignore[attr-defined]
        st.fs_max = getattr(st, "fs_max", {})  # type: ignore[attr-defined]
        st.fs_done = None  # type: ignore[attr-defined]
        st.fs_epoch = None  # type: ignore[attr-defined]
        st.fs_inner = False  # type: ignore[attr-defined]

    def on_finish(self, st: _Stream) -> None:
        b = st.b
        if st.crash is not None or not b.has_points():
            return
        done = st.fs_done  # type: ignore[attr-defined]
        mx = st.fs_max  # type: ignore[attr-defined]
        if done is not None:
            st.complete = done
            return
        last_update = b.last_step
        if mx.get("update") and last_update is not None and last_update >= mx["update"]:
            st.complete = (None, f"num_updates {_fmt(last_update)} reached max_update {mx['update']}")
            return
        ep = st.fs_epoch  # type: ignore[attr-defined]
        if mx.get("epoch") and ep is not None and ep >= mx["epoch"]:
            st.complete = (None, f"epoch {_fmt(ep)} reached max_epoch {mx['epoch']}")
            return
        # fairseq always prints "done training in N seconds"; without it the log was cut off
        st.crash = (Ending.interrupted, st.lines or None,
                    "no 'done training' line: the log stops mid-run (truncated or killed)")  # type: ignore[assignment]

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:
        if "{" in text and "][" in text:
            m = _FS_HYDRA.search(text)
            if m:
                obj = None
                try:
                    obj = loads_json(m.group(2))
                except ValueError:
                    obj = parse_pydict(m.group(2))
                if isinstance(obj, dict) and "epoch" in obj:
                    if st.rank_ok(rank):
                        self._record(st, n, m.group(1), obj)
                    return
                if isinstance(obj, dict) or "'_name'" in text:
                    self._config(st, text)
                    return
        if "| " in text:
            m = _FS_SIMPLE.match(text)
            if m and m.group(1) not in ("fairseq_cli.train", "fairseq.trainer") and "epoch" in m.group(2):
                if st.rank_ok(rank):
                    obj = self._kv(m.group(2))
                    if obj:
                        self._record(st, n, m.group(1), obj)
                        return
            m = _FS_CLASSIC.search(text)
            if m and st.rank_ok(rank):
                obj = dict(_FS_PIPE_KV.findall(m.group(3)))
                obj["epoch"] = m.group(1)
                if obj.get("loss") is not None or obj.get("num_updates") is not None:
                    if m.group(2):
                        kind = "valid"
                    else:  # an end-of-epoch summary; the train curve itself when no progress lines exist
                        kind = "train" if st.fs_inner else "train_inner"  # type: ignore[attr-defined]
                    self._record(st, n, kind, obj, subset=m.group(2))
                    return
            m = _FS_PROGRESS.search(text)
            if m and st.rank_ok(rank):
                obj = dict(_FS_PROGRESS_KV.findall(m.group(2)))
                obj["epoch"] = m.group(1)
                if obj.get("loss") is not None:
                    self._record(st, n, "train_inner", obj)
                    return
        if "overflow" in text or "OVERFLOW" in text:
            st.b.event(n, "warning", _EVENT_PREFIX_RE.sub("", text.strip()), logger="fairseq.trainer")
            return
        if "done training" in text:
            st.fs_done = (n, _EVENT_PREFIX_RE.sub("", text.strip()))  # type: ignore[attr-defined]
            return
        if "Loaded checkpoint" in text or "loaded checkpoint" in text:
            st.b.note(f"line {n}: {_EVENT_PREFIX_RE.sub('', text.strip())[:200]}")
        st.events(text, n)

    def _config(self, st: _Stream, text: str) -> None:
        for k, v in _FS_MAX.findall(text):
            if int(v) > 0:
                st.fs_max[k] = int(v)  # type: ignore[attr-defined]
        if "'_name'" in text:
            st.b.config_extra["fairseq_config_dumps"] = st.b.config_extra.get("fairseq_config_dumps", 0) + 1
            if st.b.config_extra["fairseq_config_dumps"] > 1:
                st.b.note("the fairseq config is printed again: the job was restarted in this log")

    @staticmethod
    def _kv(rest: str) -> dict[str, str]:
        obj: dict[str, str] = {}
        m = re.search(r"epoch (\d+)", rest)
        if m:
            obj["epoch"] = m.group(1)
        if "=" in rest:
            obj.update(_FS_PROGRESS_KV.findall(rest))
        else:
            obj.update(_FS_PIPE_KV.findall(" " + rest if not rest.startswith("|") else rest))
        return obj

    def _record(self, st: _Stream, n: int, kind: str, obj: dict[str, Any], subset: Optional[str] = None) -> None:
        epoch = parse_number(obj.get("epoch"))
        epoch = NAN if epoch is None else epoch
        prefix_name = ""
        if kind == "train_inner":
            prefix, split, suffix = "", "train", ""
            st.fs_inner = True  # type: ignore[attr-defined]
        elif kind == "train":
            prefix, split, suffix = "train_", "train", "_epoch"
        else:
            subset = subset or kind
            prefix = f"{subset}_"
            split = "test" if "test" in subset else "eval"
            subsets = st.fs_subsets  # type: ignore[attr-defined]
            if subset not in subsets:
                subsets.append(subset)
                if len(subsets) == 2:
                    st.b.note(f"fairseq validates on several subsets: '{subsets[0]}' is eval/loss etc., "
                              f"others are named <subset>_<metric>")
            suffix = ""
            if subsets and subsets[0] != subset:
                prefix_name = _NON_ALNUM.sub("_", subset.lower()).strip("_") + "_"
        upd = obj.get(f"{prefix}num_updates", obj.get("num_updates"))
        step = parse_number(upd)
        if step is None:
            step = st.last_step if st.last_step is not None else (epoch if not math.isnan(epoch) else 0.0)
        st.step_seen(step, n)
        if not math.isnan(epoch):
            st.fs_epoch = epoch  # type: ignore[attr-defined]
        for k, v in obj.items():
            base = k[len(prefix):] if prefix and k.startswith(prefix) else k
            if base in _FS_SKIP or k in _FS_SKIP:
                continue
            val = parse_number(v)
            if val is None:
                continue
            name = _ALIASES.get(base, base).replace("-", "_")
            if split in ("eval", "test"):
                name = prefix_name + name
            st.add(split, name + suffix, step, val, n, epoch=epoch, key=k)


# ---------------------------------------------------------------------------
# torchtitan
# ---------------------------------------------------------------------------

_TT_STEP = re.compile(r"step:\s*(\d+)\s+(.*)")
_TT_KV = re.compile(r"([a-z_]+):\s+([\d.,]+|nan|inf|-inf)(GiB)?(?:\(([\d.]+)%\))?(%)?")
_TT_SNIFF = re.compile(rb"\[titan\]|torchtitan")
_TT_NAMES = {"tps": "tokens_per_sec", "memory": "memory_gib", "grad_norm": "grad_norm", "loss": "loss",
             "tflops": "tflops", "mfu": "mfu"}


class TorchTitanParser(_RawParser):
    name = "torchtitan"
    framework = "torchtitan"
    description = "torchtitan [titan] step lines"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or b"\x00" in head[:_BINARY_CHECK]:
            return 0.0
        if _TT_SNIFF.search(head):
            return 0.9 if b"step:" in head or b"Training starts" in head else 0.7
        return 0.0

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:
        i = text.find("step:")
        if i >= 0 and "loss:" in text:
            m = _TT_STEP.match(text, i)
            if m:
                if not st.rank_ok(rank):
                    return
                step = to_float(m.group(1))
                st.step_seen(step, n)
                for k, v, gib, pct, pct2 in _TT_KV.findall(m.group(2)):
                    name = _TT_NAMES.get(k, k)
                    st.add("train", name, step, to_float(v), n, key=k)
                    if pct:
                        st.add("train", "memory_pct", step, to_float(pct), n, key=k)
                return
        if "Loading the checkpoint" in text or "checkpoint from" in text and "oad" in text:
            st.b.note(f"line {n}: {text.split(' - ')[-1].strip()[:200]} (resumed run)")
        elif "Training completed" in text:
            st.complete = (n, text.split(" - ")[-1].strip())
        elif "Training starts at step" in text:
            m = re.search(r"step (\d+)", text)
            if m:
                st.b.note(f"line {n}: training starts at step {m.group(1)}")
        st.events(text, n)


# ---------------------------------------------------------------------------
# kv_generic: the fallback for hand-written loops
# ---------------------------------------------------------------------------

_STEP_IND = re.compile(
    r"(?<![\w/])(?:global[_ ]?step|step|iter(?:ation)?|update|num_updates)(?![A-Za-z])\s*(?:[:=#]\s*|\s+|(?=\d))"
    r"\[?\s*(\d+)(?:\s*/\s*(\d+))?\]?", re.I)
_EPOCH_IND = re.compile(
    r"(?<![\w/])epoch(?![A-Za-z])\s*(?:[:=#]\s*|\s+|(?=\d))\[?\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?\]?", re.I)
_BATCH_IND = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]|(\d+)\s*/\s*(\d+)\s+batch(?:es)?\b", re.I)
_PROGRESS_BAR = re.compile(r"\d%\||it/s\]|s/it\]|it/s,|s/it,")
_SPLIT_CONTEXT = re.compile(r"\b(?:eval(?:uation|uating)?|val|valid(?:ation|ating)?|test(?:ing)?|dev)\b", re.I)
_TIMM_IND = re.compile(r"^Train: (\d+) \[\s*(\d+)/(\d+)")  # timm: "Train: 3 [ 100/1251 (  8%)]"
_CSV_HEADER = re.compile(r"^\s*[A-Za-z_][\w/ .\-()]*(?:\s*[,\t;]\s*[A-Za-z_][\w/ .\-()]*)+\s*$")
_STEP_COLS = ("step", "global_step", "iter", "iteration", "update", "num_updates", "_step")
_CONFIG_DUMP = ("Namespace(", "namespace(", "Config(", "args:", "Arguments", "argv")
_JSON_CONFIG_LINE = re.compile(r'^\s*"[\w.\-]+"\s*:\s*[^{\[]*,?\s*$')
_METRICLOGGER_AVG = re.compile(r"(\w+): (\S+) \((\S+)\)")
_BARE_SPLIT_WORDS = frozenset({"train", "training", "val", "valid", "validation", "eval", "evaluation", "dev",
                               "test", "testing"})
_LINE_SPLIT_PREFIX = re.compile(r"^\W*(train|training|val|valid|validation|eval|evaluation|dev|test)\b\W", re.I)


class KVGenericParser(_RawParser):
    name = "kv_generic"
    framework = None
    description = "generic key/value training prints (the fallback for hand-written loops)"
    max_score = 0.35  # what sniff returns at most; its scan of the head is skipped when it cannot win

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or not head_is_text(head):
            return 0.0
        text = head.decode("utf-8", "replace")
        if not any(ch.isdigit() for ch in text[:65536]):
            return 0.0
        # many "step N ... key: value" lines (not progress bars) in the head: still generic, but more
        # certain than a weak guess of another parser (e.g. verl "step:3 - actor/pg_loss:0.01 - ...")
        strong = 0
        for ln in text.splitlines()[:5000]:
            if len(ln) < 20000 and _STEP_IND.search(ln) and not _PROGRESS_BAR.search(ln):
                if sum(1 for k, sep, _v, u in kv_pairs(ln) if normalise_key(k, u)[2]) >= 3:
                    strong += 1
                    if strong >= 5:
                        return 0.35
        for ln in text.splitlines()[:2000]:
            if not any(ch.isdigit() for ch in ln):
                if _CSV_HEADER.match(ln) and any(w in ln.lower() for w in ("loss", "acc", "epoch", "step")):
                    return 0.1
                continue
            for k, sep, _v, unit in kv_pairs(ln):
                if normalise_key(k, unit)[2] or sep == "=":
                    return 0.1
        return 0.0

    def on_new_run(self, st: _Stream) -> None:
        st.kv = {  # type: ignore[attr-defined]
            "epoch_ctx": None, "split_ctx": None, "epoch_mode": None, "prev_epoch": None, "prev_inner": None,
            "epoch_base": None, "stepped": set(), "index": {}, "csv": getattr(st, "kv", {}).get("csv"),
            "bar": [], "epoch_as_step": False, "index_used": False, "attached": False,
            "anchored": False, "pending": [],
        }
        if not hasattr(st, "kv_default_split"):
            low = st.path.name.lower()
            st.kv_default_split = (  # type: ignore[attr-defined]
                "eval" if re.search(r"(?:^|[^a-z])(?:val|valid|validation|dev|eval)(?:[^a-z]|$)", low)
                else "test" if re.search(r"(?:^|[^a-z])test(?:[^a-z]|$)", low) else "train")

    def on_finish(self, st: _Stream) -> None:
        kv = st.kv  # type: ignore[attr-defined]
        b = st.b
        if not b.has_points() and kv["bar"]:
            b.note("metrics were read from progress-bar postfixes only (no other metric lines)")
            for split, name, step, value, n, epoch, key in kv["bar"]:
                b.add(split, name, step, value, epoch, n, key)
        kv["bar"] = []
        pending = kv["pending"]
        if pending:
            if b.has_points():
                b.note(f"{len(pending)} metric-looking values on lines with no step, epoch or earlier step line "
                       f"(first at line {pending[0][4]}) were ignored: most are configuration printouts")
            else:
                kv["index_used"] = True
                idx: dict[tuple[str, str], float] = {}
                for split, name, value, k, n in pending:
                    s = idx.get((split, name), 0.0) + 1.0
                    idx[(split, name)] = s
                    st.add(split, name, s, value, n, key=k, origin=StepOrigin.index)
            kv["pending"] = []
        if kv["epoch_mode"] == "per_epoch":
            for k in kv["stepped"]:
                if st.origins.get(k) is StepOrigin.logged:
                    st.origins[k] = StepOrigin.reconstructed
            b.note("the step/batch counter restarts every epoch: global step = epoch x batches per epoch "
                   "+ batch (reconstructed)")
        if kv["epoch_as_step"]:
            b.note("only epochs are logged: the epoch number is used as the step")
        if kv["index_used"]:
            b.note("no step or epoch indicator: points are numbered in the order they were logged")
        if kv["attached"]:
            b.note("metric lines without their own step (evaluation blocks, epoch summaries) are placed at "
                   "the last step logged before them")

    def line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:
        kv = st.kv  # type: ignore[attr-defined]
        has_digit = False
        for ch in text:
            if "0" <= ch <= "9":
                has_digit = True
                break
        if not has_digit and ("nan" in text or "inf" in text or "NaN" in text or "Inf" in text):
            has_digit = any(m[2][-3:].lower() in ("nan", "inf", "ity") for m in kv_pairs(text))
        if not has_digit:
            csv_cols = self._csv_header(text)
            if csv_cols is not None:
                kv["csv"] = csv_cols
                return
            if len(text.strip()) <= 60 and _SPLIT_CONTEXT.search(text):  # a header, not prose
                kv["split_ctx"] = _split_of_word(_SPLIT_CONTEXT.search(text).group(0))
            st.events(text, n)
            return
        if kv["csv"] is not None and self._csv_row(st, n, text, rank):
            return
        if (any(c in text for c in _CONFIG_DUMP) or text.lstrip().startswith(("+ ", "{'_name'"))
                or " ...." in text or _JSON_CONFIG_LINE.match(text)):
            st.events(text, n)  # argument / config printouts are not metrics
            return
        if text.startswith("Averaged stats:") and kv["stepped"] and st.last_step is not None:
            # torchvision/DINO MetricLogger: "loss: <median> (<epoch average>)"
            for k, _med, avg in _METRICLOGGER_AVG.findall(text):
                sp, name, _m = normalise_key(k)
                st.add(sp or "train", name + "_epoch", st.last_step, to_float(avg), n, key=k,
                       origin=StepOrigin.estimated)
            kv["attached"] = True
            return
        s = text.strip()
        if s.startswith("{") and s.endswith("}"):
            if self._dict_line(st, n, s, rank):
                return
        self._kv_line(st, n, text, rank)

    # -- csv-ish files ------------------------------------------------------------
    @staticmethod
    def _csv_header(text: str) -> Optional[list[str]]:
        if "," not in text and "\t" not in text:
            return None
        if not _CSV_HEADER.match(text):
            return None
        cols = [c.strip() for c in re.split(r"[,\t;]", text)]
        low = [c.lower() for c in cols]
        if not any(c in _STEP_COLS or c == "epoch" for c in low):
            return None
        if not any(normalise_key(c)[2] for c in cols):
            return None
        return cols

    def _csv_row(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> bool:
        cols = st.kv["csv"]  # type: ignore[attr-defined]
        cells = [c.strip() for c in re.split(r"[,\t;]", text)]
        if len(cells) != len(cols):
            return False
        vals = [parse_number(c) if c else NAN for c in cells]
        if any(v is None for v in vals):
            return False
        low = [c.lower() for c in cols]
        step = epoch = None
        for i, c in enumerate(low):
            if c in _STEP_COLS and step is None:
                step = vals[i]
            elif c == "epoch":
                epoch = vals[i]
        if step is None:
            step = epoch
            st.kv["epoch_as_step"] = True  # type: ignore[attr-defined]
        if step is None or (isinstance(step, float) and math.isnan(step)) or not st.rank_ok(rank):
            return False
        st.step_seen(step, n)
        default = st.kv_default_split  # type: ignore[attr-defined]
        for i, c in enumerate(cols):
            if low[i] in _STEP_COLS or low[i] == "epoch":
                continue
            v = vals[i]
            if v is None or (cells[i] == ""):
                continue
            split, name, _m = normalise_key(c)
            st.add(split or default, name, step, v, n,
                   epoch=NAN if epoch is None else epoch, key=c)
        return True

    # -- dict lines -------------------------------------------------------------
    def _dict_line(self, st: _Stream, n: int, s: str, rank: Optional[int]) -> bool:
        obj = parse_pydict(s)
        if obj is None:
            try:
                obj = loads_json(s)
            except ValueError:
                return False
        if not isinstance(obj, dict):
            return False
        step = None
        for k in ("step", "global_step", "iter", "iteration", "_step", "num_updates"):
            if k in obj:
                step = parse_number(obj[k])
                if step is not None:
                    break
        epoch = parse_number(obj.get("epoch"))
        if step is None and epoch is None:
            return False
        if not st.rank_ok(rank):
            return True
        if step is None:
            step = epoch
            st.kv["epoch_as_step"] = True  # type: ignore[attr-defined]
        st.step_seen(step, n)
        for k, v in obj.items():
            if k in ("step", "global_step", "iter", "iteration", "_step", "num_updates", "epoch"):
                continue
            val = parse_number(v)
            if val is None:
                continue
            split, name, _m = normalise_key(k)
            st.add(split or "train", name, step, val, n, epoch=NAN if epoch is None else epoch, key=k)
        return True

    # -- free text ----------------------------------------------------------------
    def _kv_line(self, st: _Stream, n: int, text: str, rank: Optional[int]) -> None:
        kv = st.kv  # type: ignore[attr-defined]
        is_bar = bool(_PROGRESS_BAR.search(text))
        step = None
        total = None
        origin = StepOrigin.logged
        spans: list[tuple[int, int]] = []
        m_step = _STEP_IND.search(text)
        m_epoch = _EPOCH_IND.search(text)
        epoch = None
        ep_total = None
        if m_epoch:
            epoch = float(m_epoch.group(1))
            ep_total = float(m_epoch.group(2)) if m_epoch.group(2) else None
            spans.append(m_epoch.span())
        inner = inner_total = None
        if m_step:
            spans.append(m_step.span())
            inner = float(m_step.group(1))
            inner_total = float(m_step.group(2)) if m_step.group(2) else None
        m_batch = None
        if m_epoch is None and not m_step and text.startswith("Train: "):
            mt = _TIMM_IND.match(text)
            if mt:
                epoch = float(mt.group(1))
                spans.append(mt.span())
                inner, inner_total = float(mt.group(2)), float(mt.group(3))
                m_batch = mt
                kv["epoch_mode"] = "per_epoch"
        if epoch is not None and (not m_step) and m_batch is None:
            m_batch = _BATCH_IND.search(text, m_epoch.end() if m_epoch else 0)
            if m_batch:
                spans.append(m_batch.span())
                g = m_batch.groups()
                inner = float(g[0] or g[2])
                inner_total = float(g[1] or g[3])
                kv["epoch_mode"] = "per_epoch"  # "N/M batches", "[ N/M]" count within the epoch
        line_split = None
        mp = _LINE_SPLIT_PREFIX.match(text)
        if mp:
            line_split = _split_of_word(mp.group(1))
        # metric pairs (indicator spans blanked so "Epoch 3/100" is not read as a metric)
        body = text
        for a, z in sorted(spans, reverse=True):
            body = body[:a] + " | " + body[z:]
        pairs = kv_pairs(body)
        if not pairs:
            if epoch is not None and len(text) < 120 and not kv["stepped"] and not m_step:
                kv["epoch_ctx"] = epoch  # an "Epoch 3/20" header line: the lines below belong to it
                kv["anchored"] = False
                kv["split_ctx"] = None
                st.epoch_seen(epoch, ep_total)
            elif len(text) < 200 and len(text.strip()) <= 60:  # a header ("Evaluation Results:"), not prose
                mc = _SPLIT_CONTEXT.search(text)
                if mc and not m_step:
                    kv["split_ctx"] = _split_of_word(mc.group(0))
            st.events(text, n)
            return
        stepped = m_step is not None or m_batch is not None
        points = []
        seen_names: dict[str, str] = {}
        last_explicit: Optional[str] = None
        n_pairs = len(pairs)
        body_split = None
        if line_split is None:
            pos = body.find(pairs[0][0])
            mb = _SPLIT_CONTEXT.search(body, 0, pos) if pos > 0 else None
            if mb:
                body_split = _split_of_word(mb.group(0))
        best = "best" in text or "Best" in text or "BEST" in text
        for k, sep, v, unit in pairs:
            split, name, metric = normalise_key(k, unit)
            if not metric and not (sep == "=" and stepped and n_pairs <= 12):
                continue
            if split is not None and "." not in v and k.lower().strip() in _BARE_SPLIT_WORDS:
                continue  # "Train: 0" is a counter, not a loss
            if split is None:
                if name in seen_names and last_explicit is not None:
                    split = last_explicit  # "Val Loss: x | Token Acc: y" after "Train ... Token Acc"
                else:
                    split = (line_split or body_split
                             or (kv["split_ctx"] if not stepped and epoch is None else None) or "train")
            else:
                last_explicit = split
            seen_names[name] = split
            if best and "best" not in name:
                name = "best_" + name
            points.append((split, name, to_float(v), k))
        if not points:
            st.events(text, n)
            return
        if not st.rank_ok(rank):
            return
        if line_split and not stepped:
            kv["split_ctx"] = line_split  # "Test: [10/196] loss ..." then " * Acc@1 2.1": still test
        if "OVERFLOW" in text or "overflow" in text:  # fp16 loss-scale overflow lines also carry numbers
            st.b.event(n, "warning", _EVENT_PREFIX_RE.sub("", text.strip()))
        st.check_complete(text, n)  # "| End of training | test loss 5.1 |"
        # -- the step of this line
        attached = False
        if stepped:
            if epoch is not None and inner is not None and epoch == int(epoch):
                step, origin = self._epoch_inner(st, epoch, inner, inner_total, m_batch is not None)
            else:
                step = inner
                if inner_total is not None:
                    total = inner_total
            kv["split_ctx"] = None
            if epoch is not None:
                st.epoch_seen(epoch, ep_total)
        elif epoch is not None and not kv["stepped"]:
            step = epoch
            kv["epoch_as_step"] = True
            st.epoch_seen(epoch, ep_total)
        elif kv["epoch_ctx"] is not None and not kv["stepped"]:
            step = kv["epoch_ctx"]  # under an "Epoch 3/20" header
            kv["epoch_as_step"] = True
        elif kv["anchored"] and st.last_step is not None:
            step = st.last_step  # an eval block / epoch summary after step lines
            attached = True
            origin = StepOrigin.estimated
        else:
            step = None
        if is_bar:
            ep = NAN if epoch is None else epoch
            if step is None:
                step = float(len(kv["bar"]) + 1)
            if len(kv["bar"]) < 100000:
                for split, name, value, k in points:
                    kv["bar"].append((split, name, step, value, n, ep, k))
            return
        if step is None:
            if len(kv["pending"]) < 10000:
                for split, name, value, k in points:
                    kv["pending"].append((split, name, value, k, n))
            return
        if total is not None:
            st.total = total
        if not attached:
            st.step_seen(step, n)
            kv["anchored"] = True
            kv["anchor_line"] = n
        ep = NAN if epoch is None else epoch
        stepped_names = kv["stepped"]
        b = st.b
        for split, name, value, k in points:
            if stepped:
                stepped_names.add((split, name))
            elif attached:
                cols = b.columns(split, name)
                if (cols is not None and len(cols.value) and cols.step[-1] == step
                        and cols.line[-1] == kv.get("anchor_line")):
                    last = cols.value[-1]
                    if last == value or (last != last and value != value):
                        continue  # the same figure printed again (e.g. "saved best model (val_loss=x)")
                if (split, name) in stepped_names:
                    name = name + "_epoch"  # an epoch average of a metric that step lines also log
                kv["attached"] = True
            st.add(split, name, step, value, n, epoch=ep, key=k, origin=origin)

    @staticmethod
    def _epoch_inner(st: _Stream, epoch: float, inner: float, inner_total: Optional[float],
                     per_epoch: bool) -> tuple[float, StepOrigin]:
        """Global step from an epoch and a step/batch counter that may restart every epoch."""
        kv = st.kv  # type: ignore[attr-defined]
        if kv["epoch_base"] is None:
            kv["epoch_base"] = 0.0 if epoch == 0 else 1.0
        prev_epoch, prev_inner = kv["prev_epoch"], kv["prev_inner"]
        if kv["epoch_mode"] is None and prev_epoch is not None and epoch > prev_epoch:
            kv["epoch_mode"] = "per_epoch" if prev_inner is not None and inner < prev_inner else "global"
        if prev_epoch is not None and epoch < prev_epoch:
            kv["epoch_base"] = 0.0 if epoch == 0 else 1.0
        kv["prev_epoch"], kv["prev_inner"] = epoch, inner
        if (per_epoch or kv["epoch_mode"] == "per_epoch") and inner_total is not None:
            return (epoch - kv["epoch_base"]) * inner_total + inner, StepOrigin.reconstructed
        return inner, StepOrigin.logged


def _split_of_word(word: str) -> str:
    w = word.lower()
    if w.startswith("test"):
        return "test"
    if w.startswith("train"):
        return "train"
    return "eval"


@hookimpl
def logcheck_register_parsers(register):
    register(NanoGPTParser())
    register(MegatronParser())
    register(FairseqParser())
    register(TorchTitanParser())
    register(KVGenericParser())
