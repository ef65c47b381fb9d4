"""Run folders: which files make one run, how sources merge, and what the JSON says.

All inputs are real fixtures (tests/fixtures, made by tests/fixtures/generate.py).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from logcheck.pipeline import analyze_paths

FIX = Path(__file__).resolve().parent / "fixtures"


def _need(name: str, *files: str) -> Path:
    d = FIX / name
    for f in files:
        if not (d / f).exists():
            pytest.skip(f"fixture {name}/{f} not generated")
    return d


def test_hf_output_folder_is_one_run_of_console_state_and_results():
    d = _need("hf_tiny", "run.log", "trainer_state.json")
    report = analyze_paths([str(d)])
    assert len(report.runs) == 1
    run = report.runs[0].run
    parsers = {s.parser for s in run.sources}
    assert {"hf_console", "hf_state"} <= parsers
    state = json.loads((d / "trainer_state.json").read_text())
    assert run.summary.global_step == state["global_step"]
    assert not run.conflicts, run.conflicts  # the console and the state file agree on this real run
    steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert list(run.train_loss.step) == steps
    ckpts = sorted(int(p.name.split("-")[1]) for p in d.glob("checkpoint-*"))
    assert list(run.config.checkpoints) == ckpts


def test_console_log_and_state_file_given_together_are_merged_and_cross_checked(tmp_path):
    d = _need("hf_tiny", "run.log", "trainer_state.json")
    shutil.copy(d / "run.log", tmp_path / "run.log")
    state = json.loads((d / "trainer_state.json").read_text())
    # Alter one eval loss in a copy of the real state file: the two sources now disagree.
    ev = next(e for e in state["log_history"] if "eval_loss" in e)
    true_value = ev["eval_loss"]
    ev["eval_loss"] = true_value + 1.0
    (tmp_path / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    report = analyze_paths([str(tmp_path / "run.log"), str(tmp_path / "trainer_state.json")])
    assert len(report.runs) == 1
    run = report.runs[0].run
    conflict = next(c for c in run.conflicts if c.what.startswith("eval/loss"))
    assert f"step {ev['step']}" in conflict.what
    values = sorted(float(v) for v in conflict.values.values())
    assert values[1] == pytest.approx(true_value + 1.0) and values[0] == pytest.approx(true_value, rel=1e-3)
    codes = [f.code for f in report.runs[0].findings]
    assert any(c.startswith("CFG") for c in codes), codes  # a disagreement is a finding


def test_lightning_folder_merges_console_and_metrics_csv():
    d = _need("lightning_tqdm", "run.log")
    report = analyze_paths([str(d)])
    assert len(report.runs) == 1
    assert {s.parser for s in report.runs[0].run.sources} == {"lightning_console", "lightning_csv"}


def test_folder_of_several_logs_gives_one_run_each(tmp_path):
    a, b = _need("hf_tiny", "run.log"), _need("nanogpt_loop", "run.log")
    shutil.copy(a / "run.log", tmp_path / "a.log")
    shutil.copy(b / "run.log", tmp_path / "b.log")
    report = analyze_paths([str(tmp_path)])
    assert sorted(Path(rr.run.path).name for rr in report.runs) == ["a.log", "b.log"]
    assert {rr.run.format for rr in report.runs} == {"hf", "raw"}


def test_json_report_has_the_documented_shape():
    d = _need("hf_tiny", "run.log")
    doc = json.loads(json.dumps(analyze_paths([str(d / "run.log")]).to_json()))
    assert doc["schema_version"] == 1 and isinstance(doc["exit_code"], int)
    run = doc["runs"][0]
    assert run["format"] == "hf" and run["path"].endswith("run.log")
    assert set(run["summary"]) >= {"global_step", "epochs", "train_runtime_s", "train_samples_per_second",
                                   "train_steps_per_second", "mean_train_loss", "final_train_loss",
                                   "final_eval_loss", "best_eval_loss", "best_eval_step"}
    assert set(run["checks"]) >= {"convergence", "overfitting", "stability", "throughput", "warnings", "config"}
    for c in run["checks"].values():
        assert c["status"] in ("pass", "warn", "fail", "skip") and isinstance(c["reason"], str)
    for f in run["findings"]:
        assert set(f) >= {"code", "check", "severity", "message", "hint", "step", "line", "evidence"}
        assert f["severity"] in ("info", "warning", "error")
    # The run mean is never reported as the final loss.
    assert run["summary"]["mean_train_loss"] != run["summary"]["final_train_loss"]
