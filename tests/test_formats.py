"""The CI output formats, each checked against its consumer's schema or parser.

- markdown: parsed with markdown-it-py (CommonMark + GFM tables);
- github:   a regex from GitHub's documented workflow-command grammar, plus a port
            of the Actions runner's own parser (actions/runner
            ``src/Runner.Common/ActionCommand.cs``, ``TryParseV2`` and its
            unescaping) for escaping round-trips;
- junit:    xml.etree, junitparser, and the Jenkins xUnit JUnit XSD (tests/schemas);
- sarif:    the OASIS SARIF 2.1.0 JSON schema (tests/schemas) with jsonschema;
- gitlab:   GitLab's documented Code Quality fields as a JSON schema (tests/schemas).

Reports are built by hand (``series_run`` + ``RunReport``) so these tests do not
depend on the parsers or checks; one end-to-end test per format goes through the CLI.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import pytest

from logcheck import CheckResult, Finding, Severity, Status, Summary
from logcheck.plugins.format_github import ANNOTATIONS_PER_LEVEL, escape_data, escape_property, render_github
from logcheck.plugins.format_gitlab import display_path, message_shape
from logcheck.plugins.format_junit import JUnitFormat
from logcheck.plugins.format_markdown import render_markdown
from logcheck.report import InputFailure, Report, RunReport
from logcheck.testing import make_test_settings, series_run

SCHEMAS = Path(__file__).resolve().parent / "schemas"
REPO = Path(__file__).resolve().parents[1]
HF_TINY = REPO / "tests" / "fixtures" / "hf_tiny" / "run.log"

# Everything a log line can throw at a renderer: escapes of every consumer, markup, unicode,
# a terminal escape and both newline kinds.
SPECIAL = ("loss rose 100% | a:b, c=d\nsecond line\r\nthird <tag> & \"quoted\" 'single' `tick` "
           "*star* _under_ [link](x) @user #12 $x$ %0A %25 ünïcødé 🚀 \x1b[31mred\x1b[0m")
HINT = "lower the lr: 3e-4 → 1e-4, then see <docs> & retry | 50%"


# ---------------------------------------------------------------------------
# Reports built by hand
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings():
    return make_test_settings()


def _run(path: str = "runs/a.log", mean: Optional[float] = 2.2):
    run = series_run(
        path=path,
        train_loss=[(s, 3.0 - s / 100) for s in range(10, 101, 10)],
        eval_loss=[(50, 2.9), (100, 2.5)],
    )
    return run.model_copy(update={"summary": Summary(mean_train_loss=mean)}) if mean is not None else run


def finding(code="OVF001", severity=Severity.error, check="overfitting", message="eval loss rose 18% from step 50",
            hint="keep the best checkpoint", step: Optional[float] = 100, line: Optional[int] = 42, path=""):
    return Finding(code=code, severity=severity, check=check, message=message, hint=hint, step=step, line=line,
                   path=path)


def special_report(path: str = "runs/a.log") -> Report:
    """One run: a failing check with special characters, a warn, a pass, a skip, a finding without line/step."""
    run = _run(path)
    results = [
        CheckResult(check="overfitting", status=Status.fail, reason="eval loss rose | 18%",
                    findings=[finding(message=SPECIAL, hint=HINT, path=path)]),
        CheckResult(check="convergence", status=Status.warn, reason="still falling",
                    findings=[finding(code="CNV002", severity=Severity.warning, check="convergence",
                                      message="eval loss still falling fast: -0.03 per step", hint="train longer",
                                      step=None, line=None, path=path)]),
        CheckResult(check="throughput", status=Status.pass_, reason="3.6 samples/s",
                    findings=[finding(code="THR001", severity=Severity.info, check="throughput",
                                      message="trained at 3.6 samples/s", hint="", step=None, line=7, path=path)]),
        CheckResult(check="stability", status=Status.pass_, reason="no spikes"),
        CheckResult(check="warnings", status=Status.skip, reason="no warnings in this log"),
    ]
    return Report(runs=[RunReport(run=run, results=results)], exit_code=1)


def many_errors_report(n_errors: int = 25, n_warnings: int = 0) -> Report:
    findings = [finding(message=f"error number {i}: loss NaN at step {i}", step=i, line=i + 1, path="runs/b.log")
                for i in range(n_errors)]
    findings += [finding(code="CNV002", severity=Severity.warning, check="convergence", message=f"warning {i}",
                         step=i, line=None, path="runs/b.log") for i in range(n_warnings)]
    res = CheckResult(check="overfitting", status=Status.fail if n_errors else Status.warn, reason="many",
                      findings=findings)
    return Report(runs=[RunReport(run=_run("runs/b.log"), results=[res])], exit_code=1)


def two_run_report() -> Report:
    a = special_report("runs/a.log").runs[0]
    b = RunReport(run=_run("runs/c.log", mean=None), results=[
        CheckResult(check="stability", status=Status.fail, reason="NaN",
                    findings=[finding(code="STB001", check="stability", message="train loss NaN at step 30",
                                      step=30, line=12, path="runs/c.log")])])
    return Report(runs=[a, b], exit_code=1)


EMPTY = Report(runs=[], exit_code=3)


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------


def test_all_ci_formats_are_registered():
    from logcheck.pluginmanager import make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    assert {"markdown", "github", "junit", "sarif", "gitlab"} <= set(pm.formats)
    assert all(pm.formats[n].description for n in ("markdown", "github", "junit", "sarif", "gitlab"))
    assert not [f for f in pm.failures if f.plugin.startswith("format_")]


# ---------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------


def _md():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def md_tables(text: str) -> list[list[list[tuple[str, list]]]]:
    """Every table as rows of cells; a cell is (plain text, inline child tokens)."""
    tokens = _md().parse(text)
    tables, rows, row = [], None, None
    for t in tokens:
        if t.type == "table_open":
            rows = []
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append((_plain(t.children or []), t.children or []))
        elif t.type == "tr_close":
            rows.append(row)
            row = None
        elif t.type == "table_close":
            tables.append(rows)
            rows = None
    return tables


def _plain(children) -> str:
    out = []
    for c in children:
        if c.type in ("text", "code_inline"):
            out.append(c.content)
        elif c.type == "html_inline" and c.content.lower().startswith("<br"):
            out.append("\n")
        elif c.type in ("softbreak", "hardbreak"):
            out.append("\n")
        else:
            out.append(f"<{c.type}>")  # anything else (em, link, html) shows up and fails comparisons
    return "".join(out)


def _as_cell(s: str) -> str:
    """What a table cell must show for log text ``s``: lines joined, control characters replaced."""
    s = re.sub(r"\r\n|\r|\n", "\n", s)
    return "".join(ch if ch >= " " or ch == "\n" else "\ufffd" for ch in s).replace("\t", " ")


def _table_with_header(tables, first_header: str):
    for t in tables:
        if t[0][0][0] == first_header:
            return t
    raise AssertionError(f"no table starting with {first_header!r}: {[t[0][0][0] for t in tables]}")


def test_markdown_renders_valid_gfm_tables(settings):
    text = render_markdown(special_report(), settings)
    tables = md_tables(text)
    figures = _table_with_header(tables, "Figure")
    checks = _table_with_header(tables, "Check")
    findings = _table_with_header(tables, "Code")
    evals = _table_with_header(tables, "Step")
    assert [c[0] for c in findings[0]] == ["Code", "Severity", "Step", "Line", "Message", "Hint"]
    # Every row keeps its column count: a '|' in a message did not split a cell.
    for t in (figures, checks, findings, evals):
        assert len({len(r) for r in t}) == 1, t
    assert len(findings) == 1 + 3
    assert [c[0] for c in checks[0]] == ["Check", "Status", "Reason"]
    assert {r[0][0]: r[1][0] for r in checks[1:]} == {
        "convergence": "⚠️ warn", "overfitting": "❌ fail", "stability": "✅ pass", "throughput": "✅ pass",
        "warnings": "⏭️ skip"}


def test_markdown_cells_show_log_text_literally(settings):
    """Markup in a log message renders as text: no emphasis, link, code or raw HTML sneaks in."""
    findings = _table_with_header(md_tables(render_markdown(special_report(), settings)), "Code")
    row = next(r for r in findings[1:] if r[0][0] == "OVF001")
    message, hint = row[4], row[5]
    assert message[0] == _as_cell(SPECIAL)
    assert hint[0] == _as_cell(HINT)
    assert {c.type for c in message[1]} <= {"text", "html_inline"}  # only <br> for the newlines
    assert all(c.content == "<br>" for c in message[1] if c.type == "html_inline")
    # A finding without step or line shows dashes, not "None".
    cnv = next(r for r in findings[1:] if r[0][0] == "CNV002")
    assert (cnv[2][0], cnv[3][0]) == ("—", "—")


def test_markdown_heading_verdict_and_key_figures(settings):
    text = render_markdown(special_report(), settings)
    assert text.startswith("## ❌ logcheck: runs/a.log — FAIL\n")
    figures = {r[0][0]: r[1][0] for r in _table_with_header(md_tables(text), "Figure")[1:]}
    # The run mean (2.2) is labelled as such and kept apart from the last logged train loss (2.0).
    mean_label = next(k for k in figures if k.startswith("run-mean train loss"))
    assert "not the final loss" in mean_label and figures[mean_label] == "2.2"
    assert figures["final train loss (last logged)"] == "2 (step 100)"
    assert figures["best eval loss"] == "2.5 (step 100)"
    warn = Report(runs=[RunReport(run=_run(), results=[CheckResult(check="convergence", status=Status.warn,
                                                                     reason="slow")])])
    assert render_markdown(warn, settings).startswith("## ⚠️ logcheck: runs/a.log — WARN")
    ok = Report(runs=[RunReport(run=_run(), results=[CheckResult(check="stability", status=Status.pass_)])])
    assert render_markdown(ok, settings).startswith("## ✅ logcheck: runs/a.log — PASS")


def test_markdown_eval_table_has_train_loss_at_the_same_steps(settings):
    evals = _table_with_header(md_tables(render_markdown(special_report(), settings)), "Step")
    rows = [[c[0] for c in r] for r in evals[1:]]
    # Train points (10..50] average (2.9+2.8+2.7+2.6+2.5)/5 = 2.7; (50..100] → 2.2.
    assert rows == [["50", "2.9", "2.7"], ["100", "2.5", "2.2"]]


def test_markdown_long_eval_table_is_cut_in_the_middle(settings):
    run = series_run(path="long.log", eval_loss=[(s, 1.0 + 1 / s) for s in range(1, 101)])
    text = render_markdown(Report(runs=[RunReport(run=run, results=[])]), settings)
    evals = _table_with_header(md_tables(text), "Step")
    steps = [r[0][0] for r in evals[1:]]
    assert steps[:3] == ["1", "2", "3"] and steps[-1] == "100" and "…" in steps and len(steps) == 21


def test_markdown_plot_hook(settings):
    with_plot = make_test_settings(plugin_options={"plot_path": "plots/loss curves.png"})
    text = render_markdown(special_report(), with_plot)
    images = [c for t in _md().parse(text) if t.type == "inline" for c in (t.children or []) if c.type == "image"]
    assert len(images) == 1
    assert images[0].attrs["src"] == "plots/loss%20curves.png" and images[0].content == "loss curves"
    assert "![loss curves]" not in render_markdown(special_report(), settings)


def test_markdown_several_runs_and_none(settings):
    text = render_markdown(two_run_report(), settings)
    assert text.startswith("# ❌ logcheck: 2 runs checked, 2 failed (exit code 1)")
    overview = _table_with_header(md_tables(text), "Run")
    assert [r[0][0] for r in overview[1:]] == ["runs/a.log", "runs/c.log"]
    assert text.count("## ❌ logcheck: runs/") == 2
    empty = render_markdown(EMPTY, settings)
    assert "0 runs checked" in empty and "No training run was found" in empty
    failing_input = Report(runs=[], input_failures=[InputFailure(path="x.log", error="x.log: not a training log")],
                           exit_code=2)
    assert "## Errors" in render_markdown(failing_input, settings)


# ---------------------------------------------------------------------------
# github
# ---------------------------------------------------------------------------

# From the documented grammar ("Workflow commands for GitHub Actions"):
#   ::{command} {parameter}={value},{parameter}={value}::{message}
# with properties escaped (no raw ':' ',' CR LF or bare '%') and the message one line.
_ESCAPED = r"(?:[^%\r\n]|%25|%0D|%0A)"
_PROP_VALUE = r"(?:[^%\r\n:,]|%25|%0D|%0A|%3A|%2C)*"
_PROPS = rf"(?:file|line|endLine|col|endColumn|title)={_PROP_VALUE}"
ANNOTATION = re.compile(rf"^::(?P<cmd>error|warning|notice)(?: (?P<props>{_PROPS}(?:,{_PROPS})*))?::"
                        rf"(?P<data>{_ESCAPED}*)$")


def runner_parse(line: str) -> Optional[tuple[str, dict[str, str], str]]:
    """actions/runner ActionCommand.TryParseV2 and its Unescape* (same order of replacements)."""
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    props: dict[str, str] = {}
    if space > 0:
        for item in [p for p in info[space + 1:].strip().split(",") if p]:
            pair = [x for x in item.split("=", 1) if x]
            if len(pair) == 2:
                props[pair[0]] = _unescape(pair[1], (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","),
                                                     ("%25", "%")))
    data = _unescape(message[end + 2:], (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")))
    return name, props, data


def _unescape(s: str, mapping) -> str:
    for escaped, raw in mapping:
        s = s.replace(escaped, raw)
    return s


@pytest.mark.parametrize("raw", [SPECIAL, HINT, "%", "%0A literal", "%%3A", "a:b,c", "\r\n", "日本語 ✓", ""])
def test_github_escaping_round_trips_through_the_runner_parser(raw):
    line = f"::warning file={escape_property(raw)},title={escape_property(raw)}::{escape_data(raw)}"
    assert ANNOTATION.match(line) or raw == ""  # an empty property is dropped by the renderer, not here
    name, props, data = runner_parse(line)
    assert name == "warning" and data == raw
    if raw:
        assert props == {"file": raw, "title": raw}


def test_github_annotations_match_the_grammar_and_round_trip(settings, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = render_github(special_report(), settings).splitlines()
    commands = [ln for ln in out if ln.startswith("::")]
    assert len(commands) == 3
    for ln in commands:
        assert ANNOTATION.match(ln), ln
    parsed = [runner_parse(ln) for ln in commands]
    by_title = {p[1]["title"]: p for p in parsed}
    err = by_title["OVF001 overfitting"]
    assert err[0] == "error" and err[1]["file"] == "runs/a.log" and err[1]["line"] == "42"
    assert err[2] == f"{SPECIAL}\nHint: {HINT}".replace("\x1b", "\ufffd")  # no raw ESC in the job log
    warn = by_title["CNV002 convergence"]
    assert warn[0] == "warning" and "line" not in warn[1]  # no line → no line property
    assert by_title["THR001 throughput"][0] == "notice"
    assert out[-1] == "logcheck: 1 run(s), 3 finding(s), exit code 1"


def test_github_caps_annotations_per_level_and_notes_the_rest(settings, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = render_github(many_errors_report(25, 12), settings).splitlines()
    errors = [ln for ln in out if ln.startswith("::error")]
    warnings = [ln for ln in out if ln.startswith("::warning")]
    assert len(errors) == ANNOTATIONS_PER_LEVEL == 10 and len(warnings) == 10
    notice = [ln for ln in out if ln.startswith("::notice")]
    assert len(notice) == 1 and ANNOTATION.match(notice[0])
    assert runner_parse(notice[0])[2].startswith("17 more findings not annotated (15 error, 2 warning)")


def test_github_appends_the_rest_to_the_step_summary(settings, monkeypatch, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = render_github(many_errors_report(25), settings).splitlines()
    assert sum(ln.startswith("::error") for ln in out) == 10
    notice = runner_parse(next(ln for ln in out if ln.startswith("::notice")))[2]
    assert notice.startswith("15 more findings not annotated (15 error)") and "job summary" in notice
    written = summary.read_text(encoding="utf-8")
    assert written.startswith("earlier step\n")  # appended, not overwritten
    findings = _table_with_header(md_tables(written), "Code")
    assert len(findings) == 1 + 25  # the summary holds every finding, not just the unannotated ones


def test_github_no_summary_file_written_when_nothing_is_left_over(settings, monkeypatch, tmp_path):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = render_github(many_errors_report(10), settings).splitlines()
    assert sum(ln.startswith("::error") for ln in out) == 10
    assert not any(ln.startswith("::notice") for ln in out) and not summary.exists()


def test_github_zero_runs_and_unreadable_input(settings, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = render_github(EMPTY, settings).splitlines()
    assert ANNOTATION.match(out[0]) and out[0].startswith("::notice") and "no training run" in out[0]
    bad = Report(input_failures=[InputFailure(path="logs/x,y:z.log", error="cannot read: 100% binary")], exit_code=2)
    line = render_github(bad, settings).splitlines()[0]
    assert ANNOTATION.match(line)
    name, props, data = runner_parse(line)
    assert (name, props["file"], data) == ("error", "logs/x,y:z.log", "cannot read: 100% binary")


# ---------------------------------------------------------------------------
# junit
# ---------------------------------------------------------------------------


def _xsd():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


def render_junit(report: Report, settings) -> str:
    return JUnitFormat().render(report, settings)


def test_junit_structure_and_counts(settings):
    xml = render_junit(special_report(), settings)
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["runs/a.log"]
    suite = suites[0]
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {f"{c} [runs/a.log]" for c in
                          ("overfitting", "convergence", "throughput", "stability", "warnings")}
    assert all(c.get("classname") == "logcheck." + n.split(" ")[0] for n, c in cases.items())
    failure = cases["overfitting [runs/a.log]"].find("failure")
    assert failure.get("type") == "OVF001" and failure.get("message") == "eval loss rose | 18%"
    # The text keeps the message (the terminal escape made visible), step, line and hint.
    expected = SPECIAL.replace("\x1b", "\\x1b").replace("\r\n", "\n")
    assert expected in failure.text.replace("\r\n", "\n")
    assert "step 100" in failure.text and "runs/a.log:42" in failure.text and f"hint: {HINT}" in failure.text
    # warn below fail_on (error): passes, the warning is in system-out.
    conv = cases["convergence [runs/a.log]"]
    assert conv.find("failure") is None and "CNV002 [warning]" in conv.find("system-out").text
    skipped = cases["warnings [runs/a.log]"].find("skipped")
    assert skipped is not None and skipped.get("message") == "no warnings in this log"
    assert len(list(cases["stability [runs/a.log]"])) == 0
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "0", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "0")


def test_junit_fail_on_warning_turns_warn_checks_into_failures(settings):
    report = special_report()
    report.fail_on = Severity.warning
    root = ET.fromstring(render_junit(report, settings))
    cases = {c.get("classname"): c for c in root.iter("testcase")}
    assert cases["logcheck.convergence"].find("failure").get("type") == "CNV002"
    assert cases["logcheck.throughput"].find("failure") is None  # info stays below warning
    assert root.find("testsuite").get("failures") == "2"
    report.fail_on = Severity.info
    root = ET.fromstring(render_junit(report, settings))
    assert root.find("testsuite").get("failures") == "3"


@pytest.mark.parametrize("make", [special_report, two_run_report, lambda: EMPTY, lambda: many_errors_report(25)])
def test_junit_validates_against_the_jenkins_xsd(settings, make):
    _xsd().validate(render_junit(make(), settings))


def test_junit_xsd_catches_a_broken_report(settings):
    """The schema is not a rubber stamp: a testsuite without its required 'tests' count fails."""
    root = ET.fromstring(render_junit(special_report(), settings))
    del root.find("testsuite").attrib["tests"]
    assert not _xsd().is_valid(ET.tostring(root, encoding="unicode"))


def test_junit_parses_with_junitparser(settings, tmp_path):
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "report.xml"
    path.write_text(render_junit(two_run_report(), settings), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [s.name for s in suites] == ["runs/a.log", "runs/c.log"]
    for suite in suites:
        results = [type(r).__name__ for case in suite for r in case.result]
        assert suite.tests == len(list(suite))
        assert suite.failures == results.count("Failure")
        assert suite.skipped == results.count("Skipped")
    a = suites[0]
    failed = [case for case in a if any(type(r).__name__ == "Failure" for r in case.result)]
    assert [c.classname for c in failed] == ["logcheck.overfitting"]
    assert failed[0].result[0].type == "OVF001"
    assert xml.tests == 6 and xml.failures == 2


def test_junit_zero_runs_and_input_errors(settings):
    root = ET.fromstring(render_junit(EMPTY, settings))
    assert (root.get("tests"), root.get("failures"), list(root)) == ("0", "0", [])
    bad = Report(input_failures=[InputFailure(path="x.log", error="x.log: \x00binary <data> & more")], exit_code=2)
    xml = render_junit(bad, settings)
    _xsd().validate(xml)
    err = ET.fromstring(xml).find("testsuite/testcase/error")
    assert err.get("type") == "InputError" and err.get("message") == "x.log: \\x00binary <data> & more"


# ---------------------------------------------------------------------------
# sarif
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


# RFC 3986 URI-reference characters (jsonschema checks "uri-reference" only with extra packages).
_URI_REF = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _sarif(report: Report, settings) -> dict:
    from logcheck.plugins.format_sarif import SarifFormat

    return json.loads(SarifFormat().render(report, settings))


@pytest.mark.parametrize("make", [special_report, two_run_report, lambda: EMPTY, lambda: many_errors_report(25, 3)])
def test_sarif_validates_against_the_oasis_schema(settings, sarif_validator, make):
    log = _sarif(make(), settings)
    errors = sorted(sarif_validator.iter_errors(log), key=str)
    assert not errors, errors[:3]
    for result in log["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert _URI_REF.fullmatch(uri), uri


def test_sarif_schema_catches_a_broken_log(settings, sarif_validator):
    log = _sarif(special_report(), settings)
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert len(list(sarif_validator.iter_errors(log))) >= 2


def test_sarif_driver_rules_and_results(settings):
    log = _sarif(two_run_report(), settings)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    assert len(log["runs"]) == 1  # several logs, one SARIF run
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    from logcheck import __version__

    assert driver["name"] == "logcheck" and driver["version"] == __version__
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted({"OVF001", "CNV002", "THR001", "STB001"}) and len(ids) == len(set(ids))
    ovf = driver["rules"][ids.index("OVF001")]
    rule = settings.rules["OVF001"]
    assert ovf["name"] == rule.name and ovf["shortDescription"]["text"] == rule.summary
    assert ovf["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "info": "note"}[
        rule.severity.value]
    assert ovf["fullDescription"]["text"] and ovf["fullDescription"]["text"] in " ".join(rule.doc.split())
    assert ovf["help"]["markdown"] == rule.doc.strip()
    results = run["results"]
    assert len(results) == 4
    for res in results:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    special = next(r for r in results if r["ruleId"] == "OVF001")
    assert special["level"] == "error" and special["message"]["text"] == f"{SPECIAL}\nHint: {HINT}"
    loc = special["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "runs/a.log" and loc["region"] == {"startLine": 42}
    cnv = next(r for r in results if r["ruleId"] == "CNV002")
    assert cnv["level"] == "warning" and "region" not in cnv["locations"][0]["physicalLocation"]
    assert next(r for r in results if r["ruleId"] == "THR001")["level"] == "note"
    assert run["invocations"][0] == {"executionSuccessful": True, "exitCode": 1}


def test_sarif_paths_outside_the_cwd_and_unknown_rules(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    inside = str(tmp_path / "logs" / "my run.log")
    outside = "/elsewhere/run.log"
    rep = Report(runs=[RunReport(run=_run(inside), results=[CheckResult(
        check="custom", status=Status.warn,
        findings=[finding(code="XYZ999", severity=Severity.warning, check="custom", path=inside, line=0),
                  finding(code="XYZ999", severity=Severity.warning, check="custom", path=outside)])])])
    log = _sarif(rep, settings)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]]
    assert uris == ["logs/my%20run.log", "file:///elsewhere/run.log"]
    assert "region" not in log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]  # line 0 = unknown
    assert log["runs"][0]["tool"]["driver"]["rules"] == [
        {"id": "XYZ999", "name": "XYZ999", "shortDescription": {"text": "XYZ999"},
         "defaultConfiguration": {"level": "warning"}}]


def test_sarif_reports_unreadable_input_as_a_notification(settings, sarif_validator):
    bad = Report(input_failures=[InputFailure(path="x.log", error="x.log: not a training log")], exit_code=2)
    log = _sarif(bad, settings)
    assert not list(sarif_validator.iter_errors(log))
    inv = log["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False and inv["exitCode"] == 2
    assert inv["toolExecutionNotifications"][0]["message"]["text"] == "x.log: not a training log"


# ---------------------------------------------------------------------------
# gitlab
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "gitlab-codequality.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def _gitlab(report: Report, settings) -> tuple[str, list]:
    from logcheck.plugins.format_gitlab import GitLabFormat

    text = GitLabFormat().render(report, settings)
    return text, json.loads(text)


@pytest.mark.parametrize("make", [special_report, two_run_report, lambda: EMPTY, lambda: many_errors_report(25, 3)])
def test_gitlab_report_has_the_documented_fields(settings, gitlab_validator, make):
    text, issues = _gitlab(make(), settings)
    assert text.startswith("[") and not text.startswith("\ufeff")  # GitLab rejects a BOM
    assert not list(gitlab_validator.iter_errors(issues))
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_gitlab_schema_catches_a_broken_report(settings, gitlab_validator):
    _, issues = _gitlab(special_report(), settings)
    issues[0]["severity"] = "warning"
    issues[1]["location"]["lines"]["begin"] = "7"
    del issues[2]["check_name"]
    assert len(list(gitlab_validator.iter_errors(issues))) == 3


def test_gitlab_fields_and_severity_mapping(settings):
    _, issues = _gitlab(special_report(), settings)
    by_code = {i["check_name"]: i for i in issues}
    assert {c: i["severity"] for c, i in by_code.items()} == {"OVF001": "critical", "CNV002": "major",
                                                               "THR001": "info"}
    assert by_code["OVF001"]["description"] == f"{SPECIAL} Hint: {HINT}"
    assert by_code["OVF001"]["location"] == {"path": "runs/a.log", "lines": {"begin": 42}}
    assert by_code["CNV002"]["location"]["lines"]["begin"] == 1  # no line → 1


def test_gitlab_fingerprints_are_stable_and_unique(settings):
    def fp(**kw):
        rep = Report(runs=[RunReport(run=_run(), results=[CheckResult(check="overfitting", status=Status.fail,
                                                                       findings=[finding(**kw)])])])
        return _gitlab(rep, settings)[1][0]["fingerprint"]

    base = fp(message="eval loss rose 18% from step 4000")
    assert fp(message="eval loss rose 18% from step 4000") == base
    assert fp(message="eval loss rose 19.5% from step 4000") == base  # numbers move, the shape stays
    assert fp(message="eval loss rose 18% from step 4000", line=99) == base  # a line shift keeps it
    assert fp(message="eval loss fell 18% from step 4000") != base
    assert fp(message="eval loss rose 18% from step 4000", step=200) != base
    assert fp(message="eval loss rose 18% from step 4000", code="OVF002") != base
    assert fp(message="eval loss rose 18% from step 4000", path="runs/other.log") != base
    # Identical findings still get distinct fingerprints, the same ones every time.
    twins = Report(runs=[RunReport(run=_run(), results=[CheckResult(
        check="overfitting", status=Status.fail, findings=[finding(), finding(), finding()])])])
    first = [i["fingerprint"] for i in _gitlab(twins, settings)[1]]
    assert len(set(first)) == 3 and first == [i["fingerprint"] for i in _gitlab(twins, settings)[1]]


def test_display_path_and_message_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert display_path("./logs/run.log") == "logs/run.log"
    assert display_path(str(tmp_path / "logs" / "run.log")) == "logs/run.log"
    assert display_path("/elsewhere/run.log") == "/elsewhere/run.log"
    assert display_path("../up.log") == "../up.log"
    assert message_shape("loss 2.5e-3 at step 4,000 (12%), nan") == message_shape("loss 1e-2 at step 5,000 (9%), inf")


# ---------------------------------------------------------------------------
# End to end through the CLI on a real log
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_tiny_exit_code():
    if not HF_TINY.is_file():
        pytest.skip("tests/fixtures/hf_tiny/run.log is missing")
    from logcheck.pipeline import analyze_paths

    report = analyze_paths([str(HF_TINY)])
    if not report.runs:
        pytest.skip("the parsers do not read tests/fixtures/hf_tiny/run.log yet")
    return report.exit_code


@pytest.mark.parametrize("fmt", ["markdown", "github", "junit", "sarif", "gitlab"])
def test_cli_end_to_end(fmt, hf_tiny_exit_code, sarif_validator, gitlab_validator, monkeypatch):
    from click.testing import CliRunner

    from logcheck.cli import cli

    monkeypatch.chdir(REPO)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = str(HF_TINY.relative_to(REPO))
    result = CliRunner().invoke(cli, ["check", path, "--format", fmt])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == hf_tiny_exit_code, result.output
    out = result.stdout
    if fmt == "markdown":
        assert md_tables(out) and "## " in out and path.replace("_", "\\_") in out
    elif fmt == "github":
        commands = [ln for ln in out.splitlines() if ln.startswith("::")]
        assert all(ANNOTATION.match(ln) for ln in commands)
        assert all(runner_parse(ln)[1].get("file") == path for ln in commands if "file=" in ln)
    elif fmt == "junit":
        _xsd().validate(out)
        assert ET.fromstring(out).find("testsuite").get("name") == path
    elif fmt == "sarif":
        log = json.loads(out)
        assert not list(sarif_validator.iter_errors(log))
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
        assert uris <= {path}
    else:
        issues = json.loads(out)
        assert not list(gitlab_validator.iter_errors(issues))
        assert {i["location"]["path"] for i in issues} <= {path}


def test_markdown_caps_a_huge_findings_table(settings):
    from logcheck.plugins.format_markdown import MAX_FINDING_ROWS

    text = render_markdown(many_errors_report(MAX_FINDING_ROWS + 5), settings)
    rows = _table_with_header(md_tables(text), "Code")[1:]
    assert len(rows) == MAX_FINDING_ROWS + 1 and rows[-1][4][0].startswith("5 more findings")
