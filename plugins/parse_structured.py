"""Structured metric files: JSON lines (``jsonl`` parser).

One JSON object per line with a step-like key (``step``, ``global_step``, ``iter``, ``iteration``,
``_step``, ``num_updates``, ms-swift's ``"global_step/max_steps": "12/2353"``) or at least an ``epoch``,
and numeric values (numbers, numeric strings like ``"1.23"``, ``NaN``/``Infinity``). Examples: ms-swift
``logging.jsonl``, W&B-style history (``_step``, ``_runtime``), hand-written ``json.dumps`` loops.

A line holding a trainer-state-like dict (``log_history``) is used only when the lines before it gave
no points (otherwise it is skipped with a note); its summary figures (``train_runtime``...) are read either way.
fairseq's JSON inside log lines is the fairseq parser's job (``parse_raw``).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

from logcheck import Ending, ParseContext, ParseError, Parser, Run, RunBuilder, Source, StepOrigin, hookimpl
from logcheck.parsing import iter_lines, loads_json, parse_number

NAN = math.nan
STEP_KEYS = ("step", "global_step", "train/global_step", "iter", "iteration", "_step", "num_updates",
             "update", "steps", "trainer/global_step")
_STEP_FRACTION_KEYS = ("global_step/max_steps", "step/max_steps", "global_step/total_steps")
_SKIP = frozenset(STEP_KEYS) | frozenset(_STEP_FRACTION_KEYS) | {"epoch", "_timestamp", "timestamp", "time_stamp"}
_SUMMARY_KEYS = {
    "train_runtime": "train_runtime_s", "train_samples_per_second": "train_samples_per_second",
    "train_steps_per_second": "train_steps_per_second", "train_loss": "mean_train_loss",
    "total_flos": "total_flos",
}
_SPLIT_PREFIX = re.compile(r"^(train|training|eval|val|valid|validation|dev|test)(?:[_/\-.])(.+)$", re.I)
_ALIASES = {"lr": "learning_rate", "gnorm": "grad_norm", "ppl": "perplexity", "acc": "accuracy",
            "_runtime": "runtime_s"}
_PAREN = re.compile(r"\(([^)]*)\)")
_NON_NAME = re.compile(r"[^a-z0-9/]+")
_name_cache: dict[str, tuple[str, str]] = {}


def split_name(key: str) -> tuple[str, str]:
    """``eval_loss`` -> ``("eval", "loss")``; ``train/loss`` -> ``("train", "loss")``; ``lr`` -> ``("train", "learning_rate")``."""
    hit = _name_cache.get(key)
    if hit is not None:
        return hit
    split = "train"
    k = key
    m = _SPLIT_PREFIX.match(key)
    if m:
        w = m.group(1).lower()
        split = "test" if w == "test" else "train" if w.startswith("train") else "eval"
        k = m.group(2)
    if k in _ALIASES:
        name = _ALIASES[k]
    else:
        k2 = _PAREN.sub(lambda m: "_" + m.group(1).replace("/", "_per_"), k) if "(" in k else k
        name = _NON_NAME.sub("_", k2.lower()).strip("_") or "value"
        name = _ALIASES.get(name, name)
    res = (split, name)
    if len(_name_cache) < 20000:
        _name_cache[key] = res
    return res


def _is_json_object_line(line: bytes) -> Optional[dict]:
    s = line.strip()
    if not (s.startswith(b"{") and s.endswith(b"}")):
        return None
    try:
        obj = loads_json(s)
    except (ValueError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


class JsonlParser(Parser):
    name = "jsonl"
    format = "jsonl"
    framework = None
    description = "JSON lines metric files (one object per line with a step or epoch)"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head or b"\x00" in head[:4096]:
            return 0.0
        lines = [ln for ln in head.split(b"\n")[:50] if ln.strip()]
        if not lines:
            return 0.0
        first = lines[:5]
        # the last line of the head may be cut: judge on complete lines only
        if len(lines) > len(first) or head.endswith(b"\n"):
            pass
        elif len(first) > 1:
            first = first[:-1]
        objs = []
        for ln in first:
            obj = _is_json_object_line(ln)
            if obj is None:
                return 0.0
            objs.append(obj)
        if len(objs) == 1 and "log_history" in objs[0]:
            return 0.3  # a one-line trainer_state.json: the HF parser's file
        for obj in objs:
            if any(k in obj for k in STEP_KEYS) or any(k in obj for k in _STEP_FRACTION_KEYS) or "epoch" in obj:
                return 0.85
        for obj in objs:
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj.values()):
                return 0.5
        return 0.2

    def parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":
        path = Path(path)
        spath = str(path)
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        if b"\x00" in head:
            raise ParseError(f"{path}: not a JSON lines file (binary content)")
        b = RunBuilder(spath, self.format)
        state = _State()
        n = 0
        try:
            for n, raw in iter_lines(path):
                s = raw.strip()
                if not s:
                    continue
                if not (s[:1] == b"{" and s[-1:] == b"}"):
                    state.bad_lines += 1
                    if state.first_bad is None:
                        state.first_bad = n
                    continue
                try:
                    obj = loads_json(s)
                except (ValueError, TypeError, RecursionError):
                    state.bad_lines += 1
                    if state.first_bad is None:
                        state.first_bad = n
                    continue
                if not isinstance(obj, dict):
                    state.bad_lines += 1
                    continue
                if "log_history" in obj and isinstance(obj.get("log_history"), list):
                    self._state_dict(b, state, obj, n)
                    continue
                self._row(b, state, obj, n)
        except OSError as e:
            raise ParseError(f"{path}: cannot read: {e}") from e
        except Exception as e:  # the contract: nothing but ParseError leaves a parser
            raise ParseError(f"{path}: jsonl parser failed: {type(e).__name__}: {e}") from e
        if state.rows == 0 and state.bad_lines and not b.has_points():
            raise ParseError(f"{path}: no JSON object lines (first unreadable line {state.first_bad})")
        b.sources.append(Source(path=spath, parser=self.name, format=self.format, lines=n))
        if state.bad_lines:
            b.note(f"{state.bad_lines} lines were not JSON objects and were skipped (first at line {state.first_bad})")
        if state.origin is StepOrigin.index:
            b.note("the objects carry no step or epoch: points are numbered in file order")
            b.set_step_origin(StepOrigin.index)
        elif state.epoch_as_step:
            b.note("the objects carry only an epoch: the epoch is used as the step")
        if b.summary:
            b.end(Ending.completed, state.summary_line, "an end-of-training summary (train_runtime) was logged")
        elif state.total is not None and b.last_step is not None and b.last_step >= state.total:
            b.end(Ending.completed, None, f"the last step {b.last_step:g} reached the declared total {state.total:g}")
        elif state.total is not None and b.last_step is not None:
            b.end(Ending.interrupted, None,
                  f"the file stops at step {b.last_step:g} of the declared {state.total:g}, with no summary")
        else:
            b.end(Ending.unknown, None, "a metrics file does not say how the run ended")
        try:
            return b.build()
        except ValueError:  # a config value of an unexpected type (pydantic ValidationError)
            b.config.clear()
            b.note("the trainer-state configuration values could not be read")
            return b.build()

    # -- rows ---------------------------------------------------------------------
    def _step_of(self, state: "_State", obj: dict[str, Any]) -> tuple[Optional[float], float]:
        epoch = parse_number(obj.get("epoch")) if "epoch" in obj else None
        step = None
        for k in STEP_KEYS:
            if k in obj:
                step = parse_number(obj[k])
                if step is not None:
                    break
        if step is None:
            for k in _STEP_FRACTION_KEYS:
                v = obj.get(k)
                if isinstance(v, str) and "/" in v:
                    a, _, z = v.partition("/")
                    step = parse_number(a)
                    tot = parse_number(z)
                    if tot is not None:
                        state.total = tot
                    break
        return step, (NAN if epoch is None else epoch)

    def _row(self, b: RunBuilder, state: "_State", obj: dict[str, Any], n: int) -> None:
        step, epoch = self._step_of(state, obj)
        if any(k in obj for k in _SUMMARY_KEYS) and "train_runtime" in obj:
            for k, field in _SUMMARY_KEYS.items():
                v = parse_number(obj.get(k))
                if v is not None:
                    b.summary[field] = v
            if step is not None:
                b.summary["global_step"] = int(step)
            if not math.isnan(epoch):
                b.summary["epochs"] = epoch
            b.summary["line"] = n
            state.summary_line = n
            return
        if step is None:
            if not math.isnan(epoch):
                step = epoch
                state.epoch_as_step = True
            else:
                state.index += 1
                step = float(state.index)
                state.origin = StepOrigin.index
        state.rows += 1
        if state.last_step is not None and step < state.last_step:
            b.note(f"step counter went back from {state.last_step:g} to {step:g} at line {n} (resumed or a new run)")
        state.last_step = step
        for k, v in obj.items():
            if k in _SKIP or isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                val = float(v)
            elif isinstance(v, str):
                val = parse_number(v)
                if val is None:
                    continue
            else:
                continue
            hit = state.cols.get(k)
            if hit is None:
                split, name = split_name(k)
                b.add(split, name, step, val, epoch, n, k)
                state.cols[k] = (split, b.columns(split, name))
                continue
            split, cols = hit
            if cols is None:  # a metric beyond the builder's MAX_SERIES
                continue
            cols.step.append(step)
            cols.value.append(val)
            cols.epoch.append(epoch)
            cols.line.append(n)
            if split == "train":
                b.last_step = step

    def _state_dict(self, b: RunBuilder, state: "_State", obj: dict[str, Any], n: int) -> None:
        hist = obj.get("log_history") or []
        if b.has_points():
            b.note(f"line {n} holds a trainer-state dict (log_history, {len(hist)} entries): skipped, "
                   "the lines before it already gave the points")
            for entry in hist:
                if isinstance(entry, dict) and "train_runtime" in entry:
                    self._row(b, state, entry, n)
        else:
            b.note(f"the points come from the log_history of the trainer-state dict on line {n}")
            for entry in hist:
                if isinstance(entry, dict):
                    self._row(b, state, entry, n)
        for k in ("max_steps", "logging_steps", "eval_steps", "save_steps", "num_train_epochs",
                  "train_batch_size", "best_metric", "best_model_checkpoint", "best_global_step"):
            v = obj.get(k)
            if v is not None:
                b.config[k] = v


class _State:
    __slots__ = ("rows", "bad_lines", "first_bad", "index", "origin", "epoch_as_step", "total",
                 "last_step", "summary_line", "cols")

    def __init__(self) -> None:
        self.rows = 0
        self.bad_lines = 0
        self.first_bad: Optional[int] = None
        self.index = 0
        self.origin = StepOrigin.logged
        self.epoch_as_step = False
        self.total: Optional[float] = None
        self.last_step: Optional[float] = None
        self.summary_line: Optional[int] = None
        self.cols: dict[str, Any] = {}  # key -> (split, the builder's columns): b.add without its lookups


@hookimpl
def logcheck_register_parsers(register):
    register(JsonlParser())
