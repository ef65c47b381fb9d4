"""The report: per run, the run itself, each check's result and the findings.

``Report.to_json()`` is the versioned document ``--format json`` prints
(``schema_version`` 1); its shape is a contract other tools rely on.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .findings import CheckResult, Finding, PluginFailure, Severity, Status
from .records import Run, Series

SCHEMA_VERSION = 1

# Order in which the built-in checks are shown; others follow alphabetically.
CHECK_ORDER = ("convergence", "overfitting", "stability", "throughput", "warnings", "config")


class InputFailure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    error: str
    exit_code: int = 2


class RunReport(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    run: Run
    results: list[CheckResult] = Field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        out = [f for r in self.results for f in r.findings]
        out.sort(key=lambda f: (-(f.severity.rank if f.severity else 0), f.step if f.step is not None else math.inf))
        return out

    def result(self, check: str) -> Optional[CheckResult]:
        for r in self.results:
            if r.check == check:
                return r
        return None


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    runs: list[RunReport] = Field(default_factory=list)
    plugin_failures: list[PluginFailure] = Field(default_factory=list)
    input_failures: list[InputFailure] = Field(default_factory=list)
    fail_on: Severity = Severity.error
    exit_code: int = 0

    def compute_exit_code(self) -> int:
        """0 clean, 1 a finding at/above fail_on, 2 unreadable input, 3 nothing judged, 4 plugin failed."""
        if any(f.exit_code == 2 for f in self.input_failures):
            return 2
        threshold = self.fail_on.rank
        for rr in self.runs:
            for f in rr.findings:
                if f.severity is not None and f.severity.rank >= threshold:
                    return 1
        if self.plugin_failures:
            return 4
        if not any(rr.run.has_metrics() for rr in self.runs):
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        from . import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "logcheck", "version": __version__},
            "exit_code": self.exit_code,
            "fail_on": self.fail_on.value,
            "runs": [run_to_json(rr) for rr in self.runs],
            "errors": [
                *({"kind": "input", "path": f.path, "message": f.error, "exit_code": f.exit_code}
                  for f in self.input_failures),
                *({"kind": "plugin", "plugin": f.plugin, "where": f.where, "message": f.error}
                  for f in self.plugin_failures),
            ],
        }


def _f(x: Any) -> Any:
    """JSON-safe float: NaN/inf become strings (JSON has no literal for them)."""
    if x is None:
        return None
    if isinstance(x, (np.floating, float)):
        x = float(x)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(x, np.integer):
        return int(x)
    return x


def json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (float, np.floating, np.integer)):
        return _f(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), str):  # enums
        return obj.value
    return str(obj)


def summary_figures(run: Run) -> dict[str, Any]:
    """The figures every report shows, computed the same way for every format.

    ``final_train_loss`` is the last logged train loss; ``mean_train_loss`` is the
    summary's run mean (Hugging Face's ``train_loss``). They are different numbers.
    """
    s = run.summary
    tl = run.train_loss
    el = run.eval_loss
    global_step = s.global_step
    if global_step is None:
        steps = [float(x.step[-1]) for x in run.series.values() if len(x) and x.split.value == "train"]
        finite = [v for v in steps if math.isfinite(v)]
        if finite:
            global_step = int(max(finite))
    epochs = s.epochs
    if epochs is None:
        eps = [float(x.epoch[np.isfinite(x.epoch)].max()) for x in run.series.values()
               if len(x) and np.isfinite(x.epoch).any()]
        if eps:
            epochs = max(eps)
    best_eval = best_step = None
    if el is not None and np.isfinite(el.value).any():
        i = int(np.nanargmin(np.where(np.isfinite(el.value), el.value, np.nan)))
        best_eval, best_step = float(el.value[i]), float(el.step[i])
    return {
        "global_step": global_step,
        "epochs": epochs,
        "train_runtime_s": s.train_runtime_s,
        "train_samples_per_second": s.train_samples_per_second,
        "train_steps_per_second": s.train_steps_per_second,
        "mean_train_loss": s.mean_train_loss,
        "final_train_loss": tl.last() if tl is not None else None,
        "final_eval_loss": el.last() if el is not None else None,
        "best_eval_loss": best_eval,
        "best_eval_step": _int_if_whole(best_step),
    }


def _int_if_whole(x: Optional[float]) -> Any:
    if x is None or not math.isfinite(x):
        return x
    return int(x) if float(x).is_integer() else x


def ordered_results(rr: RunReport) -> list[CheckResult]:
    def key(r: CheckResult) -> tuple[int, str]:
        return (CHECK_ORDER.index(r.check) if r.check in CHECK_ORDER else len(CHECK_ORDER), r.check)

    return sorted(rr.results, key=key)


def framework_of(run: Run) -> tuple[Optional[str], Optional[str]]:
    """The framework and its version as any of the run's sources shows them."""
    framework = next((s.framework for s in run.sources if s.framework), None)
    version = next((s.framework_version for s in run.sources if s.framework_version), None)
    if version is None and framework == "transformers":
        # The model's config.json in the run folder records the version that saved it.
        v = run.config.extra.get("transformers_version")
        version = v if isinstance(v, str) else None
    return framework, version


def run_to_json(rr: RunReport) -> dict[str, Any]:
    run = rr.run
    src = run.sources[0] if run.sources else None
    framework, version = framework_of(run)
    return json_safe({
        "path": run.path,
        "name": run.name,
        "format": run.format,
        "parser": src.parser if src else None,
        "framework": framework,
        "framework_version": version,
        "sources": [s.model_dump() for s in run.sources],
        "ending": {"status": run.ending.value, "line": run.ending_line, "reason": run.ending_reason},
        "summary": summary_figures(run),
        "config": {k: v for k, v in run.config.model_dump().items() if v not in (None, (), {}, [])},
        "series": {
            k: {"points": len(v), "first_step": v.step[0] if len(v) else None,
                "last_step": v.step[-1] if len(v) else None, "step_origin": v.step_origin.value}
            for k, v in run.series.items()
        },
        "checks": {
            r.check: {"status": r.status.value, "reason": r.reason, "facts": r.facts}
            for r in ordered_results(rr)
        },
        "findings": [
            {
                "code": f.code,
                "check": f.check,
                "severity": f.severity.value if f.severity else None,
                "message": f.message,
                "hint": f.hint,
                "step": _int_if_whole(f.step),
                "line": f.line,
                "path": f.path or run.path,
                "evidence": f.evidence,
            }
            for f in rr.findings
        ],
        "curves": run_curves(run),
        "notes": list(run.notes),
        "conflicts": [c.model_dump() for c in run.conflicts],
        "events": {"count": sum(e.count for e in run.events) + run.events_dropped,
                   "warnings": sum(e.count for e in run.events if e.level == "warning"),
                   "errors": sum(e.count for e in run.events if e.level == "error")},
    })


def downsample(step: np.ndarray, value: np.ndarray, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """``n`` bin means of the curve: step mean and NaN-skipping value mean (NaN where no finite point)."""
    if len(step) <= n:
        return step, value
    edges = np.linspace(0, len(step), n + 1).astype(int)
    if step.dtype == np.float64 and value.dtype == np.float64:
        return _downsample_f64(step, value, edges)
    s = np.array([step[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    with np.errstate(invalid="ignore"):
        v = np.array([np.nanmean(value[a:b]) if np.isfinite(value[a:b]).any() else np.nan
                      for a, b in zip(edges[:-1], edges[1:])])
    return s, v


def _downsample_f64(step: np.ndarray, value: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same numbers as the per-bin ``mean``/``nanmean`` (bit for bit: the same ``np.add.reduce`` over
    the same contiguous values, divided by the same count), without ``nanmean``'s per-bin copies
    (20-40 ms a report on a 100k-point curve)."""
    bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    add = np.add.reduce
    s = np.array([add(step[a:b]) / (b - a) for a, b in bounds])
    nan = np.isnan(value)
    filled = np.where(nan, 0.0, value)  # nanmean's own replacement
    kept = np.add.reduceat(~nan, edges[:-1], dtype=np.intp).tolist()  # bins are never empty here
    finite = np.logical_or.reduceat(np.isfinite(value), edges[:-1]).tolist()
    with np.errstate(invalid="ignore"):  # inf and -inf in one bin: NaN, as nanmean gives, without a warning
        v = np.array([add(filled[a:b]) / k if f else np.nan for (a, b), k, f in zip(bounds, kept, finite)])
    return s, v


def run_curves(run: Run) -> dict[str, Any]:
    """The reference figures kept in a JSON report: downsampled curves and summary numbers."""
    out: dict[str, Any] = {}
    for name, s in (("train_loss", run.train_loss), ("eval_loss", run.eval_loss)):
        if s is not None:
            st, va = downsample(s.step, s.value)
            out[name] = {"step": st.tolist(), "value": [float(x) for x in va]}
    sm = run.summary
    out["train_samples_per_second"] = sm.train_samples_per_second
    out["train_steps_per_second"] = sm.train_steps_per_second
    return out



def fmt_number(x: Any, digits: int = 4) -> str:
    """A figure as the reports print it: 4 significant digits, thousands grouped, NaN/inf spelled."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (np.integer, int)):
        return f"{int(x):,}" if abs(int(x)) >= 10000 else str(int(x))
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) >= 1:
        return f"{int(x):,}" if abs(x) >= 10000 else str(int(x))
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e6):
        return f"{x:.3g}"
    return f"{x:.{digits}g}" if ax < 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".")


def fmt_step(x: Any) -> str:
    """A step number: an integer when whole, '—' when unknown."""
    if x is None:
        return "—"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    return str(int(x)) if x.is_integer() else f"{x:g}"


def train_loss_between(train: Optional[Series], lo: float, hi: float) -> tuple[Optional[float], int]:
    """Mean of the finite train points logged in (lo, hi] and how many; the nearest point (0) if none."""
    if train is None or not len(train):
        return None, 0
    mask = (train.step > lo) & (train.step <= hi) & np.isfinite(train.value)
    n = int(mask.sum())
    if n:
        return float(np.mean(train.value[mask])), n
    fin = np.flatnonzero(np.isfinite(train.value))
    if not fin.size:
        return None, 0
    i = fin[int(np.argmin(np.abs(train.step[fin] - hi)))]
    return float(train.value[i]), 0


def worst_status(results: list[CheckResult]) -> Status:
    order = {Status.fail: 3, Status.warn: 2, Status.pass_: 1, Status.skip: 0}
    if not results:
        return Status.skip
    return max((r.status for r in results), key=lambda s: order[s])
