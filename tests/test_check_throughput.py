"""The throughput check: must fire on slow/inconsistent runs, stay quiet on healthy ones."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from logcheck import RunBuilder, Status
from logcheck.plugins import check_throughput as ct
from logcheck.testing import first, run_check

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def reference_envelope(**summary_over):
    """The reference run's published figures (REFERENCE_RUN.md): a labelled envelope, not a log."""
    b = RunBuilder("reference-envelope", "hf")
    b.summary.update(train_runtime_s=81.1, train_samples_per_second=39.07, train_steps_per_second=9.77,
                     global_step=792, mean_train_loss=3.696, epochs=3.0, line=900)
    b.summary.update(summary_over)
    b.config.update(train_batch_size=4, eval_steps=100, logging_steps=20)
    for i in range(39):
        b.add("train", "loss", 20.0 * (i + 1), 4.2 - 0.018 * i, line=10 + i)
    return b


def _nanogpt_like(n=400, every=10, base_ms=120.0, noise=3.0, eval_interval=250, eval_ms=9000.0,
                  late_factor=1.0, seed=0):
    """Synthetic per-iteration times (ms) shaped like nanoGPT's `iter N: ... time Yms` prints."""
    rng = np.random.default_rng(seed)
    b = RunBuilder("synthetic.log", "raw")
    for k in range(n):
        it = k * every
        t = base_ms * (late_factor if k >= 3 * n // 4 else 1.0) + rng.normal(0, noise)
        if eval_interval and it % eval_interval == 0 and it > 0:
            t = eval_ms
        b.add("train", "step_time_ms", float(it), t, line=k + 1)
    return b


def test_reference_tokens_per_second_stated():
    res = run_check(ct, reference_envelope().build(), seq_len=256)
    f = first(res, ct.SUMMARY)
    assert f is not None
    assert res.facts["tokens_per_second"] == pytest.approx(39.07 * 256)
    assert "10,002 tokens/s" in f.message and "39.07 samples/s x seq_len 256" in f.message
    assert "9.77 steps/s" in f.message
    assert res.facts["effective_batch"] == pytest.approx(4.0, abs=0.01)
    assert res.status == Status.pass_


def test_seq_len_from_run_config():
    b = reference_envelope()
    b.config["seq_len"] = 256
    res = run_check(ct, b.build())
    assert res.facts["tokens_per_second"] == pytest.approx(10001.9, abs=0.1)


def test_tokens_unknown_without_seq_len():
    res = run_check(ct, reference_envelope().build())
    assert res.facts["tokens_per_second"] is None
    assert "seq_len" in first(res, ct.SUMMARY).message


def test_eval_time_share_reported():
    b = reference_envelope()
    for i, s in enumerate(range(100, 800, 100)):
        b.add("eval", "runtime", float(s), 1.5, line=100 + i)
    res = run_check(ct, b.build())
    f = first(res, ct.EVAL_TIME)
    assert f is not None and res.facts["eval_runtime_s"] == pytest.approx(10.5)
    assert "13%" in f.message  # 10.5 / 81.1
    assert res.status == Status.pass_


def test_floor_fires_below_and_stays_quiet_above():
    res = run_check(ct, reference_envelope().build(), min_samples_per_second=50)
    f = first(res, ct.BELOW_FLOOR)
    assert f is not None and "39.07" in f.message and "50" in f.message
    assert res.status == Status.fail
    res = run_check(ct, reference_envelope().build(), min_samples_per_second=30)
    assert first(res, ct.BELOW_FLOOR) is None and res.status == Status.pass_


def test_summary_and_progress_rates_agree_quietly():
    b = reference_envelope()
    for step in range(1, 793):
        b.add("train", "steps_per_second", float(step), 9.9 + 0.1 * np.sin(step), line=step)
    res = run_check(ct, b.build())
    assert first(res, ct.SOURCES_DISAGREE) is None
    assert res.status == Status.pass_


def test_summary_and_progress_rates_disagree():
    b = reference_envelope(train_runtime_s=200.0, train_steps_per_second=3.96, train_samples_per_second=15.8)
    for step in range(1, 793):
        b.add("train", "steps_per_second", float(step), 9.9, line=step)
    res = run_check(ct, b.build())
    f = first(res, ct.SOURCES_DISAGREE)
    assert f is not None
    assert f.evidence["relative_difference"] == pytest.approx((200 - 792 / 9.9) / 200, rel=1e-3)
    assert "200 s" in f.message and "792 steps" in f.message
    assert res.status == Status.warn


def test_logged_tps_disagrees_with_samples_times_seq_len():
    b = reference_envelope()
    for step in range(10, 800, 10):
        b.add("train", "tokens_per_second", float(step), 20000.0, line=step)
    res = run_check(ct, b.build(), seq_len=256)
    f = first(res, ct.SOURCES_DISAGREE)
    assert f is not None and "20,000" in f.message


def test_periodic_eval_spikes_are_info_not_warning():
    res = run_check(ct, _nanogpt_like().build())
    f = first(res, ct.PERIODIC_SPIKES)
    assert f is not None and f.evidence["interval"] == 250
    assert first(res, ct.STEP_TIME_SPIKES) is None
    assert res.status == Status.pass_


def test_irregular_spikes_warn_when_costly():
    b = _nanogpt_like(eval_interval=0)
    for it, line in ((1230, 9001), (2770, 9002), (3110, 9003)):
        b.add("train", "step_time_ms", float(it), 4000.0, line=line)
    res = run_check(ct, b.build())
    f = first(res, ct.STEP_TIME_SPIKES)
    assert f is not None and f.evidence["count"] == 3
    assert res.status == Status.warn


def test_slowdown_fires_and_healthy_stays_quiet():
    res = run_check(ct, _nanogpt_like(late_factor=1.8).build())
    f = first(res, ct.SLOWDOWN)
    assert f is not None and f.evidence["relative_change"] == pytest.approx(0.8, abs=0.05)
    assert res.status == Status.warn
    res = run_check(ct, _nanogpt_like(late_factor=1.05).build())
    assert first(res, ct.SLOWDOWN) is None


def test_utilization_and_impossible_mfu():
    b = reference_envelope(total_flos=2.0e15)
    res = run_check(ct, b.build(), peak_flops=1.0e14)
    f = first(res, ct.UTILIZATION)
    assert f is not None and res.facts["mfu_percent"] == pytest.approx(100 * 2e15 / 81.1 / 1e14)
    res = run_check(ct, b.build(), peak_flops=1.0e13)  # 247%: impossible
    assert first(res, ct.IMPOSSIBLE_UTILIZATION) is not None and res.status == Status.warn


def test_logged_mfu_over_100_is_flagged():
    b = _nanogpt_like(eval_interval=0)
    for k in range(20):
        b.add("train", "mfu", float(k * 10), -100.0 if k < 5 else (35.0 if k < 18 else 130.0), line=k + 1)
    res = run_check(ct, b.build())
    f = first(res, ct.IMPOSSIBLE_UTILIZATION)
    assert f is not None and f.evidence["steps_over"] == 2


def test_stall_between_timestamps():
    b = RunBuilder("synthetic.log", "raw")
    t = 0.0
    for step in range(100):
        t += 2.0 if step != 60 else 1800.0
        b.add("train", "timestamp", float(step), t, line=step + 1)
    res = run_check(ct, b.build())
    f = first(res, ct.STALL)
    assert f is not None and f.evidence["gap_s"] == pytest.approx(1800.0) and f.step == 60


def test_skip_without_timing():
    b = RunBuilder("x.log", "raw")
    b.add("train", "loss", 1.0, 2.0)
    res = run_check(ct, b.build())
    assert res.status == Status.skip and "no timing" in res.reason


_TITAN = re.compile(r"step:\s*(\d+).*?tps:\s*([\d,]+).*?mfu:\s*([\d.]+)%")


def test_corpus_torchtitan_tps_dips_stay_quiet():
    path = CORPUS / "raw_other" / "torchtitan_vlm447m_ansi_resumed_ckpt_tps_dips.log"
    if not path.is_file():
        pytest.skip("corpus not available")
    b = RunBuilder(str(path), "raw")
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            m = _TITAN.search(ansi.sub("", raw.decode("utf-8", "replace")))
            if m:
                step = float(m.group(1))
                b.add("train", "tokens_per_second", step, float(m.group(2).replace(",", "")), line=n)
                b.add("train", "mfu", step, float(m.group(3)), line=n)
    run = b.build()
    assert len(run.get("tokens_per_second")) == 1000
    res = run_check(ct, run)
    assert res.facts["tokens_per_second"] == pytest.approx(1825, rel=0.02)
    assert res.facts["logged_mfu_median"] == pytest.approx(4.37, abs=0.05)
    # the dip after the checkpoint at step 7000 is one cheap spike: counted, not a warning
    assert res.facts["step_time_spikes"] == 1
    assert res.status == Status.pass_


def test_rules_documented():
    for r in ct.RULES:
        for section in ("## What it does", "## Why is this bad", "## Example", "## How to fix"):
            assert section in r.doc, (r.code, section)


def test_corpus_torchtitan_through_the_parser():
    path = CORPUS / "raw_other" / "torchtitan_vlm447m_ansi_resumed_ckpt_tps_dips.log"
    if not path.is_file():
        pytest.skip("corpus not available")
    from logcheck.pipeline import analyze_paths

    report = analyze_paths([str(path)])
    res = next(r for r in report.runs[0].results if r.check == "throughput")
    assert res.facts["tokens_per_second"] == pytest.approx(1825, rel=0.02)
    assert res.status == Status.pass_
