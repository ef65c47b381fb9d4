"""``--format text``: the human report, in the spirit of a careful engineer's analysis.

Key metrics (with the run mean kept apart from the final loss), the loss per
epoch, the eval table with the train loss at the same steps, each check's
verdict with its evidence, the findings with their hints, and a bottom line.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from logcheck import OutputFormat, Status, hookimpl
from logcheck.report import (Report, RunReport, fmt_number, framework_of, ordered_results, summary_figures,
                             train_loss_between, worst_status)

_MARK = {Status.pass_: "ok  ", Status.warn: "WARN", Status.fail: "FAIL", Status.skip: "skip"}
_SEV = {"info": "info", "warning": "warning", "error": "error"}


def _step(x: Any) -> str:
    if x is None:
        return "?"
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def epoch_index(epochs: np.ndarray) -> Optional[np.ndarray]:
    """Epoch numbers a person would say: HF's epoch 0.38 is in epoch 0, its 1.0 ends epoch 0.

    Fractional epochs (Hugging Face) count from 0: a 3.0-epoch run has epochs 0, 1, 2.
    Integer epochs (Lightning, Keras, hand-written loops) are shown as logged.
    """
    if not len(epochs) or not np.isfinite(epochs).any():
        return None
    e = epochs.copy()
    finite = np.isfinite(e)
    if np.all(np.equal(np.mod(e[finite], 1), 0)):
        return e
    idx = np.ceil(e) - 1
    idx[e <= 0] = 0
    return idx


class TextFormat(OutputFormat):
    name = "text"
    description = "human report (default)"

    def render(self, report: Report, settings) -> str:
        out: list[str] = []
        for i, rr in enumerate(report.runs):
            if i:
                out.append("")
                out.append("=" * 78)
            out.extend(render_run(rr))
        # Input and plugin errors go to stderr (one line each), printed by the CLI.
        if len(report.runs) > 1:
            out.append("")
            bad = sum(1 for rr in report.runs if worst_status(rr.results) == Status.fail)
            out.append(f"{len(report.runs)} runs checked, {bad} failed. Exit code {report.exit_code}.")

        return "\n".join(out)


def render_run(rr: RunReport) -> list[str]:
    run = rr.run
    fig = summary_figures(run)
    out: list[str] = []
    what = run.format
    framework, version = framework_of(run)
    if framework:
        what += f", {framework}" + (f" {version}" if version else "")
    out.append(f"logcheck: {run.name or run.path}  ({what})")
    if len(run.sources) > 1:
        out.append("  sources: " + ", ".join(f"{s.path} [{s.parser}]" for s in run.sources))
    ending = run.ending.value
    if run.ending_reason:
        ending += f" — {run.ending_reason}"
    if run.ending_line:
        ending += f" (line {run.ending_line})"
    out.append(f"  ended: {ending}")
    out.append("")

    # -- key metrics ------------------------------------------------------
    out.append("Key metrics")
    tl, el = run.train_loss, run.eval_loss
    gs, epochs = fig["global_step"], fig["epochs"]
    if gs is not None:
        line = f"  steps              {fmt_number(gs)}"
        if epochs is not None:
            line += f" over {fmt_number(epochs, 3)} epochs"
            idx = epoch_index(tl.epoch) if tl is not None else None
            fin = idx[np.isfinite(idx)] if idx is not None else None
            if fin is not None and fin.size:
                lo, hi = int(fin.min()), int(fin.max())
                line += f" (epochs {lo}–{hi})" if hi > lo else f" (epoch {lo})"
        out.append(line)
    if tl is not None:
        fv = tl.value
        fin = np.isfinite(fv)
        first_i = int(np.argmax(fin)) if fin.any() else 0
        out.append(
            f"  train loss         {fmt_number(float(fv[first_i]))} (step {_step(tl.step[first_i])}) → "
            f"{fmt_number(float(fv[-1]))} (step {_step(tl.step[-1])}, last logged)"
        )
        if fin.sum() >= 2:
            k = max(1, min(5, int(fin.sum()) // 5))
            start = float(np.mean(fv[fin][:k]))
            end = float(np.mean(fv[fin][-k:]))
            if start != 0:
                ch = (end - start) / abs(start) * 100
                out.append(f"                     like for like: mean of the last {k} logged points is "
                           f"{abs(ch):.1f}% {'below' if ch < 0 else 'above'} the mean of the first {k}")
    if fig["mean_train_loss"] is not None:
        out.append(f"  run-mean loss      {fmt_number(fig['mean_train_loss'])} (the summary's train_loss: the mean over "
                   f"the whole run, not the final loss)")
    if el is not None:
        out.append(
            f"  eval loss          {fmt_number(el.value[0])} (step {_step(el.step[0])}) → {fmt_number(el.value[-1])} "
            f"(step {_step(el.step[-1])}); best {fmt_number(fig['best_eval_loss'])} at step {_step(fig['best_eval_step'])}"
        )
    s = run.summary
    if s.train_runtime_s is not None:
        parts = [f"{fmt_number(s.train_runtime_s, 3)} s"]
        if s.train_samples_per_second is not None:
            parts.append(f"{fmt_number(s.train_samples_per_second, 3)} samples/s")
        if s.train_steps_per_second is not None:
            parts.append(f"{fmt_number(s.train_steps_per_second, 3)} steps/s")
        out.append("  runtime            " + ", ".join(parts))
    thr = rr.result("throughput")
    if thr is not None and thr.facts.get("tokens_per_second"):
        out.append(f"  tokens/s           {fmt_number(thr.facts['tokens_per_second'], 3)}")
    out.append("")

    # -- loss per epoch ---------------------------------------------------------
    if tl is not None and len(tl) >= 4:
        idx = epoch_index(tl.epoch)
        if idx is not None and len(np.unique(idx[np.isfinite(idx)])) > 1:
            out.append("Train loss per epoch")
            for e in np.unique(idx[np.isfinite(idx)]):
                m = (idx == e) & np.isfinite(tl.value)
                if not m.any():
                    continue
                v, st = tl.value[m], tl.step[m]
                out.append(
                    f"  epoch {int(e):<3} steps {_step(st[0])}–{_step(st[-1])}: {fmt_number(v[0])} → {fmt_number(v[-1])}  "
                    f"(range {fmt_number(float(v.min()))}–{fmt_number(float(v.max()))}, mean {fmt_number(float(v.mean()))}, {m.sum()} points)"
                )
            out.append("")

    # -- eval table -------------------------------------------------------------
    if el is not None:
        n = len(el)
        out.append(f"Eval ({n} points; train loss = mean of the train points logged since the previous eval)")
        out.append(f"  {'step':>8}  {'epoch':>6}  {'eval_loss':>9}  {'train_loss':>10}  {'gap':>7}")
        rows = list(range(n)) if n <= 30 else list(range(10)) + [-1] + list(range(n - 10, n))
        prev = -math.inf
        prevs = np.concatenate([[-math.inf], el.step[:-1]])
        for i in rows:
            if i == -1:
                out.append(f"  {'…':>8}  ({n - 20} more)")
                continue
            prev = prevs[i]
            tr = train_loss_between(tl, float(prev), float(el.step[i]))[0]
            ev = float(el.value[i])
            gap = ev - tr if tr is not None and math.isfinite(ev) else None
            ep = el.epoch[i]
            out.append(
                f"  {_step(el.step[i]):>8}  {(f'{ep:.2f}' if math.isfinite(ep) else '—'):>6}  {fmt_number(ev):>9}  "
                f"{fmt_number(tr):>10}  {('%+.3f' % gap) if gap is not None else '—':>7}"
            )
        out.append("")

    # -- checks -------------------------------------------------------------------
    out.append("Checks")
    for r in ordered_results(rr):
        out.append(f"  [{_MARK[r.status]}] {r.check:<12} {r.reason}")
    out.append("")

    # An info finding that only restates its check's verdict line is not shown twice.
    reasons = {r.check: r.reason for r in rr.results}
    findings = [f for f in rr.findings
                if not (f.severity is not None and f.severity.value == "info"
                        and f.message[:60] in reasons.get(f.check, ""))]
    if findings:
        out.append("Findings")
        for f in findings:
            loc = run.path
            if f.line:
                loc = f"{f.path or run.path}:{f.line}"
            at = f" (step {_step(f.step)})" if f.step is not None else ""
            out.append(f"  {loc}: {f.code} [{_SEV.get(f.severity.value if f.severity else '', '?')}] {f.message}{at}")
            if f.hint:
                out.append(f"      hint: {f.hint}")
        out.append("")

    if run.conflicts:
        out.append("Sources disagree")
        for c in run.conflicts[:10]:
            vals = "; ".join(f"{k}: {v}" for k, v in c.values.items())
            out.append(f"  {c.what}: {vals}")
        out.append("")
    if run.notes:
        out.append("Notes")
        for note in run.notes:
            out.append(f"  - {note}")
        out.append("")

    out.append("Bottom line: " + bottom_line(rr))
    return out


def bottom_line(rr: RunReport) -> str:
    results = ordered_results(rr)
    if not rr.run.has_metrics():
        return "NOTHING TO JUDGE — no training metrics were found in this log."
    worst = worst_status(results)
    failing = [r for r in results if r.status == Status.fail]
    warning = [r for r in results if r.status == Status.warn]
    if worst == Status.fail:
        return "FAIL — " + "; ".join(f"{r.check}: {_first_clause(r.reason)}" for r in failing) + "."
    if worst == Status.warn:
        return "WARN — " + "; ".join(f"{r.check}: {_first_clause(r.reason)}" for r in warning) + "."
    passed = [r.check for r in results if r.status == Status.pass_]
    conv = rr.result("convergence")
    lead = _first_clause(conv.reason) if conv is not None and conv.status == Status.pass_ else "no problems found"
    return f"PASS — {lead} ({', '.join(passed)} passed)." if passed else "PASS — nothing flagged."


def _first_clause(reason: str, limit: int = 160) -> str:
    """The first clause of a check's reason, for the one-line bottom line."""
    head = reason.split("; ")[0].rstrip(".")
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


@hookimpl
def logcheck_register_formats(register):
    register(TextFormat())
