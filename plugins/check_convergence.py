"""Convergence: is the run still learning, converged, stalled, or never learning?

Judged on the eval loss when there are enough evaluations, else on the train
loss, with robust statistics rather than two raw points: a robust start level
(median of the first points), a smoothed end level (the trailing-window line at
the last step), a trend test on the trailing window whose standard error comes
from the curve's own noise, and a power law plus floor fitted to <= 200
log-spaced bin means to estimate where the curve is heading and what more
training would buy.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Run, Severity, Status, hookimpl
from logcheck import stats

CHECK = "convergence"

_DOC_NOT_DECREASING = """\
## What it does
Compares the loss at the start of the run (median of the first points) with the
smoothed loss at the end, against the curve's own point-to-point noise, and
checks whether the learning rate was zero at every logged step.

## Why is this bad
A loss that never falls by more than its own noise means the model is not
learning: a zero or far too small learning rate, frozen parameters, labels that
are all masked, or data that does not match the objective. Every further step
is wasted compute.

## Example
`train loss stayed flat: 2.17 at the start (median of steps 10–50) vs 2.09 at
the end (step 1000), −3.7%, less than 2× its point-to-point noise (0.10)`.

## How to fix
Check that the learning rate is non-zero after warm-up, that the parameters you
mean to train have `requires_grad=True` (for LoRA: the adapters are attached and
enabled), that labels are not all `-100`, and that the loss is computed on the
outputs of the model being optimised.
"""

_DOC_STILL_FAST = """\
## What it does
Looks at the trailing window of the loss curve: fires when the loss is still
falling significantly (Mann-Kendall, one-sided) and about as fast as its average
rate over the whole run, i.e. the curve shows no sign of flattening yet.

## Why is this bad
The run stopped (or was stopped) while it was still improving quickly: the
model is under-trained and a longer schedule would give a clearly better model.

## Example
`eval loss still falling fast at the end: −0.08 per 100 steps over the last 5
evals, 90% of its average rate over the run`.

## How to fix
Train longer (more epochs or `max_steps`), or, if the budget is fixed, use a
schedule that decays to the end of the budget. Resume from the last checkpoint
rather than starting again.
"""

_DOC_NO_IMPROVEMENT = """\
## What it does
Applies early-stopping semantics (Lightning's `EarlyStopping`, Hugging Face's
`EarlyStoppingCallback`) to the eval loss: an evaluation improves on the best so
far when it is lower by more than `min_delta` (absolute, or relative with
`min_delta_mode = "rel"`). Fires when the last `patience` evaluations or more
did not improve.

## Why is this bad
The run kept training after the eval loss stopped improving: the extra steps
cost compute and, when the eval loss then rises, produce a worse final model
unless the best checkpoint is reloaded. On its own a plateau is not a fault (a
converged run has one), so the default severity is `info`; a rise beyond the
eval curve's noise is OVF001, and `severity = { CNV003 = "warning" }` makes
this a gate for runs that should have stopped early.

## Example
`eval loss has not improved for the last 4 evaluations (steps 3843–5490): best
0.4853 at step 3294; last 0.4917`.

## How to fix
Add early stopping (`EarlyStoppingCallback(early_stopping_patience=3)` with
`load_best_model_at_end=True`, or Lightning's `EarlyStopping`), or shorten the
schedule to where the eval loss stopped improving.
"""

_DOC_FORECAST = """\
## What it does
Reports how the loss ends: the slope over the trailing window (with the last
interval), a power law plus floor `L(t) = floor + a·(t+t0)^(−b)` fitted to the
curve, its floor, and what one more epoch (or 10% more steps, when the epoch
length is unknown) would lower the loss by.

## Why is this bad
It is not: this is information. "Flattening" is a feeling; the fitted slope
and floor say how much further training would actually buy.

## Example
`eval loss still falling slowly: −0.012 per 100 steps over the last 4 evals
(last interval 3.666 → 3.657); fitted floor ≈ 3.60; another epoch (264 steps)
≈ −0.014`.

## How to fix
Nothing to fix. Use the forecast to decide whether a longer run is worth it.
"""


@hookimpl
def logcheck_register_rules(register: Any) -> None:
    register(Rule(
        code="CNV001", name="loss-not-decreasing", check=CHECK, severity=Severity.error,
        summary="The loss never fell by more than its own noise (or the learning rate was zero throughout).",
        doc=_DOC_NOT_DECREASING,
        params={
            "min_rel_drop": Param(default=0.01, doc="a drop smaller than this fraction of the start level counts as no drop"),
            "noise_multiple": Param(default=2.0, doc="a drop smaller than this many standard errors of the start and end levels counts as no drop"),
            "min_eval_points": Param(default=4, doc="judge the eval loss when it has at least this many finite points, else the train loss"),
        },
    ))
    register(Rule(
        code="CNV002", name="still-improving-fast", check=CHECK, severity=Severity.warning,
        summary="The loss was still falling fast (no flattening) when the run ended.",
        doc=_DOC_STILL_FAST,
        params={
            "tail_fraction": Param(default=0.25, doc="share of the points (at least 4) in the trailing window"),
            "alpha": Param(default=0.05, doc="one-sided significance level of the trailing-window trend test"),
            "fast_ratio": Param(default=0.5, doc="end slope / average slope over the run at or above which the fall counts as fast"),
            "min_rel_gain": Param(default=0.01, doc="and 10% more steps at the end slope must lower the loss by at least this fraction"),
        },
    ))
    register(Rule(
        code="CNV003", name="no-improvement", check=CHECK, severity=Severity.info,
        summary="The eval loss did not improve for `patience` evaluations (early stopping would have stopped).",
        doc=_DOC_NO_IMPROVEMENT,
        params={
            "patience": Param(default=3, doc="evaluations without improvement before it fires (as EarlyStopping's patience)"),
            "min_delta": Param(default=0.0, doc="an improvement must beat the best by more than this"),
            "min_delta_mode": Param(default="abs", doc='"abs": min_delta in loss units (Lightning, HF); "rel": a fraction of the best'),
        },
    ))
    register(Rule(
        code="CNV004", name="convergence-forecast", check=CHECK, severity=Severity.info,
        summary="How the loss ends: trailing slope, fitted floor, and what more training would buy.",
        doc=_DOC_FORECAST,
        params={},
    ))


# ---------------------------------------------------------------------------


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


def _slope_unit(span: float) -> int:
    """A round number of steps to express slopes in (100 for a 600-step window)."""
    return int(10 ** max(0, math.floor(math.log10(max(span, 10.0) / 5.0))))


def looks_like_rl_objective(run: Run) -> bool:
    """GRPO/PPO/DPO-style runs log rewards or KL; their 'loss' is not a likelihood that should fall."""
    for key in run.series:
        name = key.split("/", 1)[1] if "/" in key else key
        if name in ("reward", "kl", "reward_std", "rewards") or name.startswith(("rewards/", "reward/", "completions/")):
            return True
        if "pg_loss" in name or name.startswith(("objective/", "policy/")):
            return True
    return False


def steps_per_epoch(run: Run) -> Optional[float]:
    """From the config, else from the step/epoch columns, else max_steps / epochs."""
    cfg = run.config
    if cfg.steps_per_epoch:
        return float(cfg.steps_per_epoch)
    for s in (run.train_loss, run.eval_loss):
        if s is None:
            continue
        ok = np.isfinite(s.epoch) & np.isfinite(s.step) & (s.epoch > 0)
        if ok.sum() >= 2:
            e, st = s.epoch[ok], s.step[ok]
            de = float(e[-1] - e[0])
            if de > 0.05:
                return float(st[-1] - st[0]) / de
    max_steps = cfg.max_steps or run.summary.max_steps
    epochs = cfg.num_train_epochs or run.summary.epochs
    if max_steps and epochs:
        return float(max_steps) / float(epochs)
    return None


def _drop_is_noise(x: np.ndarray, y: np.ndarray, min_rel: float, mult: float) -> bool:
    """True when the curve's fall from its start to its end is not distinguishable from noise.

    Two starts are tried, each against its own standard error: the median of the
    first points (SE 1.25 sd/sqrt(k)) and the first logged point alone (SE = sd),
    so both a slow steady fall and a fall inside the first few points count. The
    end is the trailing-window line at the last step (SE ~ 2 sd/sqrt(m)). The fall
    must also reach ``min_rel`` of the start.
    """
    n = y.size
    k = int(min(max(3, math.ceil(0.05 * n)), max(1, n // 3)))
    tail = _tail(n, 0.25)
    end, _ = _end_level(x, y, tail)
    sd = stats.point_noise(y if n <= 200_000 else y[:: n // 200_000 + 1])
    se_end = 2.0 * sd / math.sqrt(tail)
    start = float(np.median(y[:k]))
    for level, se in ((start, 1.2533 * sd / math.sqrt(k)), (float(y[0]), sd)):
        drop = level - end
        if drop > mult * math.hypot(se, se_end) and drop >= min_rel * abs(level):
            return False
    return True


def _resumed_log(run: Run) -> Optional[float]:
    """The first train step when the log starts far into a run (a resumed segment), else None."""
    tr = run.train_loss
    if tr is None or len(tr) < 3:
        return None
    st = tr.step[np.isfinite(tr.step)]
    if st.size < 3:
        return None
    d = np.diff(st)
    d = d[d > 0]
    if not d.size:
        return None
    first, last = float(st[0]), float(np.max(st))
    if first > 10 * float(np.median(d)) and first > 0.1 * last:
        return first
    return None


def _tail(n: int, fraction: float) -> int:
    return int(min(n, max(4, math.ceil(fraction * n))))


def _status(findings: list[Finding], settings: Any) -> Status:
    worst = -1
    for f in findings:
        worst = max(worst, settings.severity_of(f.code).rank)
    return Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_


def _end_level(x: np.ndarray, y: np.ndarray, tail: int) -> tuple[float, Optional[stats.Trend]]:
    """Smoothed value at the last step: the trailing line, kept inside the tail's range."""
    tr = stats.trend(x[-tail:], y[-tail:])
    if tr is None:
        return float(np.median(y[-min(3, y.size):])), None
    lo, hi = float(np.min(y[-tail:])), float(np.max(y[-tail:]))
    return float(min(max(tr.end_value, lo), hi)), tr


@hookimpl
def logcheck_check(run: Run, settings: Any) -> CheckResult:
    p = lambda code, name: settings.param(code, name)  # noqa: E731
    min_eval = int(p("CNV001", "min_eval_points"))
    train, ev = run.train_loss, run.eval_loss
    n_eval = int(np.isfinite(ev.value).sum()) if ev is not None else 0
    n_train = int(np.isfinite(train.value).sum()) if train is not None else 0

    if n_eval >= min_eval:
        series, what = ev, "eval loss"
    elif n_train >= 5:
        series, what = train, "train loss"
    else:
        return CheckResult(check=CHECK, status=Status.skip,
                           reason=f"not enough loss points to judge: {n_train} train, {n_eval} eval "
                                  f"(needs >= {min_eval} eval or >= 5 train)",
                           facts={"train_points": n_train, "eval_points": n_eval})

    x, y, idx = stats.sorted_by_x(*stats.finite_xy(series.step, series.value))
    if float(y.min()) <= 0 or (series is train and looks_like_rl_objective(run)):
        why = ("the run logs rewards/KL (an RL objective such as GRPO/PPO)" if looks_like_rl_objective(run)
               else f"{what} reaches {_fmt(float(y.min()))} <= 0")
        return CheckResult(check=CHECK, status=Status.skip,
                           reason=f"{what} is not a likelihood loss that should fall: {why}",
                           facts={"points": int(y.size), "min": float(y.min())})

    n = y.size
    findings: list[Finding] = []
    facts: dict[str, Any] = {"series": what, "points": n}

    k0 = int(min(max(3, math.ceil(0.05 * n)), max(1, n // 3)))
    start_level = float(np.median(y[:k0]))
    tail = _tail(n, float(p("CNV002", "tail_fraction")))
    end_level, tail_trend = _end_level(x, y, tail)
    noise = stats.point_noise(y if n <= 200_000 else y[:: n // 200_000 + 1])
    first_i, last_i = int(idx[0]), int(idx[-1])
    best_j = int(np.argmin(y))
    span = float(x[-1] - x[0])
    unit = _slope_unit(span)

    facts.update({
        "first": {"step": _step(x[0]), "value": float(y[0]), "line": int(series.line[first_i]) or None},
        "last": {"step": _step(x[-1]), "value": float(y[-1]), "line": int(series.line[last_i]) or None},
        "start_level": start_level, "start_points": k0,
        "end_level": end_level, "tail_points": tail,
        "best": {"step": _step(x[best_j]), "value": float(y[best_j]), "line": int(series.line[idx[best_j]]) or None},
        "point_noise": noise,
        "change_pct_first_to_end": 100.0 * (end_level - float(y[0])) / abs(float(y[0])),
    })

    # Like-for-like train figures (first logged vs smoothed end; never the run mean).
    train_sentence = ""
    if train is not None and n_train >= 5:
        tx, ty, _ = stats.finite_xy(train.step, train.value)
        if float(ty.min()) > 0:
            t_end, _ = _end_level(tx, ty, _tail(ty.size, 0.25))
            pct = 100.0 * (float(ty[0]) - t_end) / float(ty[0])
            facts["train"] = {"first": float(ty[0]), "first_step": _step(tx[0]), "end_smoothed": t_end,
                              "end_step": _step(tx[-1]), "pct_below_first": pct}
            word = "below" if pct >= 0 else "above"
            shown = f"{abs(pct):.1f}" if abs(pct) >= 95 or abs(pct) < 10 else f"{abs(pct):.0f}"
            train_sentence = (f"train loss ends {shown}% {word} its first logged value "
                              f"({_fmt(float(ty[0]))} at step {_step(tx[0])} → {_fmt(t_end)} smoothed at step {_step(tx[-1])})")
        del tx, ty, _
    if run.summary.mean_train_loss is not None:
        facts["mean_train_loss_is_run_mean"] = run.summary.mean_train_loss

    # -- CNV001: never fell ----------------------------------------------------
    lr = run.get("learning_rate")
    lr_zero = False
    if lr is not None:
        lv = lr.value[np.isfinite(lr.value)]
        lr_zero = lv.size >= 2 and bool(np.all(lv == 0.0)) and float(np.nanmax(lr.step) - np.nanmin(lr.step)) > 0
    min_rel = float(p("CNV001", "min_rel_drop"))
    mult = float(p("CNV001", "noise_multiple"))
    flat = _drop_is_noise(x, y, min_rel, mult)
    if flat and series is ev and train is not None and n_train >= 5:
        # Eval flat but train clearly fell: converged before the first eval, not "never learning".
        tx, ty, _ = stats.finite_xy(train.step, train.value)
        if float(ty.min()) > 0 and not _drop_is_noise(tx, ty, min_rel, mult):
            flat = False
            facts["eval_flat_train_fell"] = True
        del tx, ty, _
    resumed_at = _resumed_log(run)
    if flat and resumed_at is not None and not lr_zero:
        # The log is a segment that starts mid-run: a flat loss there is not "never learned".
        flat = False
        facts["resumed_log_starts_at"] = resumed_at
    not_decreasing = flat or lr_zero
    if not_decreasing:
        rel = 100.0 * (end_level - start_level) / abs(start_level)
        if lr_zero:
            msg = (f"the learning rate is 0 at all {int(np.isfinite(lr.value).sum())} logged steps "
                   f"(steps {_step(np.nanmin(lr.step))}–{_step(np.nanmax(lr.step))}); {what} went from "
                   f"{_fmt(start_level)} to {_fmt(end_level)} ({rel:+.1f}%)")
            hint = "Set a non-zero learning rate (check the scheduler, warm-up length and optimizer param groups)."
        elif end_level > start_level + mult * noise:
            msg = (f"{what} rose instead of falling: {_fmt(start_level)} at the start (median of the first {k0} points, "
                   f"from step {_step(x[0])}) vs {_fmt(end_level)} at the end (step {_step(x[-1])}), {rel:+.1f}%; "
                   f"best {_fmt(float(y[best_j]))} at step {_step(x[best_j])}")
            hint = "Lower the learning rate (or add warm-up / gradient clipping) and check the data pipeline."
        elif series is ev and "train" in facts and facts["train"]["pct_below_first"] < 0:
            msg = (f"neither loss fell: eval loss {_fmt(start_level)} at the start (median of the first {k0} evals, "
                   f"from step {_step(x[0])}) vs {_fmt(end_level)} at the end (step {_step(x[-1])}), {rel:+.1f}%, "
                   f"within {mult:g} standard errors (point-to-point sd {_fmt(noise, 2)}); best {_fmt(float(y[best_j]))} "
                   f"at step {_step(x[best_j])}; {train_sentence}")
            hint = "Lower the learning rate (or add warm-up / gradient clipping) and check the data pipeline."
        else:
            msg = (f"{what} stayed flat: {_fmt(start_level)} at the start (median of the first {k0} points, "
                   f"from step {_step(x[0])}) vs {_fmt(end_level)} at the end (step {_step(x[-1])}), {rel:+.1f}%, "
                   f"not distinguishable from its noise (point-to-point sd {_fmt(noise, 2)}, {mult:g} standard errors) "
                   f"or under {100 * min_rel:g}% of the start")
            hint = ("Check that the learning rate is non-zero after warm-up, that the trained parameters "
                    "have requires_grad (LoRA adapters attached and enabled) and that labels are not all masked.")
        findings.append(Finding(code="CNV001", message=msg, hint=hint, step=float(x[-1]),
                                line=int(series.line[last_i]) or None,
                                evidence={"start_level": start_level, "end_level": end_level, "noise": noise,
                                          "change_pct": rel, "learning_rate_zero": lr_zero}))

    # -- trailing trend and fit ---------------------------------------------------
    fit = None
    forecast: dict[str, Any] = {}
    if tail_trend is not None:
        facts["tail_trend"] = {"slope_per_unit": tail_trend.slope * unit, "unit_steps": unit,
                               "t": tail_trend.t, "tau": tail_trend.tau, "p_down": tail_trend.p_down,
                               "from_step": _step(x[-tail]), "to_step": _step(x[-1])}
    # A fit only means something on a curve that is still decaying at the end.
    if not not_decreasing and n >= 4 and tail_trend is not None and tail_trend.slope < 0:
        fit = stats.fit_power_law_floor(x, y)
        if fit is not None and fit.b >= 2.9:
            fit = None  # the exponent ran to the edge of its range: no power law describes this curve
    spe = steps_per_epoch(run)
    if spe and float(x[-1]) < 0.99 * spe:
        spe = None  # the run is shorter than an epoch: "another epoch" would more than double it
    if fit is not None:
        horizon = spe if spe else 0.1 * float(x[-1])
        gain = fit.gain(float(x[-1]), horizon)
        forecast = {"floor": fit.floor, "a": fit.a, "b": fit.b, "t0": fit.t0, "rmse": fit.rmse,
                    "slope_at_end_per_unit": fit.slope_at(float(x[-1])) * unit,
                    "horizon_steps": horizon, "gain": gain, "steps_per_epoch": spe}
        facts["fit"] = forecast

    # -- CNV002: still falling fast ------------------------------------------------
    alpha = float(p("CNV002", "alpha"))
    falling = tail_trend is not None and tail_trend.p_down < alpha and tail_trend.slope < 0
    mean_slope = (end_level - start_level) / span if span > 0 else 0.0
    ratio = 0.0
    fast_ratio = float(p("CNV002", "fast_ratio"))
    if falling and not not_decreasing and mean_slope < 0:
        ratio = tail_trend.slope / mean_slope
        gain10 = -tail_trend.slope * 0.1 * float(x[-1]) / abs(end_level)
        facts["tail_vs_mean_slope"] = ratio
        # With 4 points Mann-Kendall cannot go below p = 0.045: a warning needs at least 5.
        if tail >= 5 and ratio >= fast_ratio and gain10 >= float(p("CNV002", "min_rel_gain")):
            findings.append(Finding(
                code="CNV002",
                message=(f"{what} still falling fast at the end: {_fmt(tail_trend.slope * unit, 3)} {_per(unit)} over "
                         f"the last {tail} points (steps {_step(x[-tail])}–{_step(x[-1])}, one-sided p={tail_trend.p_down:.3g}), "
                         f"{100 * ratio:.0f}% of its average rate over the run; 10% more steps at that rate ≈ "
                         f"−{100 * gain10:.1f}%"),
                hint="Train longer (more epochs / max_steps) or resume from the last checkpoint; the curve has not flattened.",
                step=float(x[-1]), line=int(series.line[last_i]) or None,
                evidence={"slope_per_unit": tail_trend.slope * unit, "unit_steps": unit, "p_down": tail_trend.p_down,
                          "ratio_to_mean_slope": ratio, "rel_gain_10pct": gain10},
            ))

    # -- CNV003: no improvement for `patience` evaluations ---------------------------
    if series is ev and not not_decreasing:
        patience = int(p("CNV003", "patience"))
        min_delta = float(p("CNV003", "min_delta"))
        rel_mode = str(p("CNV003", "min_delta_mode")).lower().startswith("rel")
        best_v, best_k, wait = float(y[0]), 0, 0
        for k in range(1, n):
            v = float(y[k])
            better = v < best_v * (1.0 - min_delta) if rel_mode else v < best_v - min_delta
            if better:
                best_v, best_k, wait = v, k, 0
            else:
                wait += 1
        facts["evals_since_best"] = wait
        # A curve that is still significantly falling over the trailing window is not stalled, however
        # often its noisy single evaluations fail to beat the best (many evals, min_delta 0).
        if wait >= patience and not falling:
            stop_k = best_k + patience
            findings.append(Finding(
                code="CNV003",
                message=(f"eval loss has not improved for the last {wait} evaluations (steps {_step(x[best_k + 1])}–"
                         f"{_step(x[-1])}): best {_fmt(best_v)} at step {_step(x[best_k])}"
                         + (f" (line {int(series.line[idx[best_k]])})" if int(series.line[idx[best_k]]) else "")
                         + f"; last {_fmt(float(y[-1]))} ({100 * (float(y[-1]) - best_v) / best_v:+.1f}%). "
                         f"Early stopping with patience {patience} would have stopped at step {_step(x[stop_k])}"),
                hint=("Add early stopping (EarlyStoppingCallback / Lightning EarlyStopping) with "
                      "load_best_model_at_end=True, or shorten the schedule."),
                step=float(x[best_k]), line=int(series.line[idx[best_k]]) or None,
                evidence={"best": best_v, "best_step": _step(x[best_k]), "evals_since_best": wait,
                          "last": float(y[-1]), "patience": patience, "min_delta": min_delta},
            ))

    # -- CNV004: forecast (info) -------------------------------------------------------
    reason_tail = ""
    if not not_decreasing and tail_trend is not None:
        last_step_sz = float(x[-1] - x[-2]) if n >= 2 else 0.0
        last_iv = f"last interval {_fmt(float(y[-2]))} → {_fmt(float(y[-1]))}" if n >= 2 else ""
        speed = "fast" if ratio >= fast_ratio else "slowly"
        if falling:
            head = (f"{what} still falling {speed} at the end: {_fmt(tail_trend.slope * unit, 2)} {_per(unit)} over the "
                    f"last {tail} points (steps {_step(x[-tail])}–{_step(x[-1])}, {last_iv} over {_step(last_step_sz)} steps)")
        else:
            head = (f"{what} has flattened: no significant downward trend over the last {tail} points "
                    f"(steps {_step(x[-tail])}–{_step(x[-1])}, slope {_fmt(tail_trend.slope * unit, 2)} {_per(unit)}, "
                    f"one-sided p={tail_trend.p_down:.2g})")
        if forecast:
            horizon = forecast["horizon_steps"]
            hw = (f"another epoch ({_step(round(horizon))} steps)" if spe
                  else f"another {_step(round(horizon))} steps")
            head += (f"; fitted floor ≈ {_fmt(forecast['floor'], 3)} (power law + floor, b={forecast['b']:.2f}); "
                     f"{hw} ≈ {_fmt(forecast['gain'], 2)}")
        if "resumed_log_starts_at" in facts:
            head += (f"; the log starts at step {_step(facts['resumed_log_starts_at'])} (a resumed run), so how much "
                     f"the run learned before that is not in it")
        findings.append(Finding(
            code="CNV004", message=head,
            hint=("Nothing to fix; a longer run would buy about the forecast gain." if falling else
                  "Nothing to fix; more steps at this learning rate would buy little."),
            step=float(x[-1]), line=int(series.line[last_i]) or None,
            evidence={k: v for k, v in {**forecast, "tail_slope_per_unit": tail_trend.slope * unit,
                                          "unit_steps": unit, "p_down": tail_trend.p_down}.items()
                      if isinstance(v, (int, float)) or v is None},
        ))
        reason_tail = head

    status = _status(findings, settings)
    change = 100.0 * (float(y[0]) - end_level) / abs(float(y[0]))
    verb = "fell" if change >= 0 else "rose"
    best_v = float(y[best_j])
    smoothed = ", smoothed" if series is train else ""
    if best_j < n - 1 and end_level - best_v > max(2.0 * noise, 0.01 * abs(best_v)) and best_v < float(y[0]):
        # The curve bottomed out and came back up: start-to-end alone would hide that.
        summary = (f"{what} fell {100.0 * (float(y[0]) - best_v) / abs(float(y[0])):.1f}% from {_fmt(float(y[0]))} "
                   f"(step {_step(x[0])}) to its best {_fmt(best_v)} (step {_step(x[best_j])}), then rose to "
                   f"{_fmt(end_level)} (step {_step(x[-1])}{smoothed})")
    else:
        summary = (f"{what} {verb} {abs(change):.1f}% from {_fmt(float(y[0]))} (step {_step(x[0])}) "
                   f"to {_fmt(end_level)} (step {_step(x[-1])}{smoothed})")
    facts["headline"] = summary
    parts = [summary]
    bad = [f for f in findings if settings.severity_of(f.code).rank >= 1]
    if train_sentence and series is not train and not (bad and train_sentence in bad[0].message):
        parts.append(train_sentence)
    if bad:
        parts.append(bad[0].message)
    elif reason_tail:
        parts.append(reason_tail)
    return CheckResult(check=CHECK, status=status, reason="; ".join(parts), findings=findings, facts=facts)
