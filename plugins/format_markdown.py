"""``--format markdown``: the report as GitHub-flavoured Markdown.

Written for ``$GITHUB_STEP_SUMMARY`` and pull-request comments: per run a
heading with the verdict, the key figures (the run mean kept apart from the
final loss), the checks, the findings with their hints and the eval table with
the train loss at the same steps. Everything a log contributes is escaped, so a
message with ``|``, ``<``, ``*`` or a newline cannot break a table or inject
markup.

A plot can be embedded: set ``plugin_options.plot_path`` (``[tool.logcheck.plugin_options]``
or ``Settings(plugin_options={"plot_path": ...})``) to an image path or URL and
the report shows ``![loss curves](plot_path)`` under its title.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional


from logcheck import OutputFormat, Run, Severity, Status, hookimpl
from logcheck.report import (Report, RunReport, fmt_number, fmt_step, ordered_results, summary_figures,
                             train_loss_between, worst_status)

VERDICT_ICON = {Status.fail: "❌", Status.warn: "⚠️", Status.pass_: "✅", Status.skip: "⚠️"}
STATUS_ICON = {Status.fail: "❌ fail", Status.warn: "⚠️ warn", Status.pass_: "✅ pass", Status.skip: "⏭️ skip"}
SEVERITY_ICON = {Severity.error: "❌ error", Severity.warning: "⚠️ warning", Severity.info: "ℹ️ info"}

# GitHub caps a step summary at 1 MiB: past this many findings a run's table says how many more.
MAX_FINDING_ROWS = 200
# Eval tables longer than this show the first and last EVAL_EDGE rows.
MAX_EVAL_ROWS = 30
EVAL_EDGE = 10

# ASCII punctuation that means something in CommonMark/GFM inline text or tables
# (a backslash before any ASCII punctuation is a valid CommonMark escape); '@', '#'
# and '$' also stop GitHub from making mentions, issue links and math of log text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~&@#$])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def md_text(value: Any) -> str:
    """Log-derived text made inert for a Markdown table cell (one line, no markup)."""
    s = str(value)
    s = "".join(ch if ch >= " " or ch in "\r\n\t" else "\ufffd" for ch in s)  # control chars
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = s.replace("\t", " ")
    return _NEWLINES.sub("<br>", s)


def md_code(value: Any) -> str:
    """Inline code span that survives any backticks in ``value`` (CommonMark 6.1)."""
    s = _NEWLINES.sub(" ", str(value)).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def table(header: list[str], rows: Iterable[list[str]], align: Optional[list[str]] = None) -> list[str]:
    """A GFM pipe table; cells must already be escaped."""
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out.extend("| " + " | ".join(c if c else " " for c in r) + " |" for r in rows)
    return out


def run_title(run: Run) -> str:
    return run.name or run.path


def run_verdict(rr: RunReport) -> tuple[str, str]:
    """(icon, word) for the run: FAIL / WARN / PASS / NOTHING TO JUDGE."""
    if not rr.run.has_metrics():
        return VERDICT_ICON[Status.skip], "NOTHING TO JUDGE"
    worst = worst_status(rr.results)
    word = {Status.fail: "FAIL", Status.warn: "WARN", Status.pass_: "PASS", Status.skip: "NOT CHECKED"}[worst]
    return VERDICT_ICON[worst], word


def _verdict_reason(rr: RunReport) -> str:
    results = ordered_results(rr)
    if not rr.run.has_metrics():
        return "no training metrics were found in this log."
    worst = worst_status(results)
    if worst in (Status.fail, Status.warn):
        return "; ".join(f"{r.check}: {r.reason}" for r in results if r.status == worst)
    passed = [r.check for r in results if r.status == Status.pass_]
    return f"{', '.join(passed)} passed." if passed else "no check ran."


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def key_figures(run: Run) -> list[list[str]]:
    fig = summary_figures(run)
    rows: list[list[str]] = []
    if fig["global_step"] is not None:
        rows.append(["steps", fmt_number(fig["global_step"])])
    if fig["epochs"] is not None:
        rows.append(["epochs", fmt_number(fig["epochs"], 3)])
    tl = run.train_loss
    if fig["final_train_loss"] is not None:
        at = f" (step {fmt_step(tl.step[-1])})" if tl is not None and len(tl) else ""
        rows.append(["final train loss (last logged)", fmt_number(fig["final_train_loss"]) + at])
    if fig["mean_train_loss"] is not None:
        rows.append(["run-mean train loss (summary `train_loss`: the mean over the whole run, not the final loss)",
                     fmt_number(fig["mean_train_loss"])])
    el = run.eval_loss
    if fig["final_eval_loss"] is not None:
        at = f" (step {fmt_step(el.step[-1])})" if el is not None and len(el) else ""
        rows.append(["final eval loss", fmt_number(fig["final_eval_loss"]) + at])
    if fig["best_eval_loss"] is not None:
        rows.append(["best eval loss", f"{fmt_number(fig['best_eval_loss'])} (step {fmt_step(fig['best_eval_step'])})"])
    if fig["train_runtime_s"] is not None:
        rows.append(["runtime", f"{fmt_number(fig['train_runtime_s'], 3)} s"])
    if fig["train_samples_per_second"] is not None:
        rows.append(["samples/s", fmt_number(fig["train_samples_per_second"], 3)])
    if fig["train_steps_per_second"] is not None:
        rows.append(["steps/s", fmt_number(fig["train_steps_per_second"], 3)])
    return rows


def eval_rows(run: Run) -> tuple[list[list[str]], int]:
    """Rows of (step, eval loss, train loss since the previous eval); and the number of eval points."""
    el, tl = run.eval_loss, run.train_loss
    if el is None:
        return [], 0
    n = len(el)
    idx: list[int] = list(range(n)) if n <= MAX_EVAL_ROWS else [*range(EVAL_EDGE), -1, *range(n - EVAL_EDGE, n)]
    rows = []
    for i in idx:
        if i == -1:
            rows.append(["…", f"{n - 2 * EVAL_EDGE} more", ""])
            continue
        lo = float(el.step[i - 1]) if i > 0 else -math.inf
        tr = train_loss_between(tl, lo, float(el.step[i]))[0]
        rows.append([fmt_step(el.step[i]), fmt_number(float(el.value[i])), fmt_number(tr)])
    return rows, n


def render_run(rr: RunReport, heading: str = "##") -> list[str]:
    run = rr.run
    icon, word = run_verdict(rr)
    out = [f"{heading} {icon} logcheck: {md_text(run_title(run))} — {word}", ""]
    src = run.sources[0] if run.sources else None
    what = [run.format]
    if src and src.framework:
        what.append(src.framework + (f" {src.framework_version}" if src.framework_version else ""))
    ending = run.ending.value + (f" — {run.ending_reason}" if run.ending_reason else "")
    if run.ending_line:
        ending += f" (line {run.ending_line})"
    out.append(f"{md_text(', '.join(what))} · ended: {md_text(ending)}")
    out.append("")
    out.append(f"**{word}** — {md_text(_verdict_reason(rr))}")
    out.append("")

    figures = key_figures(run)
    if figures:
        out.append(f"{heading}# Key figures")
        out.append("")
        out.extend(table(["Figure", "Value"], figures, ["---", "--:"]))  # our own labels: no escaping
        out.append("")

    results = ordered_results(rr)
    out.append(f"{heading}# Checks")
    out.append("")
    if results:
        out.extend(table(["Check", "Status", "Reason"],
                         ([md_text(r.check), STATUS_ICON[r.status], md_text(r.reason)] for r in results)))
    else:
        out.append("No check ran.")
    out.append("")

    findings = rr.findings
    if findings:
        out.append(f"{heading}# Findings ({len(findings)})")
        out.append("")
        rows = []
        for f in findings[:MAX_FINDING_ROWS]:
            sev = f.severity or Severity.warning
            rows.append([md_code(f.code), SEVERITY_ICON[sev], fmt_step(f.step),
                         str(f.line) if f.line else "—", md_text(f.message), md_text(f.hint) if f.hint else "—"])
        if len(findings) > MAX_FINDING_ROWS:
            rest = findings[MAX_FINDING_ROWS:]
            rows.append(["…", "", "", "", f"{len(rest)} more findings (`--format text` or `json` lists all)", ""])
        out.extend(table(["Code", "Severity", "Step", "Line", "Message", "Hint"], rows,
                         ["---", "---", "--:", "--:", "---", "---"]))
        out.append("")

    erows, n = eval_rows(run)
    if erows:
        out.append(f"{heading}# Eval loss ({n} points)")
        out.append("")
        out.extend(table(["Step", "Eval loss", "Train loss (mean since previous eval)"], erows,
                         ["--:", "--:", "--:"]))
        out.append("")

    if run.notes:
        out.append(f"{heading}# Notes")
        out.append("")
        out.extend(f"- {md_text(note)}" for note in run.notes)
        out.append("")
    return out


def render_markdown(report: Report, settings: Any = None) -> str:
    """The whole report as Markdown; several runs give one document."""
    out: list[str] = []
    runs = report.runs
    options = getattr(settings, "plugin_options", None) or {}
    plot = options.get("plot_path")
    heading = "##"
    if len(runs) != 1:
        failed = sum(1 for rr in runs if worst_status(rr.results) == Status.fail)
        icon = "❌" if failed else ("⚠️" if report.exit_code else "✅")
        out.append(f"# {icon} logcheck: {len(runs)} run{'s' if len(runs) != 1 else ''} checked, "
                   f"{failed} failed (exit code {report.exit_code})")
        out.append("")
        if runs:
            out.extend(table(["Run", "Verdict", "Findings"],
                             ([md_text(run_title(rr.run)), " ".join(run_verdict(rr)), str(len(rr.findings))]
                              for rr in runs), ["---", "---", "--:"]))
            out.append("")
        else:
            out.append("No training run was found in the given paths.")
            out.append("")
    if plot:
        out.append(f"![loss curves]({_link_target(str(plot))})")
        out.append("")
    for rr in runs:
        out.extend(render_run(rr, heading))
    errors = [f"input `{md_text(f.path)}`: {md_text(f.error)}" for f in report.input_failures]
    errors += [f"plugin {md_text(f.plugin)} ({md_text(f.where)}): {md_text(f.error)}" for f in report.plugin_failures]
    if errors:
        out.append("## Errors")
        out.append("")
        out.extend(f"- {e}" for e in errors)
        out.append("")
    if len(runs) == 1:
        out.append(f"Exit code {report.exit_code}.")
    return "\n".join(out).rstrip("\n") + "\n"


def _link_target(path: str) -> str:
    """A link destination CommonMark accepts whatever the path holds (spaces, parentheses)."""
    if re.search(r"[\s()<>]", path):
        return "<" + path.replace("<", "%3C").replace(">", "%3E") + ">"
    return path


class MarkdownFormat(OutputFormat):
    name = "markdown"
    description = "GitHub-flavoured Markdown for $GITHUB_STEP_SUMMARY and pull-request comments"

    def render(self, report: Report, settings: Any) -> str:
        return render_markdown(report, settings)


@hookimpl
def logcheck_register_formats(register):
    register(MarkdownFormat())
