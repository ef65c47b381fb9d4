"""The core: line reading, tolerant numbers, dict lines, the plugin manager's isolation."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

from logcheck import CheckResult, Finding, Param, Rule, RunBuilder, Severity, Status, hookimpl
from logcheck.parsing import clean, iter_lines, last_frame, parse_number, parse_pydict, split_rank
from logcheck.pipeline import analyze_paths, merge_runs, prepare
from logcheck.pluginmanager import make_plugin_manager
from logcheck.settings import Settings


def test_iter_lines_splits_on_newline_only_and_strips_crlf(tmp_path):
    p = tmp_path / "a.log"
    p.write_bytes(b"a\r\nb\rc\nlast-without-newline")
    assert list(iter_lines(p)) == [(1, b"a"), (2, b"b\rc"), (3, b"last-without-newline")]


def test_iter_lines_gives_long_lines_in_pieces_with_one_number(tmp_path):
    p = tmp_path / "long.log"
    p.write_bytes(b"x" * 2500 + b"\nnext\n")
    out = list(iter_lines(p, max_line=1000))
    assert [n for n, _ in out] == [1, 1, 1, 2]
    assert sum(len(b) for n, b in out if n == 1) == 2500
    assert out[-1] == (2, b"next")


@pytest.mark.parametrize("text,value", [
    ("3.412", 3.412), ("'3.412'", 3.412), ("nan", math.nan), ("NaN", math.nan), ("inf", math.inf),
    ("-Infinity", -math.inf), ("1.0E+00", 1.0), ("tensor(2.5)", 2.5), ("12.5%", 12.5), (7, 7.0),
])
def test_parse_number_accepts_logged_spellings(text, value):
    got = parse_number(text)
    assert got is not None
    assert (math.isnan(got) and math.isnan(value)) or got == value


@pytest.mark.parametrize("text", ["abc", "", "__import__('os')", None, "1.2.3"])
def test_parse_number_refuses_non_numbers(text):
    assert parse_number(text) is None


def test_parse_pydict_reads_float_string_and_nonfinite_values():
    assert parse_pydict("{'loss': 4.2445, 'grad_norm': 1.5, 'learning_rate': 4.9e-05, 'epoch': 0.08}") == {
        "loss": 4.2445, "grad_norm": 1.5, "learning_rate": 4.9e-05, "epoch": 0.08}
    d = parse_pydict("{'loss': '3.412', 'grad_norm': nan, 'learning_rate': inf, 'epoch': '0.5'}")
    assert d["loss"] == "3.412" and math.isnan(d["grad_norm"]) and d["learning_rate"] == math.inf
    assert parse_pydict("not a dict") is None
    assert parse_pydict("{'a': __import__('os').system('x')}") in (None, {"a": "__import__('os').system('x')"})


def test_clean_and_rank_and_frames():
    assert clean(b"\x1b[32mloss\x1b[0m 1.0\xff") == "loss 1.0\ufffd"
    assert split_rank("[rank1]: iter 5: loss 2.0") == (1, "iter 5: loss 2.0")
    assert split_rank("[default0]:step 3") == (0, "step 3")
    assert split_rank("plain") == (None, "plain")
    assert last_frame(" 10%|#  | 1/10\r 20%|## | 2/10\r   ") == " 20%|## | 2/10"


# -- plugin isolation ---------------------------------------------------------

def _plugin_module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def _run_with_loss(tmp_path):
    b = RunBuilder(str(tmp_path / "x.log"), "raw")
    for i in range(1, 11):
        b.add("train", "loss", i * 10.0, 3.0 - i * 0.1, line=i)
    return b.build()


def test_a_crashing_check_is_reported_and_other_checks_still_run(tmp_path):
    rule = Rule(code="TST001", name="always", check="always", severity=Severity.error, summary="s", doc="d",
                params={"x": Param(default=1, doc="x")})

    @hookimpl
    def register_rules(register):
        register(rule)

    @hookimpl
    def good_check(run, settings):
        return CheckResult(check="always", status=Status.fail, reason="r",
                           findings=[Finding(code="TST001", message=f"x={settings.param('TST001', 'x')}")])

    @hookimpl
    def bad_check(run):
        raise RuntimeError("boom")

    good = _plugin_module("good", logcheck_register_rules=register_rules, logcheck_check=good_check)
    bad = _plugin_module("bad", logcheck_check=bad_check)
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(good, "good")
    pm.register(bad, "bad")
    pm.rules.clear(); pm.parsers.clear(); pm.formats.clear()
    pm.collect()
    settings, pm = prepare(Settings(), pm)
    from logcheck.pipeline import check_run

    rr = check_run(_run_with_loss(tmp_path), settings, pm)
    res = rr.result("always")
    assert res is not None and res.status == Status.fail
    assert res.findings[0].message == "x=1" and res.findings[0].severity == Severity.error
    assert any(f.plugin == "bad" and "boom" in f.error for f in pm.failures)


def test_duplicate_rule_code_and_unknown_hook_are_reported_not_raised():
    rule = Rule(code="DUP001", name="d", check="c", severity=Severity.info, summary="s", doc="d")

    @hookimpl
    def reg(register):
        register(rule)

    @hookimpl
    def logcheck_chekc(run):  # misspelled hook
        return None

    a = _plugin_module("a", logcheck_register_rules=reg)
    b = _plugin_module("b", logcheck_register_rules=reg)
    c = _plugin_module("c", logcheck_chekc=logcheck_chekc)
    pm = make_plugin_manager(load_entrypoints=False)
    for name, mod in (("a", a), ("b", b), ("c", c)):
        pm.register(mod, name)
    pm.rules.clear(); pm.parsers.clear(); pm.formats.clear(); pm.failures.clear()
    pm.collect()
    msgs = [f"{f.plugin}: {f.error}" for f in pm.failures]
    assert any("DUP001 is already registered" in m for m in msgs), msgs
    assert any(m.startswith("c:") and "logcheck_chekc" in m for m in msgs), msgs
    assert "DUP001" in pm.rules


def test_minus_p_no_blocks_a_builtin():
    pm = make_plugin_manager(["no:format_json"], load_entrypoints=False)
    assert "json" not in pm.formats and "text" in pm.formats


def test_minus_p_unknown_module_is_one_failure():
    pm = make_plugin_manager(["no_such_module_xyz"], load_entrypoints=False)
    assert [f.plugin for f in pm.failures] == ["no_such_module_xyz"]


# -- merging ----------------------------------------------------------------------

def _run(parser: str, points: dict[float, float], path: str):
    from logcheck import Source

    b = RunBuilder(path, "hf")
    b.sources.append(Source(path=path, parser=parser, format="hf"))
    for s, v in points.items():
        b.add("eval", "loss", s, v)
    return b.build()


def test_merge_cross_checks_shared_points_and_unions_the_rest():
    state = _run("hf_state", {100: 3.884, 200: 3.765}, "trainer_state.json")
    console = _run("hf_console", {100: 3.8841, 200: 3.9, 300: 3.721}, "run.log")
    merged = merge_runs([console, state])
    ev = merged.eval_loss
    assert list(ev.step) == [100, 200, 300]
    assert list(ev.value) == [3.884, 3.765, 3.721]  # the state file wins on shared steps
    assert len(merged.conflicts) == 1
    c = merged.conflicts[0]
    assert "step 200" in c.what and set(c.values.values()) == {3.765, 3.9}


def test_empty_binary_missing_inputs_give_exit_codes(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "model.bin.log"
    binary.write_bytes(bytes(range(256)) * 40)
    r = analyze_paths([str(empty)])
    assert r.exit_code == 3 and "empty" in r.input_failures[0].error
    r = analyze_paths([str(binary)])
    assert r.exit_code == 2 and "binary" in r.input_failures[0].error
    r = analyze_paths([str(tmp_path / "nope.log")])
    assert r.exit_code == 2 and "no such file" in r.input_failures[0].error


def test_set_columns_shares_one_step_epoch_line_column_between_series():
    from array import array

    b = RunBuilder("x.log", "raw")
    b.add("eval", "loss", 10, 2.0)
    b.reserve("train", "loss")  # its place in the order now, its columns later
    step, epoch = array("d", [1, 2, 3]), array("d", [0.1, 0.2, 0.3])
    line = np.array([5, 6, 7], dtype=np.uint32)
    b.set_columns("train", "loss", step, array("d", [3.0, 2.5, math.nan]), epoch, line)
    b.set_columns("train", "lr", step, array("d", [1e-4, 2e-4, 3e-4]), epoch, line, key="learning_rate")
    run = b.build()
    assert list(run.series) == ["eval/loss", "train/loss", "train/lr"]
    loss, lr = run.series["train/loss"], run.series["train/lr"]
    assert np.shares_memory(loss.step, lr.step) and np.shares_memory(loss.line, lr.line)
    assert loss.at_index(1) == {"step": 2, "value": 2.5, "epoch": 0.2, "line": 6}
    assert math.isnan(loss.value[2]) and lr.key == "learning_rate"
    assert not loss.step.flags.writeable and not loss.line.flags.writeable
    assert run.model_dump()["series"]["train/lr"]["line"] == [5, 6, 7]
    with pytest.raises(ValueError, match="differ in length"):
        b.set_columns("train", "bad", step, array("d", [1.0]), epoch, line)


@pytest.mark.parametrize("send", [False, True])
@pytest.mark.parametrize("size", [3, 7, 64, 1 << 20])
def test_iter_line_blocks_gives_the_lines_and_numbers_of_iter_lines(tmp_path, size, send):
    import io

    from logcheck.parsing import LineBlocks, iter_line_blocks, iter_lines_of

    max_line = 16
    data = (b"a\r\n\nbc\r\n" + b"x" * 40 + b"\r\n" + b"y" * 16 + b"\n" + b"z" * 14 + b"\r\n" + b"\r\r\n"
            + b"w" * 37)  # CRLF, empty lines, lines longer than max_line, no final newline
    expected = [(n, raw) for n, raw in iter_lines_of(io.BytesIO(data), max_line) if raw]
    got = []
    # with send (LineBlocks): the consumer tells the generator how many lines each block held
    blocks = LineBlocks(io.BytesIO(data), size, max_line) if send else iter_line_blocks(io.BytesIO(data), size, max_line)
    for n, chunk, whole in blocks:
        if not whole:
            got.append((n, chunk))
            continue
        lines = chunk.split(b"\n")
        assert lines.pop() == b""  # whole lines only: a block never splits one
        if send:
            blocks.counted = len(lines)
        for k, raw in enumerate(lines, n + 1):
            raw = raw[:-1] if raw[-1:] == b"\r" else raw
            if raw:
                got.append((k, raw))
    assert got == expected


# ---------------------------------------------------------------------------
# A run keeps at most MAX_SERIES distinct series
# ---------------------------------------------------------------------------


def test_builder_keeps_the_first_max_series_and_counts_the_rest(monkeypatch):
    from logcheck import records

    monkeypatch.setattr(records, "MAX_SERIES", 5)
    b = RunBuilder("x.log", "raw")
    for i in range(8):
        b.add("train", f"m{i}", 1, float(i))
        b.add("train", f"m{i}", 2, float(i))  # a second point of a dropped series is dropped too
    b.reserve("eval", "loss")
    b.set_columns("eval", "acc", [1.0], [0.5])
    run = b.build()
    assert list(run.series) == [f"train/m{i}" for i in range(5)]
    assert all(len(s) == 2 for s in run.series.values())
    assert any("5 more metrics were not kept" in n and "first 5 distinct series" in n for n in run.notes)


@pytest.mark.parametrize("kind", ["jsonl", "kv", "hf", "csv", "state"])
def test_parsers_stay_within_max_series_on_a_log_that_names_a_metric_a_line(tmp_path, monkeypatch, kind):
    # crafted inputs (not library output): every line or column names a metric of its own
    import json as _json

    from logcheck import records
    from logcheck.pipeline import analyze_paths

    monkeypatch.setattr(records, "MAX_SERIES", 20)
    n = 60
    if kind == "jsonl":
        f = tmp_path / "metrics.jsonl"
        f.write_text("".join(_json.dumps({"step": i, "loss": 2 - i / n, f"m{i}": 1.0}) + "\n" for i in range(n)))
    elif kind == "kv":
        f = tmp_path / "train.log"
        f.write_text("".join(f"step={i} loss={2 - i / n:.4f} m{i}=1.0\n" for i in range(n)))
    elif kind == "hf":
        f = tmp_path / "run.log"
        f.write_text("".join(f"{{'loss': {2 - i / n:.4f}, 'm{i}': 1.0, 'epoch': {i / n:.4f}}}\n" for i in range(n)))
    elif kind == "state":
        f = tmp_path / "trainer_state.json"
        f.write_text(_json.dumps({"global_step": n, "log_history": [
            {"step": i + 1, "loss": 2 - i / n, f"m{i}": 1.0, "epoch": i / n} for i in range(n)]}))
    else:
        f = tmp_path / "metrics.csv"
        f.write_text("epoch,step," + ",".join(f"m{i}" for i in range(n)) + ",train_loss\n"
                     + "".join(f"0,{i}," + ",".join("1.0" for _ in range(n)) + f",{2 - i / n:.4f}\n" for i in range(5)))
    report = analyze_paths([str(f)])
    assert not report.plugin_failures and not report.input_failures and len(report.runs) == 1
    run = report.runs[0].run
    assert len(run.series) <= 20
    assert any("more metrics were not kept" in note for note in run.notes), run.notes
    if kind != "csv":
        assert len(run.series["train/loss"]) == n  # the first series logged is kept whole
