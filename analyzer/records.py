"""The records every parser produces and every check reads.

A :class:`Run` is one training run as a log reveals it. Per-step numbers are
kept as columns (numpy arrays per metric), never as one Python object per
step: a million steps cost ~35 bytes each (PERF_FINDINGS.md, section 3).
Parsers fill a :class:`RunBuilder`, which appends to ``array`` columns while
streaming and turns them into a frozen ``Run`` once at the end.

Metric names are normalised: the split is a separate field and the name has
no ``train_``/``eval_``/``val_`` prefix, so Hugging Face's ``eval_loss``,
Lightning's ``val_loss`` and nanoGPT's ``val loss`` are all ``("eval", "loss")``.
"""
from __future__ import annotations

import math
from array import array
from enum import Enum
from typing import Any, Iterable, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer


class Split(str, Enum):
    train = "train"
    eval = "eval"
    test = "test"


class Ending(str, Enum):
    """How the run ended, as far as the log shows."""

    completed = "completed"      # an end-of-run summary or a final message was seen
    interrupted = "interrupted"  # the log stops mid-run (truncated, killed, Ctrl-C)
    crashed = "crashed"          # a traceback or fatal error ends the log
    unknown = "unknown"          # a file format that does not say (e.g. metrics.csv)


class StepOrigin(str, Enum):
    """Where a series' step numbers come from, i.e. how far to trust them."""

    logged = "logged"                # the log printed the step number
    reconstructed = "reconstructed"  # derived exactly (progress-bar counter, logging_steps)
    estimated = "estimated"          # derived approximately (epoch x steps-per-epoch)
    index = "index"                  # only the order is known: 1, 2, 3, ...


_FROZEN = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Series(BaseModel):
    """One metric of one split: columns of equal length.

    ``line`` is the 1-based line of the source file each point came from
    (0 when not known, e.g. a JSON file read as a whole).
    """

    model_config = _FROZEN

    name: str
    split: Split
    key: str = ""  # the key as the log spelled it, e.g. "eval_loss", "val loss"
    step: np.ndarray  # float64
    value: np.ndarray  # float64, NaN/inf kept as they were logged
    epoch: np.ndarray  # float64, NaN where unknown
    line: np.ndarray  # int64 (or a narrower integer type when a parser shares one line column)
    step_origin: StepOrigin = StepOrigin.logged
    source: str = ""  # file the points came from

    def __len__(self) -> int:
        return int(self.value.shape[0])

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.value)

    def last(self) -> Optional[float]:
        return float(self.value[-1]) if len(self) else None

    def at_index(self, i: int) -> dict[str, Any]:
        """One point as a dict (for evidence), with plain Python numbers."""
        ep = float(self.epoch[i])
        return {
            "step": _num(self.step[i]),
            "value": _num(self.value[i]),
            "epoch": None if math.isnan(ep) else ep,
            "line": int(self.line[i]) or None,
        }

    @field_serializer("step", "value", "epoch", "line")
    def _ser_array(self, arr: np.ndarray) -> list:
        return [_num(x) for x in arr.tolist()]


def _num(x: Any) -> Any:
    """A JSON-safe number: ints stay ints, whole floats become ints, non-finite stays float."""
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isfinite(f) and f.is_integer() and abs(f) < 2**53:
            return int(f)
        return f
    return x


class Source(BaseModel):
    """A file that contributed to a run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    parser: str  # the parser that read it, e.g. "hf_console"
    format: str  # the family: "hf", "lightning", "raw", or a plugin's own
    framework: Optional[str] = None  # "transformers", "lightning", "nanogpt", ...
    framework_version: Optional[str] = None
    lines: int = 0
    bytes: int = 0


class Summary(BaseModel):
    """End-of-run figures as the log printed them (None where not printed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_runtime_s: Optional[float] = None
    train_samples_per_second: Optional[float] = None
    train_steps_per_second: Optional[float] = None
    #: Hugging Face's ``train_loss``: the MEAN over the whole run, not the last loss.
    mean_train_loss: Optional[float] = None
    total_flos: Optional[float] = None
    epochs: Optional[float] = None  # epochs completed, e.g. 3.0
    global_step: Optional[int] = None
    max_steps: Optional[int] = None
    line: Optional[int] = None  # line of the summary in the source
    extra: dict[str, float] = Field(default_factory=dict)


class RunConfig(BaseModel):
    """Configuration the log reveals (None where it does not)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    logging_steps: Optional[float] = None
    eval_steps: Optional[float] = None
    save_steps: Optional[float] = None
    train_batch_size: Optional[int] = None
    eval_batch_size: Optional[int] = None
    gradient_accumulation_steps: Optional[int] = None
    world_size: Optional[int] = None
    num_train_epochs: Optional[float] = None
    max_steps: Optional[int] = None
    steps_per_epoch: Optional[float] = None
    learning_rate: Optional[float] = None
    seq_len: Optional[int] = None
    num_examples: Optional[int] = None
    load_best_model_at_end: Optional[bool] = None
    metric_for_best_model: Optional[str] = None
    greater_is_better: Optional[bool] = None
    best_model_checkpoint: Optional[str] = None
    best_metric: Optional[float] = None
    best_global_step: Optional[int] = None
    early_stopping_patience: Optional[int] = None
    early_stopping_threshold: Optional[float] = None
    checkpoints: tuple[int, ...] = ()  # steps that have a saved checkpoint
    restored_checkpoint: Optional[str] = None  # what was loaded at the end, if the log says
    fp16: Optional[bool] = None
    bf16: Optional[bool] = None
    model_name: Optional[str] = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Event(BaseModel):
    """A warning, error or library message, with where it was.

    Identical messages (e.g. one per rank) are folded: ``count`` says how many,
    ``line`` is the first and ``last_line`` the last.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    level: str  # "info" | "warning" | "error"
    text: str
    logger: Optional[str] = None  # e.g. "transformers.trainer", "py.warnings"
    count: int = 1
    last_line: Optional[int] = None
    step: Optional[float] = None  # the last step seen before the message
    source: str = ""


class Conflict(BaseModel):
    """The same figure read from two sources with different values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: str  # e.g. "eval/loss at step 700", "summary.global_step"
    values: dict[str, Any]  # source path -> value
    step: Optional[float] = None


class Run(BaseModel):
    """One training run, as typed records."""

    model_config = _FROZEN

    path: str
    format: str  # "hf" | "lightning" | "raw" | a plugin's own
    name: str = ""  # e.g. "run.log" or "run.log#2" when a file holds several runs
    sources: tuple[Source, ...] = ()
    series: dict[str, Series] = Field(default_factory=dict)  # key: "train/loss"
    summary: Summary = Field(default_factory=Summary)
    config: RunConfig = Field(default_factory=RunConfig)
    events: tuple[Event, ...] = ()
    events_dropped: int = 0  # events beyond the cap that were counted but not kept
    ending: Ending = Ending.unknown
    ending_line: Optional[int] = None
    ending_reason: Optional[str] = None
    notes: tuple[str, ...] = ()  # what a parser wants a reader to know (e.g. how steps were derived)
    conflicts: tuple[Conflict, ...] = ()

    # -- access -------------------------------------------------------------
    def get(self, name: str, split: Split | str = Split.train) -> Optional[Series]:
        s = self.series.get(f"{Split(split).value}/{name}")
        return s if s is not None and len(s) else None

    @property
    def train_loss(self) -> Optional[Series]:
        return self.get("loss", Split.train)

    @property
    def eval_loss(self) -> Optional[Series]:
        return self.get("loss", Split.eval)

    def has_metrics(self) -> bool:
        return any(len(s) for s in self.series.values()) or any(
            v is not None for v in (self.summary.mean_train_loss, self.summary.train_runtime_s)
        )

    def metric_names(self) -> list[str]:
        return sorted(self.series)


# ---------------------------------------------------------------------------
# Building a run while streaming
# ---------------------------------------------------------------------------

MAX_EVENTS = 2000  # distinct events kept per run; the rest are counted
# distinct series kept per run (the first ones logged); the rest are counted. A log that names a
# new metric on every line (200,000 of them) otherwise costs a Series object, its arrays and its
# place in every report per name: ~1 GB and tens of seconds for a 9 MB file.
MAX_SERIES = 10_000


class _Columns:
    __slots__ = ("key", "step", "value", "epoch", "line", "origin")

    def __init__(self, key: str):
        self.key = key
        self.step = array("d")
        self.value = array("d")
        self.epoch = array("d")
        self.line = array("q")
        self.origin = StepOrigin.logged


class RunBuilder:
    """Mutable builder that parsers append to; :meth:`build` freezes it into a Run.

    Appending is cheap (four ``array`` appends); nothing per step is a Python object.
    """

    def __init__(self, path: str, format: str, name: str = ""):
        self.path = path
        self.format = format
        self.name = name or path
        self.sources: list[Source] = []
        self._cols: dict[tuple[str, str], _Columns] = {}
        self.summary: dict[str, Any] = {}
        self.summary_extra: dict[str, float] = {}
        self.config: dict[str, Any] = {}
        self.config_extra: dict[str, Any] = {}
        self._events: dict[tuple[str, str], dict[str, Any]] = {}
        self.events_dropped = 0
        self.ending = Ending.unknown
        self.ending_line: Optional[int] = None
        self.ending_reason: Optional[str] = None
        self.notes: list[str] = []
        self.conflicts: list[Conflict] = []
        self.last_step: Optional[float] = None
        self.series_dropped: set[tuple[str, str]] = set()  # beyond MAX_SERIES

    def _full(self, k: tuple[str, str], kept: int = 0) -> bool:
        """Whether a new series ``k`` would be one too many (it is then counted, not kept)."""
        if len(self._cols) + kept < MAX_SERIES:
            return False
        self.series_dropped.add(k)
        return True

    def admit(self, split: Split | str, name: str, kept: int) -> bool:
        """For a parser that makes its own ``Series``: whether one more fits in the run, with
        ``kept`` made so far (else it is counted and :meth:`dropped_notes` says so)."""
        sp = split.value if isinstance(split, Split) else split
        return not self._full((sp, name), kept)

    def dropped_notes(self) -> tuple[str, ...]:
        if not self.series_dropped:
            return ()
        return (f"{len(self.series_dropped)} more metrics were not kept: a run keeps the first "
                f"{MAX_SERIES} distinct series it logs",)

    # -- points ---------------------------------------------------------------
    def add(
        self,
        split: Split | str,
        name: str,
        step: float,
        value: float,
        epoch: float = math.nan,
        line: int = 0,
        key: str = "",
    ) -> None:
        """Append one point. ``value`` may be NaN or inf: that is data, not an error."""
        sp = split.value if isinstance(split, Split) else split
        k = (sp, name)
        cols = self._cols.get(k)
        if cols is None:
            if self._full(k):
                return
            cols = self._cols[k] = _Columns(key or name)
        cols.step.append(step)
        cols.value.append(value)
        cols.epoch.append(epoch)
        cols.line.append(line)
        if sp == "train":
            self.last_step = step

    def columns(self, split: str, name: str) -> Optional[_Columns]:
        """The growing columns of one series (``step``, ``value``, ``epoch``: ``array('d')``;
        ``line``: ``array('q')``), for parsers that append in bulk on a hot path."""
        return self._cols.get((split, name))

    def reserve(self, split: Split | str, name: str, key: str = "") -> None:
        """Give a series its place in the run's order now and its columns later (set_columns)."""
        sp = split.value if isinstance(split, Split) else split
        if (sp, name) not in self._cols and not self._full((sp, name)):
            self._cols[(sp, name)] = _Columns(key or name)

    def set_columns(self, split: Split | str, name: str, step: Any, value: Any, epoch: Any = None,
                    line: Any = None, key: str = "", origin: Optional[StepOrigin] = None) -> None:
        """Set a whole series at once from finished columns (numpy arrays or ``array``).

        Series logged together may pass the *same* ``step``/``epoch``/``line`` arrays: the
        frozen Run then views them once instead of holding one copy per series, which is
        what keeps a million-step run with several metrics small. Nothing is copied here;
        the arrays must not be changed afterwards.
        """
        sp = split.value if isinstance(split, Split) else split
        val = np.asarray(value, dtype=np.float64)
        n = val.shape[0]
        st = np.asarray(step, dtype=np.float64)
        ep = np.full(n, np.nan) if epoch is None else np.asarray(epoch, dtype=np.float64)
        ln = np.zeros(n, dtype=np.int64) if line is None else np.asarray(line)
        if ln.dtype.kind not in "iu":
            ln = ln.astype(np.int64)
        if not (st.shape[0] == ep.shape[0] == ln.shape[0] == n):
            raise ValueError(f"{sp}/{name}: columns differ in length")
        if (sp, name) not in self._cols and self._full((sp, name)):
            return
        cols = _Columns(key or name)
        cols.step, cols.value, cols.epoch, cols.line = st, val, ep, ln
        if origin is not None:
            cols.origin = origin
        self._cols[(sp, name)] = cols
        if sp == "train" and n:
            self.last_step = float(st[-1])

    def remap_steps(self, split: str, name: str, steps: Any) -> None:
        """Replace a series' step column (e.g. ordinals -> reconstructed global steps)."""
        cols = self._cols[(split, name)]
        arr = np.asarray(steps, dtype=np.float64)
        if arr.shape[0] != len(cols.value):
            raise ValueError(f"{split}/{name}: {arr.shape[0]} steps for {len(cols.value)} points")
        fresh = array("d")
        fresh.frombytes(arr.tobytes())
        cols.step = fresh

    def set_step_origin(self, origin: StepOrigin, split: Optional[str] = None) -> None:
        for (sp, _), cols in self._cols.items():
            if split is None or sp == split:
                cols.origin = origin

    def has_points(self) -> bool:
        return any(len(c.value) for c in self._cols.values())

    # -- events ---------------------------------------------------------------
    def event(self, line: int, level: str, text: str, logger: Optional[str] = None, source: str = "",
              step: Optional[float] = None) -> None:
        """Record a message; ``step`` defaults to the last train step appended so far."""
        text = text.strip()
        if len(text) > 2000:
            text = text[:2000] + "…"
        k = (level, text)
        ev = self._events.get(k)
        if ev is not None:
            ev["count"] += 1
            ev["last_line"] = line
            return
        if len(self._events) >= MAX_EVENTS:
            self.events_dropped += 1
            return
        self._events[k] = {
            "line": line,
            "level": level,
            "text": text,
            "logger": logger,
            "count": 1,
            "last_line": None,
            "step": self.last_step if step is None else step,
            "source": source or self.path,
        }

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def end(self, ending: Ending, line: Optional[int] = None, reason: Optional[str] = None) -> None:
        self.ending = ending
        self.ending_line = line
        self.ending_reason = reason

    # -- freeze -----------------------------------------------------------------
    def build(self) -> Run:
        for text in self.dropped_notes():
            self.note(text)
        series: dict[str, Series] = {}
        for (sp, name), c in self._cols.items():
            series[f"{sp}/{name}"] = Series(
                name=name,
                split=Split(sp),
                key=c.key,
                # Views on the arrays, not copies: a copy would double the peak memory of a big log.
                # The builder is done with them (an append now raises BufferError instead of
                # silently changing a frozen Run).
                step=_frozen_view(c.step, np.float64),
                value=_frozen_view(c.value, np.float64),
                epoch=_frozen_view(c.epoch, np.float64),
                line=_frozen_view(c.line, np.int64),
                step_origin=c.origin,
                source=self.path,
            )
        summary_fields = {k: v for k, v in self.summary.items() if k in Summary.model_fields}
        config_fields = {k: v for k, v in self.config.items() if k in RunConfig.model_fields}
        extra_cfg = dict(self.config_extra)
        extra_cfg.update({k: v for k, v in self.config.items() if k not in RunConfig.model_fields})
        return Run(
            path=self.path,
            format=self.format,
            name=self.name,
            sources=tuple(self.sources),
            series=series,
            summary=Summary(**summary_fields, extra=dict(self.summary_extra)),
            config=RunConfig(**config_fields, extra=extra_cfg),
            events=tuple(Event(**e) for e in self._events.values()),
            events_dropped=self.events_dropped,
            ending=self.ending,
            ending_line=self.ending_line,
            ending_reason=self.ending_reason,
            notes=tuple(self.notes),
            conflicts=tuple(self.conflicts),
        )


def _frozen_view(arr: "array | np.ndarray", dtype: Any) -> np.ndarray:
    if isinstance(arr, np.ndarray):
        # set_columns: already finished (possibly shared between series); the line column
        # may be a narrower integer type, which costs half the memory on a big log
        out = arr.view() if (arr.dtype == dtype or (dtype is np.int64 and arr.dtype.kind in "iu")) \
            else arr.astype(dtype)
    else:
        out = np.frombuffer(arr, dtype=dtype) if len(arr) else np.zeros(0, dtype=dtype)
    out.flags.writeable = False
    return out


def make_series(
    name: str,
    split: Split | str,
    steps: Iterable[float],
    values: Iterable[float],
    epochs: Optional[Iterable[float]] = None,
    lines: Optional[Iterable[int]] = None,
    origin: StepOrigin = StepOrigin.logged,
    source: str = "",
) -> Series:
    """A Series from plain sequences (tests, state files, merges)."""
    st = np.asarray(list(steps), dtype=np.float64)
    va = np.asarray(list(values), dtype=np.float64)
    n = st.shape[0]
    ep = np.full(n, np.nan) if epochs is None else np.asarray(list(epochs), dtype=np.float64)
    ln = np.zeros(n, dtype=np.int64) if lines is None else np.asarray(list(lines), dtype=np.int64)
    if not (va.shape[0] == ep.shape[0] == ln.shape[0] == n):
        raise ValueError("series columns differ in length")
    return Series(name=name, split=Split(split), key=name, step=st, value=va, epoch=ep, line=ln,
                  step_origin=origin, source=source)
