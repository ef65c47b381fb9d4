"""More adversarial inputs through the real CLI: each once crashed, hung or gave the wrong exit code.

Every case runs ``python -m logcheck`` in a subprocess with a timeout (a hang fails the test, a
segfault shows as a negative return code) and asserts the exact documented exit code and that
stderr holds no traceback or "internal error". The inputs are written here, byte by byte; they
stand for damaged or hostile files, not for any library's output.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logcheck.parsing import MAX_JSON_DEPTH, json_depth_ok, loads_json, loads_strict

TIMEOUT = 30
DEEP = 100_000  # nested objects: orjson < 3.10 overflows the C stack on this (a segfault)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run([sys.executable, "-m", "logcheck", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, errors="replace")
    except subprocess.TimeoutExpired:
        pytest.fail(f"logcheck {' '.join(args)} hung for more than {timeout} s")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return proc


def kv_log(n: int = 50) -> str:
    return "".join(f"iter {s}: loss {2.0 / (s + 1) ** 0.3:.4f}, time 100.00ms, mfu 30.00%\n" for s in range(n))


def jsonl_rows(n: int = 20) -> bytes:
    return b"".join(b'{"step": %d, "loss": %.4f}\n' % (s, 2.0 / (s + 1) ** 0.3) for s in range(n))


def deep_object() -> bytes:
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


def dvclive_folder(top: Path) -> Path:
    d = top / "dvclive"
    (d / "plots" / "metrics" / "train").mkdir(parents=True)
    (d / "plots" / "metrics" / "train" / "loss.tsv").write_text(
        "step\tloss\n" + "".join(f"{s}\t{2.0 / (s + 1) ** 0.3:.4f}\n" for s in range(10)))
    (d / "metrics.json").write_text('{"train": {"loss": 0.9}, "step": 9}')
    return d


def mlflow_store(top: Path) -> Path:
    run = top / "mlruns" / "1" / "abc123"
    for sub in ("metrics", "params", "tags"):
        (run / sub).mkdir(parents=True)
    (top / "mlruns" / "1" / "meta.yaml").write_text("name: exp\n")
    (run / "meta.yaml").write_text("run_id: abc123\nstatus: 3\nstart_time: 1\nend_time: 100\n")
    (run / "metrics" / "train_loss").write_text(
        "".join(f"1000 {2.0 / (s + 1) ** 0.3:.4f} {s}\n" for s in range(10)))
    (run / "params" / "lr").write_text("0.1")
    return run


def json_report(proc: subprocess.CompletedProcess[str]) -> dict:
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == proc.returncode
    return doc


def points(doc: dict, key: str = "train/loss") -> int:
    return sum(r["series"][key]["points"] for r in doc["runs"] if key in r["series"])


def reads_every_point(folder: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``logcheck --format json folder`` exits 0 with the ten train-loss points the helpers write."""
    proc = run_cli("--format", "json", str(folder), timeout=timeout)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert points(json_report(proc)) == 10
    return proc


# ---------------------------------------------------------------------------
# Deeply nested JSON: a segfault in orjson before, a RecursionError in Python's json
# ---------------------------------------------------------------------------


def test_json_depth_guard_unit() -> None:
    shallow = b"[" + b",".join(b'{"loss": 1.0, "step": %d}' % i for i in range(5000)) + b"]"
    assert json_depth_ok(shallow)
    assert len(loads_json(shallow)) == 5000
    assert json_depth_ok(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not json_depth_ok(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_ok(deep_object().decode())
    for loads in (loads_json, loads_strict):
        with pytest.raises(ValueError):
            loads(deep_object())
        with pytest.raises(ValueError):
            loads(b"[" * DEEP)


def test_deeply_nested_line_in_json_lines_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "metrics.jsonl"
    p.write_bytes(jsonl_rows() + deep_object() + b"\n" + b"[" * DEEP + b"\n")
    proc = run_cli("--format", "json", str(p))
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert points(json_report(proc)) == 20


@pytest.mark.parametrize("name", ["trainer_state.json", "all_results.json"])
def test_deeply_nested_state_files_are_unreadable_input(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    body = deep_object()
    p.write_bytes(b'{"global_step": 5, "log_history": [' + body + b"]}" if name == "trainer_state.json" else body)
    proc = run_cli(str(p))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "nested deeper" in proc.stderr


def test_deeply_nested_wandb_summary(tmp_path: Path) -> None:
    files = tmp_path / "wandb" / "run-20260101_000000-abc" / "files"
    files.mkdir(parents=True)
    (files / "wandb-summary.json").write_bytes(deep_object())
    (files / "wandb-metadata.json").write_text("{}")
    proc = run_cli(str(tmp_path))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("logcheck: error:")


@pytest.mark.parametrize("kind", ["unclosed-lists", "deep-objects", "3000-objects"])
def test_deeply_nested_dvclive_metrics_json(tmp_path: Path, kind: str) -> None:
    d = dvclive_folder(tmp_path)
    (d / "metrics.json").write_bytes({"unclosed-lists": b"[" * DEEP, "deep-objects": deep_object(),
                                      "3000-objects": b'{"a":' * 3000 + b"1" + b"}" * 3000}[kind])
    proc = reads_every_point(tmp_path)
    assert "plugin error" not in proc.stderr


@pytest.mark.parametrize("name", ["config.json", "run_config.json"])
def test_deeply_nested_model_config_beside_a_log(tmp_path: Path, name: str) -> None:
    (tmp_path / "train.log").write_text(kv_log())
    (tmp_path / name).write_text("[" * DEEP + "]" * DEEP)
    proc = run_cli("--format", "json", str(tmp_path))
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert points(json_report(proc)) == 50


# ---------------------------------------------------------------------------
# Pipes and devices inside store folders: each used to block or read forever
# ---------------------------------------------------------------------------


def test_dvclive_folder_with_a_pipe_and_a_device(tmp_path: Path) -> None:
    d = dvclive_folder(tmp_path)
    os.mkfifo(d / "plots" / "metrics" / "stuck.tsv")
    (d / "plots" / "metrics" / "zero.tsv").symlink_to("/dev/zero")
    reads_every_point(tmp_path, timeout=20)


@pytest.mark.parametrize("where", ["metrics/stuck", "params/stuck", "../meta.yaml"])
def test_mlflow_file_store_with_a_pipe(tmp_path: Path, where: str) -> None:
    run = mlflow_store(tmp_path)
    target = (run / where)
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    reads_every_point(tmp_path, timeout=20)


@pytest.mark.parametrize("where", ["metrics/zero", "params/zero"])
def test_mlflow_file_store_with_a_device_link(tmp_path: Path, where: str) -> None:
    run = mlflow_store(tmp_path)
    (run / where).symlink_to("/dev/zero")
    reads_every_point(tmp_path, timeout=20)


# ---------------------------------------------------------------------------
# Odd values in side files that used to reject the whole run
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["NaN", "1e999", "-Infinity"])
def test_dvclive_nonfinite_step_in_metrics_json(tmp_path: Path, step: str) -> None:
    d = dvclive_folder(tmp_path)
    (d / "metrics.json").write_text('{"train": {"loss": 0.9}, "step": %s}' % step)
    reads_every_point(tmp_path)


def test_huge_integer_in_hparams_yaml(tmp_path: Path) -> None:
    v = tmp_path / "lightning_logs" / "version_0"
    v.mkdir(parents=True)
    (v / "metrics.csv").write_text("epoch,step,train_loss\n" + "".join(f"0,{s},{2.0 / (s + 1):.4f}\n" for s in range(30)))
    (v / "hparams.yaml").write_text("lr: " + "1" * 5000 + "\nbatch_size: 8\n")
    proc = run_cli("--format", "json", str(v / "metrics.csv"))
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert points(json_report(proc)) == 30


# ---------------------------------------------------------------------------
# Configuration and options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "fifo", "device", "tool-not-table"])
def test_bad_config_files_are_config_errors(tmp_path: Path, kind: str) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    cfg = tmp_path / ("pyproject.toml" if kind == "tool-not-table" else "logcheck.toml")
    if kind == "binary":
        cfg.write_bytes(b"\xff\xfe\x00garbage")
    elif kind == "fifo":
        os.mkfifo(cfg)
    elif kind == "device":
        cfg = Path("/dev/zero")
    else:
        cfg.write_text("[tool]\nlogcheck = 5\n")
    proc = run_cli(str(tmp_path / "run.log"), "--config", str(cfg), timeout=20)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("logcheck: config error:"), proc.stderr


@pytest.mark.parametrize("value", ["'abc'", "[1]", "nan", "true"])
def test_rule_parameter_of_the_wrong_type_is_a_config_error(tmp_path: Path, value: str) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    (tmp_path / "logcheck.toml").write_text(f"[params.OVF001]\nmin_rel_rise = {value}\n")
    proc = run_cli(str(tmp_path / "run.log"), cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "params.OVF001.min_rel_rise" in proc.stderr
    assert "plugin error" not in proc.stderr


def test_rule_parameter_int_for_float_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    (tmp_path / "logcheck.toml").write_text("[params.OVF001]\nmin_rel_rise = 1\n")
    proc = run_cli(str(tmp_path / "run.log"), cwd=tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)


@pytest.mark.parametrize("curves", [
    {"train_loss": 5},
    {"train_loss": {"step": [1, 2, 3, 4, 5, 6], "value": [1, 2, 3]}},
    {"eval_loss": {"step": 5, "value": None}},
])
def test_malformed_baseline_report_is_a_usage_error(tmp_path: Path, curves: dict) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"schema_version": 1, "runs": [{"curves": curves}]}))
    proc = run_cli(str(tmp_path / "run.log"), "--baseline", str(ref))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "--baseline" in proc.stderr and "plugin error" not in proc.stderr


def test_baseline_report_with_odd_points_still_compares(tmp_path: Path) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"schema_version": 1, "runs": [{"curves": {
        "train_loss": {"step": [40, 1, None, "x", 20, 30], "value": [1.0, 2.0, 3.0, 4.0, 1.5, "NaN"]},
        "eval_loss": {"step": [], "value": []}, "train_samples_per_second": "fast"}}]}))
    proc = run_cli("--format", "json", str(tmp_path / "run.log"), "--baseline", str(ref))
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    assert "plugin error" not in proc.stderr
    assert "regression" in json_report(proc)["runs"][0]["checks"]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_known_findings_from_a_pipe_or_device(tmp_path: Path, kind: str) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    src = tmp_path / "known.json"
    if kind == "fifo":
        os.mkfifo(src)
    else:
        src = Path("/dev/zero")
    proc = run_cli(str(tmp_path / "run.log"), "--known-findings", str(src), timeout=20)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "known findings" in proc.stderr


@pytest.mark.parametrize("opts", [("--poll-interval", "nan"), ("--poll-interval", "-1"), ("--poll-interval", "0"),
                                  ("--stall-timeout", "nan"), ("--stall-timeout", "-5")])
def test_follow_rejects_bad_intervals(tmp_path: Path, opts: tuple[str, str]) -> None:
    (tmp_path / "run.log").write_text(kv_log())
    proc = run_cli("--follow", str(tmp_path / "run.log"), *opts, timeout=20)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert opts[0] in proc.stderr
