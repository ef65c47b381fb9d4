"""Tests for the stability check: synthetic seeded curves (labelled), the reference run's
published figures as an envelope, and real trainer_state.json files from the corpus."""
from __future__ import annotations

import math

import numpy as np
from pathlib import Path
import pytest

import logcheck.plugins.check_stability as plugin
from logcheck import Event, Status
from logcheck.testing import first, run_check, series_run

from check_inputs import corpus_file, load_state_run, reference_envelope


def _codes(res):
    return {f.code for f in res.findings}


def _decay(n=2000, every=10, noise=0.03, seed=0):
    """Synthetic train loss: power law plus floor with seeded multiplicative noise."""
    rng = np.random.default_rng(seed)
    s = np.arange(every, n * every + 1, every, dtype=float)
    return s, (1.5 + 4.0 * (s / every) ** -0.5) * np.exp(rng.normal(0, noise, s.size))


def test_smooth_noisy_decay_is_quiet():
    s, v = _decay()
    gn = np.exp(np.random.default_rng(9).normal(0, 0.2, s.size))
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_grad_norm=list(zip(s, gn)),
                                       train_learning_rate=[(x, 1e-4) for x in s]))
    assert res.status is Status.pass_, res.reason
    assert not res.findings


def test_nan_loss_is_an_error_with_step_and_line():
    s, v = _decay(200)
    v[120:] = np.nan
    res = run_check(plugin, series_run(train_loss=list(zip(s, v))))
    f = first(res, "STB001")
    assert res.status is Status.fail
    assert f.step == s[120] and f.line == 121 and "first of 80" in f.message


def test_early_inf_grad_norm_is_fp16_warmup_not_error():
    s, v = _decay(200)
    gn = np.ones(s.size)
    gn[:2] = np.inf
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_grad_norm=list(zip(s, gn))))
    assert first(res, "STB001") is None and first(res, "STB007") is not None
    assert res.status is Status.pass_
    gn[150] = np.nan  # a later isolated one with the loss finite afterwards: a skipped step, not an error
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_grad_norm=list(zip(s, gn))))
    assert first(res, "STB001") is None and res.status is Status.pass_
    assert any("isolated" in f.message for f in res.findings if f.code == "STB007")
    v = v.copy()
    v[151:] = np.nan  # ... but when the loss turns non-finite after it, the update was applied: error
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_grad_norm=list(zip(s, gn))))
    assert res.status is Status.fail and any(f.code == "STB001" and f.step == s[150] for f in res.findings)


def test_overflow_messages_are_info():
    s, v = _decay(200)
    run = series_run(train_loss=list(zip(s, v)))
    run = run.model_copy(update={"events": (Event(line=5, level="info", count=3,
                                                   text="Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 32768"),)})
    res = run_check(plugin, run)
    assert res.status is Status.pass_ and "3 fp16 overflow" in first(res, "STB007").message


def test_non_finite_metric_is_a_warning():
    s, v = _decay(200)
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), eval_wer=[(500, 0.5), (1000, math.nan)]))
    assert res.status is Status.warn and first(res, "STB002").step == 1000


def test_learning_rate_zero_throughout():
    s, v = _decay(100)
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_learning_rate=[(x, 0.0) for x in s]))
    assert res.status is Status.fail and "0 at all 100 logged steps" in first(res, "STB008").message
    # zero only at the end (linear decay) is fine
    lr = np.linspace(1e-4, 0, s.size)
    res = run_check(plugin, series_run(train_loss=list(zip(s, v)), train_learning_rate=list(zip(s, lr))))
    assert first(res, "STB008") is None


def test_divergence_is_an_error():
    s, v = _decay(500)
    v[300:] = v[300:] * np.linspace(1, 4, 200)
    res = run_check(plugin, series_run(train_loss=list(zip(s, v))))
    f = first(res, "STB004")
    assert res.status is Status.fail and f is not None
    assert s[150] <= f.step <= s[300]  # the best lies before the rise starts
    assert f.evidence["end"] / f.evidence["best"] > 3


def test_spikes_found_with_their_steps_and_grouped():
    s, v = _decay(3000)
    for i in (1000, 1001, 2000):
        v[i] *= 3.0
    res = run_check(plugin, series_run(train_loss=list(zip(s, v))))
    f = first(res, "STB005")
    assert f is not None and f.evidence["count"] == 2  # 1000-1001 is one spike
    assert {e["step"] for e in f.evidence["largest"]} == {s[1000], s[2000]} or s[1001] in {
        e["step"] for e in f.evidence["largest"]}
    assert res.status is Status.warn


def test_flatlined_loss():
    s, v = _decay(200)
    v[100:140] = 2.3026
    res = run_check(plugin, series_run(train_loss=list(zip(s, v))))
    f = first(res, "STB003")
    assert f is not None and "40 consecutive" in f.message


def test_rounded_tiny_loss_is_not_flatlined():
    s = np.arange(10, 2001, 10, dtype=float)
    v = np.round(np.maximum(2.0 * (s / 10) ** -2, 0.0002), 4)  # memorised loss rounded to 4 decimals
    res = run_check(plugin, series_run(train_loss=list(zip(s, v))))
    assert first(res, "STB003") is None and first(res, "STB005") is None


def test_resume_jump():
    s1, v1 = _decay(300)
    s2 = np.arange(s1[-1] + 10, s1[-1] + 1000, 10)
    v2 = np.full(s2.size, 9.0)
    steps = np.concatenate([s1[:200], s2])  # steps jump from 2000 to 3010: resumed elsewhere
    vals = np.concatenate([v1[:200], v2])
    res = run_check(plugin, series_run(train_loss=list(zip(steps, vals))))
    f = first(res, "STB009")
    assert f is not None and f.step == s2[0] and res.status is Status.fail


def test_grpo_loss_near_zero_is_not_divergence():
    rng = np.random.default_rng(4)
    s = np.arange(1, 201)
    loss = rng.normal(0, 0.01, s.size)
    loss[150:] += 0.01  # drifts a little above 0
    res = run_check(plugin, series_run(train_loss=list(zip(s, loss)), train_reward=list(zip(s, rng.random(200)))))
    assert first(res, "STB004") is None and res.status is Status.pass_


def test_reference_envelope_is_stable():
    res = run_check(plugin, reference_envelope())
    assert res.status is Status.pass_ and not res.findings, res.reason


CORPUS_EXPECT = {
    "hf_state/bashkir_asr_trainer_state.json": Status.pass_,
    "hf_state/trl_grpo_negative_loss_trainer_state.json": Status.pass_,
    "hf_state/overfit_eval_loss_rises_trainer_state.json": Status.pass_,
    "hf_state/whisper_large_v2_ja_trainer_state.json": Status.pass_,
    "hf_state/eagle_draft_custom_keys_trainer_state.json": Status.pass_,
    "hf_state/lora_flat_loss_no_eval_trainer_state.json": Status.pass_,
}


@pytest.mark.parametrize("rel", sorted(CORPUS_EXPECT))
def test_corpus_verdicts(rel):
    path = corpus_file(rel)
    if path is None:
        pytest.skip(f"corpus file {rel} not available")
    res = run_check(plugin, load_state_run(path))
    assert res.status is CORPUS_EXPECT[rel], res.reason
    assert not _codes(res) & {"STB001", "STB004", "STB005"}


def test_jump_right_after_the_first_point_of_a_resumed_log():
    # synthetic: the log starts at step 47700 with the checkpoint's loss, then the loss is ~14
    rng = np.random.default_rng(5)
    steps = np.arange(47700, 57351, 10)
    vals = 14 + rng.normal(0, 0.3, steps.size)
    vals[0] = 1.47
    res = run_check(plugin, series_run(train_loss=list(zip(steps, vals))))
    f = first(res, "STB009")
    assert f is not None and "the first logged step" in f.message and res.status is Status.fail


def test_steep_drop_with_irregular_logging_is_not_a_spike():
    # synthetic: steps 1..10 logged every step while the loss falls fast, then every 500 steps
    steps = list(range(1, 11)) + list(range(500, 6501, 500))
    vals = list(np.linspace(8.6, 6.2, 10)) + list(2.3 - 0.02 * np.arange(13))
    res = run_check(plugin, series_run(train_loss=list(zip(steps, vals))))
    assert first(res, "STB005") is None


def test_excursion_that_recovers_is_reported_not_failed():
    # synthetic: a smooth decay that rises to 2x its running best mid-run and comes back
    s, v = _decay(600, noise=0.01)
    bump = np.ones(s.size)
    bump[250:350] = np.concatenate([np.linspace(1, 2.2, 50), np.linspace(2.2, 1, 50)])
    res = run_check(plugin, series_run(train_loss=list(zip(s, v * bump))))
    f = first(res, "STB010")
    assert f is not None and f.evidence["ratio"] > 1.5 and first(res, "STB004") is None
    assert s[280] <= f.step <= s[320]
    assert res.status is Status.pass_  # info by default
    assert run_check(plugin, series_run(train_loss=list(zip(s, v * bump))),
                     severity={"STB010": "error"}).status is Status.fail


# -- STB011 on real fixtures (the run folders hold the model's config.json with vocab_size) -------

_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _folder_result(name: str):
    from logcheck.pipeline import analyze_paths

    folder = _FIXTURES / name
    if not (folder / "config.json").is_file():
        pytest.skip(f"fixture {name} not generated")
    report = analyze_paths([str(folder)])
    return next(r for r in report.runs[0].results if r.check == "stability")


def test_stb011_fires_when_a_too_high_learning_rate_leaves_the_loss_above_ln_vocab():
    res = _folder_result("hf_high_lr")  # real run, lr 1.0: 10.8 -> 104 -> 24
    f = next((f for f in res.findings if f.code == "STB011"), None)
    assert f is not None and res.status == Status.fail
    assert "ln(50257) = 10.82" in f.message and f.evidence["value"] > 10.82


def test_stb011_stays_quiet_on_a_healthy_run_below_ln_vocab():
    res = _folder_result("hf_tiny")
    assert not [f for f in res.findings if f.code == "STB011"]


def test_memorised_loss_jittering_near_zero_is_not_divergence():
    """Synthetic: 3.0 -> 0.001, then 0.001..0.003 jitter: 2.5x its best in ratio, nothing in size."""
    from logcheck.testing import run_check, series_run
    import logcheck.plugins.check_stability as stability

    rng = np.random.default_rng(3)
    fall = [(i, 3.0 * (0.001 / 3.0) ** (i / 100)) for i in range(1, 101)]
    jitter = [(i, float(rng.uniform(0.001, 0.003))) for i in range(101, 301)]
    res = run_check(stability, series_run(train_loss=fall + jitter))
    assert not [f for f in res.findings if f.code in ("STB004", "STB010")], [f.message for f in res.findings]
    assert res.status is Status.pass_


def _spikes_whole_array(values, z, min_ratio, log=True, min_excess=0.0):
    """robust_spikes as first written, on whole arrays (8 MB each at 1M points): the reference
    the sliced version must reproduce exactly."""
    from logcheck import stats
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < 8:
        return []
    lv = np.log(v) if log else v
    block = max(5, min(101, n // 40) | 1)
    level = stats.rolling_median(lv, block) if n < 4 * block else stats.block_median_trend(lv, block)
    r = lv - level
    absr = np.abs(r)
    if n >= 8 * block:
        sub = stats.block_median_trend(absr[::4], block)
        scale = np.interp(np.arange(n, dtype=np.float64), np.arange(sub.size, dtype=np.float64) * 4, sub)
    else:
        scale = np.full(n, float(np.median(absr)))
    floor = max(float(np.median(absr)) * 0.25, 1e-12)
    zs = r / (stats.MAD_TO_SIGMA * np.maximum(scale, floor))
    cand = np.flatnonzero(zs > z)
    ok = (np.exp(r[cand]) >= min_ratio) if log else np.ones(cand.size, dtype=bool)
    if min_excess > 0:
        ok &= (v[cand] - (np.exp(level[cand]) if log else level[cand])) >= min_excess
    ok &= cand > block // 2
    keep = [i for i in cand[ok].tolist() if not (lv[max(0, i - block): i].size and
            lv[i] - float(np.median(lv[max(0, i - block): i])) < (math.log(min_ratio) if log else 0.0))]
    out, k = [], 0
    while k < len(keep):
        j = k
        while j + 1 < len(keep) and keep[j + 1] == keep[j] + 1:
            j += 1
        seg = np.array(keep[k:j + 1])
        best = int(seg[np.argmax(zs[seg])])
        out.append((best, float(zs[best]), float(np.exp(r[best])) if log else math.inf))
        k = j + 1
    return out


@pytest.mark.parametrize("n", [9, 30, 404, 5000, plugin._SPIKE_CHUNK * 3 + 17, 300_000])
def test_robust_spikes_in_slices_equal_the_whole_array_version(n):
    rng = np.random.default_rng(n)
    v = 1.8 + 6 * (np.arange(n) + 10.0) ** -0.4 * np.exp(rng.normal(0, 0.03, n))
    hits = rng.integers(0, n, max(1, n // 2000))
    v[hits] *= rng.uniform(1.5, 5, hits.size)
    v[hits[: len(hits) // 2] + 1 if n > 10 else hits[:0]] *= 2.0  # some spikes two points long
    for args in ((8.0, 1.3, True, 0.0), (3.0, 1.05, True, 0.1), (4.0, 1.0, False, 0.0)):
        got = plugin.robust_spikes(v, args[0], args[1], log=args[2], min_excess=args[3])
        assert got == _spikes_whole_array(v, *args)
    if n >= 5000:
        assert plugin.robust_spikes(v, 8.0, 1.3)  # the planted spikes are found


@pytest.mark.parametrize("min_rep", [1, 2, 10])
def test_repeat_runs_find_the_runs_the_flatline_rule_needs(min_rep):
    y = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 0.0, 0.0, 5.0, 5.0])
    starts, lens = plugin._repeat_runs(y, min_rep)
    if min_rep < 2:
        assert starts.tolist() == [0, 2, 3, 6, 8] and lens.tolist() == [2, 1, 3, 2, 2]
    else:
        assert starts.tolist() == [0, 3, 6, 8] and lens.tolist() == [2, 3, 2, 2]
