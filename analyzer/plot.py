"""Loss curves with the findings drawn where they happen (``--plot``, and the images of ``--html``).

matplotlib is the optional ``plot`` extra: it is imported inside functions only,
and figures are drawn on an Agg canvas without pyplot, so no global backend or
figure registry is touched.

The plot never re-derives a verdict. What a check concluded comes from its
``CheckResult.facts`` and its findings' ``evidence``; the plot only places them:
the eval minimum and the rise after it (overfitting), spikes, the restored
checkpoint, the fitted convergence curve and its floor. Non-finite values are
data and are marked at the top edge where they were logged.

Large runs are reduced for drawing only: per pixel column, the min/max envelope
of the raw points and their mean (the analysis always sees every point).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from .errors import MissingExtraError, UsageError
from .findings import Finding, Severity, Status
from .records import Run, Series
from .report import Report, RunReport, ordered_results, worst_status

#: Columns a curve is reduced to before drawing: about the figure's width in pixels.
PIXEL_COLUMNS = 1400
#: Below this many points a curve is drawn point by point.
RAW_LIMIT = 2 * PIXEL_COLUMNS
#: Eval points get a marker each up to this many.
EVAL_MARKER_LIMIT = 300
#: Vertical lines for findings the plot has no special drawing for, at most.
MAX_GENERIC_MARKS = 12
SUFFIXES = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

VERDICT_COLOR = {"FAIL": "#c62828", "WARN": "#e65100", "PASS": "#2e7d32", "NOTHING TO JUDGE": "#616161",
                 "NOT CHECKED": "#616161"}
TRAIN_COLOR = "#1f77b4"
EVAL_COLOR = "#ff7f0e"
ALERT_COLOR = "#c62828"
FIT_COLOR = "#6a1b9a"
# One colour per run when several runs share the axes.
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")

# Throughput series, in the order the throughput check prefers them: (name, axis label, scale).
THROUGHPUT_SERIES = (
    ("tokens_per_second", "tokens/s", 1.0),
    ("tokens_per_sec", "tokens/s", 1.0),
    ("samples_per_second", "samples/s", 1.0),
    ("samples_per_sec", "samples/s", 1.0),
    ("steps_per_second", "steps/s", 1.0),
    ("steps_per_sec", "steps/s", 1.0),
    ("step_time_ms", "ms/step", 1.0),
    ("step_time_s", "s/step", 1.0),
)


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    return matplotlib


# ---------------------------------------------------------------------------
# Reducing a curve for drawing
# ---------------------------------------------------------------------------


@dataclass
class Envelope:
    """A curve reduced to drawing columns: per column the step, min, max, mean and finite count."""

    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    count: np.ndarray
    reduced: bool  # False: one column per point (small curves)


def envelope(step: np.ndarray, value: np.ndarray, columns: int = PIXEL_COLUMNS) -> Envelope:
    """Min/max/mean of ``value`` per column of the step axis; O(n), vectorised.

    Columns split the step range evenly when steps are sorted (the usual case), else the
    point index. Curves with at most ``2 * columns`` points are returned point by point.
    """
    step = np.asarray(step, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    finite = np.isfinite(value)
    n = value.shape[0]
    if n <= 2 * columns:
        v = np.where(finite, value, np.nan)
        return Envelope(step, v, v, v, finite.astype(np.int64), reduced=False)
    ok_steps = np.isfinite(step)
    if ok_steps.all() and np.all(step[1:] >= step[:-1]) and step[-1] > step[0]:
        starts = np.searchsorted(step, np.linspace(step[0], step[-1], columns + 1)[:-1], side="left")
    else:
        starts = np.linspace(0, n, columns + 1).astype(np.int64)[:-1]
    starts = np.unique(starts[starts < n])
    widths = np.diff(np.append(starts, n))
    v = np.where(finite, value, np.nan)
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(v, starts)
        hi = np.fmax.reduceat(v, starts)
    total = np.add.reduceat(np.where(finite, value, 0.0), starts)
    count = np.add.reduceat(finite.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    x = np.add.reduceat(np.where(ok_steps, step, 0.0), starts) / widths
    return Envelope(x, lo, hi, mean, count, reduced=True)


def smoothed(env: Envelope) -> Optional[np.ndarray]:
    """A centred, count-weighted moving mean over the columns (for the eye only); None for short curves."""
    m = env.x.shape[0]
    if m < 10:
        return None
    w = max(3, m // 30) | 1  # odd
    weights = env.count.astype(np.float64)
    sums = np.where(env.count > 0, env.mean, 0.0) * weights
    kernel = np.ones(w)
    s = np.convolve(sums, kernel, mode="same")
    c = np.convolve(weights, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1e-300), np.nan)


def _thin_steps(steps: np.ndarray, limit: int = 2000) -> np.ndarray:
    """At most ``limit`` distinct positions (markers closer than a pixel are one marker)."""
    steps = steps[np.isfinite(steps)]
    if steps.size <= limit:
        return steps
    lo, hi = float(steps.min()), float(steps.max())
    if hi <= lo:
        return steps[:1]
    cols = np.unique(np.round((steps - lo) / (hi - lo) * limit))
    return lo + cols / limit * (hi - lo)


# ---------------------------------------------------------------------------
# What the checks concluded (read, never recomputed)
# ---------------------------------------------------------------------------


def verdict_word(rr: RunReport) -> str:
    if not rr.run.has_metrics():
        return "NOTHING TO JUDGE"
    return {Status.fail: "FAIL", Status.warn: "WARN", Status.pass_: "PASS", Status.skip: "NOT CHECKED"}[
        worst_status(rr.results)]


def verdict_line(rr: RunReport) -> str:
    """``FAIL: overfitting, stability`` — the verdict and the checks behind it."""
    word = verdict_word(rr)
    results = ordered_results(rr)
    worst = worst_status(results)
    if worst in (Status.fail, Status.warn):
        return f"{word}: " + ", ".join(r.check for r in results if r.status == worst)
    return word


def _facts(rr: RunReport, check: str) -> dict[str, Any]:
    r = rr.result(check)
    return r.facts if r is not None else {}


def _finding(rr: RunReport, code: str) -> Optional[Finding]:
    for f in rr.findings:
        if f.code == code:
            return f
    return None


def _num(x: Any) -> Optional[float]:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(x: Optional[float]) -> str:
    if x is None:
        return "?"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _fmt_step(x: Any) -> str:
    v = _num(x)
    if v is None:
        return "?"
    return f"{int(v):,}" if v.is_integer() else f"{v:g}"


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def _panels_for(runs: list[Run]) -> list[str]:
    panels = ["loss"]
    if any(r.get("learning_rate") is not None for r in runs):
        panels.append("learning_rate")
    if any(r.get("grad_norm") is not None for r in runs):
        panels.append("grad_norm")
    if any(_throughput_series(r) is not None for r in runs):
        panels.append("throughput")
    return panels


def _throughput_series(run: Run) -> Optional[tuple[Series, str]]:
    for name, label, _ in THROUGHPUT_SERIES:
        s = run.get(name)
        if s is not None and int(np.isfinite(s.value).sum()) >= 2:
            return s, label
    return None


def _draw_curve(ax: Any, s: Series, color: str, label: str, *, raw_alpha: float = 0.3,
                smooth: bool = True, markers: bool = False, lw: float = 1.6,
                label_raw: bool = True) -> Optional[Envelope]:
    env = envelope(s.step, s.value)
    if not env.x.size:
        return None
    sm = smoothed(env) if smooth else None
    if env.reduced:
        ax.fill_between(env.x, env.lo, env.hi, color=color, alpha=raw_alpha * 0.8, linewidth=0,
                        label=f"{label} (min–max per pixel)" if sm is not None and label_raw else None)
        if sm is None:
            ax.plot(env.x, env.mean, color=color, lw=lw, label=label)
    elif markers:
        ax.plot(env.x, env.mean, color=color, lw=lw, marker="o" if env.x.size <= EVAL_MARKER_LIMIT else None,
                ms=4.5, label=label)
        return env
    elif sm is not None:
        ax.plot(env.x, env.mean, color=color, lw=0.8, alpha=raw_alpha, label=f"{label} (raw)" if label_raw else None)
    else:
        ax.plot(env.x, env.mean, color=color, lw=lw, marker="." if env.x.size <= 60 else None, label=label)
    if sm is not None:
        ax.plot(env.x, sm, color=color, lw=lw, label=f"{label} (smoothed)")
    return env


def _mark_non_finite(ax: Any, series: Iterable[Optional[Series]], label: bool) -> int:
    """An ``x`` at the top edge at each step a drawn series logged NaN/inf."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    total = 0
    for s in series:
        if s is None:
            continue
        bad = ~np.isfinite(s.value)
        n = int(bad.sum())
        if not n:
            continue
        xs = _thin_steps(s.step[bad])
        ax.plot(xs, np.full(xs.shape, 0.97), linestyle="none", marker="x", color=ALERT_COLOR, ms=6, mew=1.6,
                transform=trans, clip_on=False, zorder=6,
                label=(plain(f"non-finite {s.split.value} {s.name} ({n:,})") if label else None))
        total += n
    return total


_OFF_SCALE = 1e300  # drawn as off the axes, like inf: matplotlib's transforms fail on ranges near 1e308


def _robust_ylim(values: list[np.ndarray], log: bool) -> Optional[tuple[float, float]]:
    arrs = [v[np.isfinite(v) & (np.abs(v) < _OFF_SCALE)] for v in values if v is not None and v.size]
    arrs = [a[a > 0] if log else a for a in arrs]
    arrs = [a for a in arrs if a.size]
    if not arrs:
        return None
    allv = np.concatenate(arrs)
    lo, hi = float(allv.min()), float(allv.max())
    if log:
        lim = (lo / 1.15, hi * 1.15)
    else:
        pad = (hi - lo) * 0.06 or abs(hi) * 0.05 or 1.0
        lim = (lo - pad, hi + pad)
    if not (math.isfinite(lim[0]) and math.isfinite(lim[1])):
        lim = (lo, hi)  # values near the largest float (1e308): no room for a margin
    return lim if lim[0] < lim[1] else None


def _central(arrays: list[np.ndarray], tail: float = 0.5) -> np.ndarray:
    """The per-column extremes without the top and bottom ``tail`` percent of columns.

    On a reduced curve a handful of spikes would otherwise set the y range and flatten the
    curve; they stay marked (the spike markers sit at the top edge when off the axes).
    """
    arrs = [a[np.isfinite(a)] for a in arrays if a is not None and a.size]
    arrs = [a for a in arrs if a.size]
    if not arrs:
        return np.empty(0)
    allv = np.concatenate(arrs)
    return np.percentile(allv, [tail, 100 - tail])


def _wants_log(values: list[np.ndarray]) -> bool:
    arrs = [v[np.isfinite(v)] for v in values if v is not None and v.size]
    if not arrs:
        return False
    allv = np.concatenate(arrs)
    if allv.size < 2 or float(allv.min()) <= 0:
        return False
    lo, hi = np.percentile(allv, [1, 99.9])
    return hi / lo > 30


def _epoch_axis(ax: Any, run: Run) -> None:
    """Epochs on a secondary x axis at the top, when the log gives them and they are not the step."""
    for s in (run.train_loss, run.eval_loss, *run.series.values()):
        if s is None or not len(s):
            continue
        ok = np.isfinite(s.epoch) & np.isfinite(s.step)
        if int(ok.sum()) < 2:
            continue
        st, ep = s.step[ok], s.epoch[ok]
        order = np.argsort(st, kind="stable")
        st, ep = st[order], np.maximum.accumulate(ep[order])
        keep = np.concatenate([[True], np.diff(st) > 0])
        st, ep = st[keep], ep[keep]
        if st.size < 2 or ep[-1] <= ep[0] or np.allclose(st, ep):
            continue
        slope = (ep[-1] - ep[0]) / (st[-1] - st[0])

        def to_epoch(x: Any, st=st, ep=ep, slope=slope) -> Any:
            x = np.asarray(x, dtype=np.float64)
            y = np.interp(x, st, ep)
            y = np.where(x < st[0], ep[0] + (x - st[0]) * slope, y)
            return np.where(x > st[-1], ep[-1] + (x - st[-1]) * slope, y)

        ep_u, idx = np.unique(ep, return_index=True)
        st_u = st[idx]

        def to_step(e: Any, st_u=st_u, ep_u=ep_u, slope=slope) -> Any:
            e = np.asarray(e, dtype=np.float64)
            if ep_u.size < 2:
                return st_u[0] + (e - ep_u[0]) / slope
            y = np.interp(e, ep_u, st_u)
            y = np.where(e < ep_u[0], st_u[0] + (e - ep_u[0]) / slope, y)
            return np.where(e > ep_u[-1], st_u[-1] + (e - ep_u[-1]) / slope, y)

        sec = ax.secondary_xaxis("top", functions=(to_epoch, to_step))
        sec.set_xlabel("epoch", fontsize=9)
        sec.tick_params(labelsize=8)
        return


def _annotate(ax: Any, text: str, xy: tuple[float, float], color: str, offset: tuple[int, int] = (10, 14)) -> None:
    lo, hi = ax.get_ylim()
    x, y = xy
    if not (math.isfinite(x) and math.isfinite(y)):
        return
    xy = (x, min(max(y, min(lo, hi)), max(lo, hi)))  # a label for a point off the axes sits on its edge
    ax.annotate(text, xy=xy, xytext=offset, textcoords="offset points", fontsize=8, color=color,
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.8},
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "lw": 0.6, "alpha": 0.9}, zorder=8)


def _draw_findings(ax: Any, rr: RunReport, axes: dict[str, Any], detail: bool, color: Optional[str] = None) -> set[str]:
    """Draw what the checks concluded; returns the finding codes drawn."""
    from matplotlib.transforms import blended_transform_factory

    drawn: set[str] = set()
    run = rr.run
    top = blended_transform_factory(ax.transData, ax.transAxes)
    c_alert = color or ALERT_COLOR

    # -- overfitting: the eval minimum and the rise after it ---------------------------------
    ovf = _facts(rr, "overfitting")
    emin = ovf.get("eval_min") if isinstance(ovf.get("eval_min"), dict) else None
    el = run.eval_loss
    last_eval = float(el.step[np.isfinite(el.step)].max()) if el is not None and np.isfinite(el.step).any() else None
    for code, shade, what in (("OVF001", 0.10, "overfitting"), ("OVF003", 0.06, "eval above its minimum (within noise)")):
        f = _finding(rr, code)
        if f is None:
            continue
        start = _num(f.evidence.get("min_step", f.step))
        if start is None or last_eval is None:
            continue
        col = ALERT_COLOR if code == "OVF001" else "#ef6c00"
        ax.axvspan(start, max(last_eval, start), color=col, alpha=shade, lw=0, zorder=0,
                   label=(f"{what} from step {_fmt_step(start)} ({code})" if detail else None))
        if detail:
            rise = _num(f.evidence.get("rise_pct"))
            words = f"eval loss +{rise:.0f}% since its minimum" if rise is not None else what
            ax.text(0.5 * (start + max(last_eval, start)), 0.90, f"{code}: {words}", transform=top,
                    ha="center", va="top", fontsize=9, color=col, fontweight="bold", zorder=8,
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": col, "lw": 0.8, "alpha": 0.9})
        drawn.add(code)
    if emin is not None and _num(emin.get("step")) is not None and _num(emin.get("value")) is not None:
        x, y = float(emin["step"]), float(emin["value"])
        ax.plot([x], [y], marker="*", ms=15, color=color or "#fbc02d", mec="black", mew=0.8, zorder=7,
                linestyle="none", label=(f"eval minimum {_fmt(y)} (step {_fmt_step(x)})" if detail else None))
        for f in rr.findings:
            if f.code == "CNV003" and f.step is not None and float(f.step) == x:
                drawn.add("CNV003")  # "no improvement since the best eval": the star marks that step
    gap = _finding(rr, "OVF004")
    if gap is not None and detail:
        x, ye, yt, g = (_num(v) for v in (gap.step, gap.evidence.get("eval"), gap.evidence.get("train"),
                                          gap.evidence.get("gap")))
        if None not in (x, ye, yt, g) and all(math.isfinite(v) for v in (x, ye, yt)):
            # The generalization gap at the last eval, like for like (train mean since the previous eval);
            # ends off the axes are drawn on its edge
            lo, hi = sorted(ax.get_ylim())
            ye, yt = (min(max(v, lo), hi) for v in (ye, yt))
            ax.annotate("", xy=(x, ye), xytext=(x, yt), zorder=7,
                        arrowprops={"arrowstyle": "<->", "color": "#37474f", "lw": 1.3, "shrinkA": 0, "shrinkB": 0})
            ax.text(x, (ye + yt) / 2 if ax.get_yscale() != "log" else math.sqrt(max(ye * yt, 1e-300)),
                    f"gap {g:+.3g} ", ha="right", va="center", fontsize=8.5, color="#37474f", zorder=8)
            drawn.add("OVF004")

    # -- the restored checkpoint --------------------------------------------------------------
    cfg = _facts(rr, "config")
    rstep, reval = _num(cfg.get("restored_step")), _num(cfg.get("restored_eval"))
    if rstep is not None:
        ax.axvline(rstep, color="#455a64", ls=":", lw=1.2, zorder=1)
        label = f"restored checkpoint-{_fmt_step(rstep)}"
        if reval is not None:
            ax.plot([rstep], [reval], marker="D", ms=8, mfc="none", mec="#455a64", mew=1.8, zorder=7,
                    linestyle="none", label=label if detail else None)
        elif detail:
            ax.plot([], [], color="#455a64", ls=":", label=label)
        for f in rr.findings:
            if f.check == "config" and "restored_step" in f.evidence:
                drawn.add(f.code)
    ckpts = cfg.get("checkpoints") or []
    if detail and isinstance(ckpts, list) and 0 < len(ckpts) <= 300:
        xs = np.array([c for c in (_num(c) for c in ckpts) if c is not None])
        if xs.size:
            ax.plot(xs, np.full(xs.shape, 0.0), transform=top, marker="|", ms=9, mew=1.4, color="#455a64",
                    linestyle="none", clip_on=False, zorder=6, label="saved checkpoints")

    # -- convergence: fitted curve and floor --------------------------------------------------
    conv = _facts(rr, "convergence")
    fit = conv.get("fit") if isinstance(conv.get("fit"), dict) else None
    if fit is not None:
        fl, a, b, t0 = (_num(fit.get(k)) for k in ("floor", "a", "b", "t0"))
        first = _num((conv.get("first") or {}).get("step"))
        last = _num((conv.get("last") or {}).get("step"))
        horizon = _num(fit.get("horizon_steps")) or 0.0
        if None not in (fl, a, b, t0, first, last) and last > first:
            xs = np.linspace(first, last, 200)
            ys = fl + a * np.power(np.maximum(xs + t0, 1e-12), -b)
            fit_col = color or FIT_COLOR
            ax.plot(xs, ys, color=fit_col, ls="--", lw=1.3, zorder=4,
                    label=(plain(f"fitted {conv.get('series', 'loss')} (power law + floor)") if detail else None))
            if horizon > 0:
                xf = np.linspace(last, last + horizon, 60)
                yf = fl + a * np.power(np.maximum(xf + t0, 1e-12), -b)
                ax.plot(xf, yf, color=fit_col, ls=":", lw=1.3, zorder=4,
                        label=(f"forecast, {_fmt_step(round(horizon))} more steps" if detail else None))
            ax._logcheck_floor = fl  # placed after the y limits are known (see _place_floor)
            drawn.add("CNV004")

    # -- stability: spikes and non-finite values ------------------------------------------------
    for code, key in (("STB005", "loss"), ("STB006", "grad_norm")):
        f = _finding(rr, code)
        target = ax if key == "loss" else axes.get("grad_norm")
        if f is None or target is None:
            continue
        pts = [(_num(p.get("step")), _num(p.get("value")), _num(p.get("ratio")))
               for p in f.evidence.get("largest", []) if isinstance(p, dict)]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if not pts:
            continue
        # A spike above the y range sits on the top edge (the range ignores a few extreme columns).
        top_y = target.get_ylim()[1]
        ys = [min(p[1], top_y) for p in pts]
        target.plot([p[0] for p in pts], ys, linestyle="none", marker="v", ms=9, clip_on=False,
                    mfc="none", mec=c_alert, mew=1.8, zorder=7,
                    label=(f"{key} spikes ({code}, {f.evidence.get('count', len(pts))} in all)" if detail else None))
        if detail:
            j = max(range(len(pts)), key=lambda k: pts[k][2] or 0)
            x, y, r = pts[j]
            text = (f"{r:.1f}× spike" if r else "spike") + (f" ({_fmt(y)})" if y > top_y else "")
            _annotate(target, text, (x, ys[j]), c_alert, (12, -14 if y > top_y else 6))
        drawn.add(code)
    # The first non-finite value of each series (STB001 loss/grad norm, STB002 other metrics); the
    # values themselves are the x marks at the top edge.
    labelled = False
    for f in rr.findings:
        if f.code in ("STB001", "STB002") and f.step is not None and math.isfinite(f.step):
            core = f.code == "STB001"
            ax.axvline(f.step, color=c_alert, lw=1.0 if core else 0.7, ls="-" if core else ":", alpha=0.6, zorder=1)
            if detail and core and not labelled:
                ax.text(f.step, 0.93, plain(f" first non-finite: {f.evidence.get('series', '')} ({f.code})"),
                        transform=top, fontsize=7.5, color=c_alert, ha="left", va="top")
                labelled = True
            drawn.add(f.code)
    return drawn


def _place_floor(ax: Any, detail: bool) -> None:
    fl = getattr(ax, "_logcheck_floor", None)
    if fl is None:
        return
    lo, hi = ax.get_ylim()
    span = hi - lo
    if fl >= lo - 0.6 * span and (ax.get_yscale() != "log" or fl > 0):
        if fl < lo:
            ax.set_ylim(fl - 0.05 * span, hi)
        ax.axhline(fl, color=FIT_COLOR, lw=0.9, ls="-.", alpha=0.8, zorder=2)
        if detail:
            ax.text(0.995, fl, f"fitted floor ≈ {_fmt(fl)}", transform=_blend(ax, y_data=True), ha="right",
                    va="bottom", fontsize=8, color=FIT_COLOR)
    elif detail:
        ax.text(0.995, 0.01, f"fitted floor ≈ {_fmt(fl)} (below the axis)", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=8, color=FIT_COLOR)


def _blend(ax: Any, y_data: bool) -> Any:
    from matplotlib.transforms import blended_transform_factory

    return blended_transform_factory(ax.transAxes, ax.transData) if y_data else ax.transAxes


def _generic_marks(ax: Any, rr: RunReport, drawn: set[str], detail: bool) -> None:
    """A dashed line at the earliest step of each warning/error code the plot has no drawing of its own for.

    One line per code (labelled with how many findings it stands for), so a rule that fires
    at many steps (e.g. sources disagreeing point by point) does not bury the curves.
    """
    from matplotlib.transforms import blended_transform_factory

    top = blended_transform_factory(ax.transData, ax.transAxes)
    first: dict[str, tuple[float, Severity]] = {}
    count: dict[str, int] = {}
    for f in rr.findings:
        sev = f.severity or Severity.warning
        if f.code in drawn or sev.rank < Severity.warning.rank or f.step is None or not math.isfinite(f.step):
            continue
        count[f.code] = count.get(f.code, 0) + 1
        if f.code not in first or float(f.step) < first[f.code][0]:
            first[f.code] = (float(f.step), sev)
    for code, (step, sev) in sorted(first.items(), key=lambda kv: kv[1][0])[:MAX_GENERIC_MARKS]:
        col = ALERT_COLOR if sev == Severity.error else "#ef6c00"
        ax.axvline(step, color=col, ls="--", lw=1.0, alpha=0.7, zorder=1)
        if detail:
            more = f" ×{count[code]} from here" if count[code] > 1 else ""
            ax.text(step, 0.99, f" {code}{more}", transform=top, fontsize=7.5, color=col, ha="left", va="top",
                    rotation=90)


def make_figure(runs: list[RunReport], baseline: Optional[dict[str, Any]] = None,
                title: Optional[str] = None) -> Any:
    """One figure for ``runs`` (overlaid when several) and an optional reference run's curves."""
    _matplotlib()
    from matplotlib.figure import Figure

    run_list = [rr.run for rr in runs]
    panels = _panels_for(run_list)
    ratios = [3.2] + [1.0] * (len(panels) - 1)
    height = 4.6 + 1.55 * (len(panels) - 1)
    fig = Figure(figsize=(12, height), dpi=100)
    # Fixed margins (constrained layout would draw everything twice): the legend sits in the right one.
    axs = fig.subplots(len(panels), 1, sharex=True, squeeze=False,
                       gridspec_kw={"height_ratios": ratios, "left": 0.075, "right": 0.79, "bottom": 0.62 / height,
                                    "top": 1 - 0.95 / height, "hspace": 0.14})[:, 0]
    axes = dict(zip(panels, axs))
    ax = axes["loss"]
    detail = len(runs) == 1

    loss_values: list[np.ndarray] = []  # every value must be on the axes (means, evals, baseline)
    loss_extremes: list[np.ndarray] = []  # per-column min/max: spikes there may run off the top
    for i, rr in enumerate(runs):
        run = rr.run
        c_train = RUN_COLORS[i % len(RUN_COLORS)] if len(runs) > 1 else TRAIN_COLOR
        c_eval = RUN_COLORS[i % len(RUN_COLORS)] if len(runs) > 1 else EVAL_COLOR
        prefix = plain(f"{run_label(run, 22)}: ") if len(runs) > 1 else ""
        tl, el = run.train_loss, run.eval_loss
        if tl is not None:
            env = _draw_curve(ax, tl, c_train, f"{prefix}train loss", label_raw=len(runs) == 1)
            if env is not None:
                (loss_extremes if env.reduced else loss_values).extend([env.lo, env.hi])
                loss_values.append(env.mean)
        if el is not None:
            env = _draw_curve(ax, el, c_eval, f"{prefix}eval loss", smooth=False, markers=True,
                              lw=1.4 if len(runs) > 1 else 1.8)
            if env is not None:
                (loss_extremes if env.reduced else loss_values).extend([env.lo, env.hi])
                loss_values.append(env.mean)
            if len(runs) > 1:
                ax.lines[-1].set_linestyle("--")
        _mark_non_finite(ax, (tl, el), label=len(runs) == 1)
        for panel, name_ in (("learning_rate", "learning_rate"), ("grad_norm", "grad_norm")):
            s = run.get(name_)
            if s is not None and panel in axes:
                _draw_curve(axes[panel], s, c_train if len(runs) > 1 else "#37474f", f"{prefix}{name_}",
                            smooth=name_ == "grad_norm" and len(s) > 50, lw=1.2)
                _mark_non_finite(axes[panel], (s,), label=False)
        thr = _throughput_series(run)
        if thr is not None and "throughput" in axes:
            s, label = thr
            _draw_curve(axes["throughput"], s, c_train if len(runs) > 1 else "#00796b", f"{prefix}{label}",
                        smooth=len(s) > 50, lw=1.2)
            axes["throughput"].set_ylabel(label, fontsize=9)

    if baseline:
        bname = plain(_short(str(baseline.get("name") or "baseline")))
        for key, style, col in (("train_loss", "-", "#757575"), ("eval_loss", "--", "#424242")):
            c = baseline.get(key)
            if not isinstance(c, dict):
                continue
            st = np.asarray([_num(x) if _num(x) is not None else np.nan for x in c.get("step", [])], dtype=float)
            va = np.asarray([_num(x) if _num(x) is not None else np.nan for x in c.get("value", [])], dtype=float)
            n = min(st.size, va.size)
            if n:
                ax.plot(st[:n], va[:n], ls=style, color=col, lw=1.3, alpha=0.85,
                        marker="s" if key == "eval_loss" and n <= 60 else None, ms=3.5,
                        label=f"baseline {bname}: {key.replace('_', ' ')}")
                loss_values.append(va[:n])

    log = _wants_log(loss_values + loss_extremes)
    if log:
        ax.set_yscale("log")
    lim = _robust_ylim(loss_values + [_central(loss_extremes)], log)
    if lim is not None:
        ax.set_ylim(*lim)

    for i, rr in enumerate(runs):
        color = RUN_COLORS[i % len(RUN_COLORS)] if len(runs) > 1 else None
        drawn = _draw_findings(ax, rr, axes, detail, color)
        _generic_marks(ax, rr, drawn, detail)
    _place_floor(ax, detail)
    if run_list and detail:
        _epoch_axis(ax, run_list[0])

    if not any(len(s) for r in run_list for s in r.series.values()):
        ax.text(0.5, 0.5, "no per-step metrics in the log", transform=ax.transAxes, ha="center", va="center",
                fontsize=12, color="#616161")
        ax.set_yticks([])
    elif lim is None:
        counts = [(s.split.value, len(s)) for r in run_list for s in (r.train_loss, r.eval_loss) if s is not None]
        what = "; ".join(f"{sp} loss: all {n:,} values non-finite" for sp, n in counts) or "no loss logged"
        ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=12,
                color=ALERT_COLOR if counts else "#616161", fontweight="bold" if counts else None)
        ax.set_yticks([])

    ax.set_ylabel("loss" + (" (log scale)" if log else ""), fontsize=10)
    for p, a in axes.items():
        a.grid(True, alpha=0.25, lw=0.6)
        a.tick_params(labelsize=8)
        if p == "learning_rate":
            a.set_ylabel("learning rate", fontsize=9)
            a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        elif p == "grad_norm":
            a.set_ylabel("grad norm", fontsize=9)
            vals = [r.get("grad_norm").value for r in run_list if r.get("grad_norm") is not None]
            if _wants_log(vals):
                a.set_yscale("log")
    axs[-1].set_xlabel("step", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # Outside the axes: a legend never hides the curve or a finding.
        ax.legend(handles, labels, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0,
                  framealpha=0.9)

    if title is None:
        if not runs:
            fig.suptitle("no training run found", fontsize=12, fontweight="bold", color=VERDICT_COLOR["NOT CHECKED"])
        elif len(runs) == 1 and not baseline:
            rr = runs[0]
            word = verdict_word(rr)
            title = plain(f"{run_label(rr.run, 70)} — {verdict_line(rr)}")
            fig.suptitle(title, fontsize=13, fontweight="bold", color=VERDICT_COLOR.get(word, "black"))
        else:
            words = [verdict_word(rr) for rr in runs]
            parts = [plain(f"{run_label(rr.run, 30)}: {w}") for rr, w in zip(runs, words)]
            worst = "FAIL" if "FAIL" in words else "WARN" if "WARN" in words else "PASS"
            head = f"{len(runs)} runs" if len(runs) > 1 else "run vs baseline"
            if baseline:
                head += plain(f" (baseline {_short(str(baseline.get('name') or ''), 30)}, grey)")
            fig.suptitle(f"{head} — " + "; ".join(parts), fontsize=11.5, fontweight="bold",
                         color=VERDICT_COLOR.get(worst, "black"))
    else:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    for a in fig.axes:
        _keep_in_range(a)
    return fig


def _keep_in_range(ax: Any) -> None:
    """Make a panel drawable whatever the values: matplotlib cannot place ticks on a range reaching
    the largest float (1e308), and Agg refuses a path from 2.0 to 1e200 ("Exceeded cell block
    limit"). A range that reaches 1e300 becomes the range of the other points, and the data lines
    are clipped to a thousand times the visible range around it (what shows is the same)."""
    lines = [ln for ln in ax.get_lines() if ln.get_transform() is ax.transData]
    for axis, get, set_lim, data in (("y", ax.get_ylim, ax.set_ylim, lambda ln: ln.get_ydata()),
                                     ("x", ax.get_xlim, ax.set_xlim, lambda ln: ln.get_xdata())):
        lo, hi = get()
        if not (math.isfinite(lo) and math.isfinite(hi) and max(abs(lo), abs(hi)) < _OFF_SCALE):
            vals = [np.asarray(data(ln), dtype=float) for ln in lines]
            log = (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log"
            lim = _robust_ylim([v for v in vals if v.size], log)
            set_lim(*(lim if lim is not None else (0.0, 1.0)))
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    xlog, ylog = ax.get_xscale() == "log", ax.get_yscale() == "log"
    for ln in ax.get_lines():
        try:
            x = np.asarray(ln.get_xdata(), dtype=float)
            y = np.asarray(ln.get_ydata(), dtype=float)
        except (TypeError, ValueError):
            continue
        if x.size == 0 or x.shape != y.shape:
            continue
        # lines in data coordinates, and the step-at-the-edge marks (x data, y axes): their x
        xc = _clip_far(x, x0, x1, xlog)
        yc = _clip_far(y, y0, y1, ylog) if ln.get_transform() is ax.transData else y
        if xc is not x or yc is not y:
            ln.set_data(xc, yc)
    # a label whose place is not on the canvas (a finding at step 1e308) is not drawn
    for t in list(ax.texts):
        try:
            px, py = t.get_transform().transform(t.get_position())
            if hasattr(t, "xy") and getattr(t, "xycoords", None) == "data":
                ax_, ay_ = ax.transData.transform(t.xy)
                px, py = max(abs(px), abs(ax_)), max(abs(py), abs(ay_))
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            px = py = math.inf
        if not (math.isfinite(px) and math.isfinite(py)) or max(abs(px), abs(py)) > 1e7:
            t.set_visible(False)


def _clip_far(v: np.ndarray, lo: float, hi: float, log: bool) -> np.ndarray:
    """``v`` with finite values beyond a thousand ranges of [lo, hi] moved to that bound (non-finite stay
    gaps): a segment to such a point leaves the axes at the same place to within a thousandth."""
    if log and lo > 0:
        a, b = lo / 1e30, hi * 1e30
    else:
        span = (hi - lo) or 1.0
        a, b = lo - 1000 * span, hi + 1000 * span
    fin = np.isfinite(v)
    if not ((v[fin] < a).any() or (v[fin] > b).any()):
        return v
    return np.where(fin, np.clip(v, a, b), v)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain(text: str) -> str:
    """Log-derived text for a matplotlib label: no mathtext (``$``), no control characters."""
    return _CONTROL.sub("\ufffd", text).replace("$", r"\$")


def run_label(run: Run, n: int = 40) -> str:
    """The run's name as a person would say it: the file or folder, with its parent when short."""
    name = run.name or run.path
    suffix = ""
    if "#" in name:
        name, _, suffix = name.rpartition("#")
        suffix = "#" + suffix
    parts = Path(name).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 and len("/".join(parts[-2:])) <= n else (parts[-1] if parts else name)
    return _short(short + suffix, n)


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else "…" + s[-(n - 1):]


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def _baseline_of(settings: Any) -> Optional[dict[str, Any]]:
    options = getattr(settings, "plugin_options", None) or {}
    b = options.get("baseline")
    return b if isinstance(b, dict) else None


def plot_report(report: Report, path: str | Path, settings: Any = None) -> Path:
    """Write the loss curves of ``report`` to ``path`` (.png, .svg or .pdf); several runs are overlaid.

    ``settings.plugin_options["baseline"]`` (the reference run's curves, set by ``--baseline``)
    is drawn too. Raises :class:`UsageError` for another suffix or an unwritable path and
    :class:`MissingExtraError` without matplotlib.
    """
    # logged values up to 1e308 make matplotlib's tick arithmetic overflow: drawn all the same
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _plot_report(report, path, settings)


def _plot_report(report: Report, path: str | Path, settings: Any = None) -> Path:
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--plot {path}: the file name must end in .png, .svg or .pdf")
    fig = make_figure(list(report.runs), _baseline_of(settings))
    try:
        with _drawing():
            fig.savefig(path, format=fmt, dpi=110, metadata=_metadata(fmt))
    except OSError as e:
        raise UsageError(f"--plot {path}: cannot write: {e.strerror or e}") from None
    return path


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date: the same report gives the same bytes (reproducible CI artifacts).
    if fmt == "png":
        return {"Software": "logcheck"}
    if fmt == "svg":
        return {"Date": None, "Creator": "logcheck"}
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "logcheck"}
    return {}


def figure_png(runs: list[RunReport], baseline: Optional[dict[str, Any]] = None, dpi: int = 96) -> bytes:
    """The figure for ``runs`` as PNG bytes (what the HTML report inlines)."""
    import io

    fig = make_figure(runs, baseline)
    buf = io.BytesIO()
    with _drawing():
        fig.savefig(buf, format="png", dpi=dpi, metadata=_metadata("png"))
    return buf.getvalue()


def _drawing() -> Any:
    """Settings for rasterising: a curve with values far off the axes (1e200 beside 2.0) is a path
    Agg refuses to fill in one piece ("Exceeded cell block limit"); chunks of 10k vertices it takes."""
    return _matplotlib().rc_context({"agg.path.chunksize": 10_000})
