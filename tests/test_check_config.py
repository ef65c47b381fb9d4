"""The config check: the restored checkpoint, intervals, early stopping, best metric, conflicts."""
from __future__ import annotations

from pathlib import Path

import pytest

from logcheck import Conflict, RunBuilder, Status
from logcheck.plugins import check_config as cc
from logcheck.testing import first, run_check

# The reference run's published eval losses at steps 100..700 (REFERENCE_RUN.md): a labelled envelope.
REF_EVAL = [3.884, 3.765, 3.721, 3.693, 3.673, 3.666, 3.657]


def reference_envelope(extra_evals=(), config=None, **config_over):
    b = RunBuilder("reference-envelope", "hf")
    for i in range(39):
        b.add("train", "loss", 20.0 * (i + 1), 4.2445 - 0.018 * i, line=10 + 2 * i)
    for i, v in enumerate(REF_EVAL):
        b.add("eval", "loss", 100.0 * (i + 1), v, line=200 + i)
    for step, v in extra_evals:
        b.add("eval", "loss", float(step), v, line=300)
    b.config.update(eval_steps=100, save_steps=200, logging_steps=20, checkpoints=(200, 400, 600),
                    best_model_checkpoint="distilgpt2-tiny-shakespeare/checkpoint-600",
                    load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
                    max_steps=792)
    b.config.update(config or {})
    b.config.update(config_over)
    b.summary["global_step"] = 792
    return b.build()


def test_reference_restores_checkpoint_600_not_the_better_700():
    res = run_check(cc, reference_envelope())
    f = first(res, cc.RESTORED_NOT_BEST)
    assert f is not None
    assert "checkpoint-600" in f.message and "3.666" in f.message
    assert "step-700" in f.message and "3.657" in f.message
    assert f.evidence["evals_without_checkpoint"] == [100, 300, 500, 700]
    assert "save_steps equal to eval_steps" in f.hint and "save_steps=eval_steps=100" in f.hint
    info = first(res, cc.RESTORED_CHECKPOINT)
    assert info is not None and "checkpoint-600" in info.message
    assert res.status == Status.warn


def test_reference_restored_step_computed_from_checkpoints_when_not_logged():
    res = run_check(cc, reference_envelope(best_model_checkpoint=None))
    assert res.facts["restored_step"] == 600
    assert first(res, cc.RESTORED_NOT_BEST) is not None


def test_newer_transformers_saves_last_step_and_restores_it():
    # a reproduction with current transformers evaluates and saves at step 792 as well
    run = reference_envelope(extra_evals=[(792, 3.655)], checkpoints=(200, 400, 600, 792),
                             best_model_checkpoint="out/checkpoint-792")
    res = run_check(cc, run)
    assert first(res, cc.RESTORED_NOT_BEST) is None
    assert "checkpoint-792" in first(res, cc.RESTORED_CHECKPOINT).message
    assert res.status == Status.pass_


def test_last_step_unknown_is_not_guessed():
    # only save_steps known, best eval at the final step: which checkpoint was restored depends on the version
    run = reference_envelope(extra_evals=[(792, 3.655)], checkpoints=(), best_model_checkpoint=None)
    res = run_check(cc, run)
    assert first(res, cc.RESTORED_NOT_BEST) is None
    f = first(res, cc.RESTORED_CHECKPOINT)
    assert f is not None and f.evidence["candidates"] == [792, 600]


def test_save_equals_eval_stays_quiet():
    run = reference_envelope(save_steps=100, checkpoints=(100, 200, 300, 400, 500, 600, 700),
                             best_model_checkpoint="out/checkpoint-700")
    res = run_check(cc, run)
    assert first(res, cc.RESTORED_NOT_BEST) is None
    assert res.status == Status.pass_


def test_no_load_best_no_restore_claim():
    res = run_check(cc, reference_envelope(load_best_model_at_end=False))
    assert first(res, cc.RESTORED_CHECKPOINT) is None and first(res, cc.RESTORED_NOT_BEST) is None


def test_greater_is_better_metric():
    b = RunBuilder("x", "hf")
    for i, v in enumerate([0.80, 0.85, 0.90, 0.88]):
        b.add("eval", "accuracy", 100.0 * (i + 1), v, line=i + 1)
        b.add("eval", "loss", 100.0 * (i + 1), 1.0 - v, line=i + 1)
    b.config.update(load_best_model_at_end=True, metric_for_best_model="accuracy", checkpoints=(200, 400),
                    eval_steps=100, save_steps=200, max_steps=400)
    res = run_check(cc, b.build())
    f = first(res, cc.RESTORED_NOT_BEST)
    assert f is not None and f.evidence["best_step"] == 300 and f.evidence["restored_step"] == 400


def test_logging_and_eval_interval_longer_than_run():
    b = RunBuilder("x", "hf")
    b.add("eval", "loss", 200.0, 2.0, line=5)
    b.config.update(logging_steps=500, eval_steps=1000, max_steps=200)
    res = run_check(cc, b.build())
    assert first(res, cc.LOGGING_INTERVAL_TOO_LONG) is not None
    f = first(res, cc.EVAL_INTERVAL_TOO_LONG)
    assert f is not None and f.evidence["evals"] == 1
    assert res.status == Status.warn


def test_early_stopping_cannot_fire():
    res = run_check(cc, reference_envelope(early_stopping_patience=10))
    f = first(res, cc.EARLY_STOPPING_CANNOT_FIRE)
    assert f is not None and f.evidence["needed_steps"] == 1000 and f.evidence["remaining_steps"] == 692
    res = run_check(cc, reference_envelope(early_stopping_patience=3))
    assert first(res, cc.EARLY_STOPPING_CANNOT_FIRE) is None


def test_early_stopping_without_eval():
    b = RunBuilder("x", "hf")
    b.add("train", "loss", 10.0, 2.0)
    b.config.update(early_stopping_patience=3, max_steps=100)
    res = run_check(cc, b.build())
    assert "no evaluation" in first(res, cc.EARLY_STOPPING_CANNOT_FIRE).message


def test_metric_for_best_model_not_logged():
    res = run_check(cc, reference_envelope(metric_for_best_model="eval_f1", greater_is_better=True))
    f = first(res, cc.BEST_METRIC_NOT_LOGGED)
    assert f is not None and f.evidence["logged"] == ["loss"]
    res = run_check(cc, reference_envelope(metric_for_best_model="loss"))
    assert first(res, cc.BEST_METRIC_NOT_LOGGED) is None


def test_conflicts_become_findings():
    b = RunBuilder("x", "hf")
    b.add("eval", "loss", 700.0, 3.657, line=1)
    b.config["eval_steps"] = 100
    b.conflicts.append(Conflict(what="eval/loss at step 700", values={"run.log": 3.657, "trainer_state.json": 3.702},
                                step=700))
    res = run_check(cc, b.build())
    f = first(res, cc.SOURCES_DISAGREE)
    assert f is not None and "3.657" in f.message and "3.702" in f.message and f.step == 700
    assert res.status == Status.warn


def test_skip_without_config():
    b = RunBuilder("x", "raw")
    b.add("train", "loss", 1.0, 2.0)
    res = run_check(cc, b.build())
    assert res.status == Status.skip


@pytest.mark.parametrize("code", [r.code for r in cc.RULES])
def test_rules_documented(code):
    rule = next(r for r in cc.RULES if r.code == code)
    for section in ("## What it does", "## Why is this bad", "## Example", "## How to fix"):
        assert section in rule.doc


def test_metric_inferred_from_best_metric_when_name_unknown():
    # trainer_state.json records best_metric's value, not metric_for_best_model's name (e.g. WER, lower is better)
    b = RunBuilder("x", "hf")
    for step, loss, wer in ((500, 0.50, 65.2), (1000, 0.40, 54.6), (1500, 0.37, 54.4), (2000, 0.30, 50.1)):
        b.add("eval", "loss", float(step), loss, line=step)
        b.add("eval", "wer", float(step), wer, line=step)
    b.config.update(best_metric=54.4, best_global_step=1500, best_model_checkpoint="out/checkpoint-1500",
                    eval_steps=500, save_steps=500, checkpoints=(500, 1000, 1500, 2000), max_steps=2000)
    res = run_check(cc, b.build())
    assert res.facts["metric"] == "eval_wer"
    # by WER the best is step 2000 (50.1), which was saved: the state's best (1500) is not the best eval
    f = first(res, cc.RESTORED_NOT_BEST)
    assert f is not None and f.evidence["best_step"] == 2000 and "eval_wer" in f.message


def test_unknown_best_metric_is_not_guessed():
    b = RunBuilder("x", "hf")
    for step, loss in ((500, 0.5), (1000, 0.4)):
        b.add("eval", "loss", float(step), loss, line=step)
    b.config.update(best_metric=0.91, best_model_checkpoint="out/checkpoint-500", max_steps=1000)
    res = run_check(cc, b.build())
    assert first(res, cc.RESTORED_NOT_BEST) is None and first(res, cc.RESTORED_CHECKPOINT) is None


def test_eval_steps_recorded_but_evaluation_off_stays_quiet():
    # trainer_state.json stores eval_steps (default 500) even when eval_strategy="no"
    b = RunBuilder("x", "hf")
    for step in range(1, 13):
        b.add("train", "loss", float(step), 1.0, line=step)
    b.config.update(eval_steps=500, logging_steps=1, max_steps=12)
    res = run_check(cc, b.build())
    assert first(res, cc.EVAL_INTERVAL_TOO_LONG) is None and res.status == Status.pass_


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_real_hf_tiny_fixture_restores_last_step_checkpoint():
    """tests/fixtures/hf_tiny: a real Trainer run (transformers 5) with save_steps 16 != eval_steps 8."""
    if not (FIXTURES / "hf_tiny" / "trainer_state.json").is_file():  # generated last
        pytest.skip("fixture hf_tiny not generated")
    from logcheck.pipeline import analyze_paths

    report = analyze_paths([str(FIXTURES / "hf_tiny")])
    res = next(r for r in report.runs[0].results if r.check == "config")
    info = first(res, cc.RESTORED_CHECKPOINT)
    # transformers 5 evaluates and saves at the last step (48), which is also the best eval here
    assert info is not None and info.evidence["restored_step"] == 48
    assert first(res, cc.RESTORED_NOT_BEST) is None
