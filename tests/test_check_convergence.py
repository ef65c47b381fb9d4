"""Tests for the convergence check: synthetic seeded curves (labelled), the reference run's
published figures as an envelope, and real trainer_state.json files from the corpus."""
from __future__ import annotations

import re

import numpy as np
import pytest

import logcheck.plugins.check_convergence as plugin
from logcheck import Status
from logcheck.testing import first, run_check, series_run

from check_inputs import CORPUS, corpus_file, load_state_run, reference_envelope


def _codes(res):
    return {f.code for f in res.findings}


# -- synthetic curves (power law + seeded noise; not library output) -------------------------

def _power_law(steps, floor=1.8, a=6.0, b=0.5, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    s = np.asarray(steps, dtype=float)
    return floor + a * s ** -b * np.exp(rng.normal(0, noise, s.size))


def test_converged_power_law_passes_without_warnings():
    steps = np.arange(10, 20001, 10)
    run = series_run(train_loss=list(zip(steps, _power_law(steps))))
    res = run_check(plugin, run)
    assert res.status is Status.pass_, res.reason
    assert not _codes(res) & {"CNV001", "CNV002", "CNV003"}
    assert res.facts["fit"]["floor"] == pytest.approx(1.8, abs=0.1)


def test_flat_noise_never_learning_fails():
    rng = np.random.default_rng(1)
    steps = np.arange(10, 1001, 10)
    run = series_run(train_loss=list(zip(steps, 2.1 + rng.normal(0, 0.08, steps.size))))
    res = run_check(plugin, run)
    assert res.status is Status.fail
    f = first(res, "CNV001")
    assert "stayed flat" in f.message and f.step == 1000


def test_zero_learning_rate_is_named_as_the_cause():
    steps = np.arange(10, 501, 10)
    loss = list(zip(steps, 2.0 + 0.001 * np.sin(steps)))
    run = series_run(train_loss=loss, train_learning_rate=[(s, 0.0) for s in steps])
    res = run_check(plugin, run)
    assert res.status is Status.fail
    assert "learning rate is 0 at all 50 logged steps" in first(res, "CNV001").message


def test_rising_loss_fails():
    steps = np.arange(1, 41) * 50
    run = series_run(train_loss=list(zip(steps, np.linspace(1.2, 2.2, steps.size))))
    res = run_check(plugin, run)
    assert res.status is Status.fail and "rose" in first(res, "CNV001").message


def test_still_falling_fast_warns():
    rng = np.random.default_rng(2)
    steps = np.arange(10, 1001, 10)
    run = series_run(train_loss=list(zip(steps, 6.0 - 0.003 * steps + rng.normal(0, 0.02, steps.size))))
    res = run_check(plugin, run)
    assert res.status is Status.warn
    f = first(res, "CNV002")
    assert f is not None and "still falling fast" in f.message
    assert f.evidence["ratio_to_mean_slope"] > 0.5


def test_eval_plateau_triggers_early_stopping_semantics():
    steps = [100 * i for i in range(1, 11)]
    evals = [2.0, 1.6, 1.4, 1.30, 1.29, 1.295, 1.296, 1.294, 1.297, 1.2955]
    train = [(s, 3.0 - 0.2 * i) for i, s in enumerate(range(20, 1001, 20)) if True]
    train = [(s, max(0.5, v)) for s, v in train]
    run = series_run(train_loss=train, eval_loss=list(zip(steps, evals)))
    res = run_check(plugin, run)
    f = first(res, "CNV003")
    # A plateau alone is information (CNV003 is info by default); users can make it a gate.
    assert f is not None and res.status is Status.pass_
    assert run_check(plugin, run, severity={"CNV003": "warning"}).status is Status.warn
    assert f.evidence["evals_since_best"] == 5 and f.evidence["best_step"] == 500
    # a longer patience, and a relative min_delta that makes 1.30 -> 1.29 no improvement
    assert first(run_check(plugin, run, params={"CNV003": {"patience": 6}}), "CNV003") is None
    rel = run_check(plugin, run, params={"CNV003": {"min_delta": 0.01, "min_delta_mode": "rel"}})
    assert first(rel, "CNV003").evidence["best_step"] == 400


def test_severity_override_changes_status():
    rng = np.random.default_rng(1)
    steps = np.arange(10, 1001, 10)
    run = series_run(train_loss=list(zip(steps, 2.1 + rng.normal(0, 0.08, steps.size))))
    res = run_check(plugin, run, severity={"CNV001": "warning"})
    assert res.status is Status.warn


def test_skips_without_enough_points():
    run = series_run(train_loss=[(10, 2.0), (20, 1.9), (30, 1.8)], eval_loss=[(10, 2.0), (30, 1.9)])
    res = run_check(plugin, run)
    assert res.status is Status.skip and "3 train, 2 eval" in res.reason


def test_rl_objective_is_not_judged():
    rng = np.random.default_rng(3)
    steps = np.arange(1, 101)
    run = series_run(train_loss=list(zip(steps, rng.normal(0, 0.01, 100))),
                     train_reward=list(zip(steps, rng.random(100))))
    res = run_check(plugin, run)
    assert res.status is Status.skip and "RL objective" in res.reason


# -- the reference run (published figures as an envelope) ------------------------------------

def test_reference_envelope_passes_with_like_for_like_sentences():
    res = run_check(plugin, reference_envelope())
    assert res.status is Status.pass_, res.reason
    assert "eval loss fell 5.8% from 3.884 (step 100) to 3.657 (step 700)" in res.reason
    pct = res.facts["train"]["pct_below_first"]
    assert 15 <= pct <= 20  # first logged 4.2445 vs smoothed end ~3.5: ~17%, never vs the mean 3.696
    assert "3.696" not in res.reason
    f = first(res, "CNV004")
    assert f is not None and "still falling slowly" in f.message
    slope = res.facts["tail_trend"]["slope_per_unit"]
    assert res.facts["tail_trend"]["unit_steps"] == 100 and -0.015 <= slope <= -0.005
    assert "another epoch (264 steps)" in f.message
    assert 3.5 <= res.facts["fit"]["floor"] <= 3.657
    assert -0.03 <= res.facts["fit"]["gain"] < 0
    assert not _codes(res) & {"CNV001", "CNV002", "CNV003"}


# -- real logs --------------------------------------------------------------------------------

CORPUS_EXPECT = {
    "hf_state/bashkir_asr_trainer_state.json": (Status.pass_, set()),
    "hf_state/lora_flat_loss_no_eval_trainer_state.json": (Status.fail, {"CNV001"}),
    "hf_state/whisper_small_lr3e-3_diverging_trainer_state.json": (Status.fail, {"CNV001"}),
    "hf_state/overfit_eval_loss_rises_trainer_state.json": (Status.pass_, {"CNV003"}),
    "hf_state/whisper_large_v2_ja_trainer_state.json": (Status.pass_, {"CNV003"}),
    "hf_state/cpt_large_adgen_trainer_state.json": (Status.pass_, {"CNV003"}),
    "hf_state/eagle_draft_custom_keys_trainer_state.json": (Status.pass_, set()),
    "hf_state/trl_grpo_negative_loss_trainer_state.json": (Status.skip, set()),
    "hf_state/empty_log_history_trainer_state.json": (Status.skip, set()),
}


@pytest.mark.parametrize("rel", sorted(CORPUS_EXPECT))
def test_corpus_verdicts(rel):
    path = corpus_file(rel)
    if path is None:
        pytest.skip(f"corpus file {rel} not available")
    status, must = CORPUS_EXPECT[rel]
    res = run_check(plugin, load_state_run(path))
    assert res.status is status, res.reason
    assert must <= _codes(res)
    if status is Status.pass_:
        assert not _codes(res) & {"CNV001", "CNV002"}


def test_flat_segment_of_a_resumed_run_is_not_never_learning():
    # synthetic: the log starts at step 6500 of a run that learned before it
    rng = np.random.default_rng(7)
    steps = np.arange(6500, 7501, 1)
    run = series_run(train_loss=list(zip(steps, 1.9 + rng.normal(0, 0.08, steps.size))))
    res = run_check(plugin, run)
    assert first(res, "CNV001") is None
    assert res.facts["resumed_log_starts_at"] == 6500
    assert "starts at step 6500" in first(res, "CNV004").message


def test_fall_within_the_first_points_counts_as_learning():
    # synthetic: 1.18 at the first point, then noisy around 0.1 (the drop happens in one logging interval)
    rng = np.random.default_rng(8)
    vals = np.concatenate([[1.18], np.abs(0.1 + rng.normal(0, 0.08, 27))])
    run = series_run(train_loss=list(zip(range(50, 1401, 50), vals)))
    assert first(run_check(plugin, run), "CNV001") is None
