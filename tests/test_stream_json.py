"""The streaming trainer_state.json decoder gives exactly what json.load gives, in columns."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from logcheck.plugins.stream_json import read_trainer_state

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STATE_FILES = sorted(FIXTURES.rglob("trainer_state.json"))


def as_entries(cols) -> list[dict]:
    """Rebuild log_history (in order) from the columns, for comparison with json.load."""
    out: dict[int, dict] = {}
    for g in cols.groups:
        for i, pos in enumerate(g.order.tolist()):
            out[pos] = {k: float(g.columns[k][i]) for k in g.keys}
    return [out[i] for i in range(cols.entries)]


def same(a: float, b) -> bool:
    b = float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_equal(path: Path, chunk: int) -> None:
    ref = json.loads(path.read_text())
    cols = read_trainer_state(path, chunk=chunk)
    hist = ref.pop("log_history")
    assert cols.entries == len(hist)
    assert cols.top == ref
    for got, want in zip(as_entries(cols), hist):
        assert got.keys() == want.keys()
        assert all(same(got[k], want[k]) for k in want)


@pytest.mark.parametrize("path", STATE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_real_state_files_decode_like_json_load(path):
    check_equal(path, chunk=1 << 20)
    check_equal(path, chunk=97)  # entries and the head cut at every kind of boundary


def write_state(path: Path, history: list[dict], **top) -> None:
    # the same call as transformers' TrainerState.save_to_json
    state = {"global_step": len(history), "log_history": history, "max_steps": 100,
             "stateful_callbacks": {"TrainerControl": {"args": {"should_save": True}}}, **top}
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def test_nan_and_infinity_are_kept(tmp_path):
    hist = [{"epoch": i / 10, "grad_norm": float("nan") if i == 3 else 1.0 + i, "loss": 2.0 - i / 100,
             "learning_rate": 1e-4, "step": i} for i in range(1, 40)]
    hist[5]["loss"] = float("inf")
    hist[6]["grad_norm"] = float("-inf")
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    assert b"NaN" in p.read_bytes() and b"-Infinity" in p.read_bytes()
    for chunk in (64, 4096):
        cols = read_trainer_state(p, chunk=chunk)
        (g,) = cols.groups
        assert math.isnan(g.columns["grad_norm"][2])
        assert g.columns["loss"][5] == math.inf and g.columns["grad_norm"][6] == -math.inf
        assert g.columns["step"].tolist() == [float(i) for i in range(1, 40)]


def test_kinds_of_entries_are_grouped_in_order(tmp_path):
    hist = []
    for i in range(1, 31):
        hist.append({"epoch": i / 10, "loss": 1.0 / i, "step": i})
        if i % 10 == 0:
            hist.append({"epoch": i / 10, "eval_loss": 2.0 / i, "eval_runtime": 1.5, "step": i})
    hist.append({"epoch": 3.0, "step": 30, "train_loss": 0.5, "train_runtime": 12.0, "total_flos": 1e12})
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    cols = read_trainer_state(p, chunk=128)
    by_keys = {g.keys: g for g in cols.groups}
    ev = by_keys[("epoch", "eval_loss", "eval_runtime", "step")]
    assert ev.columns["step"].tolist() == [10.0, 20.0, 30.0]
    assert ev.order.tolist() == [10, 21, 32]
    assert len(by_keys[("epoch", "loss", "step")]) == 30
    assert cols.top["max_steps"] == 100 and "stateful_callbacks" in cols.top


def test_non_numbers_are_flagged_not_dropped(tmp_path):
    hist = [{"loss": "3.25", "step": 1, "note": "warmup"}, {"loss": 2.0, "step": 2, "note": None}]
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    cols = read_trainer_state(p)
    g = cols.groups[0]
    assert g.columns["loss"].tolist() == [3.25, 2.0]
    assert g.numeric["note"].tolist() == [False, False]


def test_nested_values_fall_back_to_the_whole_file(tmp_path):
    hist = [{"loss": 1.0, "step": 1, "extra": {"a": 1}}, {"loss": 0.5, "step": 2, "lst": [1, 2]}]
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    cols = read_trainer_state(p, chunk=32)
    assert not cols.streamed and cols.note
    loss = sorted((pos, float(g.columns["loss"][i])) for g in cols.groups for i, pos in enumerate(g.order.tolist()))
    assert loss == [(0, 1.0), (1, 0.5)]


@pytest.mark.parametrize("content", [
    b"", b"[]", b'{"log_history": 5}', b'{"log_history": [{"loss": 1, "step": 1},',
    b'{"log_history": [{"loss": 1, "step": 1}, {"loss": }]}', b"\x00\x01\x02", b'{"a": 1}',
])
def test_bad_files_raise_value_errors(tmp_path, content):
    p = tmp_path / "trainer_state.json"
    p.write_bytes(content)
    with pytest.raises(ValueError):  # StateFormatError or json's own
        read_trainer_state(p, chunk=16)


def peak_rss_mib(code: str, path: Path) -> float:
    import subprocess
    import sys

    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its (large) parent's peak
    out = subprocess.run([sys.executable, "-c", code + "\nprint([l for l in open('/proc/self/status') "
                          "if l.startswith('VmHWM')][0].split()[1])", str(path)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_memory_is_columns_not_dicts(tmp_path):
    n = 100_000
    hist = [{"epoch": i / 1000, "grad_norm": 1.5 + i, "learning_rate": 1e-5, "loss": 2.0, "step": i} for i in range(n)]
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    del hist
    base = "import sys, json, numpy\nfrom logcheck.plugins.stream_json import read_trainer_state\n"
    idle = peak_rss_mib(base, p)
    streamed = peak_rss_mib(base + "c = read_trainer_state(sys.argv[1], chunk=1 << 18); assert c.entries == %d" % n,
                            p) - idle
    loaded = peak_rss_mib(base + "d = json.load(open(sys.argv[1])); assert len(d['log_history']) == %d" % n, p) - idle
    # json.load holds 100k dicts; streamed: 5 columns x 0.8 MB plus one 256 KiB chunk of entries at a time
    assert streamed < 0.4 * loaded, (streamed, loaded)


def test_flags_are_not_numbers(tmp_path):
    hist = [{"loss": 1.0, "step": 1, "should_stop": False}, {"loss": 0.5, "step": 2, "should_stop": True}]
    p = tmp_path / "trainer_state.json"
    write_state(p, hist)
    (g,) = read_trainer_state(p).groups
    assert g.numeric["should_stop"].tolist() == [False, False]
    assert g.columns["loss"].tolist() == [1.0, 0.5]


def test_group_builder_grows_and_keeps_late_non_numeric_flags():
    from logcheck.plugins.stream_json import _GroupBuilder
    b = _GroupBuilder(("step", "loss"), expected=0)  # 1024 rows of room: must grow
    rows = 0
    for part in range(5):
        entries = [{"step": rows + i, "loss": (1.0 / (rows + i + 1) if (part, i) != (3, 695) else "n/a")} for i in range(700)]
        b.add(entries, np.arange(rows, rows + 700))
        rows += 700
    g = b.build()
    assert len(g) == 3500 and g.order.tolist() == list(range(3500))
    assert g.columns["step"].tolist() == [float(i) for i in range(3500)]
    bad = 3 * 700 + 695  # raw keeps the non-numbers among the last 10 entries of a batch
    assert g.numeric["loss"].sum() == 3499 and not g.numeric["loss"][bad]
    assert math.isnan(g.columns["loss"][bad]) and g.columns["loss"][bad + 1] == 1.0 / (bad + 2)
    assert g.raw["loss"] == ["n/a"] and "step" not in g.numeric
