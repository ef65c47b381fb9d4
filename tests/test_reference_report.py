"""The report on a real run of the reference configuration gets REFERENCE_RUN.md's eight points right.

Input: examples/shakespeare_tiny_tf4, a real Trainer run (transformers 4.57.6, which like the seed's
version does not evaluate at the last step) of the reference configuration with a tiny GPT-2.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "examples" / "shakespeare_tiny_tf4"


@pytest.fixture(scope="module")
def text() -> str:
    res = subprocess.run([sys.executable, "-m", "logcheck", str(RUN)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr  # warnings only: the run is not bad
    return res.stdout


@pytest.fixture(scope="module")
def doc() -> dict:
    res = subprocess.run([sys.executable, "-m", "logcheck", str(RUN), "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    return json.loads(res.stdout)


def test_1_run_mean_is_not_called_the_final_loss(text, doc):
    s = doc["runs"][0]["summary"]
    state = json.loads((RUN / "trainer_state.json").read_text())
    summary = next(e for e in state["log_history"] if "train_loss" in e)
    last = [e for e in state["log_history"] if "loss" in e][-1]
    assert s["mean_train_loss"] == pytest.approx(summary["train_loss"])
    assert s["final_train_loss"] == pytest.approx(last["loss"])
    assert "mean over the whole run, not the final loss" in text


def test_2_and_3_compared_like_for_like(text, doc):
    ovf = doc["runs"][0]["checks"]["overfitting"]
    assert ovf["status"] == "pass" and "mean of the 5 train points in (600, 700]" in ovf["reason"]
    assert "like for like" in text


def test_4_epochs_are_numbered_from_zero(text):
    assert "(epochs 0–2)" in text and "epoch 3 " not in text
    assert re.search(r"^  epoch 2 ", text, flags=re.M)


def test_eval_table_is_complete(text):
    rows = re.findall(r"^\s+(\d+)\s+\d\.\d\d\s+\d", text, flags=re.M)
    assert rows == [str(s) for s in range(100, 701, 100)]


def test_5_convergence_is_measured(doc):
    conv = doc["runs"][0]["checks"]["convergence"]
    assert conv["status"] == "pass"
    assert "per 100 steps" in conv["reason"] and "another epoch (264 steps)" in conv["reason"]


def test_6_missing_lm_head_is_benign_because_tied(doc):
    f = next(f for f in doc["runs"][0]["findings"] if f["code"] == "WRN002")
    assert "lm_head.weight" in f["message"] and "ties lm_head.weight to transformer.wte.weight" in f["message"]


def test_7_restored_checkpoint_is_not_the_best_eval(doc):
    f = next(f for f in doc["runs"][0]["findings"] if f["code"] == "CFG001")
    assert "checkpoint-600" in f["message"] and "step-700" in f["message"]
    assert "save_steps (200) != eval_steps (100)" in f["message"]


def test_8_tokens_per_second(doc):
    thr = doc["runs"][0]["checks"]["throughput"]
    assert "tokens/s" in thr["reason"] and "seq_len 256" in thr["reason"]
