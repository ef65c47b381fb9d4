"""regression: compare a run with a reference run of the same job (``--baseline REF``).

REF is a log or run folder (parsed like any input) or a JSON report that logcheck
wrote (``--format json``), whose ``curves`` section keeps a downsampled loss curve.
The CLI puts the reference's figures in ``settings.plugin_options["baseline"]``;
without it this check is skipped.

Tolerances default to what run-to-run noise allows: a loss is worse only when it
exceeds the reference by more than both a relative margin and a multiple of the
curve's own step-to-step noise.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Severity, Status, hookimpl
from logcheck.report import downsample

_DOC = """
## What it does
{what}

## Why is this bad
A change to the code, the data or the environment that makes the same job train worse or slower
is a regression; a CI gate on a reference run catches it before it is merged.

## Example
```
logcheck run.log --baseline last_green_run/report.json
```

## How to fix
Find what changed between the two runs (code, data, library versions, hardware). If the change
is intended, make the new run the reference.
"""

RULES = (
    Rule(code="REG001", name="final-eval-loss-regressed", check="regression", severity=Severity.error,
         summary="Final eval loss is worse than the reference run's beyond noise.",
         doc=_DOC.format(what="Compares the last eval loss with the reference run's last eval loss."),
         params={"rel_tol": Param(default=0.02, doc="relative margin allowed (0.02 = 2%)"),
                 "noise_k": Param(default=3.0, doc="multiples of the eval curve's step-to-step noise allowed")}),
    Rule(code="REG002", name="best-eval-loss-regressed", check="regression", severity=Severity.error,
         summary="Best eval loss is worse than the reference run's beyond noise.",
         doc=_DOC.format(what="Compares the minimum eval loss with the reference run's minimum."),
         params={"rel_tol": Param(default=0.02, doc="relative margin allowed"),
                 "noise_k": Param(default=3.0, doc="multiples of the eval noise allowed")}),
    Rule(code="REG003", name="train-loss-regressed-at-matched-steps", check="regression",
         severity=Severity.warning,
         summary="Smoothed train loss is above the reference's at the same steps.",
         doc=_DOC.format(what="Compares the smoothed train loss at the steps both runs logged, and "
                              "reports the step where the gap is largest."),
         params={"rel_tol": Param(default=0.03, doc="relative margin allowed at matched steps")}),
    Rule(code="REG004", name="slower-to-target", check="regression", severity=Severity.warning,
         summary="The run needs more steps than the reference to reach the reference's final train loss.",
         doc=_DOC.format(what="Finds the first step where each run's smoothed train loss reaches the "
                              "reference's final smoothed loss, and compares them."),
         params={"rel_tol": Param(default=0.10, doc="relative extra steps allowed")}),
    Rule(code="REG005", name="throughput-regressed", check="regression", severity=Severity.warning,
         summary="Samples per second fell below the reference's beyond the tolerance.",
         doc=_DOC.format(what="Compares train samples/s (or steps/s) from the end-of-run summaries."),
         params={"rel_tol": Param(default=0.10, doc="relative slowdown allowed (0.10 = 10%)")}),
)


@hookimpl
def logcheck_register_rules(register):
    for r in RULES:
        register(r)


def _noise(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if len(v) < 3:
        return 0.0
    d = np.diff(v)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _smooth(values: np.ndarray, k: int = 5) -> np.ndarray:
    v = np.where(np.isfinite(values), values, np.nan)
    if len(v) < k:
        return v
    out = np.empty_like(v)
    half = k // 2
    for i in range(len(v)):  # small arrays only: curves are downsampled to <= 400 points
        w = v[max(0, i - half): i + half + 1]
        out[i] = np.nanmedian(w) if np.isfinite(w).any() else np.nan
    return out


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@hookimpl
def logcheck_check(run, settings) -> Optional[CheckResult]:
    ref = settings.plugin_options.get("baseline")
    if not ref:
        return None
    ref_name = ref.get("name", "the reference run")
    findings: list[Finding] = []
    facts: dict[str, Any] = {"reference": ref_name}
    ev = run.eval_loss
    ref_ev = ref.get("eval_loss")
    if ev is not None and ref_ev and np.isfinite(ev.value).any():
        rv = np.asarray(ref_ev["value"], dtype=float)
        noise = max(_noise(ev.value), _noise(rv))
        last, ref_last = float(ev.value[-1]), float(rv[np.isfinite(rv)][-1]) if np.isfinite(rv).any() else math.nan
        best_i = int(np.nanargmin(np.where(np.isfinite(ev.value), ev.value, np.nan)))
        best, ref_best = float(ev.value[best_i]), float(np.nanmin(rv))
        facts.update(final_eval_loss=last, ref_final_eval_loss=ref_last, best_eval_loss=best,
                     ref_best_eval_loss=ref_best, eval_noise=noise)
        for code, mine, theirs, what, step in (
            ("REG001", last, ref_last, "final eval loss", float(ev.step[-1])),
            ("REG002", best, ref_best, "best eval loss", float(ev.step[best_i])),
        ):
            if not (math.isfinite(mine) and math.isfinite(theirs)):
                if math.isfinite(theirs) and not math.isfinite(mine):
                    findings.append(Finding(code=code, message=f"{what} is {mine} where {ref_name} had {_fmt(theirs)}",
                                            step=step, evidence={"value": str(mine), "reference": theirs}))
                continue
            allowed = max(settings.param(code, "rel_tol") * abs(theirs), settings.param(code, "noise_k") * noise)
            if mine - theirs > allowed:
                pct = (mine - theirs) / abs(theirs) * 100 if theirs else math.inf
                findings.append(Finding(
                    code=code,
                    message=(f"{what} {_fmt(mine)} (step {step:g}) is {pct:.1f}% worse than {ref_name}'s "
                             f"{_fmt(theirs)}; allowed margin {_fmt(allowed)}"),
                    hint="compare the two runs' configurations and library versions; if intended, update the reference",
                    step=step, evidence={"value": mine, "reference": theirs, "allowed": allowed}))
    tl, ref_tl = run.train_loss, ref.get("train_loss")
    if tl is not None and ref_tl and len(tl) >= 3 and len(ref_tl["step"]) >= 3:
        st, va = downsample(tl.step, tl.value)
        sm = _smooth(va)
        rs, rsm = np.asarray(ref_tl["step"], float), _smooth(np.asarray(ref_tl["value"], float))
        lo, hi = max(st.min(), rs.min()), min(st.max(), rs.max())
        grid = st[(st >= lo) & (st <= hi)]
        if len(grid) >= 3:
            mine = np.interp(grid, st, sm)
            theirs = np.interp(grid, rs, rsm)
            rel = (mine - theirs) / np.maximum(np.abs(theirs), 1e-12)
            i = int(np.nanargmax(rel)) if np.isfinite(rel).any() else 0
            tol = settings.param("REG003", "rel_tol")
            facts["max_train_gap_rel"] = float(rel[i]) if np.isfinite(rel[i]) else None
            late = grid >= lo + 0.5 * (hi - lo)
            if np.isfinite(rel[late]).any() and float(np.nanmedian(rel[late])) > tol:
                findings.append(Finding(
                    code="REG003",
                    message=(f"smoothed train loss is {rel[i] * 100:.1f}% above {ref_name}'s at step {grid[i]:g} "
                             f"({_fmt(mine[i])} vs {_fmt(theirs[i])}); median {np.nanmedian(rel[late]) * 100:.1f}% "
                             f"over the second half of the shared steps"),
                    hint="check the learning-rate schedule, data order and batch size against the reference",
                    step=float(grid[i]), evidence={"value": float(mine[i]), "reference": float(theirs[i])}))
        target = float(rsm[np.isfinite(rsm)][-1]) if np.isfinite(rsm).any() else math.nan
        if math.isfinite(target):
            reach_ref = rs[np.argmax(rsm <= target)] if (rsm <= target).any() else math.nan
            reach = st[np.argmax(sm <= target)] if (sm <= target).any() else math.nan
            facts.update(target_loss=target, steps_to_target=reach, ref_steps_to_target=reach_ref)
            tol = settings.param("REG004", "rel_tol")
            if math.isfinite(reach_ref) and (not math.isfinite(reach) and st.max() >= reach_ref * (1 + tol)
                                             or math.isfinite(reach) and reach > reach_ref * (1 + tol)):
                got = f"step {reach:g}" if math.isfinite(reach) else f"not by its last step {st.max():g}"
                findings.append(Finding(
                    code="REG004",
                    message=(f"smoothed train loss reached {ref_name}'s final {_fmt(target)} at {got}; "
                             f"the reference reached it at step {reach_ref:g}"),
                    hint="a slower decline usually means a changed learning rate, warm-up or effective batch size",
                    step=None if not math.isfinite(reach) else float(reach),
                    evidence={"target": target, "steps": reach if math.isfinite(reach) else None,
                              "reference_steps": reach_ref}))
    for key, unit in (("train_samples_per_second", "samples/s"), ("train_steps_per_second", "steps/s")):
        mine = getattr(run.summary, key)
        theirs = ref.get(key)
        if mine is not None and theirs:
            tol = settings.param("REG005", "rel_tol")
            facts[key] = mine
            facts["ref_" + key] = theirs
            if mine < theirs * (1 - tol):
                findings.append(Finding(
                    code="REG005",
                    message=f"{mine:.4g} {unit} is {(1 - mine / theirs) * 100:.1f}% below {ref_name}'s {theirs:.4g}",
                    hint="compare hardware, precision, batch size, dataloader workers and library versions",
                    line=run.summary.line, evidence={"value": mine, "reference": theirs}))
            break
    if len(facts) <= 1:
        return CheckResult(check="regression", status=Status.skip,
                           reason=f"nothing comparable with {ref_name} (no eval loss, train loss or throughput in both)")
    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    status = Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_
    if findings:
        reason = f"{len(findings)} figure(s) worse than {ref_name}: " + ", ".join(sorted({f.code for f in findings}))
    else:
        reason = f"within tolerance of {ref_name}"
        if "final_eval_loss" in facts:
            reason += f" (final eval loss {_fmt(facts['final_eval_loss'])} vs {_fmt(facts['ref_final_eval_loss'])})"
    return CheckResult(check="regression", status=status, reason=reason, findings=findings, facts=facts)
