"""``--format github``: GitHub Actions workflow commands that become annotations.

One line per finding::

    ::error file=run.log,line=12,title=OVF001 overfitting::eval loss rose …%0AHint: …

``::error`` / ``::warning`` / ``::notice`` follow the finding's severity (error /
warning / info). ``line`` is left out when the finding has none. Values are
escaped as the Actions runner unescapes them (actions/runner ``ActionCommand.cs``,
actions/toolkit ``command.ts``): in the message ``%``, ``\\r``, ``\\n``; in
properties also ``:`` and ``,``.

GitHub shows at most 10 annotations of each level per step, so at most 10 per
level are printed. The rest go to the job summary: when ``$GITHUB_STEP_SUMMARY``
names a file, the full Markdown report is appended to it and a final notice
says so; otherwise the final notice counts what was left out.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Optional

from logcheck import OutputFormat, Severity, hookimpl
from logcheck.plugins.format_gitlab import display_path
from logcheck.plugins.format_markdown import render_markdown
from logcheck.report import Report

ANNOTATIONS_PER_LEVEL = 10  # GitHub's per-step limit for each of error, warning, notice
COMMAND = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def printable(s: str) -> str:
    """Control characters other than CR/LF/TAB (e.g. ANSI colour escapes) shown as U+FFFD.

    The runner prints command lines to the job log, where an ESC would start a
    terminal sequence inside the annotation text.
    """
    return "".join(ch if ch >= " " or ch in "\r\n\t" else "\ufffd" for ch in s)


def workflow_command(command: str, message: str, **properties: Optional[object]) -> str:
    props = ",".join(f"{k}={escape_property(printable(str(v)))}" for k, v in properties.items()
                     if v not in (None, ""))
    return f"::{command}{' ' + props if props else ''}::{escape_data(printable(message))}"


def _annotations(report: Report) -> list[tuple[Severity, str]]:
    """Every annotation in order of importance within each level: (level, command line)."""
    out: list[tuple[Severity, str]] = []
    for fail in report.input_failures:
        out.append((Severity.error, workflow_command("error", fail.error, file=display_path(fail.path),
                                                     title="logcheck: unreadable input")))
    for pf in report.plugin_failures:
        out.append((Severity.error, workflow_command("error", f"{pf.plugin} ({pf.where}): {pf.error}",
                                                     title="logcheck: plugin error")))
    for rr in report.runs:
        for f in rr.findings:
            sev = f.severity or Severity.warning
            message = f"{f.message}\nHint: {f.hint}" if f.hint else f.message
            line = f.line if f.line is not None and f.line >= 1 else None
            title = f"{f.code} {f.check}".strip()
            out.append((sev, workflow_command(COMMAND[sev], message, file=display_path(f.path or rr.run.path),
                                              line=line, title=title)))
    return out


def append_step_summary(report: Report, settings: Any) -> Optional[str]:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY``; the path written, or None."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if not target or os.path.isdir(target):
        return None
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(render_markdown(report, settings) + "\n")
    except OSError:
        return None
    return target


def render_github(report: Report, settings: Any = None) -> str:
    lines: list[str] = []
    shown: Counter[Severity] = Counter()
    left: Counter[Severity] = Counter()
    for sev, command in _annotations(report):
        if shown[sev] < ANNOTATIONS_PER_LEVEL:
            shown[sev] += 1
            lines.append(command)
        else:
            left[sev] += 1
    if left:
        n = sum(left.values())
        counts = ", ".join(f"{left[s]} {COMMAND[s]}" for s in (Severity.error, Severity.warning, Severity.info)
                           if left[s])
        written = append_step_summary(report, settings)
        if written:
            lines.append(workflow_command(
                "notice", f"{n} more findings not annotated ({counts}): GitHub shows "
                          f"{ANNOTATIONS_PER_LEVEL} per level; the full report was appended to the job summary",
                title="logcheck"))
        else:
            lines.append(workflow_command(
                "notice", f"{n} more findings not annotated ({counts}): GitHub shows "
                          f"{ANNOTATIONS_PER_LEVEL} per level; run with --format markdown or text for all of them"))
    total = sum(len(rr.findings) for rr in report.runs)
    if not report.runs and not report.input_failures:
        lines.append(workflow_command("notice", "logcheck found no training run in the given paths",
                                      title="logcheck"))
    lines.append(f"logcheck: {len(report.runs)} run(s), {total} finding(s), exit code {report.exit_code}")
    return "\n".join(lines)


class GitHubFormat(OutputFormat):
    name = "github"
    description = "GitHub Actions annotations (::error/::warning/::notice), 10 per level, rest to the job summary"

    def render(self, report: Report, settings: Any) -> str:
        return render_github(report, settings)


@hookimpl
def logcheck_register_formats(register):
    register(GitHubFormat())
