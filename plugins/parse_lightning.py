"""PyTorch Lightning parsers: console output (TQDM and Rich progress bars, 1.x
and 2.x) and the ``metrics.csv`` of CSVLogger.

Console steps are reconstructed: a training bar says ``Epoch E: ... n/total``
and the global step is ``E * total + n`` (``n`` counts batches, so with
gradient accumulation it counts batches, not optimizer steps). Metrics in the
bar postfix are redrawn on every frame; one point per distinct batch counter is
kept (the last frame drawn for it, which carries that batch's values), and
epoch-level values (``val_*``, ``*_epoch``) once per epoch, at the global step
where the epoch ends.

``metrics.csv`` steps: Lightning 2.6 logs ``step = fit_loop.epoch_loop._batches_that_stepped``
(logger_connector.py ``log_metrics``), i.e. the 0-based index of the optimizer step
just taken (the counter is incremented after logging; fit_loop.py decrements it
around the epoch-end log so epoch metrics share the last batch's step). A row
with step S therefore describes the state after S + 1 optimizer steps; we store
S + 1 so that CSV steps equal the console's ``epoch * total + n`` and Hugging
Face's ``global_step``.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from itertools import compress
from pathlib import Path
from typing import Any, Optional

import numpy as np

from logcheck import Ending, ParseContext, ParseError, Parser, RunBuilder, Series, Source, Split, StepOrigin, hookimpl
from logcheck.parsing import clean, iter_lines, parse_number, split_rank

# ---------------------------------------------------------------------------
# Metric names
# ---------------------------------------------------------------------------

_IGNORED = {"v_num", "epoch", "step", "global_step", "created_at", "it/s", "s/it"}
_SPLIT_PREFIXES = (
    ("train_", "train"), ("train/", "train"), ("training_", "train"), ("training/", "train"),
    ("val_", "eval"), ("val/", "eval"), ("valid_", "eval"), ("valid/", "eval"),
    ("validation_", "eval"), ("validation/", "eval"), ("eval_", "eval"), ("eval/", "eval"),
    ("v_", "eval"),
    ("test_", "test"), ("test/", "test"),
)
# how specific a name for the per-batch training loss is; "loss" in a 1.x bar is a running mean
_TRAIN_LOSS_KEYS = ("train_loss_step", "train_loss_batch", "train/loss_step", "train_loss", "train/loss")


def lightning_metric(key: str) -> Optional[tuple[str, str]]:
    """``(split, name)`` for a logged key, or None for bookkeeping keys.

    ``train_loss_step`` -> ("train", "loss"); ``train_loss_epoch`` -> ("train", "loss_epoch");
    ``val_loss``/``valid_loss``/``v_loss``/``val_loss_epoch`` -> ("eval", "loss");
    ``lr-AdamW`` -> ("train", "learning_rate").
    """
    k = key.strip()
    low = k.lower()
    if not low or low in _IGNORED:
        return None
    split = "train"
    name = k
    for prefix, sp in _SPLIT_PREFIXES:
        if low.startswith(prefix) and len(low) > len(prefix):
            split, name = sp, k[len(prefix):]
            break
    lname = name.lower()
    if split == "train":
        if lname.endswith("_step") or lname.endswith("_batch"):
            name = name.rsplit("_", 1)[0]
    else:
        if lname.endswith("_epoch"):
            name = name[: -len("_epoch")]
    lname = name.lower()
    if lname == "lr" or lname.startswith("lr-") or lname.startswith("lr_"):
        rest = name[3:]
        name = "learning_rate" if "/" not in rest else "learning_rate_" + rest.rsplit("/", 1)[-1]
    elif lname.startswith("momentum-"):
        name = "momentum"
    return split, name


def _is_epoch_level(key: str) -> bool:
    low = key.lower()
    sp = lightning_metric(key)
    return low.endswith("_epoch") or (sp is not None and sp[0] != "train")


def _scaled_count(text: str) -> Optional[float]:
    """``249 M`` -> 249e6, ``1.7 K`` -> 1700, ``1,761`` -> 1761."""
    m = re.match(r"\s*([\d.,]+)\s*([KMBT]?)\b", text)
    if not m:
        return None
    num = parse_number(m.group(1).replace(",", ""))
    if num is None:
        return None
    return float(round(num * {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(2)]))


# ---------------------------------------------------------------------------
# Console
# ---------------------------------------------------------------------------

_TQDM_BAR = re.compile(
    r"(?P<desc>Epoch (?P<ep>\d+)|Validation DataLoader \d+|Validation sanity check|Validating|Validation"
    r"|Sanity Checking DataLoader \d+|Sanity Checking|Training|Testing DataLoader \d+|Testing"
    r"|Predicting DataLoader \d+|Predicting):\s*"
    r"(?:\d{1,3}%)?\|[^|\r\n]{0,400}\|\s*(?P<n>\d+)/(?P<total>\d+|\?)"
    r"\s*\[(?P<info>[^\]\r\n]{0,4000})\]"
)
_ORPHAN_BAR = re.compile(r"\|\s*(?P<n>\d+)/(?P<total>\d+)\s*\[(?P<info>[^\]\r\n]{0,4000}it/s[^\]\r\n]{0,4000})\]")
_TQDM_UNSIZED = re.compile(r"(?:Validation sanity check|Training|Validating|Sanity Checking): \d+it \[")
_POSTFIX_KV = re.compile(r"([A-Za-z_][\w/.\-]*)=([^,\]\s]+)")
_RICH_BAR = re.compile(
    r"(?P<desc>Epoch (?P<ep>\d+)/(?P<max>\d+|\?)|Validation DataLoader \d+|Validation|Sanity Checking"
    r"(?: DataLoader \d+)?|Testing(?: DataLoader \d+)?|Predicting(?: DataLoader \d+)?)\s+"
    r"[━╸╺╾╼\- ]*\s(?P<n>\d+)/(?P<total>\d+|\?)\s+[\d:\-]+\s*•\s*[\d:\-]+\s*(?:[\d.]+\s*it/s)?(?P<rest>.*)$"
)
_RICH_KV = re.compile(r"([A-Za-z_][\w/.\-]*):\s+([-+]?(?:\d[\d.]*(?:e[-+]?\d+)?|nan|inf)\b%?)", re.I)
_RICH_WRAPPED = re.compile(r"(?:[A-Za-z_][\w/.\-]*:|[-+\w.%]+)(?:\s+(?:[A-Za-z_][\w/.\-]*:|[-+\w.%]+))*")
_SUMMARY_LINE = re.compile(r"\bEpoch (?P<ep>\d+):\s+(?P<rest>[A-Za-z_][\w/.\-]*\s+[-+\w.%]+(?:\s+[A-Za-z_][\w/.\-]*\s+[-+\w.%]+)+)\s*$")
_SUMMARY_KV = re.compile(r"([A-Za-z_][\w/.\-]*)\s+([-+]?(?:\d[\d.]*(?:e[-+]?\d+)?|nan|inf)%?)(?=\s|$)", re.I)
_ES_IMPROVED = re.compile(r"Metric (?P<m>\S+) improved(?: by (?P<by>[-\d.e+naif]+) >= min_delta = (?P<d>[-\d.e+]+))?\. New best score: (?P<best>[-\d.e+naif]+)")
_ES_STOP = re.compile(r"Monitored metric (?P<m>\S+) did not improve in the last (?P<p>\d+) records\. Best score: (?P<best>[-\d.e+naif]+)\. Signaling Trainer to stop")
_FIT_STOPPED = re.compile(r"`Trainer\.fit` stopped: (?P<why>.+)")
_MAX_EPOCHS = re.compile(r"max_epochs=(\d+)")
_MAX_STEPS = re.compile(r"max_steps=(\d+)")
_PARAMS_OLD = re.compile(r"^\s*(?P<num>[\d.,]+\s*[KMBT]?)\s+(?P<what>Trainable params|Non-trainable params|Total params)\s*$")
_PARAMS_NEW = re.compile(r"^\s*(?P<what>Trainable params|Non-trainable params|Total params):\s*(?P<num>[\d.,]+\s*[KMBT]?)\s*$")
_GPU = re.compile(r"^(GPU|TPU|IPU|HPU) available: (.+)$")
_LOCAL_RANK = re.compile(r"LOCAL_RANK: (\d+) - CUDA_VISIBLE_DEVICES: (\S+)")
_WARNING_PATH = re.compile(r"^(?:/|[A-Za-z]:\\)\S+\.py:\d+: (?P<cat>\w*Warning): (?P<msg>.+)")
_RESULT_HEADER = re.compile(r"^\W*(Test|Validate|Validation) metric\s*\W+\s*DataLoader \d+")
_RESULT_ROW = re.compile(r"^[│|┃\s]*([A-Za-z_][\w/.\-]*)\s*[│|┃]?\s+([-+]?(?:\d[\d.]*(?:[eE][-+]?\d+)?|nan|inf))\s*[│|┃]?\s*$")
_TRACEBACK = "Traceback (most recent call last):"
_INTERRUPT = ("Detected KeyboardInterrupt, attempting graceful shutdown", "KeyboardInterrupt", "Ctrl + C detected",
              "Ctrl+C detected")


class _EpochState:
    """What the bars of the current training epoch showed."""

    __slots__ = ("epoch", "total", "max_n", "end_postfix", "end_line", "val_seen", "pending")

    def __init__(self, epoch: int):
        self.epoch = epoch
        self.total: Optional[int] = None
        self.max_n = -1
        self.end_postfix: Optional[dict[str, str]] = None
        self.end_line = 0
        self.val_seen = False
        self.pending: Optional[tuple[int, dict[str, str], int]] = None  # (n, postfix, line)


class LightningConsoleParser(Parser):
    name = "lightning_console"
    format = "lightning"
    framework = "lightning"
    description = "PyTorch Lightning console output (TQDM/Rich progress bars, EarlyStopping, model summary)"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head:
            return 0.0
        if re.match(rb"\s*(?:\{\s*\"|\[\s*[\[{\"\d-])", head):
            return 0.0  # JSON
        text = head.decode("utf-8", "replace")
        score = 0.0
        if re.search(r"Epoch \d+:\s+\d+%\|", text) and "v_num" in text:
            score = 0.95
        elif re.search(r"Epoch \d+/\d+\s+━", text):
            score = 0.9
        if "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES" in text:
            score = max(score, 0.9)
        if re.search(r"\|\s*Name\s*\|\s*Type\s*\|\s*Params", text) or re.search(r"┃\s*Name\s*┃\s*Type\s*┃\s*Params", text):
            score = max(score, 0.9)
        if "`Trainer.fit` stopped" in text or "Sanity Checking" in text or "Validation sanity check" in text:
            score = max(score, 0.85)
        if score == 0.0 and re.search(r"Epoch \d+:.*it/s", text) and ("val_loss" in text or "train_loss" in text):
            score = 0.6
        return score

    def parse(self, path: Path, ctx: ParseContext) -> Any:
        try:
            return _ConsoleReader(path).read()
        except ParseError:
            raise
        except (OSError, MemoryError) as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        except Exception as e:  # a parser bug must not become a traceback for the user
            raise ParseError(f"{path}: unreadable as Lightning console output ({type(e).__name__}: {e})") from e


class _ConsoleReader:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.b = RunBuilder(str(path), "lightning")
        self.state: Optional[_EpochState] = None
        self.val_bars_ever = False
        self.cum_batches = 0  # batches of finished epochs, for bars without a total
        self.style_1x = False
        self.saw_bar = False
        self.saw_summary_lines = False
        self.summary_batches: Optional[int] = None
        self.rich_pending: Optional[tuple[int, Optional[int], int, int, str]] = None  # ep, total, n, line, text
        self.in_traceback = False
        self.traceback_line = 0
        self.last_error = ""
        self.lines = 0
        self.best_score: Optional[float] = None
        self.result_table: Optional[str] = None  # inside trainer.test()/validate() results: "test" | "eval"

    # -- points -------------------------------------------------------------
    def _global_step(self, epoch: int, n: int, total: Optional[int]) -> float:
        if total:
            return float(epoch * total + n)
        return float(self.cum_batches + n)

    def _add_postfix(self, postfix: dict[str, str], step: float, epoch: int, line: int, epoch_level: bool) -> None:
        has_specific_loss = any(k in postfix for k in _TRAIN_LOSS_KEYS)
        for key, raw in postfix.items():
            if _is_epoch_level(key) != epoch_level:
                continue
            val = parse_number(raw)
            if val is None:
                continue
            if key == "loss" and has_specific_loss:
                sp_name: Optional[tuple[str, str]] = ("train", "running_loss")  # 1.x: mean of the last 20 steps
            else:
                sp_name = lightning_metric(key)
            if sp_name is None:
                continue
            self.b.add(sp_name[0], sp_name[1], step, val, float(epoch), line, key)

    def _flush_pending(self) -> None:
        st = self.state
        if st is None or st.pending is None:
            return
        n, postfix, line = st.pending
        st.pending = None
        if n > 0 and postfix:
            self._add_postfix(postfix, self._global_step(st.epoch, n, st.total), st.epoch, line, epoch_level=False)

    def _close_epoch(self, finished: bool) -> None:
        """Record the epoch-level values the last full bar of the epoch showed."""
        st = self.state
        if st is None:
            return
        self._flush_pending()
        complete = st.total is not None and st.max_n >= st.total
        if st.end_postfix and (complete or (st.total is None and finished)):
            # A validation run that was not shown this epoch leaves last epoch's val_* in the postfix.
            postfix = st.end_postfix
            if self.val_bars_ever and not st.val_seen:
                postfix = {k: v for k, v in postfix.items() if lightning_metric(k) is None
                           or lightning_metric(k)[0] == "train"}
            self._add_postfix(postfix, self._global_step(st.epoch, st.max_n, st.total), st.epoch,
                              st.end_line, epoch_level=True)
        if st.total is None and st.max_n > 0:
            self.cum_batches += st.max_n
        elif st.total:
            self.cum_batches = (st.epoch + 1) * st.total
        self.state = None

    def _train_frame(self, epoch: int, n: int, total: Optional[int], postfix: dict[str, str], line: int) -> None:
        self.saw_bar = True
        st = self.state
        if st is not None and epoch != st.epoch:
            if epoch < st.epoch:  # a second fit in the same file, or a restart: keep going, steps from 0
                self._close_epoch(finished=True)
                self.cum_batches = 0
            else:
                self._close_epoch(finished=True)
            st = None
        if st is None:
            st = self.state = _EpochState(epoch)
        if total is not None:
            st.total = total
        if n < st.max_n:
            # a stale redraw (the 0/N frame after an epoch ends, or a capture that replays old frames)
            return
        if st.pending is not None and st.pending[0] != n:
            self._flush_pending()
        st.pending = (n, postfix, line)
        st.max_n = n
        st.end_postfix = postfix
        st.end_line = line

    # -- lines ----------------------------------------------------------------
    def read(self) -> Any:
        b = self.b
        nbytes = 0
        for lineno, raw in iter_lines(self.path):
            self.lines = lineno
            nbytes += len(raw) + 1
            if b"\x00" in raw[:4096] and raw.count(b"\x00") > len(raw) // 4:
                continue  # binary garbage inside a log: nothing to read there
            text = clean(raw)
            self._line(lineno, text)
        self._flush_rich()
        self._close_epoch(finished=self.b.ending == Ending.completed)
        if self.in_traceback:
            b.end(Ending.crashed, self.traceback_line, self.last_error or "traceback")
        elif b.ending == Ending.unknown:
            if self.saw_bar or self.saw_summary_lines or b.has_points():
                b.end(Ending.interrupted, self.lines, "the log stops before Trainer.fit finished")
        if not b.has_points() and not self.saw_bar and not b.config_extra and b.ending == Ending.unknown:
            raise ParseError(f"{self.path}: no Lightning progress bars, metrics or messages found")
        origin = StepOrigin.estimated if self.style_1x else StepOrigin.reconstructed
        if self.saw_bar:
            b.set_step_origin(origin)
            b.note("Steps are reconstructed from the progress bar: epoch x batches-per-epoch (the bar total) + "
                   "the batch counter; epoch-level values (val_*, *_epoch) sit at the step where their epoch ends.")
            if self.style_1x:
                b.note("Lightning 1.x bars count validation batches in the epoch total, so steps are estimates; "
                       "'loss' in a 1.x bar is a running mean, kept as train/running_loss.")
        if self.saw_summary_lines and not self.saw_bar:
            for sp in ("train", "eval", "test"):
                b.set_step_origin(StepOrigin.index if self.summary_batches is None else StepOrigin.estimated, sp)
            b.note("Per-epoch summary lines: step = (epoch + 1)"
                   + (" x batches per epoch." if self.summary_batches else " (epochs completed; the log shows no "
                      "batches-per-epoch)."))
        b.sources.append(Source(path=str(self.path), parser="lightning_console", format="lightning",
                                framework="lightning", lines=self.lines, bytes=nbytes))
        return b.build()

    def _line(self, lineno: int, text: str) -> None:
        if "\r" in text or "\b" in text:
            frames = [f for f in re.split(r"[\r\b]+", text) if f.strip()]
        else:
            frames = [text]
        for frame in frames:
            self._frame(lineno, frame)

    def _frame(self, lineno: int, frame: str) -> None:
        b = self.b
        _, frame = split_rank(frame)
        stripped = frame.strip()
        if not stripped:
            return
        # Rich bars wrap their metrics onto the following lines when the console is not a terminal.
        if self.rich_pending is not None:
            if frame.startswith("          ") and _RICH_WRAPPED.fullmatch(stripped):
                ep, total, n, ln, acc = self.rich_pending
                self.rich_pending = (ep, total, n, ln, acc + " " + stripped)
                return
            self._flush_rich()

        found_bar = False
        tail_start = 0
        if "|" in frame and "/" in frame:
            for m in _TQDM_BAR.finditer(frame):
                found_bar = True
                tail_start = m.end()
                self._tqdm_match(m, lineno)
        if not found_bar and self.state is not None and "|" in frame and "it/s" in frame:
            # a bar whose "Epoch N: xx%" head was overwritten (captures that mix prints into the bar)
            for m in _ORPHAN_BAR.finditer(frame):
                if self.state is not None and m.group("total") == str(self.state.total):
                    found_bar = True
                    tail_start = m.end()
                    self._tqdm_match(m, lineno, epoch=self.state.epoch)
        if not found_bar and "━" in frame:
            m = _RICH_BAR.search(stripped)
            if m:
                found_bar = True
                self._rich_match(m, lineno)
                return
        if not found_bar:
            m = _TQDM_UNSIZED.search(frame)
            if m:
                if "Validation sanity check" in frame or "Validating" in frame:
                    self.style_1x = True
                found_bar = True
                close = frame.find("]", m.end())
                tail_start = close + 1 if close >= 0 else len(frame)
        if tail_start:
            # A message can follow a bar on the same frame (TQDM does not end its line).
            frame = frame[tail_start:]
            stripped = frame.strip()
            if not stripped:
                return
        self._messages(lineno, frame, stripped)

    def _tqdm_match(self, m: re.Match, lineno: int, epoch: Optional[int] = None) -> None:
        desc = "" if epoch is not None else m.group("desc")
        n = int(m.group("n"))
        total = None if m.group("total") == "?" else int(m.group("total"))
        if epoch is not None or m.group("ep") is not None:
            info = m.group("info")
            postfix = dict(_POSTFIX_KV.findall(info.split(",", 2)[2] if info.count(",") >= 2 else ""))
            if "loss" in postfix and "v_num" in postfix:
                self.style_1x = True
            self._train_frame(epoch if epoch is not None else int(m.group("ep")), n, total, postfix, lineno)
            return
        if desc.startswith("Validation sanity check") or desc == "Validating":
            self.style_1x = True
        if desc.startswith("Validati") and "sanity" not in desc:
            self.val_bars_ever = True
            if self.state is not None:
                self.state.val_seen = True

    def _rich_match(self, m: re.Match, lineno: int) -> None:
        if m.group("ep") is None:
            if m.group("desc").startswith("Validation"):
                self.val_bars_ever = True
                if self.state is not None:
                    self.state.val_seen = True
            return
        self._flush_rich()
        total = None if m.group("total") == "?" else int(m.group("total"))
        if m.group("max") and m.group("max") != "?":
            self.b.config.setdefault("num_train_epochs", float(int(m.group("max")) + 1))
        self.rich_pending = (int(m.group("ep")), total, int(m.group("n")), lineno, m.group("rest") or "")

    def _flush_rich(self) -> None:
        if self.rich_pending is None:
            return
        ep, total, n, line, text = self.rich_pending
        self.rich_pending = None
        postfix = {k: v for k, v in _RICH_KV.findall(text)}
        self._train_frame(ep, n, total, postfix, line)
        if self.state is not None:
            # Rich redraws the whole bar: a non-terminal console prints the final state, validation included.
            self.state.val_seen = True

    def _messages(self, lineno: int, frame: str, stripped: str) -> None:
        b = self.b
        if self.in_traceback:
            if stripped and not frame.startswith((" ", "\t")) and not stripped.startswith(("During handling", "The above")):
                if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", stripped) or ":" in stripped:
                    self.last_error = stripped[:500]
                    if stripped.startswith("KeyboardInterrupt"):
                        self.in_traceback = False
                        b.event(lineno, "error", stripped)
                        b.end(Ending.interrupted, lineno, "KeyboardInterrupt")
                        return
                    b.event(lineno, "error", stripped)
            return
        m = _RESULT_HEADER.match(stripped)
        if m:
            self.result_table = "test" if m.group(1) == "Test" else "eval"
            self._close_epoch(finished=True)  # trainer.test()/validate() run after fit()
            return
        if self.result_table is not None:
            if re.fullmatch(r"[─━┏┓┡┩└┘┴┬╇┳\-=\s]+", stripped):
                if stripped[:1] in "└":
                    self.result_table = None
                return
            m = _RESULT_ROW.match(stripped)
            if m:
                val = parse_number(m.group(2))
                sp_name = lightning_metric(m.group(1))
                if val is not None and sp_name is not None:
                    split = self.result_table if sp_name[0] == "train" else sp_name[0]
                    step = float(self.cum_batches) if self.saw_bar else (b.last_step or 0.0)
                    b.add(split, sp_name[1], step, val, math.nan, lineno, m.group(1))
                return
            self.result_table = None
        if stripped.startswith(_TRACEBACK):
            self.in_traceback = True
            self.traceback_line = lineno
            return
        if any(s in stripped for s in _INTERRUPT):
            b.event(lineno, "warning", stripped)
            b.end(Ending.interrupted, lineno, stripped[:200])
            return
        m = _FIT_STOPPED.search(stripped)
        if m:
            why = m.group(1).strip()
            b.event(lineno, "info", stripped[m.start():])
            mm = _MAX_EPOCHS.search(why)
            if mm:
                b.config["num_train_epochs"] = float(mm.group(1))
            mm = _MAX_STEPS.search(why)
            if mm:
                b.config["max_steps"] = int(mm.group(1))
            b.end(Ending.completed, lineno, why.replace("`", ""))
            return
        m = _ES_STOP.search(stripped)
        if m:
            b.event(lineno, "info", stripped[m.start():])
            b.config["early_stopping_patience"] = int(m.group("p"))
            b.config["metric_for_best_model"] = m.group("m")
            best = parse_number(m.group("best"))
            if best is not None:
                b.config["best_metric"] = best
            b.end(Ending.completed, lineno, f"EarlyStopping: {m.group('m')} did not improve in {m.group('p')} records")
            return
        m = _ES_IMPROVED.search(stripped)
        if m:
            b.event(lineno, "info", stripped[m.start():])
            b.config["metric_for_best_model"] = m.group("m")
            if m.group("d") is not None:
                d = parse_number(m.group("d"))
                if d is not None:
                    b.config["early_stopping_threshold"] = d
            best = parse_number(m.group("best"))
            if best is not None:
                b.config["best_metric"] = best
            return
        m = _PARAMS_OLD.match(stripped) or _PARAMS_NEW.match(stripped)
        if m:
            num = _scaled_count(m.group("num"))
            if num is not None:
                key = {"Trainable params": "trainable_params", "Non-trainable params": "non_trainable_params",
                       "Total params": "total_params"}[m.group("what")]
                b.config_extra[key] = num
            return
        m = _GPU.match(stripped)
        if m:
            b.config_extra[f"{m.group(1).lower()}_available"] = m.group(2)
            return
        m = _LOCAL_RANK.search(stripped)
        if m:
            b.config_extra.setdefault("cuda_visible_devices", m.group(2))
            return
        if "Epoch " in stripped:
            m = _SUMMARY_LINE.search(stripped)
            if m:
                self._summary_line(lineno, int(m.group("ep")), m.group("rest"))
                return
        m = _WARNING_PATH.match(stripped)
        if m:
            b.event(lineno, "warning", f"{m.group('cat')}: {m.group('msg')}", logger="py.warnings")
            return
        low = stripped[:200].lower()
        if low.startswith(("error", "runtimeerror", "warning:", "userwarning")):
            b.event(lineno, "error" if low.startswith(("error", "runtimeerror")) else "warning", stripped)

    def _summary_line(self, lineno: int, epoch: int, rest: str) -> None:
        """``Epoch 3: v_loss 2.1e+00  loss 3.0e-01 ...`` as a rich/logging handler prints it."""
        pairs = _SUMMARY_KV.findall(rest)
        if len(pairs) < 2 or 2 * len(pairs) != len(rest.split()):
            return  # prose such as "Epoch 5: val_loss improved from 0.7 to 0.6", not name/value pairs
        self.saw_summary_lines = True
        batches = self.summary_batches
        step = float((epoch + 1) * batches) if batches else float(epoch + 1)
        for key, raw in pairs:
            val = parse_number(raw)
            sp_name = lightning_metric(key)
            if val is None or sp_name is None:
                continue
            self.b.add(sp_name[0], sp_name[1], step, val, float(epoch), lineno, key)


# ---------------------------------------------------------------------------
# metrics.csv
# ---------------------------------------------------------------------------


class LightningCSVParser(Parser):
    name = "lightning_csv"
    format = "lightning"
    framework = "lightning"
    description = "metrics.csv written by Lightning's CSVLogger (sparse rows, step and epoch columns)"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head:
            return 0.0
        first = head.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        if "," not in first or first.startswith(("{", "[")):
            return 0.0
        cols = [c.strip().lower() for c in first.split(",")]
        if "step" not in cols:
            return 0.0
        named = Path(path).name == "metrics.csv"
        lightningish = any(c.endswith(("_step", "_epoch")) or c.startswith(("val_", "val/", "lr-"))
                           for c in cols)
        if "epoch" in cols and lightningish:
            return 0.95 if named else 0.85
        if named and ("epoch" in cols):
            return 0.9
        if named:
            return 0.6
        if "epoch" in cols and any(c.startswith("train_") or c.startswith("train/") for c in cols):
            return 0.5
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Any:
        try:
            return _read_metrics_csv(Path(path))
        except ParseError:
            raise
        except (OSError, MemoryError) as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        except Exception as e:
            raise ParseError(f"{path}: unreadable as a Lightning metrics.csv ({type(e).__name__}: {e})") from e


_CSV_CHUNK = 2 << 20
# Chunks made only of these bytes are plain decimal numbers: numpy parses all their cells in one call.
_PLAIN_NUMBER_BYTES = b"0123456789.,-+eE\r\n"


class _Irregular(Exception):
    """The file needs the row-by-row reader (quotes, blank lines, odd cells...)."""


# Cells of at most 8 bytes are read as one little-endian uint64 each (from a view of the chunk at
# every byte offset): integers (step) by SWAR arithmetic, other short cells (epoch "3.0") through
# their few distinct values.
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_ALIGN_SHIFT = np.array([8 * (8 - k) for k in range(8)] + [0], dtype=np.uint64)
_ZERO_PAD = np.array([0x3030303030303030 >> (8 * k) for k in range(9)], dtype=np.uint64)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_ASCII_ZEROS = np.uint64(0x3030303030303030)


_U = np.uint64
# x87 extended precision (64-bit significand, 16-byte storage): what _decimal_cells needs to round exactly
_EXTENDED = (np.finfo(np.longdouble).nmant == 63 and np.dtype(np.longdouble).itemsize == 16
             and np.little_endian)


def _powers_of_ten_extended(top: int) -> np.ndarray:
    out = [np.longdouble(1)]
    for _ in range(top):
        out.append(out[-1] * np.longdouble(10))  # exact: 10**27 = 5**27 * 2**27 and 5**27 < 2**63
    return np.array(out, dtype=np.longdouble)


_POW10_LD = _powers_of_ten_extended(27)
_FRAC = 17  # fraction digits the dot-aligned layout of _decimal_cells holds


def _all_digits(x: np.ndarray) -> np.ndarray:
    return ((x & _HIGH_NIBBLES) == _ASCII_ZEROS) & (((x + _U(0x0606060606060606)) & _HIGH_NIBBLES) == _ASCII_ZEROS)


def _swar8(x: np.ndarray) -> np.ndarray:
    """The number written by 8 ASCII digits in a little-endian uint64 (first digit in the low byte)."""
    x = x - _ASCII_ZEROS
    x = (x * _U(10) + (x >> _U(8))) & _U(0x00FF00FF00FF00FF)
    x = (x * _U(100) + (x >> _U(16))) & _U(0x0000FFFF0000FFFF)
    return (x * _U(10000) + (x >> _U(32))) & _U(0x00000000FFFFFFFF)


def _decimal_cells(at_every_byte: np.ndarray, at: np.ndarray, ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact values of cells shaped ``I.F`` or ``I.Fe±XX`` (I: 1-2 digits, F: 0-17 digits, XX: two
    digits), and which cells those are; the others are left to ``float``.

    ``at_every_byte``: uint64 view of the chunk (8 bytes in front, >= 32 behind) at every byte
    offset; ``at``: cell starts (in the chunk); ``ln``: cell lengths.
    The digits, aligned on the dot, make one integer M < 10**19 (SWAR on uint64 words); M * 10**k
    (|k| <= 27, both exact in x87 extended precision) is one correctly rounded operation, and its
    rounding to double is the correctly rounded value ``float`` gives unless it lies exactly halfway
    between two doubles (about 1 in 2000: left to ``float``).
    """
    n = at.size
    out = np.zeros(n)
    if not _EXTENDED or n == 0:
        return out, np.zeros(n, dtype=bool)
    p = at + 8
    # the dot is the 2nd or 3rd byte; an exponent is the last four ("e-05"); every other byte of the
    # cell must then be a digit, which the reads below check
    head = at_every_byte[p]
    dpos = np.where(((head >> _U(8)) & _U(0xFF)) == _U(46), 1, np.where(((head >> _U(16)) & _U(0xFF)) == _U(46), 2, 0))
    x = at_every_byte[p + np.maximum(ln - 4, 0)]
    has_e = ((x | _U(0x20)) & _U(0xFF)) == _U(101)
    epos = np.where(has_e, ln - 4, ln)
    n_int = dpos
    n_frac = epos - dpos - 1
    ok = (dpos > 0) & (ln <= 24) & (n_frac >= 0) & (n_frac <= _FRAC)
    sign = (x >> _U(8)) & _U(0xFF)
    x1 = ((x >> _U(16)) & _U(0xFF)).astype(np.int64) - 48
    x2 = ((x >> _U(24)) & _U(0xFF)).astype(np.int64) - 48
    ok &= ~has_e | (((sign == _U(45)) | (sign == _U(43))) & (x1 >= 0) & (x1 <= 9) & (x2 >= 0) & (x2 <= 9))
    k = np.where(has_e, np.where(sign == _U(45), -1, 1) * (10 * x1 + x2), 0) - _FRAC
    ok &= (k >= -27) & (k <= 27)
    # re-read with the dot at byte 7: integer digits before it, the fraction in the 17 bytes after
    base = p + np.maximum(dpos, 1) - 7
    a0 = at_every_byte[base]
    pad = _LOW_BYTES[7 - n_int]
    a0 = (((a0 & ~pad) | (_ASCII_ZEROS & pad)) << _U(8)) | _U(0x30)  # the dot shifted out, "0" in front
    fr = np.clip(n_frac, 0, _FRAC)
    keep1 = _LOW_BYTES[np.clip(fr, 0, 8)]
    a1 = (at_every_byte[base + 8] & keep1) | (_ASCII_ZEROS & ~keep1)
    keep2 = _LOW_BYTES[np.clip(fr - 8, 0, 8)]
    a2 = (at_every_byte[base + 16] & keep2) | (_ASCII_ZEROS & ~keep2)
    a3 = np.where(fr >= 17, (at_every_byte[base + 24] & _U(0xFF)).astype(np.int64), 48) - 48
    ok &= _all_digits(a0) & _all_digits(a1) & _all_digits(a2) & (a3 >= 0) & (a3 <= 9)
    m = ((_swar8(a0) * _U(10 ** 8) + _swar8(a1)) * _U(10 ** 8) + _swar8(a2)) * _U(10) + a3.astype(np.uint64)
    idx = np.flatnonzero(ok)
    mm = m[idx].astype(np.longdouble)
    kk = k[idx]
    q = np.where(kk >= 0, mm * _POW10_LD[np.clip(kk, 0, 27)], mm / _POW10_LD[np.clip(-kk, 0, 27)])
    halfway = (q.view(np.uint64).reshape(-1, 2)[:, 0] & _U(0x7FF)) == _U(0x400)
    ok[idx[halfway]] = False
    out[idx] = q.astype(np.float64)
    return out, ok


def _short_cells(keys: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Values of cells of 1-8 bytes given as little-endian uint64 keys (bytes past the cell zeroed).

    All-digit cells: the integer, by SWAR (exact: < 10**8, so ``float`` gives the same double).
    Otherwise ``float`` of each distinct cell (ValueError for a cell ``float`` rejects).
    """
    x = (keys << _ALIGN_SHIFT[lens]) | _ZERO_PAD[lens]  # right-aligned, left-padded with "0"
    if bool(np.all(_all_digits(x))):
        return _swar8(x).astype(np.float64)
    distinct, inverse = np.unique(keys, return_inverse=True)
    parsed = np.array([float(k.to_bytes(8, "little").rstrip(b"\0")) for k in distinct.tolist()], dtype=np.float64)
    return parsed[inverse]


def _plain_chunk(chunk: bytes, ncols: int) -> Optional[tuple[int, list[tuple[np.ndarray, np.ndarray]]]]:
    """``(rows, per column: (rows with a value, the values))`` of a chunk of complete lines made only of
    plain numbers, commas and ``\n`` or ``\r\n`` line ends; None when a cell needs the cell-by-cell
    reader. _Irregular for a row that does not have ``ncols`` cells.

    Short cells (step, epoch) go through :func:`_short_cells`, the longer ones (losses, learning
    rates) through :func:`_decimal_cells`; what that leaves is parsed column by column with
    ``np.fromstring``, which uses the same routine as ``float`` (PyOS_string_to_double): the values
    are ``float``'s bits either way. A cell fromstring cannot read as exactly one number (``1.2.3``,
    ``1e``) stops its parse (an error: "could not be read to its end"), and None sends the chunk to
    the cell-by-cell reader, which gives ``float``'s verdict. ValueError: a short cell ``float`` rejects.
    """
    nrows = chunk.count(b"\n")
    crlf = b"\r" in chunk
    per_row = ncols + 1 if crlf else ncols  # "\r\n": an empty cell between the two
    buf = np.frombuffer(chunk, dtype=np.uint8)
    is_sep = buf == 44
    is_sep |= buf == 10
    if crlf:
        is_sep |= buf == 13
    seps = np.flatnonzero(is_sep)
    del is_sep
    if seps.size != nrows * per_row:
        raise _Irregular  # a row with more or fewer cells, an empty line, a stray "\r"
    if crlf:
        if not (bool(np.all(buf[seps[ncols - 1::per_row]] == 13)) and bool(np.all(buf[seps[ncols::per_row]] == 10))):
            raise _Irregular
    elif not bool(np.all(buf[seps[ncols - 1::per_row]] == 10)):
        raise _Irregular
    starts = np.empty_like(seps)
    starts[0] = 0
    np.add(seps[:-1], 1, out=starts[1:])
    lens = (seps - starts).reshape(nrows, per_row)
    starts = starts.reshape(nrows, per_row)
    del seps
    padded = bytes(8) + chunk + bytes(64)  # room for reads a little before and after a cell
    at_every_byte = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for c in range(ncols):
        lc = lens[:, c]
        have = lc > 0
        if not bool(have.any()):
            out.append((have, np.zeros(0)))
            continue
        width = int(lc.max())
        ln = lc[have]
        at = starts[:, c][have]
        if width <= 8:
            out.append((have, _short_cells(at_every_byte[at + 8] & _LOW_BYTES[ln], ln)))
            continue
        if width > 60:
            return None
        vals, done = _decimal_cells(at_every_byte, at, ln)
        if not bool(done.all()):
            rest = np.flatnonzero(~done)
            width = int(ln[rest].max())
            # the other cells as fixed-width rows, blank-padded: "4.1731  -1.9  ..." for fromstring(sep=" ")
            rows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(padded, dtype=np.uint8), width + 1)[at[rest] + 8]
            rows[np.arange(width + 1) >= ln[rest][:, None]] = 32
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # "could not be read to its end" is a DeprecationWarning
                    parsed = np.fromstring(rows.tobytes(), dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                return None
            if parsed.size != rest.size:
                return None
            vals[rest] = parsed
        out.append((have, vals))
    return nrows, out


class _Filling:
    """One column filled in place, chunk by chunk: allocated at the size the file is expected to
    need and grown by half when short. Keeping one small array per chunk and joining them at the
    end held the column twice, and the pieces (~300 KB each) were not given back to the system."""

    __slots__ = ("arr", "n")

    def __init__(self, dtype: Any, expected: int):
        self.arr = np.empty(max(1024, int(expected)), dtype=dtype)
        self.n = 0

    def append(self, part: np.ndarray) -> None:
        need = self.n + part.shape[0]
        if need > self.arr.shape[0]:
            grown = np.empty(max(need, self.arr.shape[0] * 3 // 2), dtype=self.arr.dtype)
            grown[:self.n] = self.arr[:self.n]
            self.arr = grown
        self.arr[self.n:need] = part
        self.n = need

    def done(self) -> np.ndarray:
        """The filled part: a view when the spare room is small, else a copy (the spare is freed)."""
        return self.arr[:self.n] if self.n >= 0.8 * self.arr.shape[0] else self.arr[:self.n].copy()


def _read_metrics_csv_fast(path: Path) -> Any:
    """metrics.csv as numpy columns, chunk by chunk: the same Run as the row-by-row reader.

    Each chunk of complete lines is checked for its shape with numpy (every row ``ncols`` cells,
    the newline after the last); a chunk of plain numbers is then parsed in one ``np.fromstring``
    call, any other chunk is split into cells and converted column by column with ``map(float, ...)``.
    No Python object per cell on the plain path. Anything irregular (quotes, blank or short lines,
    cells that ``float`` rejects) raises _Irregular and the caller uses the row-by-row reader.
    Columns logged on the same rows share one step, epoch and line array (the line column is int32).
    """
    with open(path, "rb") as f:
        head = f.readline()
        if not head.endswith(b"\n") or b'"' in head:
            raise _Irregular
        header = [c.strip() for c in clean(head).strip().split(",")]
        low = [h.lower() for h in header]
        if not header or "step" not in low or any(not h for h in header):
            raise _Irregular
        ncols = len(header)
        step_col = low.index("step")
        epoch_col = low.index("epoch") if "epoch" in low else -1
        targets: list[Optional[tuple[str, str]]] = []
        lr_taken: Optional[str] = None
        for i, h in enumerate(header):
            if i in (step_col, epoch_col):
                targets.append(None)
                continue
            sp = lightning_metric(h)
            if sp is not None and sp[1] == "learning_rate":
                if lr_taken is None:
                    lr_taken = h
                else:
                    sp = (sp[0], h)
            targets.append(sp)
        nbytes = len(head)
        size = os.fstat(f.fileno()).st_size
        present: list[Optional[_Filling]] = [None] * ncols
        values: list[Optional[_Filling]] = [None] * ncols

        def keep(i: int, have_i: np.ndarray, vals_i: np.ndarray, chunk_bytes: int) -> None:
            if present[i] is None:  # sized from the first chunk, scaled to the file
                scale = 1.1 * size / max(1, chunk_bytes)
                present[i] = _Filling(np.bool_, scale * have_i.shape[0])
                values[i] = _Filling(np.float64, scale * vals_i.shape[0])
            present[i].append(have_i)
            values[i].append(vals_i)

        total = 0
        carry = b""
        while True:
            data = f.read(_CSV_CHUNK)
            if not data:
                if carry:
                    raise _Irregular  # a last line without "\n" (the row reader keeps or drops it)
                break
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            chunk = data[:cut]
            del data
            if not chunk:
                continue
            nbytes += len(chunk)
            plain = None
            if not chunk.translate(None, _PLAIN_NUMBER_BYTES):
                try:
                    plain = _plain_chunk(chunk, ncols)
                except ValueError:  # a cell float() rejects: the row reader's parse_number handles those
                    raise _Irregular from None
            if plain is not None:
                nrows = plain[0]
                for i, (have_i, vals_i) in enumerate(plain[1]):
                    keep(i, have_i, vals_i, len(chunk))
                del plain
            else:
                if b"\r" in chunk:  # the csv module writes \r\n (Lightning's CSVLogger does)
                    chunk = chunk.replace(b"\r\n", b"\n")
                if b'"' in chunk or b"\r" in chunk or b"\n\n" in chunk or chunk[:1] == b"\n" or b"\x1b" in chunk:
                    raise _Irregular
                nrows = chunk.count(b"\n")
                buf = np.frombuffer(chunk, dtype=np.uint8)
                seps = np.flatnonzero((buf == 44) | (buf == 10))
                # every row has ncols cells: as many separators as cells, and a newline after each row's last
                if seps.size != nrows * ncols or not bool(np.all(buf[seps[ncols - 1::ncols]] == 10)):
                    raise _Irregular
                del buf, seps
                items = chunk.replace(b"\n", b",").split(b",")
                items.pop()  # after the last "\n"
                try:
                    for i in range(ncols):
                        col = items[i::ncols]
                        if b"" not in col:  # a dense column: one C loop
                            keep(i, np.ones(nrows, dtype=bool), np.fromiter(map(float, col), np.float64, count=nrows),
                                 len(chunk))
                        else:
                            mask = list(map(bool, col))
                            keep(i, np.array(mask, dtype=bool), np.fromiter(map(float, compress(col, mask)), np.float64),
                                 len(chunk))
                except ValueError:  # "12.5%", "tensor(2.3)", text: the row reader's parse_number handles those
                    raise _Irregular from None
                del items
            total += nrows
            del chunk
    lines = 1 + total
    have = [p.done() if p is not None else np.zeros(0, dtype=bool) for p in present]
    vals_by_col = [v.done() if v is not None else np.zeros(0) for v in values]
    del present, values
    if len(vals_by_col[step_col]) == total:
        step = vals_by_col[step_col]  # every row has a step: the column as it is
    else:
        step = np.full(total, np.nan)
        step[have[step_col]] = vals_by_col[step_col]
    vals_by_col[step_col] = np.zeros(0)
    valid = np.isfinite(step)
    rows = int(np.count_nonzero(valid))
    if rows == 0:
        raise ParseError(f"{path}: a metrics.csv header without rows")
    step += 1.0  # stored as optimizer steps completed (module docstring)
    lineno = np.arange(2, total + 2, dtype=np.int32 if total + 2 < 2**31 else np.int64)
    if epoch_col >= 0 and len(vals_by_col[epoch_col]) == total:
        epoch = vals_by_col[epoch_col]
    else:
        epoch = np.full(total, np.nan)
        if epoch_col >= 0:
            epoch[have[epoch_col]] = vals_by_col[epoch_col]
    if epoch_col >= 0:
        vals_by_col[epoch_col] = np.zeros(0)

    all_valid = rows == total
    dense_rows: list[np.ndarray] = []  # np.arange(total), made only if a merge needs it

    def all_rows() -> np.ndarray:
        if not dense_rows:
            dense_rows.append(np.arange(total, dtype=np.int64))
        return dense_rows[0]

    same_rows: dict[bytes, np.ndarray] = {}

    def column(i: int) -> tuple[Optional[np.ndarray], np.ndarray]:
        """Rows (valid ones) where column i has a value (None: every row), and those values (no copy
        when every row is valid). Columns filled on the same rows (train_loss_step and lr-AdamW) get
        the same row array."""
        if all_valid and len(vals_by_col[i]) == total:
            return None, vals_by_col[i]
        if all_valid:
            key = np.packbits(have[i]).tobytes()
            rows_i = same_rows.get(key)
            if rows_i is None:
                rows_i = same_rows[key] = np.flatnonzero(have[i])
            return rows_i, vals_by_col[i]
        rows_i = np.flatnonzero(have[i])
        ok = valid[rows_i]
        return rows_i[ok], vals_by_col[i][ok]

    # Series on the same rows share one step, epoch and line array.
    axes: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # series in the order the row-by-row reader creates them: by first row, then column
    by_target: dict[tuple[str, str], list[tuple[int, Optional[np.ndarray]]]] = {}
    first_seen: dict[tuple[str, str], tuple[int, int]] = {}
    cells: dict[int, np.ndarray] = {}
    for i, target in enumerate(targets):
        if target is None:
            continue
        idx, cells[i] = column(i)
        if idx is not None and not len(idx):
            continue
        if idx is None and not total:
            continue
        by_target.setdefault(target, []).append((i, idx))
        first = (0 if idx is None else int(idx[0]), i)
        if target not in first_seen or first < first_seen[target]:
            first_seen[target] = first
    b = RunBuilder(str(path), "lightning")
    series: dict[str, Series] = {}
    for target in sorted(by_target, key=lambda t: first_seen[t]):
        if not b.admit(target[0], target[1], len(series)):
            continue
        parts = by_target[target]
        if len(parts) == 1:
            col, idx = parts[0]
            v = cells[col]
        else:  # two columns with one name (train_loss and train_loss_step): row order, then column
            rows_of = [all_rows() if p[1] is None else p[1] for p in parts]
            idx = np.concatenate(rows_of)
            cols = np.concatenate([np.full(len(r), p[0]) for p, r in zip(parts, rows_of)])
            v = np.concatenate([cells[p[0]] for p in parts])
            order = np.lexsort((cols, idx))
            idx, v = idx[order], v[order]
        key = header[first_seen[target][1]]
        shared = len(parts) == 1 and all_valid
        if idx is None:  # every row
            st, ep, ln = step, epoch, lineno
        elif shared and id(idx) in axes:
            st, ep, ln = axes[id(idx)]
        else:
            st, ep, ln = step[idx], epoch[idx], lineno[idx]
            if shared:
                axes[id(idx)] = (st, ep, ln)
        series[f"{target[0]}/{target[1]}"] = Series(
            name=target[1], split=Split(target[0]), key=key, step=st, value=v,
            epoch=ep, line=ln, step_origin=StepOrigin.logged, source=str(path))
    return b, series, lines, nbytes


def _read_metrics_csv(path: Path) -> Any:
    try:
        b, series, lines, nbytes = _read_metrics_csv_fast(path)
    except _Irregular:
        return _read_metrics_csv_rows(path)
    return _finish_metrics_csv(path, b, lines, nbytes, series)


def _read_metrics_csv_rows(path: Path) -> Any:
    """The row-by-row reader (csv module, parse_number per cell): any CSV the fast reader declines."""
    b = RunBuilder(str(path), "lightning")
    header: Optional[list[str]] = None
    step_col = epoch_col = -1
    columns: list[Optional[tuple[str, str]]] = []
    nbytes = 0
    lines = 0
    rows = 0
    lr_taken: Optional[str] = None
    appenders: dict[int, Any] = {}  # column index -> the builder's columns for it, once created
    for lineno, raw in iter_lines(path):
        lines = lineno
        nbytes += len(raw) + 1
        text = clean(raw).strip()
        if not text:
            continue
        if '"' in text or "\r" in text or "\x00" in text:
            try:
                cells = next(csv.reader(io.StringIO(text)))
            except (csv.Error, StopIteration):
                continue
        else:  # no quoting: csv.reader would split on the commas, ~10x slower
            cells = text.split(",")
        if header is None:
            header = [c.strip() for c in cells]
            low = [h.lower() for h in header]
            if "step" not in low:
                raise ParseError(f"{path}: not a Lightning metrics.csv (no 'step' column in the header)")
            step_col = low.index("step")
            epoch_col = low.index("epoch") if "epoch" in low else -1
            for i, h in enumerate(header):
                if i in (step_col, epoch_col):
                    columns.append(None)
                    continue
                sp = lightning_metric(h)
                if sp is not None and sp[1] == "learning_rate":
                    if lr_taken is None:
                        lr_taken = h
                    else:  # a second optimizer / param group keeps its own name
                        sp = (sp[0], h)
                columns.append(sp)
            continue
        if len(cells) != len(header):
            continue  # a truncated last row
        step = parse_number(cells[step_col])
        if step is None or not math.isfinite(step):
            continue
        epoch = parse_number(cells[epoch_col]) if epoch_col >= 0 else None
        ep = epoch if epoch is not None else math.nan
        rows += 1
        st = step + 1.0
        for i, cell in enumerate(cells):
            target = columns[i]
            if target is None or not cell.strip():
                continue
            try:
                val = float(cell)  # what parse_number does first; it adds nan/inf spellings, %, tensor(...)
            except ValueError:
                val = parse_number(cell)
                if val is None:
                    continue
            cols = appenders.get(i)
            if cols is None:
                b.add(target[0], target[1], st, val, ep, lineno, header[i])
                appenders[i] = b.columns(target[0], target[1])
                continue
            # b.add, without its per-call lookups
            cols.step.append(st)
            cols.value.append(val)
            cols.epoch.append(ep)
            cols.line.append(lineno)
            if target[0] == "train":
                b.last_step = st
    if header is None:
        raise ParseError(f"{path}: empty file")
    if rows == 0:
        raise ParseError(f"{path}: a metrics.csv header without rows")
    return _finish_metrics_csv(path, b, lines, nbytes, None)


def _finish_metrics_csv(path: Path, b: RunBuilder, lines: int, nbytes: int,
                        series: "Optional[dict[str, Series]]") -> Any:
    b.set_step_origin(StepOrigin.logged)
    b.note("metrics.csv 'step' is Lightning's 0-based trainer step at logging time "
           "(fit_loop.epoch_loop._batches_that_stepped, Lightning 2.6); stored as step + 1 = optimizer steps "
           "completed, the same scale as the console bars and Hugging Face's global_step.")
    hp = path.parent / "hparams.yaml"
    if hp.is_file():
        b.config_extra.update(read_simple_yaml(hp))
        for key, field, conv in (("lr", "learning_rate", float), ("learning_rate", "learning_rate", float),
                                 ("batch_size", "train_batch_size", int), ("max_epochs", "num_train_epochs", float)):
            v = b.config_extra.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and field not in b.config:
                try:
                    b.config[field] = conv(v)
                except (ValueError, OverflowError):
                    pass
    b.sources.append(Source(path=str(path), parser="lightning_csv", format="lightning", framework="lightning",
                            lines=lines, bytes=nbytes))
    run = b.build()
    return run if series is None else run.model_copy(update={"series": series})


_YAML_SCALAR = re.compile(r"^([A-Za-z_][\w.\-]*)\s*:\s*(.*?)\s*$")


def read_simple_yaml(path: Path, limit: int = 200) -> dict[str, Any]:
    """Top-level ``key: scalar`` pairs of a small YAML file (no yaml dependency, no nesting)."""
    out: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            data = f.read(256 * 1024)
    except OSError:
        return out
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw or raw[0] in " \t#-" or len(out) >= limit:
            continue
        m = _YAML_SCALAR.match(raw)
        if not m or not m.group(2) or m.group(2).startswith(("!!", "&", "*", "|", ">", "{", "[")):
            continue
        val: Any = m.group(2)
        if val[:1] in "'\"" and val[-1:] == val[:1] and len(val) >= 2:
            out[m.group(1)] = val[1:-1]
            continue
        low = val.lower()
        if low in ("true", "false"):
            out[m.group(1)] = low == "true"
        elif low in ("null", "~"):
            out[m.group(1)] = None
        else:
            num = parse_number(val)
            if num is not None and len(val) <= 30 and re.fullmatch(r"[-+]?\d+", val):
                out[m.group(1)] = int(val)  # longer digit strings: int() refuses over 4,300 digits
            else:
                out[m.group(1)] = num if num is not None else val
    return out


@hookimpl
def logcheck_register_parsers(register):
    register(LightningConsoleParser())
    register(LightningCSVParser())
