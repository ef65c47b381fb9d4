"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One SARIF run for the whole call (several logs give one run). ``tool.driver``
names logcheck and lists every rule the results use, with the rule's summary,
the "What it does" paragraph and the full rule doc as ``help``. Each result has
the rule id, a level (error / warning / note), the message with the hint, and the
log path (relative to the working directory when it lies under it) with
``region.startLine`` when the finding has a line. Logs that could not be read
and plugins that failed are ``toolExecutionNotifications`` of the invocation.

Validated in the tests against the OASIS SARIF 2.1.0 JSON schema.
"""
from __future__ import annotations

import json
import math
import re
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any, Optional
from urllib.parse import quote

from logcheck import Finding, OutputFormat, Rule, Severity, __version__, hookimpl
from logcheck.plugins.format_gitlab import display_path, unique_fingerprints
from logcheck.report import Report

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def information_uri() -> Optional[str]:
    """The project's home page from the installed metadata (``[project.urls]``), if it has one."""
    try:
        urls = metadata.metadata("logcheck").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in urls:
        _, _, url = entry.partition(",")
        url = url.strip()
        if url.startswith(("https://", "http://")):
            return url
    return None


def artifact_uri(path: str) -> str:
    """A URI reference for a log: relative (percent-encoded) under the cwd, else ``file://``."""
    shown = display_path(path)
    p = PurePath(shown)
    if p.is_absolute():
        try:
            return Path(shown).as_uri()
        except ValueError:  # not absolute on this OS after all
            pass
    return quote(p.as_posix(), safe="/")


def _doc_section(doc: str, title: str) -> str:
    """The first paragraph of a ``## title`` section of a rule doc, joined into one line."""
    m = re.search(rf"^##\s+{re.escape(title)}\s*$\n(.*?)(?=^##\s|\Z)", doc, re.M | re.S)
    if not m:
        return ""
    para = m.group(1).strip().split("\n\n")[0]
    return " ".join(line.strip() for line in para.splitlines())


def rule_descriptor(code: str, rule: Optional[Rule]) -> dict[str, Any]:
    if rule is None:  # a finding whose rule is not registered (e.g. a report built by hand)
        return {"id": code, "name": code, "shortDescription": {"text": code},
                "defaultConfiguration": {"level": "warning"}}
    full = _doc_section(rule.doc, "What it does") or rule.summary
    desc: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"tags": [rule.check], "check": rule.check},
    }
    if rule.doc.strip():
        desc["help"] = {"text": rule.doc.strip(), "markdown": rule.doc.strip()}
    return desc


def result_message(f: Finding) -> str:
    return f"{f.message}\nHint: {f.hint}" if f.hint else f.message


def sarif_log(report: Report, settings: Any = None) -> dict[str, Any]:
    rules_known: dict[str, Rule] = dict(getattr(settings, "rules", None) or {})
    items: list[tuple[Finding, str, str]] = []  # finding, display path, run path
    for rr in report.runs:
        for f in rr.findings:
            items.append((f, display_path(f.path or rr.run.path), rr.run.path))
    codes = sorted({f.code for f, _, _ in items})
    rule_index = {code: i for i, code in enumerate(codes)}
    fingerprints = unique_fingerprints([(f, p) for f, p, _ in items])

    results = []
    for (f, path, run_path), fp in zip(items, fingerprints):
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(f.path or run_path)}}
        if f.line is not None and f.line >= 1:
            physical["region"] = {"startLine": int(f.line)}
        props: dict[str, Any] = {"check": f.check, "run": display_path(run_path)}
        if f.step is not None and math.isfinite(f.step):
            props["step"] = int(f.step) if float(f.step).is_integer() else float(f.step)
        results.append({
            "ruleId": f.code,
            "ruleIndex": rule_index[f.code],
            "level": SARIF_LEVEL[f.severity or Severity.warning],
            "message": {"text": result_message(f)},
            "locations": [{"physicalLocation": physical}],
            "partialFingerprints": {"logcheckFindingHash/v1": fp},
            "properties": props,
        })

    notifications = [
        {"level": "error", "message": {"text": fail.error},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(fail.path)}}}]}
        for fail in report.input_failures
    ] + [
        {"level": "error", "message": {"text": f"plugin {pf.plugin} ({pf.where}): {pf.error}"}}
        for pf in report.plugin_failures
    ]
    driver: dict[str, Any] = {
        "name": "logcheck",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [rule_descriptor(code, rules_known.get(code)) for code in codes],
    }
    uri = information_uri()
    if uri:
        driver["informationUri"] = uri
    invocation: dict[str, Any] = {
        "executionSuccessful": not (report.input_failures or report.plugin_failures),
        "exitCode": report.exit_code,
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


class SarifFormat(OutputFormat):
    name = "sarif"
    description = "SARIF 2.1.0 (GitHub code scanning, IDE viewers)"

    def render(self, report: Report, settings: Any) -> str:
        return json.dumps(sarif_log(report, settings), indent=2, ensure_ascii=False)


@hookimpl
def logcheck_register_formats(register):
    register(SarifFormat())
