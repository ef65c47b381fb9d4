"""Keras parsers: ``model.fit`` console output (Keras 2 / tf.keras ``[=====]`` bars
and Keras 3 ``━━━━`` bars, verbose 1 or 2) and CSVLogger files.

Keras prints one summary per epoch (the last bar frame of the epoch, with the
``val_*`` metrics); per-batch frames are running means and are skipped. The
step of every point is the epoch number as Keras prints it (``Epoch 5/40`` ->
5; CSVLogger's 0-based ``epoch`` column + 1), so one point per epoch. A file
that restarts at ``Epoch 1/N`` holds several runs (several ``fit`` calls).
"""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any, Optional

from logcheck import Ending, ParseContext, ParseError, Parser, RunBuilder, Source, StepOrigin, hookimpl
from logcheck.parsing import clean, iter_lines, parse_number, split_rank

_EPOCH_HEADER = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
_BAR = re.compile(r"^\s*(?P<n>\d+)/(?P<total>\d+|Unknown)\b(?P<rest>.*)$")
_BAR_BODY = re.compile(r"^\s*(?:\[[=>.]*\]|━+)?")
_ETA = re.compile(r"\bETA: ")
_STEP_TIME = re.compile(r"(?:^|[\s-])(?P<t>\d+(?:\.\d+)?)(?P<tu>s|ms|us|m)\b(?:\s+-)?\s+(?P<s>\d+(?:\.\d+)?)(?P<su>s|ms|us|µs)/(?P<per>step|sample)")
_EPOCH_TIME = re.compile(r"(?:^|\s-\s|\s)(?P<t>\d+(?:\.\d+)?)(?P<tu>s|ms|m)\s+-\s")
_METRIC = re.compile(r"(?:^|\s)([A-Za-z_][\w/.\-]*): ([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf|-inf|NaN|Infinity))(?=\s|$)")
_CHECKPOINT = re.compile(r"^Epoch (\d+): (\S+) improved from (\S+) to (\S+?),? saving model to (.+)$")
_NOT_IMPROVED = re.compile(r"^Epoch (\d+): (\S+) did not improve from (\S+)")
_EARLY_STOP = re.compile(r"^Epoch (\d+): early stopping")
_RESTORE = re.compile(r"Restoring model weights from the end of the best epoch(?:: (\d+))?")
_REDUCE_LR = re.compile(r"^Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+?)\.?$")
_PARAMS = re.compile(r"^\s*(Total|Trainable|Non-trainable) params: ([\d,]+)")
_WARNING = re.compile(r"(\w*Warning): (.+)")
_TRACEBACK = "Traceback (most recent call last):"
_TIME_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "m": 60.0}


def keras_metric(key: str) -> Optional[tuple[str, str]]:
    """``val_loss`` -> ("eval", "loss"); ``loss`` -> ("train", "loss"); ``lr`` -> ("train", "learning_rate")."""
    k = key.strip()
    low = k.lower()
    if not low or low in ("epoch", "step", "eta"):
        return None
    if low.startswith("val_") and len(k) > 4:
        return "eval", k[4:]
    if low.startswith("test_") and len(k) > 5:
        return "test", k[5:]
    if low in ("lr", "learning_rate"):
        return "train", "learning_rate"
    return "train", k


def _sniff_keras(head: bytes) -> float:
    if re.match(rb"\s*(?:\{\s*\"|\[\s*[\[{\"\d-])", head):
        return 0.0  # JSON
    text = head.decode("utf-8", "replace")
    if "\x1b" in text:
        text = clean(head)
    first, _, rest = text.partition("\n")
    first = first.strip().lower()
    if first.startswith("epoch,") and "loss" in first:
        cols = first.split(",")
        row = rest.split("\n", 1)[0].strip()
        if "step" in cols or not row or " " in row or len(row.split(",")) != len(cols):
            return 0.0  # "epoch, loss, ppl" from a hand-written loop is the raw parser's
        # CSVLogger writes full-precision floats with no spaces; validation columns make it distinctive
        return 0.6 if any(c.startswith("val_") for c in cols) else 0.25
    if not re.search(r"(?m)^Epoch \d+/\d+\s*$", text):
        return 0.0
    if re.search(r"\d+/\d+ \[[=>.]+\]", text) or re.search(r"\d+/\d+ ━+", text) \
            or re.search(r"(?m)^\s*\d+/\d+ - \d+s - ", text):
        return 0.9
    if re.search(r" - (?:val_)?loss: ", text):
        return 0.6
    return 0.0


class KerasConsoleParser(Parser):
    name = "keras_console"
    format = "raw"
    framework = "keras"
    description = "Keras model.fit output (Keras 2 [====] bars, Keras 3 ━━━ bars, verbose 1/2) and CSVLogger files"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head:
            return 0.0
        return _sniff_keras(head)

    def parse(self, path: Path, ctx: ParseContext) -> Any:
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
            first = clean(head).lstrip("\ufeff").split("\n", 1)[0].strip().lower()
            if first.startswith("epoch,") and "loss" in first:
                return _read_keras_csv(Path(path))
            return _KerasReader(Path(path)).read()
        except ParseError:
            raise
        except (OSError, MemoryError) as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        except Exception as e:  # a parser bug must not become a traceback for the user
            raise ParseError(f"{path}: unreadable as Keras output ({type(e).__name__}: {e})") from e


class _KerasReader:
    def __init__(self, path: Path):
        self.path = path
        self.runs: list[RunBuilder] = []
        self.b: Optional[RunBuilder] = None
        self.epoch: Optional[int] = None
        self.max_epochs: Optional[int] = None
        self.final: Optional[tuple[str, int]] = None  # (text of the last complete bar frame, line)
        self.epoch_total: Optional[str] = None  # the batch count of this epoch's training bar
        self.last_epoch_line = 0
        self.last_recorded_epoch: Optional[int] = None
        self.checkpoints: list[int] = []
        self.stopped_epoch: Optional[int] = None
        self.in_traceback = False
        self.traceback_line = 0
        self.last_error = ""
        self.lines = 0
        self.nbytes = 0
        self.pre_events: list[tuple[int, str, str, Optional[str]]] = []
        self.params: dict[str, float] = {}

    # -- runs ----------------------------------------------------------------
    def _new_run(self) -> RunBuilder:
        self._finish_run()
        k = len(self.runs) + 1
        name = str(self.path) if k == 1 else f"{self.path}#{k}"
        b = RunBuilder(str(self.path), "raw", name=name)
        b.config_extra.update(self.params)
        self.params = {}
        for ev in self.pre_events:
            b.event(ev[0], ev[1], ev[2], logger=ev[3])
        self.pre_events = []
        self.runs.append(b)
        self.b = b
        self.epoch = None
        self.max_epochs = None
        self.final = None
        self.last_recorded_epoch = None
        self.checkpoints = []
        self.stopped_epoch = None
        return b

    def _record_epoch(self) -> None:
        b, ep = self.b, self.epoch
        if b is None or ep is None or self.final is None:
            return
        text, line = self.final
        self.final = None
        for key, raw in _METRIC.findall(text):
            val = parse_number(raw)
            sp = keras_metric(key)
            if val is None or sp is None:
                continue
            b.add(sp[0], sp[1], float(ep), val, float(ep), line, key)
        m = _STEP_TIME.search(text)
        if m:
            per_unit = float(m.group("s")) * _TIME_UNIT[m.group("su")] * 1000.0
            b.add("train", "step_time_ms" if m.group("per") == "step" else "sample_time_ms", float(ep),
                  per_unit, float(ep), line, f"{m.group('s')}{m.group('su')}/{m.group('per')}")
            total_s = float(m.group("t")) * _TIME_UNIT[m.group("tu")]
            b.add("train", "epoch_time_s", float(ep), total_s, float(ep), line, f"{m.group('t')}{m.group('tu')}")
        else:
            m2 = _EPOCH_TIME.search(text)
            if m2:
                b.add("train", "epoch_time_s", float(ep), float(m2.group("t")) * _TIME_UNIT[m2.group("tu")],
                      float(ep), line, f"{m2.group('t')}{m2.group('tu')}")
        self.last_recorded_epoch = ep
        self.last_epoch_line = line

    def _finish_run(self) -> None:
        b = self.b
        if b is None:
            return
        self._record_epoch()
        if self.checkpoints:
            b.config["checkpoints"] = tuple(self.checkpoints)
        if self.max_epochs is not None:
            b.config["num_train_epochs"] = float(self.max_epochs)
        if b.ending == Ending.unknown:
            if self.stopped_epoch is not None:
                b.end(Ending.completed, b.ending_line, f"EarlyStopping at epoch {self.stopped_epoch}")
            elif self.max_epochs is not None and self.last_recorded_epoch == self.max_epochs:
                b.end(Ending.completed, self.last_epoch_line, f"all {self.max_epochs} epochs finished")
            elif self.epoch is not None:
                b.end(Ending.interrupted, self.lines,
                      f"the log stops in epoch {self.epoch}" + (f" of {self.max_epochs}" if self.max_epochs else ""))
        self.b = None

    # -- reading ---------------------------------------------------------------
    def read(self) -> Any:
        for lineno, raw in iter_lines(self.path):
            self.lines = lineno
            self.nbytes += len(raw) + 1
            if raw.count(b"\x00") > len(raw) // 4 + 1:
                continue
            text = clean(raw)
            if "\r" in text or "\b" in text:
                for frame in re.split(r"[\r\b]+", text):
                    if frame.strip():
                        self._frame(lineno, frame)
            else:
                self._frame(lineno, text)
        last = self.b
        self._finish_run()
        if self.in_traceback and last is not None:
            last.end(Ending.crashed, self.traceback_line, self.last_error or "traceback")
        runs = [r for r in self.runs if r.has_points() or r.ending != Ending.unknown]
        if not runs:
            raise ParseError(f"{self.path}: no Keras epochs found")
        out = []
        for b in runs:
            b.set_step_origin(StepOrigin.logged)
            b.note("Keras: one point per epoch; step = the epoch number Keras printed (Epoch N/M); "
                   "per-batch progress frames (running means) are not kept.")
            b.sources.append(Source(path=str(self.path), parser="keras_console", format="raw", framework="keras",
                                    lines=self.lines, bytes=self.nbytes))
            out.append(b.build())
        return out[0] if len(out) == 1 else out

    def _frame(self, lineno: int, frame: str) -> None:
        _, frame = split_rank(frame)
        s = frame.strip()
        if not s:
            return
        if self.in_traceback:
            if not frame.startswith((" ", "\t")) and re.match(r"^[\w.]+(?:Error|Exception|Interrupt|Exit)\b", s):
                self.last_error = s[:500]
                self._event(lineno, "error", s)
                if self.b is not None:
                    self.b.end(Ending.interrupted if s.startswith("KeyboardInterrupt") else Ending.crashed,
                               self.traceback_line, s[:200])
                self.in_traceback = False
            return
        m = _EPOCH_HEADER.match(s)
        if m:
            ep, total = int(m.group(1)), int(m.group(2))
            if self.b is None or (self.epoch is not None and ep <= self.epoch):
                self._new_run()
            else:
                self._record_epoch()
            self.epoch = ep
            self.max_epochs = total
            self.epoch_total = None
            return
        m = _BAR.match(s)
        if m and self.epoch is not None:
            rest = m.group("rest")
            total = m.group("total")
            if self.epoch_total is None:
                self.epoch_total = total
            elif total != self.epoch_total:
                return  # evaluate()/predict() bars after fit() have their own length
            if total != "Unknown" and int(m.group("n")) == int(total) \
                    and not _ETA.search(rest) and (" - " in rest or "step" in rest):
                if self.final is not None and "val_" in self.final[0] and "val_" not in rest:
                    return
                self.final = (rest, lineno)
            return
        if s.startswith("Epoch "):
            self._epoch_message(lineno, s)
            return
        if s.startswith(_TRACEBACK):
            self.in_traceback = True
            self.traceback_line = lineno
            return
        if "KeyboardInterrupt" in s and self.b is not None:
            self._event(lineno, "warning", s)
            self.b.end(Ending.interrupted, lineno, "KeyboardInterrupt")
            return
        m = _RESTORE.search(s)
        if m:
            self._event(lineno, "info", s)
            if m.group(1) and self.b is not None:
                best = int(m.group(1))
                self.b.config["best_global_step"] = best
                if self.stopped_epoch is not None and self.stopped_epoch > best:
                    # EarlyStopping stops once `wait >= patience` epochs passed without improvement
                    self.b.config["early_stopping_patience"] = self.stopped_epoch - best
            return
        m = _PARAMS.match(s)
        if m:
            num = parse_number(m.group(2).replace(",", ""))
            if num is not None:
                key = {"total": "total_params", "trainable": "trainable_params",
                       "non-trainable": "non_trainable_params"}[m.group(1).lower()]
                # a summary printed after fit() belongs to that run; one before fit() to the next
                if self.b is not None and (key not in self.b.config_extra or self.epoch is None):
                    self.b.config_extra[key] = num
                else:
                    self.params[key] = num
            return
        m = _WARNING.search(s)
        if m and not s.startswith("Epoch"):
            self._event(lineno, "warning", f"{m.group(1)}: {m.group(2)}", logger="py.warnings")

    def _event(self, lineno: int, level: str, text: str, logger: Optional[str] = None) -> None:
        if self.b is None:
            if len(self.pre_events) < 200:
                self.pre_events.append((lineno, level, text, logger))
            return
        self.b.event(lineno, level, text, logger=logger)

    def _epoch_message(self, lineno: int, s: str) -> None:
        b = self.b
        m = _CHECKPOINT.match(s)
        if m:
            self._event(lineno, "info", s)
            if b is not None:
                self.checkpoints.append(int(m.group(1)))
                b.config["metric_for_best_model"] = m.group(2)
                best = parse_number(m.group(4))
                if best is not None:
                    b.config["best_metric"] = best
                    b.config["best_global_step"] = int(m.group(1))
            return
        m = _NOT_IMPROVED.match(s)
        if m:
            self._event(lineno, "info", s)
            return
        m = _EARLY_STOP.match(s)
        if m:
            self._event(lineno, "info", s)
            self.stopped_epoch = int(m.group(1))
            if b is not None:
                b.end(Ending.completed, lineno, f"EarlyStopping at epoch {self.stopped_epoch}")
            return
        m = _REDUCE_LR.match(s)
        if m:
            self._event(lineno, "info", s)
            return
        if ": " in s and "finished saving" not in s:
            self._event(lineno, "info", s)


def _read_keras_csv(path: Path) -> Any:
    """CSVLogger: ``epoch,accuracy,loss,val_accuracy,val_loss`` with a 0-based epoch column."""
    b = RunBuilder(str(path), "raw")
    header: Optional[list[str]] = None
    cols: list[Optional[tuple[str, str]]] = []
    lines = nbytes = rows = 0
    sep = ","
    for lineno, raw in iter_lines(path):
        lines = lineno
        nbytes += len(raw) + 1
        text = clean(raw).strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            cells = next(csv.reader(io.StringIO(text), delimiter=sep))
        except (csv.Error, StopIteration):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            cols = [None if h.lower() == "epoch" else keras_metric(h) for h in header]
            continue
        if len(cells) != len(header):
            continue
        ep = parse_number(cells[0])
        if ep is None or not math.isfinite(ep):
            continue
        rows += 1
        step = ep + 1.0  # CSVLogger writes the 0-based epoch index; the console prints "Epoch 1/N"
        for i, cell in enumerate(cells):
            target = cols[i]
            if target is None or not cell.strip():
                continue
            val = parse_number(cell)
            if val is None:
                continue
            b.add(target[0], target[1], step, val, step, lineno, header[i])
    if header is None or rows == 0:
        raise ParseError(f"{path}: a CSV without data rows")
    b.set_step_origin(StepOrigin.logged)
    b.note("Keras CSVLogger: one point per epoch; step = the 0-based epoch column + 1 (the console's Epoch N).")
    b.sources.append(Source(path=str(path), parser="keras_console", format="raw", framework="keras",
                            lines=lines, bytes=nbytes))
    return b.build()


@hookimpl
def logcheck_register_parsers(register):
    register(KerasConsoleParser())
