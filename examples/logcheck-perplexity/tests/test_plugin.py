"""Tests of the example plugin, written as a plugin author would, with logcheck.testing."""
from __future__ import annotations

import math

import logcheck_perplexity
from logcheck.testing import first, run_check, series_run


def test_reports_final_and_best_perplexity():
    run = series_run(eval_loss=[(100, 3.0), (200, 2.5), (300, 2.6)])
    result = run_check(logcheck_perplexity, run)
    assert math.isclose(result.facts["final_perplexity"], math.exp(2.6))
    assert math.isclose(result.facts["best_perplexity"], math.exp(2.5))
    assert result.status.value == "pass"


def test_fires_above_the_configured_limit():
    run = series_run(eval_loss=[(100, 5.0), (200, 4.9)])
    result = run_check(logcheck_perplexity, run, params={"PPL001": {"max_perplexity": 100.0}})
    assert first(result, "PPL001") is not None and result.status.value == "warn"


def test_skips_without_eval_loss():
    assert run_check(logcheck_perplexity, series_run(train_loss=[(1, 2.0)])).status.value == "skip"
