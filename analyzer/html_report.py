"""``--html report.html``: the report as one self-contained page.

Everything is in the file: the loss curves as base64 PNG ``data:`` images, the CSS
inline, no script, font or link that leaves the page (a Content-Security-Policy
meta tag forbids any request). It has the sections of the text report — the
verdict, key figures (the run mean kept apart from the final loss), the checks,
the findings with their hints, the eval table with the train loss at the same
steps and the gap — and the doc of every rule a finding cites. It reads on a
phone (viewport meta, tables scroll sideways) and prints (print CSS).

Everything a log contributes is HTML-escaped. The plots need the ``plot`` extra
(matplotlib); without it the page says so and keeps the rest.
"""
from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from .errors import MissingExtraError, UsageError
from .findings import Finding, Rule, Severity, Status
from .records import Run
from .report import (Report, RunReport, fmt_number, fmt_step, ordered_results, summary_figures,
                     train_loss_between, worst_status)

#: Eval tables longer than this show the first and last EVAL_EDGE rows.
MAX_EVAL_ROWS = 60
EVAL_EDGE = 25
#: Findings listed per run (a pathological log can produce thousands).
MAX_FINDINGS = 500
#: Runs that get a figure of their own (an overlay of all of them comes first).
MAX_RUN_FIGURES = 30

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

STATUS_CLASS = {Status.fail: "fail", Status.warn: "warn", Status.pass_: "pass", Status.skip: "skip"}
VERDICT_CLASS = {"FAIL": "fail", "WARN": "warn", "PASS": "pass"}

CSS = """
:root{color-scheme:light;--fail:#c62828;--warn:#e65100;--pass:#2e7d32;--skip:#616161;--line:#dde1e6;--muted:#5f6b7a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1f24;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0 .4em}h2{font-size:1.3em;margin:1.2em 0 .4em}h3{font-size:1.08em;margin:1.2em 0 .4em}
h4{font-size:1em;margin:.9em 0 .2em}
section.run,section.rules,section.overview{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:16px 0}
.verdict{display:inline-block;font-weight:700;padding:.1em .55em;border-radius:4px;color:#fff;background:var(--skip)}
.verdict.fail,.badge.fail{background:var(--fail)}.verdict.warn,.badge.warn{background:var(--warn)}.verdict.pass,.badge.pass{background:var(--pass)}
.badge{display:inline-block;min-width:3.6em;text-align:center;font-size:.8em;font-weight:700;color:#fff;background:var(--skip);border-radius:3px;padding:0 .4em}
.sev-error{color:var(--fail);font-weight:700}.sev-warning{color:var(--warn);font-weight:700}.sev-info{color:var(--muted)}
.meta,.muted{color:var(--muted);font-size:.92em}
.reason{margin:.4em 0 .8em}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.4em 0}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border-bottom:1px solid var(--line);padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:.6em 0}figure img{display:block;width:100%;height:auto;border:1px solid var(--line);border-radius:4px;background:#fff}
figcaption{font-size:.85em;color:var(--muted)}
.finding{border-left:4px solid var(--skip);padding:.3em .7em;margin:.6em 0;background:#fafbfc}
.finding.error{border-color:var(--fail)}.finding.warning{border-color:var(--warn)}
.finding .hint{margin:.2em 0 0;color:#2d3640}.finding .hint b{color:#1b1f24}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
code{background:#eef1f4;padding:0 .25em;border-radius:3px;word-break:break-word}
pre{background:#eef1f4;padding:.5em;overflow-x:auto;border-radius:4px}
.rule{border-top:1px solid var(--line);padding-top:.4em;margin-top:.8em}
a{color:#0b57d0}
ul{padding-left:1.3em}
@media (max-width:640px){body{font-size:14px}main{padding:8px}section.run,section.rules,section.overview{padding:8px 10px}
 th,td{padding:.25em .35em}h1{font-size:1.25em}}
@media print{body{background:#fff;font-size:11pt}main{max-width:none;padding:0}
 section.run,section.rules,section.overview{border:none;padding:0;margin:0 0 12pt}
 section.run{break-before:page}section.run:first-of-type{break-before:auto}
 figure,tr,.finding,.rule{break-inside:avoid}.scroll{overflow:visible}a{color:inherit;text-decoration:none}
 .verdict,.badge{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def esc(value: Any) -> str:
    """Log-derived text made inert for HTML (control characters become U+FFFD)."""
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    """Escape, then the inline markdown rule docs use: `code`, **bold**, *em*; links become plain text."""
    out: list[str] = []
    pos = 0
    for m in _INLINE_CODE.finditer(text):
        out.append(_inline_plain(text[pos:m.start()]))
        out.append(f"<code>{esc(m.group(1))}</code>")
        pos = m.end()
    out.append(_inline_plain(text[pos:]))
    return "".join(out)


def _inline_plain(text: str) -> str:
    # A link's target is shown, not followed: the page must not point outside itself.
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    s = esc(text)
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    return _EM.sub(r"<em>\1</em>", s)


def markdown_to_html(doc: str, heading_offset: int = 2) -> str:
    """The markdown subset of rule docs as HTML: headings, paragraphs, lists, fenced code, inline marks."""
    lines = doc.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    code: Optional[list[str]] = None

    def flush() -> None:
        if para:
            out.append("<p>" + _inline(" ".join(x.strip() for x in para)) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in lines:
        if code is not None:
            if line.strip().startswith("```"):
                out.append("<pre><code>" + esc("\n".join(code)) + "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code = []
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if m:
            flush()
            level = min(6, len(m.group(1)) + heading_offset)
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            continue
        m = re.match(r"^[-*+]\s+(.*)$", stripped)
        if m:
            if para:
                flush()
            items.append(m.group(1))
            continue
        if not stripped:
            flush()
            continue
        if items and line.startswith((" ", "\t")):
            items[-1] += " " + stripped  # continuation of a list item
            continue
        if items:
            flush()
        para.append(stripped)
    if code is not None:
        out.append("<pre><code>" + esc("\n".join(code)) + "</code></pre>")
    flush()
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def _verdict(rr: RunReport) -> str:
    from .plot import verdict_word

    return verdict_word(rr)


def _verdict_reason(rr: RunReport) -> str:
    results = ordered_results(rr)
    if not rr.run.has_metrics():
        return "no training metrics were found in this log."
    worst = worst_status(results)
    if worst in (Status.fail, Status.warn):
        return "; ".join(f"{r.check}: {r.reason}" for r in results if r.status == worst)
    passed = [r.check for r in results if r.status == Status.pass_]
    return f"{', '.join(passed)} passed." if passed else "no check ran."


def key_figures(run: Run, rr: RunReport) -> list[tuple[str, str]]:
    fig = summary_figures(run)
    rows: list[tuple[str, str]] = []
    if fig["global_step"] is not None:
        rows.append(("steps", fmt_number(fig["global_step"])))
    if fig["epochs"] is not None:
        rows.append(("epochs", fmt_number(fig["epochs"], 3)))
    tl, el = run.train_loss, run.eval_loss
    if tl is not None and len(tl):
        fin = np.isfinite(tl.value)
        if fin.any():
            i = int(np.argmax(fin))
            rows.append(("first train loss", f"{fmt_number(float(tl.value[i]))} (step {fmt_step(tl.step[i])})"))
    if fig["final_train_loss"] is not None:
        at = f" (step {fmt_step(tl.step[-1])})" if tl is not None and len(tl) else ""
        rows.append(("final train loss (last logged)", fmt_number(fig["final_train_loss"]) + at))
    if fig["mean_train_loss"] is not None:
        rows.append(("run-mean train loss (the summary's train_loss: the mean over the whole run, not the final loss)",
                     fmt_number(fig["mean_train_loss"])))
    if fig["final_eval_loss"] is not None:
        at = f" (step {fmt_step(el.step[-1])})" if el is not None and len(el) else ""
        rows.append(("final eval loss", fmt_number(fig["final_eval_loss"]) + at))
    if fig["best_eval_loss"] is not None:
        rows.append(("best eval loss", f"{fmt_number(fig['best_eval_loss'])} (step {fmt_step(fig['best_eval_step'])})"))
    if fig["train_runtime_s"] is not None:
        rows.append(("runtime", f"{fmt_number(fig['train_runtime_s'], 3)} s"))
    if fig["train_samples_per_second"] is not None:
        rows.append(("samples/s", fmt_number(fig["train_samples_per_second"], 3)))
    if fig["train_steps_per_second"] is not None:
        rows.append(("steps/s", fmt_number(fig["train_steps_per_second"], 3)))
    thr = rr.result("throughput")
    if thr is not None and thr.facts.get("tokens_per_second"):
        rows.append(("tokens/s", fmt_number(thr.facts["tokens_per_second"], 3)))
    return rows


def eval_table(run: Run) -> tuple[list[list[str]], int]:
    """Rows of step, epoch, eval loss, train loss (mean since the previous eval), gap; and the eval count."""
    el, tl = run.eval_loss, run.train_loss
    if el is None:
        return [], 0
    n = len(el)
    idx = list(range(n)) if n <= MAX_EVAL_ROWS else [*range(EVAL_EDGE), -1, *range(n - EVAL_EDGE, n)]
    rows: list[list[str]] = []
    for i in idx:
        if i == -1:
            rows.append(["…", "", f"{n - 2 * EVAL_EDGE} more", "", ""])
            continue
        lo = float(el.step[i - 1]) if i > 0 else -math.inf
        tr, k = train_loss_between(tl, lo, float(el.step[i]))
        ev = float(el.value[i])
        gap = ev - tr if tr is not None and math.isfinite(ev) and math.isfinite(tr) else None
        ep = float(el.epoch[i])
        tr_text = fmt_number(tr) + ("" if k or tr is None else " (nearest)")
        rows.append([fmt_step(el.step[i]), f"{ep:.2f}" if math.isfinite(ep) else "—", fmt_number(ev), tr_text,
                     f"{gap:+.3f}" if gap is not None else "—"])
    return rows, n


def _table(header: list[str], rows: Iterable[list[str]], num: Iterable[int] = (), raw: bool = False) -> str:
    """A table in a sideways-scrolling box; cells are escaped unless ``raw`` (then they are our own HTML)."""
    num = set(num)
    th = "".join(f'<th{" class=num" if i in num else ""} scope="col">{esc(h)}</th>' for i, h in enumerate(header))
    body = []
    for r in rows:
        tds = "".join(f'<td{" class=num" if i in num else ""}>{c if raw else esc(c)}</td>' for i, c in enumerate(r))
        body.append(f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(png: Optional[bytes], alt: str, caption: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _anchor(run_index: int) -> str:
    return f"run-{run_index + 1}"


def render_run(rr: RunReport, index: int, png: Optional[bytes], plot_note: str) -> tuple[str, set[str]]:
    from .plot import run_label

    run = rr.run
    word = _verdict(rr)
    cls = VERDICT_CLASS.get(word, "skip")
    out = [f'<section class="run" id="{_anchor(index)}">']
    out.append(f'<h2><span class="verdict {cls}">{esc(word)}</span> {esc(run_label(run, 80))}</h2>')
    src = run.sources[0] if run.sources else None
    what = [run.format]
    if src and src.framework:
        what.append(src.framework + (f" {src.framework_version}" if src.framework_version else ""))
    ending = run.ending.value + (f" — {run.ending_reason}" if run.ending_reason else "")
    if run.ending_line:
        ending += f" (line {run.ending_line})"
    out.append(f'<p class="meta">{esc(run.path)} · {esc(", ".join(what))} · ended: {esc(ending)}</p>')
    if len(run.sources) > 1:
        out.append('<p class="meta">sources: ' + esc(", ".join(f"{s.path} [{s.parser}]" for s in run.sources)) + "</p>")
    out.append(f'<p class="reason"><b>{esc(word)}</b> — {esc(_verdict_reason(rr))}</p>')
    if png is not None:
        out.append(_figure(png, f"loss curves of {run_label(run)} with the findings drawn on them",
                           "Train loss (raw, faint; smoothed, solid) and eval loss on one step axis; "
                           "the findings are drawn where they happen."))
    elif plot_note:
        out.append(f'<p class="muted">{esc(plot_note)}</p>')

    figures = key_figures(run, rr)
    if figures:
        out.append("<h3>Key figures</h3>")
        out.append(_table(["Figure", "Value"], ([k, v] for k, v in figures), num=[1]))

    results = ordered_results(rr)
    out.append("<h3>Checks</h3>")
    if results:
        rows = [[esc(r.check), f'<span class="badge {STATUS_CLASS[r.status]}">{esc(r.status.value)}</span>',
                 esc(r.reason)] for r in results]
        out.append(_table(["Check", "Status", "Reason"], rows, raw=True))
    else:
        out.append("<p>No check ran.</p>")

    findings = rr.findings
    cited: set[str] = set()
    if findings:
        out.append(f"<h3>Findings ({len(findings)})</h3>")
        for f in findings[:MAX_FINDINGS]:
            out.append(_finding_html(f, run))
            cited.add(f.code)
        if len(findings) > MAX_FINDINGS:
            out.append(f'<p class="muted">{len(findings) - MAX_FINDINGS} more findings '
                       f"(<code>--format json</code> lists all).</p>")
            cited.update(f.code for f in findings[MAX_FINDINGS:])

    erows, n = eval_table(run)
    if erows:
        out.append(f"<h3>Eval loss ({n} points)</h3>")
        out.append('<p class="muted">train loss = mean of the train points logged since the previous eval, '
                   "compared at the same steps; gap = eval − train.</p>")
        out.append(_table(["Step", "Epoch", "Eval loss", "Train loss", "Gap"], erows, num=[0, 1, 2, 3, 4]))

    if run.conflicts:
        out.append("<h3>Sources disagree</h3><ul>")
        for c in run.conflicts[:20]:
            vals = "; ".join(f"{k}: {v}" for k, v in c.values.items())
            out.append(f"<li>{esc(c.what)}: {esc(vals)}</li>")
        out.append("</ul>")
    if run.notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n_)}</li>" for n_ in run.notes) + "</ul>")
    out.append("</section>")
    return "\n".join(out), cited


def _finding_html(f: Finding, run: Run) -> str:
    sev = (f.severity or Severity.warning).value
    where = []
    if f.step is not None:
        where.append(f"step {fmt_step(f.step)}")
    if f.line:
        where.append(f"{f.path or run.path}:{f.line}")
    loc = f' <span class="muted">({esc(", ".join(where))})</span>' if where else ""
    parts = [f'<div class="finding {esc(sev)}">',
             f'<div><a href="#rule-{esc(f.code)}"><code>{esc(f.code)}</code></a> '
             f'<span class="sev-{esc(sev)}">{esc(sev)}</span>{loc}</div>',
             f"<div>{esc(f.message)}</div>"]
    if f.hint:
        parts.append(f'<p class="hint"><b>Hint:</b> {esc(f.hint)}</p>')
    parts.append("</div>")
    return "".join(parts)


def render_rules(codes: Iterable[str], rules: dict[str, Rule]) -> str:
    codes = sorted(set(codes))
    if not codes:
        return ""
    out = ['<section class="rules" id="rules"><h2>Rules cited</h2>']
    for code in codes:
        rule = rules.get(code)
        out.append(f'<div class="rule" id="rule-{esc(code)}">')
        if rule is None:
            out.append(f"<h3><code>{esc(code)}</code></h3><p class=muted>No documentation registered.</p></div>")
            continue
        out.append(f"<h3><code>{esc(rule.code)}</code> {esc(rule.name)} "
                   f'<span class="muted">({esc(rule.check)}, default severity {esc(rule.severity.value)})</span></h3>')
        out.append(f"<p>{esc(rule.summary)}</p>")
        out.append(markdown_to_html(rule.doc, heading_offset=2))
        if rule.params:
            out.append("<h4>Parameters</h4><ul>")
            for name, p in rule.params.items():
                out.append(f"<li><code>{esc(name)}</code> (default <code>{esc(repr(p.default))}</code>): "
                           f"{_inline(p.doc)}</li>")
            out.append("</ul>")
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def _plots(report: Report, baseline: Optional[dict[str, Any]]) -> tuple[Optional[bytes], list[Optional[bytes]], str]:
    """(overlay figure, one figure per run, note when there are none)."""
    runs = report.runs
    try:
        from .plot import figure_png

        overlay = figure_png(list(runs), baseline) if (len(runs) > 1 or (baseline and runs)) else None
        per_run = [figure_png([rr]) if i < MAX_RUN_FIGURES else None for i, rr in enumerate(runs)]
        return overlay, per_run, ""
    except MissingExtraError as e:
        return None, [None] * len(runs), f"Plots are not included: {e}"
    except Exception as e:  # noqa: BLE001 - a chart matplotlib cannot draw must not cost the report its findings
        return None, [None] * len(runs), f"Plots are not included: matplotlib could not draw them ({type(e).__name__}: {e})"


def render_html(report: Report, settings: Any = None, plots: bool = True) -> str:
    """The whole report as one self-contained HTML page."""
    from .plot import run_label, verdict_word

    options = getattr(settings, "plugin_options", None) or {}
    baseline = options.get("baseline") if isinstance(options.get("baseline"), dict) else None
    rules: dict[str, Rule] = dict(getattr(settings, "rules", None) or {})
    runs = report.runs
    if plots:
        overlay, per_run, note = _plots(report, baseline)
    else:
        overlay, per_run, note = None, [None] * len(runs), ""

    words = [verdict_word(rr) for rr in runs]
    overall = "FAIL" if "FAIL" in words else "WARN" if "WARN" in words else ("PASS" if "PASS" in words else "NOTHING TO JUDGE")
    if len(runs) == 1:
        title = f"logcheck: {run_label(runs[0].run, 80)} — {overall}"
    else:
        title = f"logcheck: {len(runs)} runs — {overall}"

    body: list[str] = [f'<h1><span class="verdict {VERDICT_CLASS.get(overall, "skip")}">{esc(overall)}</span> '
                       f"{esc(title.removeprefix('logcheck: ').rsplit(' — ', 1)[0])}</h1>",
                       f'<p class="meta">logcheck report · exit code {report.exit_code} · fails on '
                       f"{esc(report.fail_on.value)} and above</p>"]
    if len(runs) > 1 or overlay is not None:
        body.append('<section class="overview"><h2>Overview</h2>')
        if len(runs) > 1:
            rows = [[f'<a href="#{_anchor(i)}">{esc(run_label(rr.run, 80))}</a>',
                     f'<span class="badge {VERDICT_CLASS.get(w, "skip")}">{esc(w)}</span>', str(len(rr.findings))]
                    for i, (rr, w) in enumerate(zip(runs, words))]
            body.append(_table(["Run", "Verdict", "Findings"], rows, num=[2], raw=True))
        if overlay is not None:
            what = "the runs" if len(runs) > 1 else "the run"
            if baseline:
                what += f" and the baseline {baseline.get('name') or ''}".rstrip()
            body.append(_figure(overlay, f"loss curves of {what}, overlaid", f"Loss curves of {what}, overlaid."))
        body.append("</section>")
    if not runs:
        body.append('<section class="run"><p>No training run was found in the given paths.</p></section>')
    cited: set[str] = set()
    for i, rr in enumerate(runs):
        section, codes = render_run(rr, i, per_run[i], note)
        body.append(section)
        cited |= codes
    errors = [f"input {f.path}: {f.error}" for f in report.input_failures]
    errors += [f"plugin {f.plugin} ({f.where}): {f.error}" for f in report.plugin_failures]
    if errors:
        body.append('<section class="run"><h2>Errors</h2><ul>' + "".join(f"<li>{esc(e)}</li>" for e in errors)
                    + "</ul></section>")
    body.append(render_rules(cited, rules))
    from . import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            # Nothing on this page may load anything: images are data: URIs, the CSS is inline.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
            f"<meta name=\"generator\" content=\"logcheck {esc(__version__)}\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def write_html(report: Report, path: str | Path, settings: Any = None) -> Path:
    """Write the self-contained HTML report to ``path``."""
    path = Path(path)
    text = render_html(report, settings)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--html {path}: cannot write: {e.strerror or e}") from None
    return path
