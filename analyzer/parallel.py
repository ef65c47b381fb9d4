"""``logcheck -j N``: analyse many logs and run folders in worker processes, one combined Report.

Two phases, each spread over ``N`` processes:

1. every file that the sequential path would parse (the files given, and the
   source files found in the folders given) is parsed in a worker;
2. the runs are grouped and merged in this process exactly as
   :func:`logcheck.pipeline.load_paths` does (it is called with a lookup into the
   phase-1 results instead of parsing again), then each run is checked in a worker.

The result is the same Report, in the same order, as :func:`analyze_paths` gives.
Parsing is CPU-bound (PERF_FINDINGS.md), so a second core helps only while it is
free; with ``N <= 1`` or a single file this falls back to the sequential path.

Workers are forked where the platform allows (they inherit the loaded plugins and
the settings at no cost); elsewhere they are spawned and rebuild the plugin manager
from the settings once each.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Optional

from . import pipeline
from .errors import InputError, LogcheckError
from .findings import PluginFailure
from .pluginmanager import PluginManager
from .records import Run
from .report import Report, RunReport
from .settings import Settings

# What a worker needs, set before the pool starts (fork) or by the initializer (spawn).
_worker_settings: Optional[Settings] = None
_worker_pm: Optional[PluginManager] = None


def default_jobs() -> int:
    """The cores this process may use (``-j 0`` means this)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool_context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    # fork is cheap and keeps the loaded plugins; macOS lists it but it is unsafe there
    if "fork" in methods and sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _init_spawned(settings_data: dict[str, Any]) -> None:
    global _worker_settings, _worker_pm
    from .settings import make_settings

    _worker_settings, _worker_pm = pipeline.prepare(make_settings(settings_data, source="command line"))


def _parse_one(path: str) -> tuple[str, Any, list[PluginFailure]]:
    """Worker: parse one file. Returns ("ok", runs) or ("error", (message, exit_code))."""
    assert _worker_settings is not None and _worker_pm is not None
    pm = _worker_pm
    mark = len(pm.failures)
    try:
        runs = pipeline.parse_file(Path(path), _worker_settings, pm)
        out: tuple[str, Any] = ("ok", runs)
    except InputError as e:
        out = ("input", (str(e), e.exit_code))
    except LogcheckError as e:  # e.g. UsageError for --parser NAME: the same for every file
        out = ("logcheck", (type(e).__name__, str(e), e.exit_code))
    except Exception as e:  # never lose a file to an unexpected error in a worker
        out = ("input", (f"{path}: internal error while parsing: {type(e).__name__}: {e}", 4))
    new = pm.failures[mark:]
    del pm.failures[mark:]
    return out[0], out[1], new


def _check_one(run: Run) -> tuple[RunReport, list[PluginFailure]]:
    """Worker: run every check on one run."""
    assert _worker_settings is not None and _worker_pm is not None
    pm = _worker_pm
    mark = len(pm.failures)
    rr = pipeline.check_run(run, _worker_settings, pm)
    new = pm.failures[mark:]
    del pm.failures[mark:]
    return rr, new


def _files_of(paths: list[str]) -> list[str]:
    """Every file the sequential path would hand to ``parse_file``, in its order."""
    files: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            try:
                files.extend(str(f) for f in pipeline._source_files(path))
            except (InputError, OSError):
                pass  # load_directory reports it again in the parent
        else:
            files.append(str(path))
    return files


class _ParsedFiles:
    """Stands in for ``pipeline.parse_file`` while ``load_paths`` groups and merges runs."""

    def __init__(self, results: dict[str, tuple[str, Any]], fallback: Any):
        self.results = results
        self.fallback = fallback

    def __call__(self, path: Path, settings: Settings, pm: PluginManager) -> list[Run]:
        got = self.results.get(str(path))
        if got is None:  # not pre-parsed (e.g. a file that appeared meanwhile): parse it here
            return self.fallback(path, settings, pm)
        kind, value = got
        if kind == "ok":
            return value
        if kind == "input":
            msg, code = value
            err = InputError(msg)
            err.exit_code = code
            raise err
        cls_name, msg, code = value
        from . import errors

        cls = getattr(errors, cls_name, LogcheckError)
        err2 = cls(msg)
        err2.exit_code = code
        raise err2


def analyze_paths_parallel(paths: Iterable[str], settings: Optional[Settings] = None,
                           pm: Optional[PluginManager] = None, jobs: int = 0) -> Report:
    """:func:`logcheck.pipeline.analyze_paths` with parsing and checking in ``jobs`` processes.

    ``jobs`` 0 means every core this process may use.
    """
    global _worker_settings, _worker_pm
    paths = list(paths)
    if pm is None or settings is None:
        settings, pm = pipeline.prepare(settings, pm)
    jobs = default_jobs() if jobs <= 0 else jobs
    files = _files_of(paths)
    if jobs <= 1 or len(files) <= 1:
        return pipeline.analyze_paths(paths, settings, pm)
    if settings.baseline and "baseline" not in settings.plugin_options:
        settings.plugin_options["baseline"] = pipeline.load_baseline(settings.baseline, settings, pm)
    ctx = _pool_context()
    _worker_settings, _worker_pm = settings, pm
    if ctx.get_start_method() == "fork":
        pool_args: dict[str, Any] = {}
    else:
        pool_args = {"initializer": _init_spawned, "initargs": (settings.model_dump(),)}
    workers = min(jobs, len(files))
    results: dict[str, tuple[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **pool_args) as pool:
        # larger chunks for many small files: fewer round trips
        chunk = max(1, min(16, len(files) // (workers * 4)))
        for f, (kind, value, failures) in zip(files, pool.map(_parse_one, files, chunksize=chunk)):
            results[f] = (kind, value)
            pm.failures.extend(failures)
        parsed = _ParsedFiles(results, pipeline.parse_file)
        original = pipeline.parse_file
        pipeline.parse_file = parsed  # load_paths/load_directory look the name up at call time
        try:
            runs, failures = pipeline.load_paths(paths, settings, pm)
        finally:
            pipeline.parse_file = original
        report = Report(fail_on=settings.fail_on, input_failures=failures)
        if len(runs) > 1:
            for rr, new in pool.map(_check_one, runs, chunksize=1):
                report.runs.append(rr)
                pm.failures.extend(new)
        else:
            report.runs.extend(pipeline.check_run(r, settings, pm) for r in runs)
    if settings.known_findings:
        pipeline.apply_known_findings(report, settings.known_findings)
    report.plugin_failures = list(pm.failures)
    report.exit_code = report.compute_exit_code()
    return report
