"""``--format html``: the self-contained HTML report (see :mod:`logcheck.html_report`).

``logcheck run.log --format html -o report.html`` is the same page as ``--html report.html``;
the loss curves are inlined when the ``plot`` extra (matplotlib) is installed.
"""
from __future__ import annotations

from typing import Any

from logcheck import OutputFormat, hookimpl
from logcheck.report import Report


class HtmlFormat(OutputFormat):
    name = "html"
    description = "one self-contained HTML page with the loss curves (plots need the `plot` extra)"

    def render(self, report: Report, settings: Any) -> str:
        from logcheck.html_report import render_html  # matplotlib only when a report is rendered

        return render_html(report, settings)


@hookimpl
def logcheck_register_formats(register):
    register(HtmlFormat())
