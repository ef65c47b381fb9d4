"""The command line: exit codes, one-line errors, configuration errors, rule docs."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "logcheck", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=120, input=None if input is None else input.decode())


def _no_traceback(res: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-2000:]


@pytest.mark.parametrize("content,code,words", [
    (b"", 3, "empty file"),
    (bytes(range(256)) * 64, 2, "binary file"),
    (b"\x00" * 5000, 2, "binary file"),
    (b"hello world\nnothing to see here\n", 3, "no training metrics"),
])
def test_bad_input_is_one_line_and_an_exit_code(tmp_path, content, code, words):
    p = tmp_path / "in.log"
    p.write_bytes(content)
    res = run_cli(str(p))
    _no_traceback(res)
    assert res.returncode == code, (res.returncode, res.stderr)
    err_lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 1 and words in err_lines[0]


def test_missing_file_and_directory_without_logs(tmp_path):
    res = run_cli(str(tmp_path / "nope.log"))
    _no_traceback(res)
    assert res.returncode == 2 and "no such file" in res.stderr
    (tmp_path / "d").mkdir()
    res = run_cli(str(tmp_path / "d"))
    _no_traceback(res)
    assert res.returncode == 3 and "no training logs" in res.stderr


def test_unreadable_file_is_exit_2(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    p = tmp_path / "secret.log"
    p.write_text("iter 1: loss 2.0\n")
    p.chmod(0)
    res = run_cli(str(p))
    assert res.returncode == 2 and "permission denied" in res.stderr


def test_no_arguments_is_a_usage_error():
    res = run_cli()
    _no_traceback(res)
    assert res.returncode == 2 and "no log given" in res.stderr


def test_unknown_format_and_unknown_option():
    res = run_cli("x.log", "--format", "yaml")
    assert res.returncode == 2 and "unknown format" in res.stderr
    res = run_cli("x.log", "--frobnicate")
    _no_traceback(res)
    assert res.returncode == 2


def test_bad_config_key_names_the_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.logcheck]\nfail-on = "sometimes"\nselcet = ["CNV"]\n')
    log = tmp_path / "a.log"
    log.write_text("x\n")
    res = run_cli(str(log), cwd=tmp_path)
    _no_traceback(res)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert any("fail_on" in line for line in lines) and any("selcet" in line and "unknown key" in line for line in lines)


def test_rule_command_prints_docs_and_rejects_unknown_codes():
    res = run_cli("rule", "NOPE999")
    _no_traceback(res)
    assert res.returncode == 2 and "unknown rule code" in res.stderr
    listing = run_cli("rules")
    assert listing.returncode == 0
    codes = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    if not codes:
        pytest.skip("no rules registered yet")
    res = run_cli("rule", codes[0])
    assert res.returncode == 0
    for section in ("What it does", "Why is this bad", "Example", "How to fix"):
        assert section in res.stdout


def test_plugins_command_lists_builtins_with_hooks():
    res = run_cli("plugins")
    assert res.returncode == 0, res.stderr
    assert "format_json" in res.stdout and "register_formats" in res.stdout


def test_json_output_is_versioned_even_when_input_fails(tmp_path):
    p = tmp_path / "empty.log"
    p.write_bytes(b"")
    res = run_cli(str(p), "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1 and doc["exit_code"] == 3 == res.returncode
    assert doc["runs"] == [] and doc["errors"][0]["kind"] == "input"


def test_config_file_selects_rules_and_overrides_severity(tmp_path):
    """The README's configuration example, on a real fixture: ignored families vanish, severities change."""
    log = REPO / "tests" / "fixtures" / "hf_overfit" / "run.log"
    if not log.exists():
        pytest.skip("fixture hf_overfit not generated")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.logcheck]\nignore = ["THR", "CNV"]\nfail-on = "warning"\nseq-len = 32\n'
        'severity = { OVF001 = "error" }\n[tool.logcheck.params.OVF001]\nmin_rel_rise = 0.05\n')
    res = run_cli(str(log), "--format", "json", cwd=tmp_path)
    _no_traceback(res)
    doc = json.loads(res.stdout)
    codes = [f["code"] for f in doc["runs"][0]["findings"]]
    assert not [c for c in codes if c.startswith(("THR", "CNV"))]
    ovf = [f for f in doc["runs"][0]["findings"] if f["code"] == "OVF001"]
    assert ovf and ovf[0]["severity"] == "error"
    assert res.returncode == 1 and doc["fail_on"] == "warning"
    # A flag overrides the file.
    res = run_cli(str(log), "--format", "json", "--select", "OVF001", "--fail-on", "error", cwd=tmp_path)
    doc = json.loads(res.stdout)
    assert {f["code"] for f in doc["runs"][0]["findings"]} <= {"OVF001"}


def test_unknown_rule_code_in_select_is_one_line_and_exit_2(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("iter 1: loss 2.0\n")
    res = run_cli(str(log), "--select", "XYZ999")
    _no_traceback(res)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown rule code or prefix 'XYZ999'" in lines[0]


def test_extreme_logged_values_print_no_numpy_warnings(tmp_path):
    # 1e308 next to -1e308, inf and -inf: the checks' arithmetic overflows, which is expected
    # (and matplotlib cannot place a label there, nor set such a y range): every output stays clean
    values = ["1e308", "-1e308", "inf", "-inf", "nan", "2.0", "1e-308", "0"]
    log = tmp_path / "train.log"
    log.write_text("".join(f"step={i} loss={values[i % len(values)]} lr=1e-4\n" for i in range(1, 600)))
    csv = tmp_path / "metrics.csv"  # train and val loss side by side: the overfitting gap is drawn too
    csv.write_text("epoch,step,train_loss,val_loss\n" + "".join(
        f"{i // 50},{i},{values[i % 8]},{values[(i + 3) % 8]}\n" for i in range(1, 800)))
    dicts = tmp_path / "dicts.log"  # str(dict) lines: grad norm and learning rate panels, infinite epochs
    dicts.write_text("".join(
        "{'loss': %s, 'grad_norm': %s, 'learning_rate': %s, 'epoch': %s}\n"
        % (values[i % 8], values[(i + 1) % 8], values[(i + 2) % 8], "inf" if i % 7 == 0 else i / 100)
        for i in range(1, 400)))
    # random mixes of those (seeded; these two once crashed --plot): JSON lines with steps of 1e308
    # and -1, and crafted (not captured) lines in Megatron's layout
    pool = ["1e308", "-1e308", "inf", "-inf", "nan", "2.0", "1e-308", "0", "-0.0", "3.5", "1e-45", "-5"]
    rnd = random.Random(101)
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("".join(json.dumps({"step": rnd.choice([i, i, i, -1, 1e308]), "loss": float(rnd.choice(pool)),
                                         "eval_loss": float(rnd.choice(pool)), "lr": float(rnd.choice(pool))}) + "\n"
                             for i in range(800)))
    rnd = random.Random(105)
    mega = tmp_path / "megatron.log"
    mega.write_text("".join(
        f" iteration {i}/ 1000 | consumed samples: {8 * i} | elapsed time per iteration (ms): {rnd.choice(pool)} | "
        f"learning rate: {rnd.choice(pool)} | global batch size: 8 | lm loss: {rnd.choice(pool)} | "
        f"loss scale: {rnd.choice(pool)} | grad norm: {rnd.choice(pool)} |\n" for i in range(400)))
    for path in (log, csv, dicts, jsonl, mega):
        for args in (("--format", "json"), ("--format", "text"), ("--format", "html"),
                     ("--plot", str(tmp_path / "curves.png"))):
            res = run_cli(*args, str(path))
            _no_traceback(res)
            assert res.returncode in (0, 1), res.stderr
            assert res.stderr == "", res.stderr[-2000:]
