"""``--format junit``: JUnit XML for CI test-report views (Jenkins, GitLab, Azure, CircleCI).

One ``<testsuite>`` per run (``name`` = the run's path) and one ``<testcase
classname="logcheck.CHECK" name="CHECK [RUN]">`` per check:

- a check with a finding at or above ``fail_on`` (the threshold that makes the
  exit code 1; ``--fail-on``, default ``error``) is a ``<failure>`` whose text
  lists the findings. So the JUnit verdict and the exit code always agree: with
  the default, a ``warn`` check passes; with ``--fail-on warning`` it fails.
- findings below the threshold are listed in the testcase's ``<system-out>``;
- a ``skip`` check is ``<skipped message="REASON"/>``.

A log that could not be read is a testcase with an ``<error>``; a plugin that
failed is an ``<error>`` testcase in a ``logcheck`` suite. Characters XML 1.0
cannot hold (ANSI escapes, NUL) are written as ``\\xNN``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from logcheck import Finding, OutputFormat, Severity, Status, hookimpl
from logcheck.report import Report, RunReport, ordered_results

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# xml.etree and this regex (10 ms to compile: its class spans the astral planes) are loaded on the
# first render, not when the plugin registers: every logcheck run imports this module.


@lru_cache(maxsize=None)
def _xml_invalid() -> re.Pattern:
    return re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _et():  # -> the xml.etree.ElementTree module
    import xml.etree.ElementTree

    return xml.etree.ElementTree


def xml_text(value: Any) -> str:
    """Text XML 1.0 can carry: forbidden characters become a visible ``\\xNN``."""
    return _xml_invalid().sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _step(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def finding_line(f: Finding, run_path: str) -> str:
    sev = (f.severity or Severity.warning).value
    where = [f"step {_step(f.step)}"] if f.step is not None else []
    loc = f.path or run_path
    where.append(f"{loc}:{f.line}" if f.line else loc)
    text = f"{f.code} [{sev}] {f.message} ({', '.join(where)})"
    if f.hint:
        text += f"\n    hint: {f.hint}"
    return text


def fails(f: Finding, threshold: Severity) -> bool:
    return (f.severity or Severity.warning).rank >= threshold.rank


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return _et().SubElement(parent, "testsuite", {"name": xml_text(name)})


def _close_suite(suite: ET.Element, tests: int, failures: int, errors: int, skipped: int) -> None:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))


def run_suite(parent: ET.Element, rr: RunReport, threshold: Severity) -> tuple[int, int, int]:
    ET = _et()
    run = rr.run
    label = run.name or run.path
    suite = _suite(parent, run.path)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "format", "value": xml_text(run.format)})
    if run.sources and run.sources[0].framework:
        ET.SubElement(props, "property", {"name": "framework", "value": xml_text(run.sources[0].framework)})
    ET.SubElement(props, "property", {"name": "ending", "value": run.ending.value})
    tests = failures = skipped = 0
    for r in ordered_results(rr):
        tests += 1
        case = ET.SubElement(suite, "testcase", {"classname": xml_text(f"logcheck.{r.check}"),
                                                 "name": xml_text(f"{r.check} [{label}]")})
        if r.status == Status.skip:
            skipped += 1
            ET.SubElement(case, "skipped", {"message": xml_text(r.reason or "skipped")})
            continue
        bad = [f for f in r.findings if fails(f, threshold)]
        rest = [f for f in r.findings if not fails(f, threshold)]
        if bad:
            failures += 1
            first = bad[0]
            failure = ET.SubElement(case, "failure", {
                "message": xml_text(r.reason or first.message),
                "type": xml_text(", ".join(dict.fromkeys(f.code for f in bad))),
            })
            failure.text = xml_text("\n".join(finding_line(f, run.path) for f in bad))
        if rest:
            out = ET.SubElement(case, "system-out")
            lines = [f"{r.check}: {r.status.value} — {r.reason}"] if r.reason else []
            lines += [finding_line(f, run.path) for f in rest]
            out.text = xml_text("\n".join(lines))
    _close_suite(suite, tests, failures, 0, skipped)
    return tests, failures, skipped


def junit_tree(report: Report) -> ET.Element:
    ET = _et()
    root = ET.Element("testsuites", {"name": "logcheck"})
    tests = failures = errors = 0
    for rr in report.runs:
        t, f, _ = run_suite(root, rr, report.fail_on)
        tests, failures = tests + t, failures + f
    for fail in report.input_failures:
        suite = _suite(root, fail.path)
        case = ET.SubElement(suite, "testcase", {"classname": "logcheck.input",
                                                 "name": xml_text(f"read [{fail.path}]")})
        ET.SubElement(case, "error", {"message": xml_text(fail.error), "type": "InputError"})
        _close_suite(suite, 1, 0, 1, 0)
        tests, errors = tests + 1, errors + 1
    if report.plugin_failures:
        suite = _suite(root, "logcheck")
        for pf in report.plugin_failures:
            case = ET.SubElement(suite, "testcase", {"classname": "logcheck.plugin",
                                                     "name": xml_text(f"{pf.plugin} ({pf.where})")})
            ET.SubElement(case, "error", {"message": xml_text(pf.error), "type": "PluginError"})
        n = len(report.plugin_failures)
        _close_suite(suite, n, 0, n, 0)
        tests, errors = tests + n, errors + n
    # The Jenkins/Ant schema allows no "skipped" on <testsuites>; each suite has its own.
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    return root


class JUnitFormat(OutputFormat):
    name = "junit"
    description = "JUnit XML: a testsuite per run, a testcase per check"

    def render(self, report: Report, settings: Any) -> str:
        ET = _et()
        root = junit_tree(report)
        ET.indent(root, space="  ")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


@hookimpl
def logcheck_register_formats(register):
    register(JUnitFormat())
