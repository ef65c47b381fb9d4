"""Stability: non-finite values, divergence, spikes, a zero learning rate, a bad resume.

Spikes are measured on the log-loss against a robust local scale: the residual
from a block-median trend, divided by the local median absolute residual, so a
smooth decay is never a spike and a noisy curve needs a larger excursion.
Hugging Face replaces a non-finite train loss by the running average
(``logging_nan_inf_filter=True``), so a broken run can show a finite ``loss``;
grad_norm, the eval loss and a flat-lined loss are the signals then.
fp16 loss scaling skips the first steps with inf/nan gradients on purpose:
non-finite grad norms only in the first few logged points, followed by finite
ones, are information, not an error.
"""
from __future__ import annotations

import math
import re
from typing import Any, Optional

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Run, Series, Severity, Status, hookimpl
from logcheck import stats

CHECK = "stability"

_OVERFLOW_RE = re.compile(r"gradient overflow|skipping step|overflow!|attempted loss scale|loss scale", re.I)


def _doc(what: str, why: str, example: str, fix: str) -> str:
    return f"## What it does\n{what}\n\n## Why is this bad\n{why}\n\n## Example\n{example}\n\n## How to fix\n{fix}\n"


RULES = [
    Rule(code="STB001", name="non-finite-loss", check=CHECK, severity=Severity.error,
         summary="A loss or gradient norm is NaN or infinite.",
         doc=_doc("Scans every loss series (train, eval, test) and the gradient norm for NaN and ±inf and reports "
                  "the first one with its step and line. Non-finite grad norms confined to the first few logged "
                  "points of an fp16 run (loss-scale warm-up) are left to STB007.",
                  "Once a weight is NaN every later step is NaN: the run is lost from that point, and Hugging Face's "
                  "`logging_nan_inf_filter` can hide it in the logged `loss` while `grad_norm` shows it.",
                  "`train grad_norm is nan at step 1200 (line 4031), first of 37 non-finite points`",
                  "Lower the learning rate, add warm-up and gradient clipping (`max_grad_norm`), use bf16 instead of "
                  "fp16, and look for bad samples (empty sequences, all labels masked) around the first step."),
         params={"warmup_points": Param(default=5, doc="non-finite grad norms only within this many first logged "
                                                        "points, then finite, count as fp16 loss-scale warm-up")}),
    Rule(code="STB002", name="non-finite-metric", check=CHECK, severity=Severity.warning,
         summary="A metric other than a loss or grad norm is NaN or infinite.",
         doc=_doc("Scans every other logged series for NaN and ±inf.",
                  "A metric that goes non-finite usually means a division by zero or an empty eval batch; it can "
                  "also be the first sign of a model that has gone non-finite.",
                  "`eval wer is nan at step 500 (line 812)`",
                  "Check the metric's computation on an empty or degenerate batch."),
         params={}),
    Rule(code="STB003", name="loss-flatlined", check=CHECK, severity=Severity.warning,
         summary="The train loss repeats exactly the same value many times in a row, or sticks at exactly 0.",
         doc=_doc("Finds the longest run of consecutive identical logged train-loss values (of at least "
                  "`min_repeat_value` in size, so rounding of a tiny converged loss does not count), and a loss "
                  "that drops to exactly 0.0 from a non-tiny value and stays there.",
                  "A real loss averaged over a logging window never repeats exactly. Repeats mean the logged value "
                  "is not being updated: non-finite losses replaced by a running average, a frozen model, or a "
                  "logging bug. RL objectives (GRPO) are excluded: their loss is often exactly 0 by design.",
                  "`train loss is exactly 2.3026 at 40 consecutive logged steps (steps 100–880)`",
                  "Check grad_norm for nan/inf, set `logging_nan_inf_filter=False` to see the raw loss, and check "
                  "that the optimizer steps (no zero learning rate, no frozen parameters)."),
         params={"min_repeats": Param(default=10, doc="consecutive identical values that count as flat-lined"),
                 "min_repeat_value": Param(default=0.05, doc="repeats of values smaller than this are rounding")}),
    Rule(code="STB004", name="loss-divergence", check=CHECK, severity=Severity.error,
         summary="The smoothed train loss ends far above its running best and does not recover.",
         doc=_doc("Smooths the train loss (block medians), finds its best value, and compares the smoothed loss "
                  "at the end with it: above `ratio` times the best and by more than `noise_multiple` times the "
                  "point noise. For losses that can be ≤ 0 (RL objectives) ratios are meaningless, so the absolute "
                  "rise is compared with `abs_multiple` times the curve's robust spread.",
                  "The optimisation has diverged: the model at the end is worse than one it had already reached.",
                  "`train loss diverged: smoothed 13.8 at step 57000 vs its best 1.47 at step 47600 (9.4×)`",
                  "Lower the learning rate, add warm-up and gradient clipping, resume from a checkpoint before the "
                  "rise with a smaller learning rate, and check the data after the point it started."),
         params={"ratio": Param(default=1.5, doc="end / best ratio that counts as divergence (positive losses)"),
                 "noise_multiple": Param(default=3.0, doc="the rise must also exceed this many noise sds"),
                 "abs_multiple": Param(default=10.0, doc="for losses ≤ 0: rise in units of the robust spread")}),
    Rule(code="STB005", name="loss-spikes", check=CHECK, severity=Severity.warning,
         summary="The train loss jumps far above its local level (robust z on the log-loss).",
         doc=_doc("Computes the residual of the log-loss from its block-median trend and divides it by the local "
                  "median absolute residual. A point with robust z above `z` and at least `min_ratio` times its "
                  "local level is a spike; consecutive spike points are one spike. A smooth decay has no spikes.",
                  "Loss spikes are the usual prelude to divergence (too high a learning rate, bad batches, fp16 "
                  "overflow); even when the loss recovers, each spike undoes training.",
                  "`3 loss spikes; largest 4.2× the local level at step 1200 (line 3051), z = 25`",
                  "Lower the learning rate or its peak, add or tighten gradient clipping, skip or fix the batches at "
                  "the listed steps, and prefer bf16 to fp16."),
         params={"z": Param(default=8.0, doc="robust z-score of the log-loss residual that counts as a spike"),
                 "min_ratio": Param(default=1.3, doc="and the loss must be at least this times its local level"),
                 "min_points": Param(default=20, doc="fewer train-loss points than this: not judged"),
                 "min_abs_frac": Param(default=0.05, doc="and exceed the local level by this fraction of the "
                                                         "loss at the start of the run")}),
    Rule(code="STB006", name="grad-norm-spikes", check=CHECK, severity=Severity.info,
         summary="The gradient norm jumps far above its local level.",
         doc=_doc("The spike test of STB005 applied to log(grad_norm).",
                  "Often harmless (clipping handles them), but grad-norm spikes that line up with loss spikes point "
                  "at the cause.",
                  "`12 grad_norm spikes; largest 60× the local level at step 22360`",
                  "Nothing, if the loss does not react. Otherwise clip gradients (`max_grad_norm`) or lower the LR."),
         params={"z": Param(default=8.0, doc="robust z-score that counts as a spike"),
                 "min_ratio": Param(default=3.0, doc="and at least this times the local level")}),
    Rule(code="STB007", name="fp16-overflow-warmup", check=CHECK, severity=Severity.info,
         summary="fp16 loss scaling skipped steps (inf/nan gradients early, or overflow messages).",
         doc=_doc("Reports non-finite grad norms confined to the first logged points followed by finite ones, and "
                  "'Gradient overflow. Skipping step' style messages.",
                  "It is expected: the dynamic loss scaler starts high and halves on each overflow. Many overflows "
                  "late in training, though, mean fp16 range problems.",
                  "`grad_norm is inf at the first 2 logged steps (10, 20), finite afterwards: fp16 loss-scale warm-up`",
                  "Nothing for a few early overflows. Many late ones: use bf16, or lower the learning rate."),
         params={}),
    Rule(code="STB008", name="learning-rate-zero", check=CHECK, severity=Severity.error,
         summary="The learning rate is 0 at every logged step while steps advance.",
         doc=_doc("Checks the logged learning rate: all values exactly 0 while the step counter advances.",
                  "Nothing is trained: every step costs compute and changes no weight.",
                  "`learning rate is 0 at all 50 logged steps (10–500)`",
                  "Check the scheduler (a warm-up longer than the run, `num_training_steps=0`), the optimizer's "
                  "param groups, and an lr of 0 passed from the command line."),
         params={}),
    Rule(code="STB009", name="loss-jump-after-resume", check=CHECK, severity=Severity.error,
         summary="The loss right after a resume (step counter went back or jumped) is far above the loss before it.",
         doc=_doc("Finds places where the train step counter goes backwards or jumps by far more than the usual "
                  "logging interval, and compares the median loss of the points just after with the points just "
                  "before.",
                  "The resumed run did not load the state it should have: wrong checkpoint, optimizer or scheduler "
                  "state not restored, a different data order, or a changed configuration.",
                  "`train loss jumped 9.4× at a resume: 1.47 before step 47700 (line 2211) → 13.8 after (line 2213)`",
                  "Resume with the full checkpoint (model, optimizer, scheduler, scaler, RNG), check the loaded path "
                  "and that the configuration matches the original run."),
         params={"ratio": Param(default=1.5, doc="after / before median ratio that counts as a jump"),
                 "gap_multiple": Param(default=10.0, doc="a step gap this many median intervals is a resume point")}),
    Rule(code="STB010", name="loss-excursion", check=CHECK, severity=Severity.info,
         summary="The train loss rose far above its running best during the run (then came back at least part way).",
         doc=_doc("Smooths the train loss like STB004 and finds the largest ratio of the smoothed loss to its running "
                  "best so far. Fires at `ratio` or more (and more than STB004's `noise_multiple` noise sds) when the "
                  "loss did not stay up to the end (that is STB004).",
                  "A loss that doubles in the middle of training means the optimisation was unstable (too high a "
                  "learning rate, no warm-up, bad batches); the run lost progress even if it came back.",
                  "`train loss rose 2.33× above its running best: 44.71 at step 2 → 104.1 at step 10; it ends at "
                  "18.7`",
                  "Lower the learning rate or add warm-up; add gradient clipping; inspect the batches around the peak."),
         params={"ratio": Param(default=1.5, doc="smoothed loss / running best that counts as an excursion")}),
    Rule(code="STB011", name="loss-worse-than-uniform", check=CHECK, severity=Severity.error,
         summary="A language model's loss ends above ln(vocab_size): it predicts worse than a uniform guess.",
         doc=_doc("When the model's vocabulary size is known (the run folder's config.json), compares the final "
                  "train loss (median of the last fifth of the points) and the last eval loss with ln(vocab_size), "
                  "the cross-entropy of guessing every token with equal probability. A freshly initialised model "
                  "starts near it; a model that ends above it has been damaged by training.",
                  "Above ln(vocab_size) the model is worse than knowing nothing. The usual cause is a learning rate "
                  "far too high: the loss shoots up in the first steps and the run never recovers what it lost, "
                  "even when the curve falls afterwards and looks like learning.",
                  "`eval loss 13.57 at step 32 is above ln(50257) = 10.82, the loss of a uniform guess; train loss "
                  "peaked at 104.1 (step 10)`",
                  "Lower the learning rate (by 10x or more), add warm-up and gradient clipping."),
         params={"margin": Param(default=0.02, doc="relative margin above ln(vocab_size) before it fires")}),
]


@hookimpl
def logcheck_register_rules(register: Any) -> None:
    for r in RULES:
        register(r)


# ---------------------------------------------------------------------------


def _fmt(v: float, digits: int = 4) -> str:
    """A number with ``digits`` significant figures and no trailing zeros (0.0002, 3.657, 20769.1)."""
    if v is None or not math.isfinite(v):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:.1f}"
    return f"{v:.{digits}g}"


def _step(v: float) -> Any:
    v = float(v)
    return int(v) if math.isfinite(v) and v.is_integer() else v


def _line(s: Series, i: int) -> Optional[int]:
    return int(s.line[i]) or None


def _where(s: Series, i: int) -> str:
    ln = _line(s, i)
    return f"step {_step(s.step[i])}" + (f" (line {ln})" if ln else "")


def looks_like_rl_objective(run: Run) -> bool:
    for key in run.series:
        name = key.split("/", 1)[1] if "/" in key else key
        if name in ("reward", "kl", "reward_std", "rewards") or name.startswith(("rewards/", "reward/", "completions/")):
            return True
        if "pg_loss" in name or name.startswith(("objective/", "policy/")):
            return True
    return False


def _status(findings: list[Finding], settings: Any) -> Status:
    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    return Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_


#: Points per slice when the spike test walks a long curve: the residuals, scales and z-scores of
#: a million points are never held whole (each would be 8 MB), only the few candidates.
_SPIKE_CHUNK = 1 << 16


def robust_spikes(values: np.ndarray, z: float, min_ratio: float, log: bool = True,
                  min_excess: float = 0.0) -> list[tuple[int, float, float]]:
    """Upward spikes of a curve: (index, robust z, ratio to the local level); consecutive points merged.

    Residuals from a block-median trend, scaled by the block-median absolute residual
    over blocks four times longer (a local, robust sd). O(n) time; memory: the log-curve
    and its absolute residuals (2 x 8 bytes a point), everything else slice by slice.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < 8:
        return []
    lv = np.log(v) if log else v
    block = max(5, min(101, n // 40) | 1)
    if n < 4 * block:
        level_full = stats.rolling_median(lv, block)

        def level_at(a: int, b: int) -> np.ndarray:
            return level_full[a:b]
    else:
        centres, med = stats.block_medians(lv, block)

        def level_at(a: int, b: int) -> np.ndarray:  # the block-median trend, one slice at a time
            return np.interp(np.arange(a, b, dtype=np.float64), centres, med)
    scale_block = 4 * block
    absr = np.empty(n)
    for a in range(0, n, _SPIKE_CHUNK):
        b = min(n, a + _SPIKE_CHUNK)
        np.abs(lv[a:b] - level_at(a, b), out=absr[a:b])
    if n >= 2 * scale_block:
        # The scale varies slowly: block medians of every 4th residual, interpolated, are enough.
        sub = stats.block_median_trend(absr[::4], block)
        sub_x = np.arange(sub.size, dtype=np.float64) * 4

        def scale_at(a: int, b: int) -> np.ndarray:
            return np.interp(np.arange(a, b, dtype=np.float64), sub_x, sub)
        mid = float(np.median(absr, overwrite_input=True))  # absr is not needed after this
    else:
        mid = float(np.median(absr, overwrite_input=True))

        def scale_at(a: int, b: int) -> np.ndarray:
            return np.full(b - a, mid)
    del absr
    # A floor on the scale: a perfectly smooth curve has scale ~0 and every rounding step would be a "spike".
    floor = max(mid * 0.25, 1e-12)
    # Only the few points above the z threshold need the other tests (keeps a 1M-point curve cheap).
    cand_parts: list[np.ndarray] = []
    z_parts: list[np.ndarray] = []
    r_parts: list[np.ndarray] = []
    level_parts: list[np.ndarray] = []
    for a in range(0, n, _SPIKE_CHUNK):
        b = min(n, a + _SPIKE_CHUNK)
        level = level_at(a, b)
        r = lv[a:b] - level
        sd = stats.MAD_TO_SIGMA * np.maximum(scale_at(a, b), floor)
        zs = r / sd
        c = np.flatnonzero(zs > z)
        if c.size:
            cand_parts.append(c + a)
            z_parts.append(zs[c])
            r_parts.append(r[c])
            level_parts.append(level[c])
    cand = np.concatenate(cand_parts) if cand_parts else np.zeros(0, dtype=np.int64)
    zc = np.concatenate(z_parts) if z_parts else np.zeros(0)
    rc = np.concatenate(r_parts) if r_parts else np.zeros(0)
    levc = np.concatenate(level_parts) if level_parts else np.zeros(0)
    if cand.size:
        ok = (np.exp(rc) >= min_ratio) if log else np.ones(cand.size, dtype=bool)
        if min_excess > 0:
            ok &= (v[cand] - (np.exp(levc) if log else levc)) >= min_excess
        ok &= cand > block // 2  # before the first block's centre the level is extrapolated flat
        cand, zc, rc = cand[ok], zc[ok], rc[ok]
    keep = []
    for j, i in enumerate(cand.tolist()):
        # A spike rises above what came just before it, too: a point on a steep drop whose
        # block also holds much lower later points (irregular logging intervals) is not one.
        left = lv[max(0, i - block): i]
        if left.size and lv[i] - float(np.median(left)) < (math.log(min_ratio) if log else 0.0):
            continue
        keep.append(j)
    # kept candidates are in index order; runs of consecutive indices are one spike
    out: list[tuple[int, float, float]] = []
    k = 0
    while k < len(keep):
        j = k
        while j + 1 < len(keep) and cand[keep[j + 1]] == cand[keep[j]] + 1:
            j += 1
        seg = keep[k:j + 1]
        best = seg[int(np.argmax(zc[seg]))]
        out.append((int(cand[best]), float(zc[best]), float(np.exp(rc[best])) if log else math.inf))
        k = j + 1
    return out


@hookimpl
def logcheck_check(run: Run, settings: Any) -> CheckResult:
    p = lambda code, name: settings.param(code, name)  # noqa: E731
    findings: list[Finding] = []
    facts: dict[str, Any] = {}
    if not run.series:
        return CheckResult(check=CHECK, status=Status.skip, reason="no per-step metrics logged")
    rl = looks_like_rl_objective(run)
    facts["rl_objective"] = rl

    # -- non-finite values --------------------------------------------------------------
    warm = int(p("STB001", "warmup_points"))
    nonfinite_facts: dict[str, int] = {}
    for key, s in sorted(run.series.items()):
        if not len(s):
            continue
        bad = np.flatnonzero(~np.isfinite(s.value))
        if not bad.size:
            continue
        nonfinite_facts[key] = int(bad.size)
        i0 = int(bad[0])
        core = s.name in ("loss", "grad_norm")
        if s.name == "grad_norm":
            # fp16 loss-scale warm-up: non-finite grad norms among the first few points, with finite ones after.
            early = bad[bad < min(warm, len(s) - 1)]
            if early.size and np.isfinite(s.value[int(early[-1]) + 1:]).any():
                steps = ", ".join(str(_step(x)) for x in s.step[early[:5]])
                findings.append(Finding(
                    code="STB007",
                    message=(f"{s.split.value} grad_norm is non-finite at {early.size} of the first {warm} logged "
                             f"points (steps {steps}), finite afterwards: fp16 loss-scale warm-up"),
                    hint="Nothing to fix for a few early overflows.", step=float(s.step[early[0]]),
                    line=_line(s, int(early[0])), evidence={"points": int(early.size), "series": key}))
                bad = bad[early.size:]
                if not bad.size:
                    continue
                i0 = int(bad[0])
        if s.name == "grad_norm" and _isolated_overflows(run, s, bad):
            # fp16/AMP: the grad scaler skips a step whose gradients overflowed and lowers the scale;
            # the loss staying finite afterwards shows the update was skipped, not applied.
            steps = ", ".join(str(_step(x)) for x in s.step[bad[:5]]) + (", …" if bad.size > 5 else "")
            findings.append(Finding(
                code="STB007",
                message=(f"{s.split.value} grad_norm is non-finite at {bad.size} isolated step(s) of {len(s)} "
                         f"(steps {steps}) and the loss stayed finite after each: overflowing steps skipped by "
                         f"the loss scaler"),
                hint="Nothing to fix while they stay rare; many of them: use bf16 or lower the learning rate.",
                step=float(s.step[i0]), line=_line(s, i0),
                evidence={"points": int(bad.size), "of": len(s), "series": key}))
            continue
        kinds = sorted({"nan" if math.isnan(x) else ("inf" if x > 0 else "-inf") for x in s.value[bad[:1000]].tolist()})
        findings.append(Finding(
            code="STB001" if core else "STB002",
            message=(f"{s.split.value} {s.name} is {'/'.join(kinds)} at {_where(s, i0)}, "
                     f"first of {bad.size} non-finite of {len(s)} points"
                     + (f"; last at {_where(s, int(bad[-1]))}" if bad.size > 1 else "")),
            hint=("Lower the learning rate, add warm-up and gradient clipping, prefer bf16 to fp16, and inspect the "
                  "batches around the first non-finite step." if core else
                  "Check the metric's computation on empty or degenerate batches."),
            step=float(s.step[i0]), line=_line(s, i0),
            evidence={"series": key, "first_index": i0, "count": int(bad.size), "of": len(s)}))
    facts["non_finite_points"] = nonfinite_facts

    overflow = [e for e in run.events if _OVERFLOW_RE.search(e.text) and "overflow" in e.text.lower()]
    if overflow:
        count = sum(e.count for e in overflow)
        e0 = overflow[0]
        findings.append(Finding(
            code="STB007",
            message=f"{count} fp16 overflow message(s) (steps skipped by the loss scaler), first at line {e0.line}: "
                    f"{e0.text[:120]!r}",
            hint="Nothing for a few early overflows; many late ones: use bf16 or lower the learning rate.",
            step=e0.step, line=e0.line, evidence={"messages": count}))

    # -- learning rate zero ----------------------------------------------------------------
    lr = run.get("learning_rate")
    if lr is not None:
        lv = lr.value[np.isfinite(lr.value)]
        st = lr.step[np.isfinite(lr.step)]
        if lv.size >= 2 and bool(np.all(lv == 0.0)) and st.size and float(st.max() - st.min()) > 0:
            findings.append(Finding(
                code="STB008",
                message=f"learning rate is 0 at all {lv.size} logged steps ({_step(st.min())}–{_step(st.max())})",
                hint="Check the scheduler (warm-up longer than the run?), the optimizer param groups and the lr passed in.",
                step=float(st.min()), line=_line(lr, 0), evidence={"points": int(lv.size)}))

    train = run.train_loss
    if train is None:
        status = _status(findings, settings)
        return CheckResult(check=CHECK, status=status,
                           reason=_reason(findings, settings, "no train loss logged; checked the other series"),
                           findings=findings, facts=facts)

    y_all = train.value
    fin = np.isfinite(y_all)
    if bool(fin.all()):
        # every point finite: no index copy of the curve (int32 positions, or the values themselves)
        fidx = np.arange(y_all.size, dtype=np.int32 if y_all.size < 2**31 else np.int64)
        y = y_all
    else:
        fidx = np.flatnonzero(fin)
        y = y_all[fidx]
    del fin
    n = y.size
    facts["train_points"] = n
    positive = n > 0 and float(y.min()) > 0

    # -- flat-lined loss ------------------------------------------------------------------
    if n >= 2 and not rl:
        flat = _flatline_finding(train, y, fidx, int(p("STB003", "min_repeats")), float(p("STB003", "min_repeat_value")))
        if flat is not None:
            findings.append(flat)

    # -- divergence -------------------------------------------------------------------------
    if n >= 3:
        if n < 10:
            smooth = y.copy()
        elif n < 1000:
            smooth = stats.rolling_median(y, 5)
        else:
            # 200 equal-count window means (cumulative sums, O(n)), then a rolling median of 5 over them.
            means, ends = stats.equal_count_bins(y, 200)
            smooth = stats.rolling_median(means, 5)
            smooth_idx = ends
        if n < 1000:
            smooth_idx = np.arange(n)
        jb_s = int(np.argmin(smooth))
        jb = int(smooth_idx[jb_s])
        best, end = float(smooth[jb_s]), float(smooth[-1])
        noise = stats.point_noise(y if n <= 200_000 else y[:: n // 200_000 + 1])
        facts["divergence"] = {"best_smoothed": best, "end_smoothed": end, "noise": noise}
        diverged = False
        # A rise must also matter on the scale of the run: a memorised loss jittering between 0.001 and
        # 0.003 is 2.5x its best but nothing happened (same floor as STB005's min_abs_frac).
        start_level = float(np.median(y[: max(3, n // 20)]))
        min_rise = float(p("STB005", "min_abs_frac")) * abs(start_level)
        if positive:
            ratio = end / best
            facts["divergence"]["ratio"] = ratio
            diverged = ratio >= float(p("STB004", "ratio")) and end - best > min_rise and (
                n < 10 or end - best > float(p("STB004", "noise_multiple")) * noise)
            size = f"{ratio:.2f}× its best"
        else:
            spread = stats.mad_sigma(y)
            facts["divergence"]["spread"] = spread
            diverged = spread > 0 and end - best > float(p("STB004", "abs_multiple")) * spread and not rl
            size = f"+{_fmt(end - best, 3)}, {((end - best) / spread if spread else 0):.0f}× its robust spread"
        if diverged:
            ib = int(fidx[jb])
            findings.append(Finding(
                code="STB004",
                message=(f"train loss diverged and did not recover: smoothed {_fmt(end)} at step {_step(train.step[fidx[-1]])} "
                         f"vs its best {_fmt(best)} at {_where(train, ib)} ({size}); peak {_fmt(float(np.max(y[jb:])))}"),
                hint=("Lower the learning rate, add warm-up and gradient clipping; resume from a checkpoint before the "
                      "rise with a smaller learning rate."),
                step=float(train.step[ib]), line=_line(train, ib),
                evidence={"best": best, "end": end, "best_step": _step(train.step[ib])}))

        # -- excursion: a rise far above the running best that came back (else it is divergence) --
        if positive and not diverged and smooth.size >= 3:
            running_best = np.minimum.accumulate(smooth)
            rel = smooth / running_best
            je = int(np.argmax(rel))
            ex_ratio = float(rel[je])
            facts["max_rise_over_running_best"] = ex_ratio
            rb_s = int(np.argmax(smooth[: je + 1] == running_best[je]))
            if ex_ratio >= float(p("STB010", "ratio")) and smooth[je] - running_best[je] > min_rise and (
                    n < 10 or smooth[je] - running_best[je] > float(p("STB004", "noise_multiple")) * noise):
                i_peak, i_best = int(fidx[smooth_idx[je]]), int(fidx[smooth_idx[rb_s]])
                findings.append(Finding(
                    code="STB010",
                    message=(f"train loss rose {ex_ratio:.2f}× above its running best: {_fmt(float(running_best[je]))} at "
                             f"{_where(train, i_best)} → {_fmt(float(smooth[je]))} at {_where(train, i_peak)}"
                             f"{' (smoothed)' if n >= 10 else ''}; it ends at {_fmt(end)} "
                             f"({end / float(running_best[je]):.2f}× that best)"),
                    hint=("The learning rate is probably too high for this model/batch size: lower it, add warm-up and "
                          "gradient clipping."),
                    step=float(train.step[i_peak]), line=_line(train, i_peak),
                    evidence={"ratio": ex_ratio, "best": float(running_best[je]), "peak": float(smooth[je]),
                              "end": end}))

    # -- resume jumps ----------------------------------------------------------------------
    st = train.step if y is y_all else train.step[fidx]
    if n >= 6:
        d = np.diff(st)
        pos = d[d > 0]
        med = float(np.median(pos, overwrite_input=True)) if pos.size else 0.0
        del pos
        gap_mult = float(p("STB009", "gap_multiple"))
        cut = np.flatnonzero((d < 0) | ((d > gap_mult * med) if med > 0 else (d < 0)))
        del d
        # A log that starts far into a run (resumed) often prints the checkpoint's loss first:
        # a jump right after that first point is a resume jump too.
        if med > 0 and float(st[0]) > gap_mult * med and float(st[0]) > 0.1 * float(st.max()):
            cut = np.concatenate([[0], cut[cut != 0]])
        for c in cut[:20]:
            before = y[max(0, c - 4): c + 1]
            after = y[c + 1: c + 6]
            if before.size < (1 if c == 0 else 2) or after.size < 2:
                continue
            b, a = float(np.median(before)), float(np.median(after))
            jump = a / b if positive and b > 0 else math.inf
            if positive and jump >= float(p("STB009", "ratio")):
                i1, i2 = int(fidx[c]), int(fidx[c + 1])
                findings.append(Finding(
                    code="STB009",
                    message=(f"train loss jumped {jump:.1f}× at a resume (step {_step(st[c])} → {_step(st[c + 1])}"
                             f"{', the first logged step' if c == 0 else ''}): "
                             f"median {_fmt(b)} over the {before.size} points before {_where(train, i1)} vs "
                             f"{_fmt(a)} over the {after.size} after {_where(train, i2)}"),
                    hint=("Resume with the full checkpoint (model, optimizer, scheduler, scaler, RNG state) and the same "
                          "configuration; check the path that was loaded."),
                    step=float(st[c + 1]), line=_line(train, i2),
                    evidence={"before": b, "after": a, "ratio": jump}))
                break

    # -- spikes --------------------------------------------------------------------------------
    if positive and not rl and n >= int(p("STB005", "min_points")):
        # A spike must also matter on the scale of the run: a 0.0002 -> 0.0004 blip of a memorised
        # (and 4-decimal rounded) loss is 2x but meaningless.
        start_level = float(np.median(y[: max(3, n // 20)]))
        min_excess = float(p("STB005", "min_abs_frac")) * start_level
        sp = robust_spikes(y, float(p("STB005", "z")), float(p("STB005", "min_ratio")), min_excess=min_excess)
        facts["loss_spikes"] = len(sp)
        if sp:
            findings.append(_spike_finding("STB005", "loss", train, fidx, sp))
    gn = run.get("grad_norm")
    if gn is not None:
        gf = np.flatnonzero(np.isfinite(gn.value) & (gn.value > 0))
        if gf.size >= 20:
            sp = robust_spikes(gn.value[gf], float(p("STB006", "z")), float(p("STB006", "min_ratio")))
            facts["grad_norm_spikes"] = len(sp)
            if sp:
                findings.append(_spike_finding("STB006", "grad_norm", gn, gf, sp))

    uniform = _worse_than_uniform(run, float(p("STB011", "margin")))
    if uniform is not None:
        findings.append(uniform)

    status = _status(findings, settings)
    return CheckResult(check=CHECK, status=status,
                       reason=_reason(findings, settings, f"{n} finite train-loss points: no non-finite values, "
                                                          f"divergence or spikes"),
                       findings=findings, facts=facts)


def _repeat_runs(y: np.ndarray, min_rep: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of identical consecutive values: (starts, lengths) of the runs, in order.

    For ``min_rep >= 2`` only runs of at least two values are listed (found from the equal-neighbour
    mask, one byte a point), which is all the flat-line test looks at; for ``min_rep < 2`` every run,
    single values included.
    """
    n = y.size
    if min_rep < 2:
        change = np.flatnonzero(np.diff(y) != 0)
        starts = np.concatenate([[0], change + 1])
        ends = np.concatenate([change, [n - 1]])
        return starts, ends - starts + 1
    same = np.empty(n + 1, dtype=np.int8)  # same[i + 1] = y[i + 1] == y[i]; 0 at both ends
    same[0] = same[n] = 0
    np.equal(y[1:], y[:-1], out=same[1:n].view(np.bool_))
    edges = np.diff(same)
    del same
    up = np.flatnonzero(edges == 1)  # y[up] == y[up + 1]: a run of repeats starts at up
    down = np.flatnonzero(edges == -1)  # ... and ends at down
    return up, down - up + 1


def _flatline_finding(train: Series, y: np.ndarray, fidx: np.ndarray, min_rep: int, min_val: float) -> Optional[Finding]:
    """STB003: the longest run of one repeated value (or a loss stuck at exactly 0)."""
    n = y.size
    starts, lens = _repeat_runs(y, min_rep)
    for kind in ("value", "zero"):
        if kind == "value":
            ok = (lens >= min_rep) & (np.abs(y[starts]) >= min_val)
        else:
            # the value just before the run (none for a run at the start)
            prev_big = np.abs(y[np.maximum(starts - 1, 0)]) >= min_val
            prev_big &= starts > 0
            ok = (lens >= min_rep) & (y[starts] == 0.0) & prev_big
        if ok.any():
            j = int(np.argmax(np.where(ok, lens, 0)))
            a, b = int(fidx[starts[j]]), int(fidx[starts[j] + lens[j] - 1])
            return Finding(
                code="STB003",
                message=(f"train loss is exactly {_fmt(float(y[starts[j]]))} at {int(lens[j])} consecutive logged "
                         f"steps ({_step(train.step[a])}–{_step(train.step[b])}"
                         + (f", lines {_line(train, a)}–{_line(train, b)}" if _line(train, a) else "") + ")"),
                hint=("A real loss never repeats exactly: check grad_norm for nan/inf, set "
                      "logging_nan_inf_filter=False, and check that the optimizer actually steps."),
                step=float(train.step[a]), line=_line(train, a),
                evidence={"value": float(y[starts[j]]), "repeats": int(lens[j])})
    return None


def _isolated_overflows(run: Run, gn: Series, bad: np.ndarray) -> bool:
    """Rare non-finite grad norms (at most 1% of the points) each followed by finite grad norms
    and a finite loss: the signature of steps skipped by a gradient scaler."""
    if bad.size > max(3, 0.01 * len(gn)):
        return False
    if bad[-1] + 1 >= len(gn) or not np.isfinite(gn.value[bad[-1] + 1:]).any():
        return False
    loss = run.train_loss
    if loss is None:
        return False
    for i in bad.tolist():
        after = loss.value[loss.step > gn.step[i]]
        if after.size == 0 or not np.isfinite(after).all():
            return False
    return True


def _worse_than_uniform(run: Run, margin: float) -> Optional[Finding]:
    """STB011: loss above ln(vocab_size), when the vocabulary size is known."""
    vocab = run.config.extra.get("vocab_size")
    if not isinstance(vocab, (int, float)) or isinstance(vocab, bool) or vocab < 2:
        return None
    limit = math.log(vocab)
    checks: list[tuple[str, Series, float, int]] = []
    tl, el = run.train_loss, run.eval_loss
    if tl is not None:
        fin = np.flatnonzero(np.isfinite(tl.value))
        if fin.size >= 3:
            tail = fin[-max(1, fin.size // 5):]
            checks.append(("train loss", tl, float(np.median(tl.value[tail])), int(tail[-1])))
    if el is not None:
        fin = np.flatnonzero(np.isfinite(el.value))
        if fin.size:
            checks.append(("eval loss", el, float(el.value[fin[-1]]), int(fin[-1])))
    bad = [(what, s, v, i) for what, s, v, i in checks if v > limit * (1 + margin)]
    if not bad:
        return None
    what, s, v, i = bad[0]
    peak = ""
    if tl is not None and np.isfinite(tl.value).any():
        j = int(np.nanargmax(np.where(np.isfinite(tl.value), tl.value, np.nan)))
        if tl.value[j] > 1.5 * limit:
            peak = f"; train loss peaked at {_fmt(float(tl.value[j]))} at {_where(tl, j)}"
    also = f" (and {bad[1][0]} {_fmt(bad[1][2])})" if len(bad) > 1 else ""
    return Finding(
        code="STB011",
        message=(f"{what} {_fmt(v)} at {_where(s, i)} is above ln({int(vocab)}) = {limit:.2f}, the loss of a "
                 f"uniform guess over the vocabulary{also}{peak}: the model predicts worse than chance"),
        hint="Lower the learning rate by 10x or more, add warm-up and gradient clipping.",
        step=float(s.step[i]), line=_line(s, i),
        evidence={"value": v, "ln_vocab": limit, "vocab_size": int(vocab)})


def _spike_finding(code: str, what: str, s: Series, fidx: np.ndarray, sp: list[tuple[int, float, float]]) -> Finding:
    top = sorted(sp, key=lambda t: -t[2])[:5]
    i_big = int(fidx[top[0][0]])
    listing = "; ".join(f"{r:.1f}× at {_where(s, int(fidx[i]))}" for i, _, r in top)
    return Finding(
        code=code,
        message=(f"{len(sp)} {what} spike(s) above the local level (robust z on log {what}); largest: {listing}"),
        hint=("Lower the (peak) learning rate or tighten gradient clipping; inspect the batches at those steps."
              if code == "STB005" else "Harmless if the loss does not react; otherwise clip gradients or lower the LR."),
        step=float(s.step[i_big]), line=_line(s, i_big),
        evidence={"count": len(sp), "largest": [{"step": _step(s.step[int(fidx[i])]), "line": _line(s, int(fidx[i])),
                                                 "value": float(s.value[int(fidx[i])]), "ratio": r, "z": z}
                                                for i, z, r in top]})


def _reason(findings: list[Finding], settings: Any, quiet: str) -> str:
    ranked = sorted(findings, key=lambda f: -settings.severity_of(f.code).rank)
    if ranked and settings.severity_of(ranked[0].code).rank >= 1:
        more = len([f for f in findings if settings.severity_of(f.code).rank >= 1]) - 1
        return ranked[0].message + (f" (+{more} more)" if more > 0 else "")
    return quiet
