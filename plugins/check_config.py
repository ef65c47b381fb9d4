"""The config check: configuration smells that the log reveals.

- which checkpoint ``load_best_model_at_end`` restored, and whether it holds the
  best evaluation (evals without a checkpoint cannot be restored);
- logging / evaluation intervals longer than the run;
- early stopping that can never fire;
- ``metric_for_best_model`` that is not among the logged eval metrics;
- the same figure read from two sources with different values (``run.conflicts``).

Checkpoints are read from the run (``config.checkpoints``, ``best_model_checkpoint``,
``restored_checkpoint``). Where only ``save_steps`` is known, the checkpoints before the
last step are its multiples; whether the last step was saved depends on the library
version, so it is never assumed.
"""
from __future__ import annotations

import math
import re
from typing import Any, Optional

import numpy as np

from logcheck import CheckResult, Finding, Param, Rule, Run, Settings, Severity, Status, hookimpl, rule_doc

CHECK = "config"

RESTORED_NOT_BEST = "CFG001"
RESTORED_CHECKPOINT = "CFG002"
LOGGING_INTERVAL_TOO_LONG = "CFG003"
EVAL_INTERVAL_TOO_LONG = "CFG004"
EARLY_STOPPING_CANNOT_FIRE = "CFG005"
BEST_METRIC_NOT_LOGGED = "CFG006"
SOURCES_DISAGREE = "CFG007"

def _rule(code: str, name: str, severity: Severity, summary: str, what: str, why: str, example: str,
          fix: str, params: Optional[dict[str, Param]] = None) -> Rule:
    return Rule(code=code, name=name, check=CHECK, severity=severity, summary=summary,
                doc=rule_doc(what, why, example, fix), params=params or {})


RULES: tuple[Rule, ...] = (
    _rule(RESTORED_NOT_BEST, "restored-checkpoint-not-best", Severity.warning,
          "load_best_model_at_end restored a checkpoint that is not the best evaluation: the best eval had no checkpoint.",
          "With `load_best_model_at_end`, the Trainer can only restore a *saved* checkpoint. When `save_steps` "
          "differs from `eval_steps`, some evaluations have no checkpoint. The rule finds the best evaluation of "
          "`metric_for_best_model`, the checkpoint that was (or, from the checkpoints, would be) restored, and "
          "reports when they differ by more than `min_difference` (relative).",
          "The model you keep is not the best one you evaluated, and the report's best score does not describe it.",
          "eval_steps=100, save_steps=200: evals at 100..700, checkpoints at 200/400/600; the best eval (3.657 at "
          "step 700) has no checkpoint, so checkpoint-600 (3.666) is restored",
          "Set `save_steps` equal to `eval_steps` (e.g. `save_steps=eval_steps=100`), or `save_strategy` equal to "
          "`eval_strategy`, so every evaluated model is saved and can be restored.",
          {"min_difference": Param(default=0.0, doc="relative metric difference below which it is not reported")}),
    _rule(RESTORED_CHECKPOINT, "restored-checkpoint", Severity.info,
          "Which checkpoint was restored at the end, and its evaluation.",
          "States the checkpoint `load_best_model_at_end` restored (from `best_model_checkpoint`, the log's "
          "`Loading best model from`, or the checkpoints and evals) and its metric value.",
          "The final model is a checkpoint, not the last step; the report should say which.",
          "Loading best model from out/checkpoint-600 (score: 3.666)",
          "Nothing to fix."),
    _rule(LOGGING_INTERVAL_TOO_LONG, "logging-interval-exceeds-run", Severity.warning,
          "logging_steps is larger than the number of steps, so no training loss is logged.",
          "Compares `logging_steps` with the run's steps (`max_steps` or the last step).",
          "No training curve: convergence and overfitting cannot be judged.",
          "logging_steps=500 with max_steps=200",
          "Set logging_steps to a fraction of the run (e.g. 1-2% of max_steps)."),
    _rule(EVAL_INTERVAL_TOO_LONG, "eval-interval-exceeds-run", Severity.warning,
          "eval_steps is larger than the number of steps, so evaluation happens at most at the end.",
          "Compares `eval_steps` with the run's steps.",
          "Without evaluations during training there is no eval curve, no early stopping and no best model.",
          "eval_steps=1000 with max_steps=792",
          "Set eval_steps below max_steps (several evaluations per run)."),
    _rule(EARLY_STOPPING_CANNOT_FIRE, "early-stopping-cannot-fire", Severity.warning,
          "Early stopping is configured but cannot stop the run.",
          "Flags early stopping without any logged evaluation, and a patience that needs more evaluations than "
          "the run has (patience x eval interval > steps after the first eval).",
          "The safeguard you rely on does nothing; the run trains to the end regardless.",
          "early_stopping_patience=10, eval_steps=100, max_steps=792 (7 evals)",
          "Lower the patience or evaluate more often; make sure evaluation is enabled."),
    _rule(BEST_METRIC_NOT_LOGGED, "best-metric-not-logged", Severity.warning,
          "metric_for_best_model is not among the logged eval metrics.",
          "Compares `metric_for_best_model` (with or without the `eval_` prefix) with the eval metrics in the log.",
          "The best-model selection (and early stopping) cannot work on a metric that is never computed.",
          "metric_for_best_model='accuracy' but evals log only eval_loss",
          "Return the metric from compute_metrics, or choose a logged metric."),
    _rule(SOURCES_DISAGREE, "sources-disagree", Severity.warning,
          "Two sources in the run give different values for the same figure.",
          "Reports each conflict the parsers found, e.g. the console log and trainer_state.json disagreeing on "
          "an eval loss or the global step.",
          "At least one of the sources is stale or from another run; figures from it are suspect.",
          "eval/loss at step 700: run.log 3.657, trainer_state.json 3.702",
          "Check that the files belong to the same run (same output dir, no resumed/overwritten run)."),
)


@hookimpl
def logcheck_register_rules(register):
    for rule in RULES:
        register(rule)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        if math.isfinite(x) and x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.4g}"
    return str(x)


_CKPT_STEP = re.compile(r"checkpoint-(\d+)")


def _checkpoint_step(path: Optional[str]) -> Optional[int]:
    if not path:
        return None
    m = _CKPT_STEP.search(str(path))
    return int(m.group(1)) if m else None


def _last_step(run: Run) -> Optional[float]:
    cfg, sm = run.config, run.summary
    for v in (cfg.max_steps, sm.max_steps, sm.global_step):
        if v:
            return float(v)
    best = None
    for s in run.series.values():
        fin = s.step[np.isfinite(s.step)]
        if fin.size:
            m = float(fin.max())
            best = m if best is None else max(best, m)
    return best


def _metric_series(run: Run, metric: Optional[str]):
    name = (metric or "loss").strip()
    for prefix in ("eval_", "eval/", "val_", "val/", "validation_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name, run.get(name, "eval")


# ---------------------------------------------------------------------------


@hookimpl
def logcheck_check(run: Run, settings: Settings) -> CheckResult:
    cfg = run.config
    findings: list[Finding] = []
    facts: dict[str, Any] = {}
    known = [k for k, v in cfg.model_dump(exclude={"extra", "checkpoints"}).items() if v is not None]
    if not known and not cfg.checkpoints and not run.conflicts and run.eval_loss is None:
        return CheckResult(check=CHECK, status=Status.skip,
                           reason="the log reveals no training configuration, checkpoints or conflicts")
    last = _last_step(run)
    facts["last_step"] = last

    findings += _best_checkpoint(run, settings, facts, last)

    # -- intervals longer than the run --------------------------------------------
    planned = cfg.max_steps or run.summary.max_steps or run.summary.global_step
    if planned:
        if cfg.logging_steps and cfg.logging_steps > planned:
            n = len(run.train_loss) if run.train_loss is not None else 0
            findings.append(Finding(
                code=LOGGING_INTERVAL_TOO_LONG,
                message=f"logging_steps {_fmt(cfg.logging_steps)} is larger than the run's {planned} steps; "
                        f"{n} training-loss point(s) were logged.",
                hint=f"set logging_steps to about {max(1, planned // 50)} (2% of the run)",
                evidence={"logging_steps": cfg.logging_steps, "steps": planned, "train_loss_points": n},
            ))
        if cfg.eval_steps and cfg.eval_steps > planned and _evaluation_enabled(run):
            n = len(run.eval_loss) if run.eval_loss is not None else 0
            findings.append(Finding(
                code=EVAL_INTERVAL_TOO_LONG,
                message=f"eval_steps {_fmt(cfg.eval_steps)} is larger than the run's {planned} steps; the log "
                        f"has {n} evaluation(s) (recent transformers evaluates once at the last step, older ones never).",
                hint=f"set eval_steps to about {max(1, planned // 10)} (10 evaluations per run)",
                evidence={"eval_steps": cfg.eval_steps, "steps": planned, "evals": n},
            ))

    # -- early stopping ------------------------------------------------------------------
    patience = cfg.early_stopping_patience
    if patience:
        metric_name, evals = _metric_series(run, cfg.metric_for_best_model)
        if evals is None and run.eval_loss is None:
            findings.append(Finding(
                code=EARLY_STOPPING_CANNOT_FIRE,
                message=f"early stopping is configured (patience {patience}) but the log has no evaluation, so it "
                        "cannot stop the run.",
                hint="enable evaluation (eval_strategy='steps' or 'epoch') with the metric early stopping watches",
                evidence={"patience": patience},
            ))
        else:
            ev = evals if evals is not None else run.eval_loss
            interval = cfg.eval_steps
            if not interval and len(ev) >= 2:
                interval = float(np.median(np.diff(ev.step)))
            if interval and planned:
                first = float(ev.step[0])
                needed = patience * interval
                remaining = planned - first
                facts["early_stopping"] = {"patience": patience, "eval_interval": interval,
                                           "steps_after_first_eval": remaining}
                if needed > remaining:
                    findings.append(Finding(
                        code=EARLY_STOPPING_CANNOT_FIRE,
                        message=f"early stopping needs {patience} evaluations without improvement "
                                f"({patience} x {_fmt(interval)} = {_fmt(needed)} steps) but only {_fmt(remaining)} "
                                f"steps follow the first eval at step {_fmt(first)}: it can never fire.",
                        hint="lower early_stopping_patience or evaluate more often",
                        step=first, evidence={"patience": patience, "eval_interval": interval,
                                              "needed_steps": needed, "remaining_steps": remaining},
                    ))

    # -- metric for best model --------------------------------------------------------------
    if cfg.metric_for_best_model:
        metric_name, evals = _metric_series(run, cfg.metric_for_best_model)
        logged = sorted(s.name for s in run.series.values() if s.split.value == "eval" and len(s))
        if evals is None and logged:
            findings.append(Finding(
                code=BEST_METRIC_NOT_LOGGED,
                message=f"metric_for_best_model '{cfg.metric_for_best_model}' is not among the logged eval metrics "
                        f"({', '.join(logged)}).",
                hint="return the metric from compute_metrics, or set metric_for_best_model to a logged one",
                evidence={"metric": cfg.metric_for_best_model, "logged": logged},
            ))

    # -- conflicts -------------------------------------------------------------------------------
    for c in run.conflicts:
        vals = "; ".join(f"{src}: {_fmt(v)}" for src, v in c.values.items())
        findings.append(Finding(
            code=SOURCES_DISAGREE,
            message=f"{c.what}: the sources disagree ({vals}).",
            hint="check that the files belong to the same run and were written at the same time",
            step=c.step, evidence={"what": c.what, "values": {k: _jsonable(v) for k, v in c.values.items()}},
        ))

    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    status = Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_
    bad = [f for f in findings if settings.severity_of(f.code).rank >= 1]
    if bad:
        reason = f"{len(bad)} configuration problem(s): " + "; ".join(
            f"{f.code} {settings.rules[f.code].name if f.code in settings.rules else ''}".strip() for f in bad[:4])
    else:
        reason = "no configuration problem found"
        restored = next((f for f in findings if f.code == RESTORED_CHECKPOINT), None)
        if restored is not None:
            reason += f"; {restored.message[0].lower()}{restored.message[1:]}"
    return CheckResult(check=CHECK, status=status, reason=reason, findings=findings, facts=facts)


def _evaluation_enabled(run: Run) -> bool:
    """Evidence that evaluation is on: eval points, a step/epoch eval strategy, best-model or early stopping."""
    cfg = run.config
    if any(s.split.value == "eval" and len(s) for s in run.series.values()):
        return True
    strategy = cfg.extra.get("eval_strategy", cfg.extra.get("evaluation_strategy"))
    if isinstance(strategy, str):
        return strategy.lower().rsplit(".", 1)[-1] not in ("no", "none")
    return bool(cfg.load_best_model_at_end or cfg.early_stopping_patience)


def _resolve_best_metric(run: Run):
    """(metric name, eval series, greater_is_better, how it was known), or None when the log cannot say.

    ``metric_for_best_model`` when the log names it; else the eval metric whose value at the best
    step equals ``best_metric`` (trainer_state.json records the value, not the name); else the
    Trainer's default, the loss.
    """
    cfg = run.config
    evals = {s.name: s for s in run.series.values() if s.split.value == "eval" and len(s)}
    if cfg.metric_for_best_model:
        name, ev = _metric_series(run, cfg.metric_for_best_model)
        basis = "metric_for_best_model"
    elif cfg.best_metric is not None and math.isfinite(cfg.best_metric):
        name, ev, basis = "", None, ""
        at = cfg.best_global_step or _checkpoint_step(cfg.best_model_checkpoint)
        for cand, s in sorted(evals.items(), key=lambda kv: kv[0] != "loss"):
            close = np.isclose(s.value, cfg.best_metric, rtol=1e-6, atol=0.0)
            if at is not None:
                close &= s.step == at
            if close.any():
                name, ev, basis = cand, s, "best_metric matches this eval metric"
                break
        if ev is None:
            return None
    else:
        name, ev = _metric_series(run, None)
        basis = "the Trainer's default (loss)"
    if ev is None:
        return None
    greater = cfg.greater_is_better
    if greater is None and cfg.best_metric is not None:
        fin = ev.value[np.isfinite(ev.value)]
        at = cfg.best_global_step or _checkpoint_step(cfg.best_model_checkpoint)
        upto = fin if at is None else ev.value[(ev.step <= at) & np.isfinite(ev.value)]
        if upto.size and cfg.best_metric <= upto.min() and cfg.best_metric < upto.max():
            greater = False
        elif upto.size and cfg.best_metric >= upto.max() and cfg.best_metric > upto.min():
            greater = True
    if greater is None:  # the Trainer's default: greater is better unless the metric is the loss
        greater = name != "loss"
    return name, ev, greater, basis


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v)


def _best_checkpoint(run: Run, settings: Settings, facts: dict[str, Any], last: Optional[float]) -> list[Finding]:
    """Which checkpoint was (would be) restored at the end, and is it the best eval?"""
    cfg = run.config
    restored_path = cfg.restored_checkpoint or cfg.best_model_checkpoint
    if cfg.load_best_model_at_end is False or not (cfg.load_best_model_at_end or restored_path):
        return []
    # Without load_best_model_at_end in the log, best_model_checkpoint is what it *would* restore.
    sure = bool(cfg.load_best_model_at_end or cfg.restored_checkpoint)
    subject = ("the model restored at the end is" if sure else
               "the best saved checkpoint (what load_best_model_at_end restores) is")
    resolved = _resolve_best_metric(run)
    if resolved is None:
        return []
    metric_name, ev, greater, metric_basis = resolved
    facts["metric_basis"] = metric_basis
    ok = np.isfinite(ev.value)
    if not ok.any():
        return []
    steps, values, lines = ev.step[ok], ev.value[ok], ev.line[ok]
    i_best = int(np.argmax(values) if greater else np.argmin(values))
    best_step, best_val = float(steps[i_best]), float(values[i_best])

    # The checkpoints: from the run, else multiples of save_steps strictly before the last step.
    ckpts = sorted(set(int(c) for c in cfg.checkpoints))
    ckpt_basis = "the checkpoints in the run"
    if not ckpts and cfg.save_steps and last:
        s = float(cfg.save_steps)
        ckpts = [int(k * s) for k in range(1, int(last // s) + 1) if k * s < last]
        ckpt_basis = f"save_steps {_fmt(s)} (the last step's checkpoint, if any, is not known)"
    restored_step = _checkpoint_step(restored_path)
    inferred = not cfg.checkpoints
    if cfg.restored_checkpoint:
        basis = "the log (the checkpoint it loaded)"
    elif restored_path:
        basis = "best_model_checkpoint"
    else:
        basis = f"the best eval among {ckpt_basis}"
    if restored_step is None and ckpts:
        saved = [j for j, st in enumerate(steps) if int(st) in set(ckpts)]
        if saved:
            j = max(saved, key=lambda j: values[j]) if greater else min(saved, key=lambda j: values[j])
            restored_step = int(steps[j])
    facts.update({"best_eval_step": best_step, "best_eval": best_val, "metric": f"eval_{metric_name}",
                  "checkpoints": ckpts, "checkpoints_basis": ckpt_basis, "restored_step": restored_step,
                  "restored_basis": basis})
    if restored_step is None:
        return []
    if inferred and not restored_path and last and best_step >= last and int(best_step) not in set(ckpts):
        # Whether the last step was saved depends on the transformers version: do not guess.
        facts["restored_step"] = None
        return [Finding(
            code=RESTORED_CHECKPOINT,
            message=f"the best eval_{metric_name} {best_val:.4g} is at the last step {_fmt(best_step)}; the model "
                    f"restored at the end is checkpoint-{_fmt(best_step)} if the last step was saved (recent "
                    f"transformers does), else checkpoint-{restored_step}; the log shows neither.",
            hint="keep trainer_state.json (best_model_checkpoint) with the log so the restored checkpoint is known",
            step=best_step, line=int(lines[i_best]) or None,
            evidence={"candidates": [int(best_step), restored_step], "best_step": best_step, "best_eval": best_val},
        )]
    at = np.flatnonzero(steps == restored_step)
    restored_val = float(values[at[0]]) if at.size else None
    facts["restored_eval"] = restored_val
    out = []
    name = f"checkpoint-{restored_step}"
    val_text = f"eval_{metric_name} {restored_val:.4g}" if restored_val is not None else "no eval logged at that step"
    out.append(Finding(
        code=RESTORED_CHECKPOINT,
        message=f"{subject} {name} ({val_text}), from {basis}; the best eval was "
                f"{best_val:.4g} at step {_fmt(best_step)}.",
        step=float(restored_step), line=int(lines[at[0]]) if at.size and lines[at[0]] else None,
        evidence={"restored": restored_path or name, "restored_step": restored_step, "restored_eval": restored_val,
                  "best_step": best_step, "best_eval": best_val, "checkpoints": ckpts},
    ))
    min_diff = float(settings.param(RESTORED_NOT_BEST, "min_difference"))
    if restored_val is None or restored_step == int(best_step):
        return out
    worse = (restored_val < best_val) if greater else (restored_val > best_val)
    rel = abs(restored_val - best_val) / max(abs(best_val), 1e-12)
    if not worse or rel <= min_diff:
        return out
    evals_without = [int(s) for s in steps if int(s) not in set(ckpts)] if ckpts else []
    why = ""
    if evals_without:
        why = (f": evals at {', '.join(str(s) for s in evals_without[:8])}"
               f"{'…' if len(evals_without) > 8 else ''} had no checkpoint")
        if cfg.save_steps and cfg.eval_steps and cfg.save_steps != cfg.eval_steps:
            why += f" because save_steps ({_fmt(cfg.save_steps)}) != eval_steps ({_fmt(cfg.eval_steps)})"
    out.append(Finding(
        code=RESTORED_NOT_BEST,
        message=f"{subject} {name} (eval_{metric_name} {restored_val:.4g}), not the better "
                f"step-{_fmt(best_step)} model ({best_val:.4g}){why}.",
        hint=(f"set save_steps equal to eval_steps (e.g. save_steps=eval_steps={_fmt(cfg.eval_steps or best_step)}) "
              "or save_strategy equal to eval_strategy, so every evaluated model is saved"),
        step=best_step, line=int(lines[i_best]) or None,
        evidence={"restored_step": restored_step, "restored_eval": restored_val, "best_step": best_step,
                  "best_eval": best_val, "relative_difference": rel, "evals_without_checkpoint": evals_without,
                  "checkpoints": ckpts, "save_steps": cfg.save_steps, "eval_steps": cfg.eval_steps},
    ))
    return out
