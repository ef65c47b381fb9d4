"""``--html``: one self-contained page, checked as text and in a real headless browser.

The browser tests drive Debian's ``chromium`` over the DevTools protocol on a pipe
(``--remote-debugging-pipe``; no extra Python package): they record every request
the page makes, every console/log error and uncaught exception, then read the
rendered DOM (title, checks table, images decoded from ``data:`` URIs), lay the
page out at a phone's width and print it to PDF. They skip when chromium is absent.
"""
from __future__ import annotations

import base64
import html.parser
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from logcheck import CheckResult, Finding, Severity, Status
from logcheck.html_report import esc, eval_table, markdown_to_html, render_html, write_html
from logcheck.report import InputFailure, Report, RunReport
from logcheck.testing import make_test_settings, series_run

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
try:
    import matplotlib  # noqa: F401

    HAVE_MPL = True
except ImportError:  # the `plot` extra is optional; pages without it are tested too
    HAVE_MPL = False
needs_mpl = pytest.mark.skipif(not HAVE_MPL, reason="matplotlib (the plot extra) is not installed")

EVIL = "<script>alert('x')</script><img src=http://example.com/x.png onerror=alert(1)> & \"q\" \x1b[31m"


class PageParser(html.parser.HTMLParser):
    """Tags, attributes and text of a page, as a browser-independent first look."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Optional[str]]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def parse(page: str) -> PageParser:
    p = PageParser()
    p.feed(page)
    return p


def _report(name: str = "runs/good.log", message: str = "eval loss rose 18% from step 40") -> tuple[Report, Any]:
    run = series_run(path=name, train_loss=[(s, 3.0 - 0.02 * s) for s in range(10, 101, 10)],
                     eval_loss=[(50, 2.2), (100, 2.4)])
    res = CheckResult(check="overfitting", status=Status.warn, reason=message, findings=[
        Finding(code="OVF001", check="overfitting", severity=Severity.warning, message=message,
                hint="Keep the best checkpoint.", step=50.0, line=5, evidence={"min_step": 50})],
        facts={"eval_min": {"step": 50, "value": 2.2}})
    ok = CheckResult(check="convergence", status=Status.pass_, reason="train loss fell 60%")
    settings = make_test_settings()
    return Report(runs=[RunReport(run=run, results=[ok, res])], exit_code=0), settings


# ---------------------------------------------------------------------------
# The page as text
# ---------------------------------------------------------------------------


@needs_mpl
def test_page_is_self_contained_with_sections():
    report, settings = _report()
    page = render_html(report, settings)
    p = parse(page)
    assert p.title == "logcheck: runs/good.log — WARN"
    metas = [a for t, a in p.tags if t == "meta"]
    assert any(a.get("name") == "viewport" for a in metas)
    assert any(a.get("http-equiv") == "Content-Security-Policy" and "default-src 'none'" in a["content"]
               for a in metas)
    for tag, attrs in p.tags:
        for key in ("src", "href"):
            v = attrs.get(key)
            if v is not None:
                assert v.startswith(("data:", "#")), f"<{tag} {key}={v[:60]}> leaves the page"
        assert tag not in ("script", "link", "iframe", "object", "embed")
    imgs = [a for t, a in p.tags if t == "img"]
    assert imgs and imgs[0]["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(imgs[0]["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    text = " ".join(p.text)
    for heading in ("Key figures", "Checks", "Findings (1)", "Eval loss (2 points)", "Rules cited"):
        assert heading in text
    assert "@media print" in page and "@media (max-width:640px)" in page


def test_every_finding_links_to_its_rule_doc():
    report, settings = _report()
    page = render_html(report, settings)
    assert 'href="#rule-OVF001"' in page and 'id="rule-OVF001"' in page
    doc = settings.rules["OVF001"].doc
    first_words = doc.split("## What it does", 1)[1].strip().split("\n")[0][:30]
    assert esc(first_words) in page
    assert "<h4>What it does</h4>" in page
    assert "Hint:</b> Keep the best checkpoint." in page


def test_log_text_is_escaped():
    report, settings = _report(name=EVIL, message=EVIL)
    page = render_html(report, settings)
    p = parse(page)
    assert not any(t == "script" for t, _ in p.tags)
    assert not any(t == "img" and "example.com" in (a.get("src") or "") for t, a in p.tags)
    assert "&lt;script&gt;" in page and "\x1b" not in page


def test_key_figures_keep_the_run_mean_apart_from_the_final_loss():
    from logcheck import Summary

    run = series_run(train_loss=[(10, 4.0), (20, 3.5)])
    run = run.model_copy(update={"summary": Summary(mean_train_loss=3.9)})
    page = render_html(Report(runs=[RunReport(run=run)]), make_test_settings(), plots=False)
    assert "final train loss (last logged)</td><td class=num>3.5 (step 20)" in page
    assert "run-mean train loss" in page and ">3.9<" in page


def test_eval_table_compares_at_the_same_steps():
    run = series_run(train_loss=[(10, 3.0), (20, 2.0), (30, 1.0), (40, 0.5)],
                     eval_loss=[(20, 2.6, 0.5), (40, 1.5, 1.0)])
    rows, n = eval_table(run)
    assert n == 2
    assert rows[0] == ["20", "0.50", "2.6", "2.5", "+0.100"]  # train mean of steps 10, 20
    assert rows[1] == ["40", "1.00", "1.5", "0.75", "+0.750"]  # train mean of steps 30, 40


def test_long_eval_tables_show_both_ends():
    run = series_run(train_loss=[(s, 1.0) for s in range(1, 500)], eval_loss=[(s, 1.1) for s in range(5, 500, 5)])
    rows, n = eval_table(run)
    assert n == 99 and len(rows) == 51 and rows[25][0] == "…"
    assert rows[-1][0] == "495"


def test_markdown_subset():
    out = markdown_to_html("## What it does\nSets `lr` to **zero** and *more*\nsecond line.\n\n- a\n- b `c`\n\n"
                           "```\ncode <x>\n```\n[link](http://example.com)")
    assert "<h4>What it does</h4>" in out
    assert "<p>Sets <code>lr</code> to <strong>zero</strong> and <em>more</em> second line.</p>" in out
    assert "<ul><li>a</li><li>b <code>c</code></li></ul>" in out
    assert "<pre><code>code &lt;x&gt;</code></pre>" in out
    assert "href" not in out and "link (http://example.com)" in out
    assert "load_best_model_at_end" in markdown_to_html("set load_best_model_at_end and x_y_z")


@needs_mpl
def test_several_runs_and_baseline_are_overlaid():
    report, _ = _report()
    other, _ = _report(name="runs/other.log")
    both = Report(runs=report.runs + other.runs, input_failures=[InputFailure(path="bad.log", error="<binary>")])
    settings = make_test_settings(plugin_options={"baseline": {
        "name": "ref.json", "train_loss": {"step": [10, 100], "value": [3.0, 1.2]}}})
    p = parse(render_html(both, settings))
    assert p.title == "logcheck: 2 runs — WARN"
    imgs = [a for t, a in p.tags if t == "img"]
    assert len(imgs) == 3  # the overlay and one per run
    assert "overlaid" in imgs[0]["alt"] and "ref.json" in imgs[0]["alt"]
    assert [a["href"] for t, a in p.tags if t == "a" and a.get("href", "").startswith("#run-")] == ["#run-1", "#run-2"]
    assert "input bad.log: <binary>" in " ".join(p.text)


def test_without_matplotlib_the_page_says_so(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report, settings = _report()
    page = render_html(report, settings)
    assert "<img" not in page and "Plots are not included" in page and "logcheck[plot]" in page


@needs_mpl
def test_html_format_plugin():
    from logcheck.pipeline import prepare, render
    from logcheck.plugins import format_html
    from logcheck.pluginmanager import make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    if "html" not in pm.formats:  # until it is listed in BUILTIN_PLUGINS
        pm.register(format_html, name="format_html")
        pm.rules.clear(), pm.parsers.clear(), pm.formats.clear()
        pm.collect()
    settings, pm = prepare(pm=pm)
    report, _ = _report()
    page = render(report, "html", settings, pm)
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert 'id="rule-OVF001"' in page


# ---------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--mute-audio", "--remote-debugging-pipe")


class Browser:
    """A minimal DevTools-protocol client over chromium's pipe (fd 3 in, fd 4 out; NUL-framed JSON)."""

    def __init__(self, exe: str, profile: Path):
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        os.set_inheritable(cmd_r, True)
        os.set_inheritable(res_w, True)

        def wire() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=wire, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self.out, self.inp = cmd_w, res_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             timeout: float = 60) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read(timeout)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read(timeout)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        for fd in (self.out, self.inp):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion", timeout=60)
    except Exception as e:  # pragma: no cover - a broken install
        b.close()
        pytest.skip(f"chromium does not start: {e}")
    yield b
    b.close()


DOM_PROBE = """JSON.stringify({
  title: document.title,
  h1: document.querySelector('h1') && document.querySelector('h1').innerText,
  checkHeaders: [...document.querySelectorAll('section.run table')].map(t =>
      [...t.querySelectorAll('th')].map(th => th.innerText.trim())),
  checkRows: [...document.querySelectorAll('section.run table')].filter(t =>
      t.querySelector('th') && t.querySelector('th').innerText.trim() === 'Check')
      .flatMap(t => [...t.querySelectorAll('tbody tr')].map(tr => tr.innerText)),
  images: [...document.images].map(i => ({src: i.src.slice(0, 22), complete: i.complete,
      w: i.naturalWidth, h: i.naturalHeight, shownW: i.getBoundingClientRect().width})),
  urls: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')),
  scripts: document.scripts.length,
  pageWidth: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
  text: document.body.innerText,
})"""


def open_page(b: Browser, path: Path, width: int = 1280, mobile: bool = False) -> dict[str, Any]:
    """Load ``path`` in a fresh tab; return the DOM probe plus every request, error and the PDF size."""
    target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    b.events.clear()
    for domain in ("Page", "Network", "Runtime", "Log"):
        b.send(f"{domain}.enable", session=session)
    b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                  "mobile": mobile}, session=session)
    url = path.resolve().as_uri()
    b.send("Page.navigate", {"url": url}, session=session)
    b.wait_event("Page.loadEventFired")
    probe = b.send("Runtime.evaluate", {"expression": DOM_PROBE, "returnByValue": True}, session=session)
    dom = json.loads(probe["result"]["value"])
    pdf = b.send("Page.printToPDF", {"printBackground": True}, session=session)
    dom["pdf"] = base64.b64decode(pdf["data"])
    events = [e for e in b.events if e.get("sessionId") == session]
    dom["requests"] = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    dom["errors"] = ([e["params"]["entry"]["text"] for e in events
                      if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
                     + [str(e["params"]) for e in events if e["method"] == "Runtime.exceptionThrown"]
                     + [str(e["params"]["args"]) for e in events if e["method"] == "Runtime.consoleAPICalled"
                        and e["params"]["type"] == "error"])
    dom["url"] = url
    b.send("Target.closeTarget", {"targetId": target})
    return dom


def _left_the_page(dom: dict[str, Any]) -> list[str]:
    return [u for u in dom["requests"] if u != dom["url"] and not u.startswith("data:")]


def test_browser_harness_sees_a_request_that_leaves_the_page(browser, tmp_path):
    """The control: a page that does load something from outside is caught by the harness."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><title>leaky</title><img src="http://127.0.0.1:9/x.png">', encoding="utf-8")
    dom = open_page(browser, page)
    assert _left_the_page(dom) == ["http://127.0.0.1:9/x.png"]


def _check_page(dom: dict[str, Any], title: str, n_images: int) -> None:
    assert dom["title"] == title
    assert not dom["errors"], dom["errors"]
    assert not _left_the_page(dom), dom["requests"]
    assert dom["scripts"] == 0
    assert all(u.startswith(("data:", "#")) for u in dom["urls"]), dom["urls"]
    assert len(dom["images"]) == n_images
    for img in dom["images"]:
        assert img["src"].startswith("data:image/png;base64")
        assert img["complete"] and img["w"] > 500 and img["h"] > 300  # decoded, not a broken image
    assert ["Check", "Status", "Reason"] in dom["checkHeaders"]
    assert dom["pdf"][:5] == b"%PDF-" and len(dom["pdf"]) > 20_000


@needs_mpl
def test_real_fixture_report_in_chromium(browser, tmp_path):
    d = FIXTURES / "hf_tiny"
    if not d.exists():
        pytest.skip("fixture hf_tiny not generated")
    from logcheck.pipeline import analyze_paths, prepare

    settings, pm = prepare(load_entrypoints=False)
    report = analyze_paths([str(d)], settings, pm)
    out = write_html(report, tmp_path / "report.html", settings)
    dom = open_page(browser, out)
    rr = report.runs[0]
    _check_page(dom, f"logcheck: fixtures/hf_tiny — {dom['h1'].split()[0]}", 1)
    assert dom["h1"].split()[0] in ("PASS", "WARN", "FAIL")
    assert len(dom["checkRows"]) == len(rr.results)
    for f in rr.findings:
        assert f.code in dom["text"]
    assert "Rules cited" in dom["text"] and "What it does" in dom["text"]
    assert "Eval loss" in dom["text"] and "Gap" in dom["text"]


@needs_mpl
def test_phone_width_has_no_sideways_page_scroll(browser, tmp_path):
    report, settings = _report(message="a long message " * 40)
    out = write_html(report, tmp_path / "phone.html", settings)
    dom = open_page(browser, out, width=390, mobile=True)
    _check_page(dom, "logcheck: runs/good.log — WARN", 1)
    assert dom["viewport"] == 390
    assert dom["pageWidth"] <= 390  # wide tables scroll inside their box, the page does not
    assert all(img["shownW"] <= 390 for img in dom["images"])


@needs_mpl
def test_hostile_log_text_stays_text_in_chromium(browser, tmp_path):
    report, settings = _report(name=EVIL, message=EVIL)
    other, _ = _report(name="runs/b.log")
    both = Report(runs=report.runs + other.runs)
    out = write_html(both, tmp_path / "evil.html", settings)
    dom = open_page(browser, out)
    _check_page(dom, "logcheck: 2 runs — WARN", 3)
    assert "<script>alert('x')</script>" in dom["text"]  # shown as text, never run


@needs_mpl
def test_a_figure_matplotlib_cannot_draw_leaves_the_report_with_a_note(monkeypatch):
    from logcheck import plot

    def broken(*a, **k):
        raise ValueError("Axis limits cannot be NaN or Inf")

    monkeypatch.setattr(plot, "figure_png", broken)
    from logcheck.pipeline import check_run, prepare

    run = series_run(train_loss=[(i, 3.0 - 0.01 * i) for i in range(1, 51)])
    settings, pm = prepare()
    page = render_html(Report(runs=[check_run(run, settings, pm)]), settings)
    assert "matplotlib could not draw them (ValueError: Axis limits cannot be NaN or Inf)" in page
    assert "</html>" in page
