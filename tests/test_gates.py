"""CI gates: --baseline (run vs reference run), --write-baseline / --known-findings, --follow.

The logs are real: fixture runs from tests/fixtures (made by tests/fixtures/generate.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from logcheck.pipeline import analyze_paths
from logcheck.settings import Settings

FIX = Path(__file__).resolve().parent / "fixtures"
HEALTHY = FIX / "hf_tiny"
OVERFIT = FIX / "hf_overfit"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "logcheck", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def _need(*dirs: Path) -> None:
    for d in dirs:
        if not (d / "run.log").is_file():
            pytest.skip(f"fixture {d.name} not generated")


def test_baseline_passes_a_rerun_of_the_same_configuration(tmp_path):
    _need(HEALTHY)
    ref = tmp_path / "ref.json"
    res = cli(str(HEALTHY / "run.log"), "--format", "json", "--output", str(ref))
    assert res.returncode in (0, 1), res.stderr
    assert json.loads(ref.read_text())["runs"][0]["curves"]["train_loss"]["step"]
    res = cli(str(HEALTHY / "run.log"), "--baseline", str(ref), "--format", "json")
    doc = json.loads(res.stdout)
    reg = doc["runs"][0]["checks"]["regression"]
    assert reg["status"] == "pass", reg
    assert not [f for f in doc["runs"][0]["findings"] if f["code"].startswith("REG")]


def test_baseline_fails_a_run_whose_final_eval_loss_is_clearly_worse(tmp_path):
    """The overfitting run ends far above the healthy run's eval loss: REG001 must fire."""
    _need(HEALTHY, OVERFIT)
    good = analyze_paths([str(HEALTHY / "run.log")]).runs[0].run
    bad = analyze_paths([str(OVERFIT / "run.log")]).runs[0].run
    if not (good.eval_loss is not None and bad.eval_loss is not None
            and bad.eval_loss.value[-1] > 1.1 * good.eval_loss.value[-1]):
        pytest.skip("fixtures do not differ enough in final eval loss")
    res = cli(str(OVERFIT / "run.log"), "--baseline", str(HEALTHY / "run.log"), "--format", "json",
              "--select", "REG")
    doc = json.loads(res.stdout)
    codes = [f["code"] for f in doc["runs"][0]["findings"]]
    assert "REG001" in codes, doc["runs"][0]["checks"].get("regression")
    assert res.returncode == 1
    msg = next(f["message"] for f in doc["runs"][0]["findings"] if f["code"] == "REG001")
    assert "worse than" in msg and "%" in msg


def test_known_findings_let_only_new_findings_fail(tmp_path):
    _need(OVERFIT)
    known = tmp_path / "known.json"
    first = cli(str(OVERFIT / "run.log"), "--fail-on", "info", "--write-baseline", str(known))
    assert first.returncode == 1, "the overfitting run must have findings"
    recorded = json.loads(known.read_text())
    assert recorded["logcheck_known_findings"] == 1 and recorded["findings"]
    again = cli(str(OVERFIT / "run.log"), "--fail-on", "info", "--known-findings", str(known))
    assert again.returncode == 0, again.stdout[-2000:]


def test_follow_fails_as_soon_as_the_growing_log_goes_bad(tmp_path):
    """Write a real bad run's log (learning rate 0) line by line; --follow must stop with exit 1."""
    src = FIX / "hf_lr_zero" / "run.log"
    if not src.is_file():
        pytest.skip("fixture hf_lr_zero not generated")
    assert analyze_paths([str(src)]).exit_code == 1
    lines = src.read_bytes().split(b"\n")
    live = tmp_path / "live.log"
    live.write_bytes(b"")
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        with open(live, "ab") as f:
            for line in lines:
                if stop.is_set():
                    return
                f.write(line + b"\n")
                f.flush()
                written[0] += 1
                time.sleep(0.05)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    res = cli("check", str(live), "--follow", "--poll-interval", "0.2", "--format", "json")
    lines_when_done = written[0]
    stop.set()
    t.join(timeout=5)
    assert res.returncode == 1, res.stderr
    assert lines_when_done < len(lines), "follow mode only failed once the whole log was written"
    doc = json.loads(res.stdout)
    assert doc["exit_code"] == 1
    last_step = max(rr["summary"]["global_step"] or 0 for rr in doc["runs"])
    full_step = analyze_paths([str(src)]).runs[0].run.summary.global_step
    assert full_step is None or last_step <= full_step


def test_follow_reports_a_stall(tmp_path):
    _need(HEALTHY)
    lines = (HEALTHY / "run.log").read_bytes().split(b"\n")
    live = tmp_path / "live.log"
    live.write_bytes(b"\n".join(lines[: len(lines) // 2]) + b"\n")  # a run that stopped mid-way
    res = cli("check", str(live), "--follow", "--poll-interval", "0.2", "--stall-timeout", "1.5",
              "--format", "json")
    doc = json.loads(res.stdout)
    codes = [f["code"] for rr in doc["runs"] for f in rr["findings"]]
    assert "LIV001" in codes and res.returncode == 1
