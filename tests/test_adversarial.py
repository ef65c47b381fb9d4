"""Adversarial inputs through the real CLI: each gets a clear outcome and its documented exit code.

Every case runs ``python -m logcheck`` in a subprocess with a timeout, so a hang fails
the test instead of stalling the suite. No case may print a traceback or an
"internal error"; exit codes are the documented ones (0/1 judged, 2 unreadable input
or usage, 3 nothing to judge, 4 plugin failure).

The inputs are written here, byte by byte; they stand for damaged or hostile files,
not for any library's output.
"""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60

TRAIN = "{{'loss': {loss}, 'learning_rate': 1e-05, 'epoch': {epoch}}}\n"
SUMMARY = "{'train_runtime': 12.5, 'train_samples_per_second': 80.0, 'train_steps_per_second': 10.0, " \
          "'train_loss': 1.5, 'epoch': 1.0}\n"


def hf_lines(n: int, start: int = 1) -> str:
    return "".join(TRAIN.format(loss=round(2.0 * (s + 1) ** -0.2, 4), epoch=round(s / n, 4))
                   for s in range(start, start + n))


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run([sys.executable, "-m", "logcheck", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=env, errors="replace")
    except subprocess.TimeoutExpired:
        pytest.fail(f"logcheck {' '.join(args)} hung for more than {timeout} s")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return proc


def report(path: Path, *extra: str, expect: set[int] | int) -> dict:
    proc = run_cli("--format", "json", str(path), *extra)
    expected = {expect} if isinstance(expect, int) else expect
    assert proc.returncode in expected, (proc.returncode, proc.stderr[-2000:])
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == proc.returncode
    return doc


def train_points(doc: dict, metric: str = "loss") -> int:
    assert doc["runs"], doc["errors"]
    return doc["runs"][0]["series"][f"train/{metric}"]["points"]


# ---------------------------------------------------------------------------
# Unreadable or empty input
# ---------------------------------------------------------------------------


def test_empty_file_is_nothing_to_judge(tmp_path: Path) -> None:
    p = tmp_path / "empty.log"
    p.write_bytes(b"")
    proc = run_cli(str(p))
    assert proc.returncode == 3
    assert "empty" in proc.stderr


def test_binary_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "weights.dat"
    p.write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    proc = run_cli(str(p))
    assert proc.returncode == 2
    assert "binary" in proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    proc = run_cli(str(tmp_path / "nope.log"))
    assert proc.returncode == 2
    assert "no such file" in proc.stderr


def test_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    proc = run_cli(str(tmp_path / "a"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("logcheck: error:")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.log"
    p.write_text(hf_lines(5))
    p.chmod(0)
    try:
        proc = run_cli(str(p))
    finally:
        p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert proc.returncode == 2
    assert "permission denied" in proc.stderr


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    proc = run_cli(str(fifo), timeout=15)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("logcheck: error:")


def test_fifo_inside_a_run_folder_does_not_hang(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text(hf_lines(20) + SUMMARY)
    os.mkfifo(run / "stdout.pipe")
    proc = run_cli("--format", "json", str(run), timeout=15)
    assert proc.returncode in (0, 1, 2), proc.stderr
    doc = json.loads(proc.stdout)
    assert train_points(doc) == 20


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_device_paths(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} not present")
    proc = run_cli(device, timeout=30)
    assert proc.returncode in (2, 3), proc.stderr  # unreadable or nothing to judge, never a hang
    assert proc.stderr.startswith("logcheck: error:")


def test_usage_errors() -> None:
    assert run_cli().returncode == 2
    assert run_cli("--no-such-option", "x.log").returncode == 2
    assert run_cli("--format", "no-such-format", "x.log").returncode == 2


def test_output_into_missing_folder(tmp_path: Path) -> None:
    p = tmp_path / "run.log"
    p.write_text(hf_lines(10) + SUMMARY)
    proc = run_cli(str(p), "--output", str(tmp_path / "missing" / "report.txt"))
    assert proc.returncode == 2
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------------------
# Damaged text
# ---------------------------------------------------------------------------


def test_nul_bytes_inside_a_log(tmp_path: Path) -> None:
    p = tmp_path / "nul.log"
    p.write_bytes(hf_lines(3).encode() + b"\x00\x00\x00" + hf_lines(3, start=4).encode() + b"\x00" * 100 + b"\n")
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 6


def test_invalid_utf8(tmp_path: Path) -> None:
    p = tmp_path / "latin1.log"
    p.write_bytes(b"\xff\xfe\xfa caf\xe9 \xc3\x28\n" + hf_lines(4).encode() + b"\x80\x81\n" + SUMMARY.encode())
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 4
    assert doc["runs"][0]["ending"]["status"] == "completed"


def test_crlf_line_endings(tmp_path: Path) -> None:
    p = tmp_path / "windows.log"
    p.write_bytes((hf_lines(5) + SUMMARY).replace("\n", "\r\n").encode())
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 5
    assert doc["runs"][0]["ending"]["status"] == "completed"


def test_odd_characters_inside_a_progress_bar(tmp_path: Path) -> None:
    # a superscript two is a digit to str.isdigit() but not to int(): one such frame must not sink the file
    p = tmp_path / "bar.log"
    p.write_text("\r  5%|x         | 1/10 [0\u00b2:12<00:10,  1.00it/s]\r" + hf_lines(1)
                 + "\r 10%|x         | 2/10 [00:1\u0663<1\u00b9:10, \u00b2.00it/s]\r" + hf_lines(1, start=2), encoding="utf-8")
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 2


def test_truncated_mid_line_is_interrupted(tmp_path: Path) -> None:
    p = tmp_path / "cut.log"
    text = hf_lines(30)
    p.write_text(text + "{'loss': 1.23, 'learning_rate': 1e-0")
    doc = report(p, expect={0, 1})
    run = doc["runs"][0]
    assert train_points(doc) == 30  # what it did contain is kept
    assert run["ending"]["status"] == "interrupted"


def test_hundred_megabyte_single_line(tmp_path: Path) -> None:
    p = tmp_path / "oneline.log"
    with open(p, "wb") as f:
        f.write(hf_lines(3).encode())
        block = b"x" * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write(b"\n" + hf_lines(3, start=4).encode())
    t = time.monotonic()
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 6
    assert time.monotonic() - t < TIMEOUT


def test_deeply_nested_and_enormous_dicts(tmp_path: Path) -> None:
    p = tmp_path / "nested.log"
    depth = 50_000
    with open(p, "w") as f:
        f.write(hf_lines(2))
        f.write("{'a': " * depth + "1" + "}" * depth + "\n")
        f.write("[" * depth + "]" * depth + "\n")
        f.write("{'loss': [[[[[[[[1.0]]]]]]]], 'epoch': 0.5}\n")
        f.write("{" + ", ".join(f"'k{i}': {i}" for i in range(100_000)) + "}\n")
        f.write("{'loss': 1.0, 'epoch': " + "9" * 5000 + "}\n")
        f.write(hf_lines(2, start=3))
    doc = report(p, expect={0, 1})
    assert train_points(doc) >= 4


def test_huge_tiny_and_nonfinite_numbers_are_kept(tmp_path: Path) -> None:
    spellings = ["1e308", "1e309", "-1e309", "1e-320", "5e-324", "-0.0", "123456789012345678901234567890",
                 "NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "1.0"]
    p = tmp_path / "numbers.log"
    p.write_text("".join(f"{{'loss': {v}, 'grad_norm': {v}, 'learning_rate': 1e-05, 'epoch': {0.01 * (i + 1):.2f}}}\n"
                         for i, v in enumerate(spellings)))
    doc = report(p, expect=1)  # non-finite loss is a failure
    assert train_points(doc) == len(spellings)
    values = doc["runs"][0]["curves"]["train_loss"]["value"]
    assert values[1] == "Infinity" and values[2] == "-Infinity"  # 1e309 overflows to inf, as float() does
    assert values[7] == "NaN" and values[8] == "NaN"
    assert values[9] == "Infinity" and values[12] == "-Infinity"
    assert values[3] == pytest.approx(1e-320) and values[-1] == 1.0
    assert any(f["severity"] == "error" for f in doc["runs"][0]["findings"])


def test_nonfinite_spellings_in_raw_key_value_logs(tmp_path: Path) -> None:
    p = tmp_path / "kv.log"
    rows = [f"step={s} loss={2.0 / s:.4f} lr=0.001" for s in range(1, 40)]
    rows[20] = "step=21 loss=NaN lr=0.001"
    rows[21] = "step=22 loss=Infinity lr=0.001"
    p.write_text("\n".join(rows) + "\n")
    proc = run_cli("--format", "json", str(p))
    assert proc.returncode in (1, 3), proc.stderr
    if proc.returncode == 1:
        assert any(f["severity"] == "error" for r in json.loads(proc.stdout)["runs"] for f in r["findings"])


def test_step_counter_going_back_resumed_run(tmp_path: Path) -> None:
    p = tmp_path / "resumed.log"
    lines = [f"iter {s}: loss {2.0 / (s + 1) ** 0.3:.4f}, time 100.00ms, mfu 30.00%"
             for s in list(range(0, 60)) + list(range(40, 120))]
    p.write_text("\n".join(lines) + "\n")
    doc = report(p, expect={0, 1})
    total = sum(r["series"]["train/loss"]["points"] for r in doc["runs"] if "train/loss" in r["series"])
    assert total == 140  # nothing dropped, whether kept as one run or two


def test_negative_steps(tmp_path: Path) -> None:
    p = tmp_path / "neg.log"
    p.write_text("".join(f"iter {s}: loss {1.0 + abs(s) / 100:.4f}, time 100.00ms, mfu 30.00%\n"
                         for s in range(-5, 30)))
    proc = run_cli("--format", "json", str(p))
    assert proc.returncode in (0, 1, 3), proc.stderr


def test_interleaved_ranks_are_not_counted_four_times(tmp_path: Path) -> None:
    p = tmp_path / "ranks.log"
    with open(p, "w") as f:
        for s in range(1, 51):
            for r in (0, 1, 2, 3):
                f.write(f"[rank{r}]: {{'loss': {2.0 / s ** 0.3 + r * 0.001:.4f}, 'learning_rate': 1e-05, "
                        f"'epoch': {s / 50:.2f}}}\n")
    doc = report(p, expect={0, 1})
    assert train_points(doc) == 50


def test_file_growing_while_read(tmp_path: Path) -> None:
    p = tmp_path / "live.log"
    p.write_text(hf_lines(2000))
    stop = threading.Event()

    def writer() -> None:
        s = 2001
        with open(p, "a") as f:
            while not stop.is_set():
                f.write(hf_lines(200, start=s))
                f.flush()
                s += 200
                time.sleep(0.005)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        doc = report(p, expect={0, 1})
    finally:
        stop.set()
        t.join(5)
    assert train_points(doc) >= 2000


def test_directory_with_thousands_of_files(tmp_path: Path) -> None:
    top = tmp_path / "many"
    top.mkdir()
    for i in range(3000):
        (top / f"note{i}.txt").write_text(f"nothing here {i}\n")
    run = top / "run1"
    run.mkdir()
    (run / "train.log").write_text(hf_lines(20) + SUMMARY)
    doc = report(top, expect={0, 1})
    assert train_points(doc) == 20


def test_directory_with_too_many_files_is_refused(tmp_path: Path) -> None:
    top = tmp_path / "huge"
    top.mkdir()
    for i in range(20_100):
        (top / f"f{i}.txt").touch()
    proc = run_cli(str(top))
    assert proc.returncode in (2, 3), proc.stderr
    assert proc.stderr.startswith("logcheck: error:")


# ---------------------------------------------------------------------------
# Plugins and safety
# ---------------------------------------------------------------------------


def test_failing_plugin_exit_code_4(tmp_path: Path) -> None:
    (tmp_path / "broken_check_plugin.py").write_text(
        "from logcheck import hookimpl\n\n"
        "@hookimpl\n"
        "def logcheck_check(run, settings):\n"
        "    raise RuntimeError('boom')\n"
    )
    p = tmp_path / "run.log"
    p.write_text(hf_lines(30) + SUMMARY)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = run_cli(str(p), "-p", "broken_check_plugin", env=env)
    assert proc.returncode in (1, 4), proc.stderr  # a finding at error wins over the plugin failure
    assert "boom" in proc.stderr


def test_dict_lines_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.log"
    p.write_text(
        hf_lines(3)
        + f"{{'loss': __import__('os').system('touch {marker}'), 'epoch': 0.5}}\n"
        + f"{{'loss': (lambda: open('{marker}', 'w'))(), 'epoch': 0.6}}\n"
        + "{'loss': [c for c in ().__class__.__base__.__subclasses__()], 'epoch': 0.7}\n"
        + f"loss=1.0 step=5 output_dir={tmp_path / 'written'}\n"
        + hf_lines(3, start=4)
    )
    report(p, expect={0, 1})
    assert not marker.exists()


def test_logcheck_writes_nothing_it_was_not_asked_to(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    p = work / "run.log"
    p.write_text(hf_lines(50) + f"Saving model checkpoint to {work / 'ckpt'}\n" + SUMMARY)
    before = sorted(x.relative_to(tmp_path) for x in tmp_path.rglob("*"))
    proc = run_cli(str(p), cwd=work)
    assert proc.returncode in (0, 1)
    out = work / "report.json"
    proc = run_cli("--format", "json", "--output", str(out), str(p), cwd=work)
    assert proc.returncode in (0, 1)
    after = sorted(x.relative_to(tmp_path) for x in tmp_path.rglob("*"))
    assert set(after) - set(before) == {out.relative_to(tmp_path)}


def _calls_in(path: Path, names: set[str]) -> list[str]:
    """``eval(``/``exec(``/``literal_eval`` used as code (comments and strings do not count)."""
    hits = []
    toks = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
    for i, tok in enumerate(toks):
        if tok.type != tokenize.NAME or tok.string not in names:
            continue
        prev = toks[i - 1].string if i else ""
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        if tok.string in ("eval", "exec") and (prev == "." or nxt != "("):
            continue  # a method such as model.eval(), or a name such as Split.eval, not the builtin
        hits.append(f"{path.relative_to(REPO)}:{tok.start[0]}: {tok.line.strip()}")
    return hits


def test_no_eval_exec_or_literal_eval_in_the_code() -> None:
    hits: list[str] = []
    for folder in ("analyzer", "plugins"):
        for path in sorted((REPO / folder).rglob("*.py")):
            hits += _calls_in(path, {"eval", "exec", "literal_eval"})
    assert not hits, "code that could evaluate input:\n" + "\n".join(hits)
