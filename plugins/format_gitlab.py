"""``--format gitlab``: a GitLab Code Quality report (``artifacts:reports:codequality``).

A JSON array with one object per finding, holding the fields GitLab documents as
required (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format):
``description``, ``check_name`` (the rule code), ``fingerprint``, ``severity``,
``location.path`` (relative to the working directory when the log is under it) and
``location.lines.begin`` (1 when the finding has no line).

Severity: info → ``info``, warning → ``major``, error → ``critical``. A warning is
a training problem worth a look in review, not a nit, hence ``major``. A log that
could not be read is reported as ``critical`` under ``check_name`` ``input-error``.

The fingerprint is a hash of the rule code, the path, the step and the message's
*shape* (its text with numbers blanked), so a re-run whose numbers moved a little
keeps the same fingerprint and GitLab does not report the finding as new.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePath
from typing import Any, Optional

from logcheck import Finding, OutputFormat, Severity, hookimpl
from logcheck.report import Report

CODE_QUALITY_SEVERITY = {Severity.info: "info", Severity.warning: "major", Severity.error: "critical"}

_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|\b(?:nan|inf|NaN|Infinity)\b")


def display_path(path: str, cwd: Optional[Path] = None) -> str:
    """``path`` relative to the working directory when it lies under it, with forward slashes.

    CI tools resolve report paths against the repository root, which is the
    working directory of a CI job. Paths elsewhere stay as given.
    """
    if not path:
        return path
    # abspath, not resolve(): a symlinked log keeps the path the user gave.
    base = os.path.abspath(cwd or os.getcwd())
    try:
        rel = os.path.relpath(os.path.abspath(os.path.join(base, path)), base)
    except ValueError:  # another drive on Windows
        return PurePath(path).as_posix()
    if rel == os.curdir:
        return "."
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return PurePath(path).as_posix()
    return PurePath(rel).as_posix()


def message_shape(message: str) -> str:
    """The message with its numbers blanked: stable while the measured values move."""
    return _NUMBER.sub("#", message)


def finding_fingerprint(f: Finding, path: str, salt: str = "") -> str:
    step = "" if f.step is None else repr(float(f.step))
    key = "\x00".join((f.code, path, step, message_shape(f.message), salt))
    return _sha256(key)


def _sha256(text: str) -> str:
    import hashlib  # here, not at import: 7 ms that a run in another format does not need

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def unique_fingerprints(items: list[tuple[Finding, str]]) -> list[str]:
    """One fingerprint per (finding, path); repeats of the same key get a counter salt."""
    seen: dict[str, int] = {}
    out = []
    for f, path in items:
        fp = finding_fingerprint(f, path)
        n = seen.get(fp, 0)
        seen[fp] = n + 1
        out.append(fp if n == 0 else finding_fingerprint(f, path, salt=f"#{n}"))
    return out


def finding_description(f: Finding) -> str:
    return f"{f.message} Hint: {f.hint}" if f.hint else f.message


def code_quality_issues(report: Report) -> list[dict[str, Any]]:
    items: list[tuple[Finding, str]] = []
    for rr in report.runs:
        for f in rr.findings:
            items.append((f, display_path(f.path or rr.run.path)))
    issues: list[dict[str, Any]] = []
    for (f, path), fp in zip(items, unique_fingerprints(items)):
        issues.append({
            "description": finding_description(f),
            "check_name": f.code,
            "fingerprint": fp,
            "severity": CODE_QUALITY_SEVERITY[f.severity or Severity.warning],
            "location": {"path": path, "lines": {"begin": f.line if f.line and f.line >= 1 else 1}},
        })
    for fail in report.input_failures:
        path = display_path(fail.path)
        key = "\x00".join(("input-error", path, message_shape(fail.error)))
        issues.append({
            "description": fail.error,
            "check_name": "input-error",
            "fingerprint": _sha256(key),
            "severity": "critical",
            "location": {"path": path, "lines": {"begin": 1}},
        })
    return issues


class GitLabFormat(OutputFormat):
    name = "gitlab"
    description = "GitLab Code Quality JSON (artifacts:reports:codequality)"

    def render(self, report: Report, settings: Any) -> str:
        # GitLab's parser rejects a byte-order mark; json.dumps writes none.
        return json.dumps(code_quality_issues(report), indent=2, ensure_ascii=False)


@hookimpl
def logcheck_register_formats(register):
    register(GitLabFormat())
