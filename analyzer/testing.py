"""Helpers for testing checks and parsers, for logcheck itself and plugin authors.

Test a check in three lines::

    from logcheck.testing import run_check, series_run
    run = series_run(train_loss=[(10, 2.0), (20, 1.5)], eval_loss=[(20, 1.7)])
    result = run_check(my_plugin_module, run)
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from .findings import CheckResult
from .pluginmanager import make_plugin_manager
from .records import Run, RunBuilder, Split
from .settings import Settings


def make_test_settings(plugins: Iterable[Any] = (), **overrides: Any) -> Settings:
    """Settings bound to the built-in rules plus the rules of ``plugins`` (modules or objects)."""
    pm = make_plugin_manager(load_entrypoints=False)
    for i, p in enumerate(plugins):
        if pm.pm.is_registered(p):
            continue
        pm.register(p, name=f"test-plugin-{i}")
    pm.rules.clear(), pm.parsers.clear(), pm.formats.clear()
    pm.collect()
    settings = Settings(**overrides)
    settings.bind_rules(pm.rules)
    return settings


def run_check(plugin: Any, run: Run, **overrides: Any) -> CheckResult:
    """Run one plugin's ``logcheck_check`` on ``run`` and return its (single) result."""
    settings = make_test_settings([plugin], **overrides)
    res = plugin.logcheck_check(run=run, settings=settings)
    if isinstance(res, list):
        if len(res) != 1:
            raise AssertionError(f"expected one CheckResult, got {len(res)}")
        res = res[0]
    if not isinstance(res, CheckResult):
        raise AssertionError(f"logcheck_check returned {res!r}, not a CheckResult")
    return res


def series_run(path: str = "test.log", format: str = "raw", **series: Iterable[tuple]) -> Run:
    """A Run from ``split_name=[(step, value), ...]`` or ``[(step, value, epoch), ...]``.

    Keyword names are ``<split>_<metric>``: ``train_loss``, ``eval_loss``,
    ``train_grad_norm``, ``train_learning_rate``, ``test_accuracy``.
    """
    b = RunBuilder(path, format)
    for key, points in series.items():
        split, _, name = key.partition("_")
        Split(split)  # raises on a typo
        for i, p in enumerate(points):
            step, value = p[0], p[1]
            epoch = p[2] if len(p) > 2 else float("nan")
            b.add(split, name, float(step), float(value), float(epoch), line=i + 1)
    return b.build()


def first(results: CheckResult, code: str) -> Optional[Any]:
    """The first finding with ``code`` in a result, or None."""
    for f in results.findings:
        if f.code == code:
            return f
    return None
