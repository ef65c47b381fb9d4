"""Overfitting: eval loss against the train loss at the same steps.

For each evaluation at step s the train loss is the mean of the train points
logged in (previous eval step, s] (the nearest point when that window is empty),
never the run-mean ``train_loss`` of the summary. The generalization gap
(eval - train) is reported at every eval with its trend. Overfitting is a rise of
the (rolling-median smoothed) eval loss from its minimum that exceeds both
``k`` times the eval curve's own point noise and a minimum relative rise, while
the train loss kept falling.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Run, Severity, Status, hookimpl
from logcheck import stats

CHECK = "overfitting"

_DOC_RISING = """\
## What it does
Finds the minimum of the eval loss (smoothed with a rolling median) and measures
how far the smoothed eval loss has risen since, while the train loss at the same
steps kept falling. The rise must exceed `noise_multiple` times the eval curve's
own point-to-point noise (from its second differences) and `min_rel_rise` of the
minimum, so a wobble within the noise does not count.

## Why is this bad
The model is memorising the training set: every step after the minimum makes
it worse on unseen data. The final weights are worse than an earlier checkpoint.

## Example
`eval loss rose 79% from its minimum 0.5151 at step 2600 to 0.921 at step 8900
while train loss fell 99% at the same steps`.

## How to fix
Keep the best checkpoint (`load_best_model_at_end=True`,
`metric_for_best_model="eval_loss"`, and `save_steps` equal to `eval_steps`), add
early stopping, or regularise: more data or augmentation, weight decay, dropout,
a lower learning rate or fewer epochs.
"""

_DOC_BELOW_TRAIN = """\
## What it does
Compares eval and train loss at the same steps over the second half of the
evaluations and reports when the eval loss is lower than the train loss by more
than `min_rel_gap` of the train loss.

## Why is this bad
Usually it is not: dropout, label smoothing and data augmentation are active in
training and off in evaluation, and the train loss logged for a window lags the
model that is evaluated at its end. But a large, lasting difference can also
mean the eval set leaks into the training data, is much easier, or is tiny.

## Example
`eval loss is below the train loss at the same steps: 0.209 vs 0.70 at step
10000 (−70%), over the last 10 evals`.

## How to fix
If regularisation does not explain it, check the train/eval split for overlap
and duplicates, and compare the two sets' sizes and difficulty.
"""

_DOC_PAST_MIN = """\
## What it does
Reports an eval loss that has risen since its minimum by less than the
overfitting thresholds (within the noise or below `min_rel_rise` of OVF001).

## Why is this bad
It is early evidence, not a verdict: the best model is no longer the last one,
by a margin the run cannot yet tell from noise.

## Example
`eval loss is 1.3% above its minimum 0.4853 (step 3294) at step 5490, 1.4× its
noise: below the overfitting thresholds`.

## How to fix
Keep the best checkpoint (`load_best_model_at_end=True`), and watch the next
evaluations.
"""

_DOC_GAP = """\
## What it does
States the generalization gap (eval − train at the same steps) at the last
evaluation, how it moved over the run, and whether the eval loss is still
falling.

## Why is this bad
It is information. A run-mean train loss (Hugging Face's `train_loss`) compared
with a final eval loss gives a meaningless gap; this is the like-for-like one.

## Example
`at step 700 eval loss 3.657 vs train 3.52 (mean of the 5 train points in
(600, 700]): gap 0.137; eval loss still falling`.

## How to fix
Nothing to fix.
"""


@hookimpl
def logcheck_register_rules(register: Any) -> None:
    register(Rule(
        code="OVF001", name="eval-loss-rising", check=CHECK, severity=Severity.warning,
        summary="Eval loss rose from its minimum beyond its noise while the train loss kept falling.",
        doc=_DOC_RISING,
        params={
            "noise_multiple": Param(default=3.0, doc="the rise must exceed this many eval-noise sds"),
            "min_rel_rise": Param(default=0.02, doc="and this fraction of the minimum"),
            "min_evals_after": Param(default=2, doc="evaluations after the minimum needed to judge a rise"),
        },
    ))
    register(Rule(
        code="OVF002", name="eval-below-train", check=CHECK, severity=Severity.info,
        summary="Eval loss is well below the train loss at the same steps (regularisation, or leakage).",
        doc=_DOC_BELOW_TRAIN,
        params={"min_rel_gap": Param(default=0.1, doc="(train − eval) / train, median over the second half of the evals")},
    ))
    register(Rule(
        code="OVF003", name="eval-loss-past-minimum", check=CHECK, severity=Severity.info,
        summary="Eval loss is above its minimum, but within the overfitting thresholds.",
        doc=_DOC_PAST_MIN,
        params={},
    ))
    register(Rule(
        code="OVF004", name="generalization-gap", check=CHECK, severity=Severity.info,
        summary="The eval − train gap at the same steps, its trend, and whether eval still falls.",
        doc=_DOC_GAP,
        params={},
    ))


def _fmt(v: float, digits: int = 4) -> str:
    """A number with ``digits`` significant figures and no trailing zeros (0.0002, 3.657, 20769.1)."""
    if v is None or not math.isfinite(v):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:.1f}"
    return f"{v:.{digits}g}"


def _per(unit: int) -> str:
    return "per step" if unit == 1 else f"per {unit} steps"


def _step(v: float) -> Any:
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _pct(frac: float) -> str:
    """A percentage that does not round 99.97% to 100%."""
    v = 100 * frac
    return f"{v:.1f}%" if abs(v) >= 95 or abs(v) < 10 else f"{v:.0f}%"


def _status(findings: list[Finding], settings: Any) -> Status:
    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    return Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_


def _line(series: Any, i: int) -> Any:
    v = int(series.line[i])
    return v or None


@hookimpl
def logcheck_check(run: Run, settings: Any) -> CheckResult:
    p = lambda code, name: settings.param(code, name)  # noqa: E731
    ev, tr = run.eval_loss, run.train_loss
    if ev is None or int(np.isfinite(ev.value).sum()) < 3:
        n = 0 if ev is None else int(np.isfinite(ev.value).sum())
        return CheckResult(check=CHECK, status=Status.skip, reason=f"only {n} eval loss points (needs >= 3)",
                           facts={"eval_points": n})
    if tr is None or int(np.isfinite(tr.value).sum()) == 0:
        return CheckResult(check=CHECK, status=Status.skip, reason="no train loss logged to compare the eval loss with",
                           facts={"eval_points": int(np.isfinite(ev.value).sum())})

    ex, ey, eidx = stats.finite_xy(ev.step, ev.value)
    o = np.argsort(ex, kind="stable")
    ex, ey, eidx = ex[o], ey[o], eidx[o]
    tx, ty, _ = stats.finite_xy(tr.step, tr.value)
    o = np.argsort(tx, kind="stable")
    tx, ty = tx[o], ty[o]
    m = ey.size

    train_at, counts = stats.window_means_at(ex, tx, ty)
    gap = ey - train_at
    unit = int(10 ** max(0, math.floor(math.log10(max(float(ex[-1] - ex[0]), 10.0) / 5.0))))
    # The gap's trend over the second half of the evals: early evals meet a train window that still
    # falls fast (its mean lags the evaluated model), which would dominate a whole-run trend.
    h0 = m // 2 if m >= 6 else 0
    gap_trend = stats.trend(ex[h0:], gap[h0:])
    ev_tail = stats.trend(ex[-max(3, m // 4):], ey[-max(3, m // 4):]) if m >= 3 else None
    eval_falling = ev_tail is not None and ev_tail.slope < 0 and ev_tail.p_down < 0.2

    keep = np.unique(np.linspace(0, m - 1, min(m, 200)).astype(int))
    facts: dict[str, Any] = {
        "eval_points": m,
        "gap_at_evals": [{"step": _step(ex[i]), "eval": float(ey[i]), "train": float(train_at[i]),
                          "train_points": int(counts[i]), "gap": float(gap[i])} for i in keep],
        "gap_last": float(gap[-1]),
        "gap_first": float(gap[0]),
        "gap_trend_from_step": _step(ex[h0]),
        "gap_trend_per_unit": gap_trend.slope * unit if gap_trend else None,
        "unit_steps": unit,
        "eval_still_falling": bool(eval_falling),
    }
    findings: list[Finding] = []

    # -- OVF001 / OVF003: rise from the minimum --------------------------------------
    w = 5 if m >= 15 else 3 if m >= 5 else 1
    smooth = stats.rolling_median(ey, w)
    noise = stats.point_noise(ey)
    jm = int(np.argmin(smooth))
    jraw = int(np.argmin(ey))
    end_s = float(smooth[-1])
    rise = end_s - float(smooth[jm])
    rel = rise / float(smooth[jm]) if smooth[jm] > 0 else math.inf
    after = m - 1 - jm
    k = float(p("OVF001", "noise_multiple"))
    min_rel = float(p("OVF001", "min_rel_rise"))
    t_min = float(train_at[jm])
    t_end = float(train_at[-1])
    train_change = (t_end - t_min) / abs(t_min) if t_min != 0 else 0.0
    facts.update({"eval_min": {"step": _step(ex[jraw]), "value": float(ey[jraw]), "line": _line(ev, eidx[jraw])},
                  "eval_noise": noise, "smoothing_window": w, "rise_from_min": rise,
                  "rise_from_min_pct": 100 * rel if math.isfinite(rel) else None,
                  "train_change_since_min_pct": 100 * train_change})
    sigmas = rise / noise if noise > 0 else math.inf
    end_desc = f"{_fmt(end_s)} at step {_step(ex[-1])}" + (f" (median of the last {w} evals)" if w > 1 else "")
    raw_min = float(ey[jraw])
    shown_pct = 100 * (end_s - raw_min) / raw_min if raw_min > 0 else math.inf
    if rise > 0 and after >= int(p("OVF001", "min_evals_after")):
        if rise > k * noise and rel >= min_rel and train_change < 0:
            findings.append(Finding(
                code="OVF001",
                message=(f"eval loss rose {shown_pct:.0f}% from its minimum {_fmt(raw_min)} at step {_step(ex[jraw])} "
                         f"to {end_desc} while train loss fell {_pct(-train_change)} at the same steps "
                         f"({_fmt(t_min)} → {_fmt(t_end)}); the rise is {sigmas:.0f}× the eval noise ({_fmt(noise, 2)})"),
                hint=("Keep the best checkpoint (load_best_model_at_end with save_steps = eval_steps), stop earlier "
                      "(early stopping), or regularise: more data/augmentation, weight decay, dropout, lower LR."),
                step=float(ex[jraw]), line=_line(ev, eidx[jraw]),
                evidence={"min": float(ey[jraw]), "min_step": _step(ex[jraw]), "end_smoothed": end_s,
                          "rise_pct": shown_pct, "smoothed_rise_pct": 100 * rel, "noise": noise, "rise_in_noise_sds": sigmas,
                          "train_at_min": t_min, "train_at_end": t_end, "evals_after_min": after},
            ))
        else:
            why = []
            if rise <= k * noise:
                why.append(f"{sigmas:.1f}× its noise ({_fmt(noise, 2)}), needs > {k:g}×")
            if rel < min_rel:
                why.append(f"{100 * rel:.1f}% < {100 * min_rel:g}%")
            if train_change >= 0:
                why.append(f"train loss did not fall meanwhile ({100 * train_change:+.0f}%)")
            findings.append(Finding(
                code="OVF003",
                message=(f"eval loss is {shown_pct:.1f}% above its minimum {_fmt(raw_min)} (step {_step(ex[jraw])}) "
                         f"at {end_desc}, {after} evals later; smoothed rise {100 * rel:.1f}%: below the "
                         f"overfitting thresholds ({'; '.join(why)})"),
                hint="Keep the best checkpoint (load_best_model_at_end=True) and watch the next evaluations.",
                step=float(ex[jraw]), line=_line(ev, eidx[jraw]),
                evidence={"min": float(ey[jraw]), "end_smoothed": end_s, "rise_pct": 100 * rel, "noise": noise,
                          "rise_in_noise_sds": sigmas if math.isfinite(sigmas) else None, "evals_after_min": after},
            ))

    # -- OVF002: eval well below train -------------------------------------------------
    half = slice(m // 2, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_below = (train_at[half] - ey[half]) / np.abs(train_at[half])
    rel_below = rel_below[np.isfinite(rel_below)]
    if rel_below.size and float(np.min(ty)) > 0:
        med_below = float(np.median(rel_below))
        facts["eval_below_train_median_pct"] = 100 * med_below
        if med_below >= float(p("OVF002", "min_rel_gap")):
            findings.append(Finding(
                code="OVF002",
                message=(f"eval loss is below the train loss at the same steps over the last {rel_below.size} evals: "
                         f"{_fmt(float(ey[-1]))} vs {_fmt(float(train_at[-1]))} at step {_step(ex[-1])} "
                         f"(median {100 * med_below:.0f}% below)"),
                hint=("Usually dropout/augmentation/label smoothing in training; if those do not explain it, check the "
                      "eval split for overlap with the training data."),
                step=float(ex[-1]), line=_line(ev, eidx[-1]),
                evidence={"median_rel_below": med_below, "evals": int(rel_below.size)},
            ))

    # -- OVF004: the gap, like for like ------------------------------------------------
    prev = ex[-2] if m >= 2 else None
    window = (f"mean of the {int(counts[-1])} train points in ({_step(prev)}, {_step(ex[-1])}]"
              if counts[-1] > 0 and prev is not None else "nearest train point")
    trend_words = ""
    if gap_trend is not None:
        trend_words = (f"; gap {_fmt(float(gap[h0]), 3)} at step {_step(ex[h0])} → {_fmt(float(gap[-1]), 3)}, "
                       f"trend {'+' if gap_trend.slope > 0 else ''}{_fmt(gap_trend.slope * unit, 2)} {_per(unit)} "
                       f"over the last {m - h0} evals")
    eval_words = "eval loss still falling" if eval_falling else "eval loss no longer falling"
    gap_msg = (f"at step {_step(ex[-1])} eval loss {_fmt(float(ey[-1]))} vs train {_fmt(float(train_at[-1]))} "
               f"({window}): gap {_fmt(float(gap[-1]), 3)}{trend_words}; {eval_words}")
    findings.append(Finding(code="OVF004", message=gap_msg, hint="Nothing to fix.", step=float(ex[-1]),
                            line=_line(ev, eidx[-1]),
                            evidence={"gap": float(gap[-1]), "eval": float(ey[-1]), "train": float(train_at[-1]),
                                      "train_points": int(counts[-1])}))
    if run.summary.mean_train_loss is not None:
        facts["mean_train_loss_not_used"] = run.summary.mean_train_loss

    status = _status(findings, settings)
    bad = [f for f in findings if settings.severity_of(f.code).rank >= 1]
    if bad:
        reason = bad[0].message
    else:
        verdict = "not overfitting" if not any(f.code == "OVF003" for f in findings) else "no overfitting beyond noise"
        reason = f"{gap_msg}; {verdict}"
    return CheckResult(check=CHECK, status=status, reason=reason, findings=findings, facts=facts)
