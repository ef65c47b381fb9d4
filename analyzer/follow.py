"""``logcheck --follow run.log``: re-check a log that is still being written.

The file is polled; when it grows it is checked again (parsers stream, so a re-check
costs one pass over the file; the poll interval stretches to twice the last check's
time so a huge log is never re-read back to back). The loop ends, printing the
report, as soon as the exit code is 1 (a finding at or above ``--fail-on``), when the
run ends (completed or crashed), on a stall longer than ``--stall-timeout``, or on
Ctrl-C (the report so far). Truncation and rotation (the file shrinks or its inode
changes) start the reading over.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional

from .pipeline import analyze_paths
from .pluginmanager import PluginManager
from .report import Report
from .settings import Settings


def follow(path: str, settings: Settings, pm: PluginManager, emit: Callable[[Report, str], None],
           interval: float = 2.0, stall_timeout: Optional[float] = None,
           max_seconds: Optional[float] = None, log: Callable[[str], None] = lambda s: None) -> Report:
    p = Path(path)
    last_key: Optional[tuple[int, int, float]] = None
    inode: Optional[int] = None
    last_growth = time.monotonic()
    started = last_growth
    report: Optional[Report] = None
    wait = interval
    try:
        while True:
            now = time.monotonic()
            try:
                st = p.stat()
            except FileNotFoundError:
                st = None
            if st is not None:
                key = (st.st_ino, st.st_size, st.st_mtime)
                if inode is not None and (st.st_ino != inode or (last_key and st.st_size < last_key[1])):
                    log(f"logcheck: {path} was truncated or rotated; reading it again from the start")
                inode = st.st_ino
                if key != last_key and st.st_size > 0:
                    last_key = key
                    last_growth = now
                    settings.plugin_options.pop("follow_stall", None)
                    t0 = time.monotonic()
                    report = analyze_paths([path], settings, pm)
                    wait = max(interval, 2 * (time.monotonic() - t0))
                    if report.exit_code == 1 or _ended(report):
                        emit(report, "ended" if report.exit_code != 1 else "failed")
                        return report
            if stall_timeout is not None and now - last_growth > stall_timeout:
                settings.plugin_options["follow_stall"] = {
                    "stalled_for_s": now - last_growth, "timeout_s": stall_timeout,
                    "size": st.st_size if st is not None else 0}
                report = analyze_paths([path], settings, pm) if st is not None and st.st_size else report
                if report is None:
                    report = Report(fail_on=settings.fail_on, exit_code=3)
                report.exit_code = max(report.exit_code, 1) if report.runs else report.exit_code
                emit(report, "stalled")
                return report
            if max_seconds is not None and now - started > max_seconds:
                break
            time.sleep(wait)
    except KeyboardInterrupt:
        log("logcheck: interrupted; the report so far:")
    if report is None:
        report = analyze_paths([path], settings, pm)
    emit(report, "stopped")
    return report


def _ended(report: Report) -> bool:
    return bool(report.runs) and all(rr.run.ending.value in ("completed", "crashed") for rr in report.runs)
