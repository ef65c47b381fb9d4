"""The throughput check: how fast the run trained, and whether the log's timings agree.

Sources, as the parsers record them:

- the end-of-run summary (Hugging Face ``train_runtime``, ``train_samples_per_second``,
  ``train_steps_per_second``, ``total_flos``);
- per-step timings: ``train/step_time_ms`` (nanoGPT ``time Yms``),
  ``train/steps_per_second`` (progress-bar rate samples), ``train/tokens_per_second``
  (torchtitan ``tps``), ``train/samples_per_second``;
- ``eval/runtime`` (Hugging Face ``eval_runtime``), ``train/mfu`` (percent, as printed),
  and wall-clock ``train/timestamp`` / ``train/elapsed_s`` when a parser records them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Run, Series, Settings, Severity, Status, hookimpl, rule_doc

CHECK = "throughput"

SUMMARY = "THR001"
SOURCES_DISAGREE = "THR002"
SLOWDOWN = "THR003"
STEP_TIME_SPIKES = "THR004"
PERIODIC_SPIKES = "THR005"
STALL = "THR006"
EVAL_TIME = "THR007"
BELOW_FLOOR = "THR008"
UTILIZATION = "THR009"
IMPOSSIBLE_UTILIZATION = "THR010"

def _rule(code: str, name: str, severity: Severity, summary: str, what: str, why: str, example: str,
          fix: str, params: Optional[dict[str, Param]] = None) -> Rule:
    return Rule(code=code, name=name, check=CHECK, severity=severity, summary=summary,
                doc=rule_doc(what, why, example, fix), params=params or {})


RULES: tuple[Rule, ...] = (
    _rule(SUMMARY, "throughput-summary", Severity.info,
          "The run's speed: samples/s, steps/s and tokens/s (samples/s x sequence length).",
          "States the training speed from the end-of-run summary or the per-step timings, with tokens/s "
          "when the sequence length is known (`seq_len` setting or the run's config).",
          "Samples/s alone does not compare across sequence lengths; tokens/s does, and it is what "
          "utilization is computed from.",
          "{'train_runtime': 81.1, 'train_samples_per_second': 39.07, 'train_steps_per_second': 9.77, ...}",
          "Nothing to fix; pass `--seq-len` (or `seq_len` in the config) to get tokens/s."),
    _rule(SOURCES_DISAGREE, "throughput-sources-disagree", Severity.warning,
          "The end-of-run summary and the per-step timings give different speeds.",
          "Compares the summary's runtime with the time the per-step timings account for "
          "(steps / median step rate, plus evaluation time). A relative difference above `tolerance` is a "
          "finding; it also compares a logged tokens/s with samples/s x seq_len.",
          "Time that no step accounts for went somewhere: checkpoint saving, data loading stalls, "
          "compilation, or the log mixes two runs.",
          "train_runtime 200 s for 792 steps, but steps ran at a median 9.8 it/s (81 s) plus 5 s of evals",
          "Look for stalls between steps (slow checkpoint saving, data loading); check that the log is one run.",
          {"tolerance": Param(default=0.25, doc="relative difference between the sources that is tolerated")}),
    _rule(SLOWDOWN, "throughput-slowdown", Severity.warning,
          "Late steps are much slower than early ones.",
          "Compares the median step time of the last quarter of the timed steps with the first quarter.",
          "A run that slows down wastes its allocation: memory fragmentation, a leak (growing lists, "
          "retained graphs), thermal throttling or a dataloader that degrades.",
          "step_time median 120 ms in steps 0-2500, 210 ms in steps 7500-10000 (+75%)",
          "Profile a late step; look for tensors kept across steps (`loss` instead of `loss.item()`), "
          "growing caches, or throttling GPUs.",
          {"max_slowdown": Param(default=0.3, doc="relative increase of the median step time that is flagged"),
           "min_points": Param(default=12, doc="timed steps needed before comparing quarters")}),
    _rule(STEP_TIME_SPIKES, "step-time-spikes", Severity.warning,
          "Irregular step-time spikes cost a noticeable share of the training time.",
          "Finds steps whose time is far above the median (robust z-score above `z_threshold` and more than "
          "`min_ratio` x the median), sets aside spikes that recur at a fixed interval (evaluation, "
          "checkpointing: rule THR005) and flags the rest when they cost more than `max_time_fraction` of "
          "the timed steps.",
          "Irregular pauses point at contention (shared filesystem, other jobs), garbage collection or "
          "data loading.",
          "iter 4100: time 2300.00ms (median 120 ms)",
          "Check the data pipeline and the filesystem at those steps.",
          {"z_threshold": Param(default=6.0, doc="robust z-score (median/MAD) above which a step is a spike"),
           "min_ratio": Param(default=2.0, doc="a spike is also at least this many times the median step time"),
           "max_time_fraction": Param(default=0.05, doc="share of timed step time the spikes may cost")}),
    _rule(PERIODIC_SPIKES, "periodic-step-time-spikes", Severity.info,
          "Step-time spikes that recur at a fixed interval (evaluation or checkpointing).",
          "Groups spikes whose steps are evenly spaced and reports the interval and their cost.",
          "Expected: nanoGPT's `eval_interval` iterations include the evaluation; Trainer progress bars dip "
          "after each evaluation. Reported so the cost is visible.",
          "iter 250: time 9500.00ms ... iter 500: time 9400.00ms (median 120 ms)",
          "Nothing, unless the cost matters: evaluate less often or on fewer batches."),
    _rule(STALL, "training-stall", Severity.warning,
          "A long gap between two consecutive timestamps.",
          "Reads wall-clock timestamps (`train/timestamp` or `train/elapsed_s`) and flags gaps longer than "
          "`min_stall_s` and `stall_factor` x the median gap.",
          "The job was alive but not training: a hang, a slow checkpoint, a preemption.",
          "step 6500 at 20:47:31, step 6501 at 21:12:02 (median gap 2.3 s)",
          "Find what ran in the gap (checkpoint, eval, restart) in the lines between.",
          {"min_stall_s": Param(default=120.0, doc="gaps shorter than this are never stalls"),
           "stall_factor": Param(default=20.0, doc="gap / median gap above which a gap is a stall")}),
    _rule(EVAL_TIME, "eval-time-share", Severity.info,
          "How much of the runtime went to evaluation.",
          "Sums the evaluation runtimes and compares them with the training runtime; info always, and "
          "the share is stated in the finding.",
          "Evaluation that takes a large share of the budget slows the run without training it.",
          "7 evals, 9.8 s of 81.1 s (12%)",
          "Evaluate less often, on a subset, or with a larger eval batch size."),
    _rule(BELOW_FLOOR, "throughput-below-floor", Severity.error,
          "Training throughput is below the configured floor (`min_samples_per_second`).",
          "Compares samples/s with the `min_samples_per_second` setting (off unless set).",
          "A CI job that guards a training speed fails when a change makes training slower.",
          "min_samples_per_second = 50; the run trained at 39.07 samples/s",
          "Find the change that slowed training, or lower the floor if the workload changed."),
    _rule(UTILIZATION, "hardware-utilization", Severity.info,
          "Model FLOPs utilization: achieved FLOP/s as a share of the hardware peak.",
          "Computes `total_flos / train_runtime / peak_flops` when `peak_flops` is set, and reports the "
          "median `mfu` the log printed when it did.",
          "Without it, a speed has no scale: 10k tokens/s may be 2% or 60% of the hardware.",
          "total_flos 1.7e14, train_runtime 81.1 s, peak 3.1e14 FLOP/s -> 0.7%",
          "Set `peak_flops` for your accelerator (e.g. 312e12 for A100 bf16) to get the figure."),
    _rule(IMPOSSIBLE_UTILIZATION, "impossible-utilization", Severity.warning,
          "The utilization computed or logged is above 100%: the log (or the peak) is wrong.",
          "Flags MFU above `max_mfu` percent, from `total_flos` or a logged `mfu` series.",
          "Either the FLOP count, the runtime or the peak is wrong, so no speed figure can be trusted as is.",
          "mfu 130.2%",
          "Check `peak_flops` (per device vs. whole node; dense vs. sparse peak) and how FLOPs are counted.",
          {"max_mfu": Param(default=100.0, doc="utilization in percent above which it is impossible")}),
)


@hookimpl
def logcheck_register_rules(register):
    for rule in RULES:
        register(rule)


# ---------------------------------------------------------------------------
# Small numeric helpers (kept private; O(n) or O(n log n))
# ---------------------------------------------------------------------------


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def _robust_z(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(z, median, scale) with scale = 1.4826 x MAD, floored so a flat series does not explode."""
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826
    scale = max(mad, 0.01 * abs(med), 1e-12)
    return (x - med) / scale, med, scale


def _periodic_subset(steps: np.ndarray) -> Optional[tuple[float, np.ndarray]]:
    """(interval, mask) when most of ``steps`` fall on one arithmetic progression, else None.

    The interval is the most common gap; the phase the most common remainder, so one
    irregular step among evenly spaced ones does not hide the pattern.
    """
    if steps.size < 3:
        return None
    gaps = np.round(np.diff(steps))
    gaps = gaps[gaps > 0]
    if gaps.size < 2:
        return None
    vals, counts = np.unique(gaps, return_counts=True)
    base = float(vals[int(np.argmax(counts))])
    if base <= 1:
        return None
    phase = np.mod(np.round(steps), base)
    pv, pc = np.unique(phase, return_counts=True)
    mask = phase == pv[int(np.argmax(pc))]
    if int(mask.sum()) < 3 or float(mask.mean()) < 0.5:
        return None
    return base, mask


def _fmt(x: float, digits: int = 3) -> str:
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


# ---------------------------------------------------------------------------
# Per-step timing
# ---------------------------------------------------------------------------


@dataclass
class StepTimes:
    """Per-step cost, positive and finite: seconds per step when ``unit == 's'``."""

    source: str  # the series it came from, e.g. "train/step_time_ms"
    steps: np.ndarray
    cost: np.ndarray  # per-step time (s) or inverse rate (relative)
    lines: np.ndarray
    unit: str  # "s" (seconds per step) or "1/tps"

    def describe(self, value: float) -> str:
        if self.unit == "s":
            return f"{value * 1000:.4g} ms" if value < 10 else f"{value:.4g} s"
        if self.unit == "1/tps":
            return f"{1 / value:,.0f} tokens/s"
        if self.unit == "1/sps":
            return f"{1 / value:,.4g} samples/s"
        return f"{value:.4g} (unit not logged)"


# (series names, how to turn a value into a per-step cost, unit); the first present wins.
_TIMING_SOURCES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("step_time_ms",), "ms", "s"),
    (("step_time_s",), "s", "s"),
    (("steps_per_second", "updates_per_sec", "steps_per_sec"), "inverse", "s"),
    (("step_time",), "s", "rel"),  # a bare "dt"/"time" whose unit the log does not say
    (("tokens_per_second", "tokens_per_sec", "words_per_sec"), "inverse", "1/tps"),
    (("samples_per_second", "samples_per_sec"), "inverse", "1/sps"),
)


def _per_step_times(run: Run) -> Optional[StepTimes]:
    for names, conv, unit in _TIMING_SOURCES:
        for name in names:
            s = run.get(name)
            if s is None:
                continue
            v = s.value.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                cost = v / 1000.0 if conv == "ms" else (1.0 / v if conv == "inverse" else v)
            ok = np.isfinite(cost) & (cost > 0)
            if int(ok.sum()) >= 2:
                return StepTimes(f"{s.split.value}/{s.name}", s.step[ok], cost[ok], s.line[ok], unit)
    return None


def _tokens_series(run: Run) -> Optional[Series]:
    return run.get("tokens_per_second") or run.get("tokens_per_sec")


def _timestamps(run: Run) -> Optional[Series]:
    for name in ("timestamp", "elapsed_s", "wall_time"):
        s = run.get(name)
        if s is not None and len(s) >= 3:
            return s
    return None


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


@hookimpl
def logcheck_check(run: Run, settings: Settings) -> CheckResult:
    sm, cfg = run.summary, run.config
    times = _per_step_times(run)
    tps_series = _tokens_series(run)
    eval_rt = run.get("runtime", "eval")
    mfu_series = run.get("mfu")
    stamps = _timestamps(run)
    has_summary = any(v is not None for v in (sm.train_runtime_s, sm.train_samples_per_second,
                                              sm.train_steps_per_second))
    if not (has_summary or times or stamps or tps_series is not None):
        return CheckResult(check=CHECK, status=Status.skip,
                           reason="the log has no timing: no runtime summary, step times, rates or timestamps")

    findings: list[Finding] = []
    facts: dict[str, Any] = {}
    seq_len = settings.seq_len or cfg.seq_len
    total_steps = sm.global_step or (int(times.steps.max()) if times is not None else None)

    # -- the speed, from the best source --------------------------------------
    samples_ps = sm.train_samples_per_second
    steps_ps = sm.train_steps_per_second
    basis = "end-of-run summary"
    if steps_ps is None and sm.train_runtime_s and sm.global_step:
        steps_ps = sm.global_step / sm.train_runtime_s
    if steps_ps is None and times is not None and times.unit == "s":
        steps_ps = 1.0 / _median(times.cost)
        basis = f"median of {times.cost.size} per-step timings ({times.source})"
    batch = cfg.train_batch_size
    if batch and (cfg.gradient_accumulation_steps or 1) and (cfg.world_size or 1):
        batch = batch * (cfg.gradient_accumulation_steps or 1) * (cfg.world_size or 1)
    if samples_ps is None and steps_ps is not None and batch:
        samples_ps = steps_ps * batch
    tokens_ps: Optional[float] = None
    tokens_basis = ""
    if samples_ps is not None and seq_len:
        tokens_ps = samples_ps * seq_len
        tokens_basis = f"{_fmt(samples_ps, 4)} samples/s x seq_len {seq_len}"
    elif tps_series is not None:
        fin = tps_series.value[np.isfinite(tps_series.value)]
        if fin.size:
            tokens_ps = _median(fin)
            tokens_basis = f"median of {fin.size} logged tokens/s values ({tps_series.key or 'tps'})"
    facts.update({"samples_per_second": samples_ps, "steps_per_second": steps_ps, "tokens_per_second": tokens_ps,
                  "tokens_per_second_basis": tokens_basis or None, "seq_len": seq_len,
                  "train_runtime_s": sm.train_runtime_s, "basis": basis,
                  "effective_batch": (samples_ps / steps_ps) if samples_ps and steps_ps else None})

    parts = []
    if samples_ps is not None:
        parts.append(f"{_fmt(samples_ps, 4)} samples/s")
    if steps_ps is not None:
        parts.append(f"{_fmt(steps_ps, 3)} steps/s")
    if tokens_ps is not None:
        parts.append(f"~{_fmt(tokens_ps)} tokens/s ({tokens_basis})")
    elif samples_ps is not None:
        parts.append("tokens/s unknown (sequence length not known: set seq_len)")
    if sm.train_runtime_s is not None:
        parts.append(f"train_runtime {_fmt(sm.train_runtime_s, 4)} s")
    if sm.total_flos and sm.train_runtime_s and not settings.peak_flops:
        # the FLOP rate is known; utilization needs the hardware's peak, which the log does not give
        parts.append(f"{sm.total_flos / sm.train_runtime_s / 1e12:.3g} TFLOP/s achieved "
                     "(total_flos / train_runtime; set peak_flops for the share of the hardware)")
    if parts:
        findings.append(Finding(
            code=SUMMARY,
            message=f"trained at {', '.join(parts)}, from the {basis}"
                    f"{f' (line {sm.line})' if sm.line and basis.startswith('end') else ''}.",
            hint="" if tokens_ps is not None else "set seq_len (tokens per sample) to get tokens/s",
            line=sm.line if basis.startswith("end") else None,
            evidence={k: facts[k] for k in ("samples_per_second", "steps_per_second", "tokens_per_second",
                                             "seq_len", "train_runtime_s")},
        ))

    # -- evaluation time ----------------------------------------------------------
    eval_total = 0.0
    if eval_rt is not None:
        vals = eval_rt.value[np.isfinite(eval_rt.value)]
        eval_total = float(vals.sum())
        facts["eval_runtime_s"] = eval_total
        facts["evals_timed"] = int(vals.size)
        if sm.train_runtime_s:
            share = eval_total / sm.train_runtime_s
            facts["eval_time_fraction"] = share
            findings.append(Finding(
                code=EVAL_TIME,
                message=f"{vals.size} evaluations took {_fmt(eval_total, 3)} s in all, "
                        f"{share:.0%} of train_runtime {_fmt(sm.train_runtime_s, 4)} s "
                        f"(median {_fmt(_median(vals), 3)} s each, steps "
                        f"{_fmt(float(eval_rt.step[0]))}-{_fmt(float(eval_rt.step[-1]))}).",
                hint="evaluate less often or on a subset if evaluation time matters",
                step=float(eval_rt.step[0]), line=int(eval_rt.line[0]) or None,
                evidence={"eval_runtime_s": eval_total, "evals": int(vals.size), "fraction": share},
            ))

    # -- summary vs per-step timings ---------------------------------------------
    tol = float(settings.param(SOURCES_DISAGREE, "tolerance"))
    if times is not None and times.unit == "s" and sm.train_runtime_s and total_steps:
        med = _median(times.cost)
        accounted = total_steps * med + eval_total
        diff = (sm.train_runtime_s - accounted) / sm.train_runtime_s
        facts["per_step_rate"] = 1.0 / med
        facts["runtime_accounted_s"] = accounted
        if abs(diff) > tol:
            direction = ("more than" if diff > 0 else "less than")
            findings.append(Finding(
                code=SOURCES_DISAGREE,
                message=f"train_runtime {_fmt(sm.train_runtime_s, 4)} s is {abs(diff):.0%} {direction} the "
                        f"{_fmt(accounted, 4)} s the per-step timings account for ({total_steps} steps x median "
                        f"{times.describe(med)} from {times.source}"
                        f"{f' + {_fmt(eval_total, 3)} s of evaluation' if eval_total else ''}).",
                hint=("time outside the steps: look for checkpoint saving, data loading stalls or compilation"
                      if diff > 0 else "the timings measure something other than the summary, or the log "
                      "holds more than one run"),
                line=sm.line,
                evidence={"train_runtime_s": sm.train_runtime_s, "accounted_s": accounted, "steps": total_steps,
                          "median_step_s": med, "eval_runtime_s": eval_total, "relative_difference": diff,
                          "tolerance": tol, "timing_source": times.source},
            ))
    if tps_series is not None and samples_ps is not None and seq_len:
        fin = tps_series.value[np.isfinite(tps_series.value)]
        if fin.size:
            logged = _median(fin)
            derived = samples_ps * seq_len
            diff = abs(logged - derived) / max(logged, derived)
            if diff > tol:
                findings.append(Finding(
                    code=SOURCES_DISAGREE,
                    message=f"the logged tokens/s (median {_fmt(logged)}) and samples/s x seq_len "
                            f"({_fmt(samples_ps, 4)} x {seq_len} = {_fmt(derived)}) differ by {diff:.0%}.",
                    hint="check seq_len (packed vs padded sequences) and whether tokens/s is per device or global",
                    line=int(tps_series.line[0]) or None,
                    evidence={"logged_tokens_per_second": logged, "derived_tokens_per_second": derived,
                              "relative_difference": diff},
                ))

    # -- slowdown, spikes -------------------------------------------------------------
    if times is not None:
        findings += _slowdown(times, settings, facts)
        findings += _spikes(times, settings, facts)
    if stamps is not None:
        findings += _stalls(stamps, settings, facts)

    # -- floor ---------------------------------------------------------------------------
    floor = settings.min_samples_per_second
    if floor is not None:
        if samples_ps is None:
            facts["floor"] = "not checked: samples/s unknown"
        elif samples_ps < floor:
            findings.append(Finding(
                code=BELOW_FLOOR,
                message=f"trained at {_fmt(samples_ps, 4)} samples/s, below the floor of {_fmt(floor, 4)} "
                        f"samples/s ({samples_ps / floor - 1:+.0%}), from the {basis}.",
                hint="find what slowed training (step times, data loading, evaluation), or lower "
                     "min_samples_per_second if the workload changed",
                line=sm.line,
                evidence={"samples_per_second": samples_ps, "floor": floor},
            ))

    # -- utilization ---------------------------------------------------------------------------
    max_mfu = float(settings.param(IMPOSSIBLE_UTILIZATION, "max_mfu"))
    if settings.peak_flops and sm.total_flos and sm.train_runtime_s:
        mfu = 100.0 * sm.total_flos / sm.train_runtime_s / settings.peak_flops
        facts["mfu_percent"] = mfu
        code = IMPOSSIBLE_UTILIZATION if mfu > max_mfu else UTILIZATION
        findings.append(Finding(
            code=code,
            message=f"utilization {mfu:.3g}% of peak: total_flos {sm.total_flos:.3g} / train_runtime "
                    f"{_fmt(sm.train_runtime_s, 4)} s = {sm.total_flos / sm.train_runtime_s:.3g} FLOP/s against "
                    f"peak_flops {settings.peak_flops:.3g}"
                    f"{' — impossible, so a figure is wrong' if code == IMPOSSIBLE_UTILIZATION else ''}.",
            hint=("check peak_flops (per device vs. node) and total_flos" if code == IMPOSSIBLE_UTILIZATION else
                  "the Trainer's total_flos counts 6 x parameters x tokens; compare with your hardware's peak"),
            line=sm.line,
            evidence={"mfu_percent": mfu, "total_flos": sm.total_flos, "peak_flops": settings.peak_flops},
        ))
    elif sm.total_flos and sm.train_runtime_s:
        facts["achieved_flops_per_second"] = sm.total_flos / sm.train_runtime_s
    if mfu_series is not None:
        v = mfu_series.value
        ok = np.isfinite(v) & (v >= 0)  # nanoGPT prints -100% before it has measured
        if ok.any():
            med = _median(v[ok])
            facts["logged_mfu_median"] = med
            over = ok & (v > max_mfu)
            # The first reading after a start or resume times a partial window (nanoGPT-style running
            # averages): an impossible value there alone is an artefact, reported as info.
            first_only = bool(over[0]) and int(over.sum()) == 1
            if first_only:
                over[0] = False
                facts["first_mfu_reading_impossible"] = float(v[0])
            if over.any():
                i = int(np.argmax(over))
                findings.append(Finding(
                    code=IMPOSSIBLE_UTILIZATION,
                    message=f"the log prints mfu above {max_mfu:g}% at {int(over.sum())} of {int(ok.sum())} steps "
                            f"(first {v[i]:.4g}% at step {_fmt(float(mfu_series.step[i]))}, line "
                            f"{int(mfu_series.line[i])}): impossible, so its FLOP count or peak is wrong.",
                    hint="check the peak FLOP/s the script assumes for this hardware and precision",
                    step=float(mfu_series.step[i]), line=int(mfu_series.line[i]) or None,
                    evidence={"max_mfu_logged": float(v[ok].max()), "steps_over": int(over.sum())},
                ))
            else:
                findings.append(Finding(
                    code=UTILIZATION,
                    message=f"logged mfu: median {med:.3g}% over {int(ok.sum())} steps "
                            f"(range {float(v[ok].min()):.3g}-{float(v[ok].max()):.3g}%)"
                            + (f"; the first reading ({float(v[0]):.4g}% at step {_fmt(float(mfu_series.step[0]))},"
                               f" line {int(mfu_series.line[0])}) is impossible: a partial timing window at the "
                               "start or resume." if first_only else "."),
                    hint="", evidence={"median_mfu_percent": med},
                ))

    return _result(findings, facts, settings, parts)


def _result(findings: list[Finding], facts: dict[str, Any], settings: Settings, parts: list[str]) -> CheckResult:
    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    status = Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_
    reason = f"trained at {', '.join(parts)}" if parts else "per-step timings only"
    if worst >= 1:
        bad = [f for f in findings if settings.severity_of(f.code).rank == worst]
        reason += f"; {len(bad)} finding(s) at {'error' if worst == 2 else 'warning'} ({bad[0].code})"
    return CheckResult(check=CHECK, status=status, reason=reason, findings=findings, facts=facts)


def _slowdown(times: StepTimes, settings: Settings, facts: dict[str, Any]) -> list[Finding]:
    min_points = int(settings.param(SLOWDOWN, "min_points"))
    max_slow = float(settings.param(SLOWDOWN, "max_slowdown"))
    n = times.cost.size
    if n < min_points:
        return []
    q = n // 4
    first, last = times.cost[:q], times.cost[-q:]
    m1, m2 = _median(first), _median(last)
    change = m2 / m1 - 1.0
    facts["step_time_first_quarter"] = m1
    facts["step_time_last_quarter"] = m2
    if change <= max_slow:
        return []
    s0, s1 = float(times.steps[0]), float(times.steps[q - 1])
    e0, e1 = float(times.steps[-q]), float(times.steps[-1])
    return [Finding(
        code=SLOWDOWN,
        message=f"steps got {change:.0%} slower: median {times.describe(m1)} per step in steps "
                f"{_fmt(s0)}-{_fmt(s1)}, {times.describe(m2)} in steps {_fmt(e0)}-{_fmt(e1)} "
                f"({times.source}).",
        hint="profile a late step: tensors kept across steps, growing caches, throttling or a degrading data loader",
        step=e0, line=int(times.lines[-q]) or None,
        evidence={"first_quarter_median": m1, "last_quarter_median": m2, "relative_change": change,
                  "first_steps": [s0, s1], "last_steps": [e0, e1], "source": times.source},
    )]


def _spikes(times: StepTimes, settings: Settings, facts: dict[str, Any]) -> list[Finding]:
    if times.cost.size < 8:
        return []
    z_thr = float(settings.param(STEP_TIME_SPIKES, "z_threshold"))
    min_ratio = float(settings.param(STEP_TIME_SPIKES, "min_ratio"))
    max_frac = float(settings.param(STEP_TIME_SPIKES, "max_time_fraction"))
    z, med, _ = _robust_z(times.cost)
    spike = (z > z_thr) & (times.cost > min_ratio * med)
    # The first timed step includes start-up (compilation, warm caches): not a spike.
    spike[0] = False
    if not spike.any():
        facts["step_time_spikes"] = 0
        return []
    idx = np.flatnonzero(spike)
    total = float(times.cost.sum())
    out: list[Finding] = []
    periodic = np.zeros(idx.size, dtype=bool)
    found = _periodic_subset(times.steps[idx])
    if found is not None:
        base, periodic = found
        p = idx[periodic]
        cost = float((times.cost[p] - med).sum())
        facts["periodic_spikes"] = {"count": int(p.size), "interval": base, "time_fraction": cost / total}
        out.append(Finding(
            code=PERIODIC_SPIKES,
            message=f"{p.size} step-time spikes recur every {_fmt(base)} steps (steps {_fmt(float(times.steps[p[0]]))}, "
                    f"{_fmt(float(times.steps[p[1]]))}, … {_fmt(float(times.steps[p[-1]]))}); median spike "
                    f"{times.describe(_median(times.cost[p]))} vs {times.describe(med)} per step, "
                    f"{cost / total:.0%} of timed step time: evaluation or checkpoint iterations, as expected.",
            hint="nothing to fix; evaluate less often or on fewer batches if the cost matters",
            step=float(times.steps[p[0]]), line=int(times.lines[p[0]]) or None,
            evidence={"count": int(p.size), "interval": base, "steps": times.steps[p][:20].tolist(),
                      "median_spike": _median(times.cost[p]), "median_step": med, "time_fraction": cost / total},
        ))
    irregular = idx[~periodic]
    facts["step_time_spikes"] = int(irregular.size)
    if irregular.size:
        cost = float((times.cost[irregular] - med).sum())
        facts["spike_time_fraction"] = cost / total
        worst = irregular[int(np.argmax(times.cost[irregular]))]
        if cost / total > max_frac:
            out.append(Finding(
                code=STEP_TIME_SPIKES,
                message=f"{irregular.size} irregular step-time spikes cost {cost / total:.0%} of timed step time "
                        f"(worst {times.describe(float(times.cost[worst]))} at step {_fmt(float(times.steps[worst]))}, "
                        f"line {int(times.lines[worst])}; median {times.describe(med)}; {times.source}).",
                hint="check data loading, the filesystem and other jobs on the node at those steps",
                step=float(times.steps[worst]), line=int(times.lines[worst]) or None,
                evidence={"count": int(irregular.size), "steps": times.steps[irregular][:20].tolist(),
                          "time_fraction": cost / total, "median_step": med},
            ))
    return out


def _stalls(stamps: Series, settings: Settings, facts: dict[str, Any]) -> list[Finding]:
    min_stall = float(settings.param(STALL, "min_stall_s"))
    factor = float(settings.param(STALL, "stall_factor"))
    t = stamps.value
    ok = np.isfinite(t)
    t, steps, lines = t[ok], stamps.step[ok], stamps.line[ok]
    if t.size < 3:
        return []
    gaps = np.diff(t)
    pos = gaps[gaps > 0]
    if not pos.size:
        return []
    med = _median(pos)
    stall = (gaps > min_stall) & (gaps > factor * med)
    facts["stalls"] = int(stall.sum())
    out = []
    for i in np.flatnonzero(stall)[:5]:
        out.append(Finding(
            code=STALL,
            message=f"{gaps[i]:.0f} s passed between step {_fmt(float(steps[i]))} (line {int(lines[i])}) and "
                    f"step {_fmt(float(steps[i + 1]))} (line {int(lines[i + 1])}); the median gap is {med:.3g} s.",
            hint="read the lines between the two steps: checkpointing, evaluation, a restart or a hang",
            step=float(steps[i + 1]), line=int(lines[i + 1]) or None,
            evidence={"gap_s": float(gaps[i]), "median_gap_s": med, "from_step": float(steps[i]),
                      "to_step": float(steps[i + 1])},
        ))
    return out
