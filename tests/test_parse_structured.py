"""The jsonl parser on the ms-swift logging.jsonl of the corpus, on W&B-style history and on bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import Ending, ParseContext, ParseError, Run, StepOrigin
from logcheck.plugins.parse_structured import JsonlParser, split_name

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SWIFT = CORPUS / "raw_other" / "ms_swift_gemma4_logging.jsonl"
P = JsonlParser()


def parse(path: Path) -> Run:
    r = P.parse(path, ParseContext())
    assert isinstance(r, Run)
    return r


@pytest.mark.skipif(not SWIFT.is_file(), reason="/work/shared corpus not present")
def test_ms_swift_logging_jsonl():
    head = SWIFT.read_bytes()[: 256 * 1024]
    assert P.sniff(SWIFT, head) >= 0.8
    r = parse(SWIFT)
    loss = r.series["train/loss"]
    # first line: {"loss": 1.92089844, ..., "global_step/max_steps": "1/2353", ...}
    assert len(loss) == 2353 and loss.step[0] == 1 and loss.value[0] == 1.92089844
    assert loss.step[-1] == 2353 and loss.step_origin is StepOrigin.logged
    assert r.series["train/grad_norm"].value[0] == 32.75
    assert r.series["train/learning_rate"].value[0] == 4e-08
    assert r.series["train/memory_gib"].value[0] == 64.91
    assert r.series["train/tokens_per_gpu_per_sec"].value[0] == 83.4
    assert loss.epoch[0] == 0.00021254
    # the last line is a trainer-state dict: its log_history is not read again, its summary is
    assert any("log_history" in n and "skipped" in n for n in r.notes)
    assert r.summary.train_runtime_s == 4426.386 and r.summary.mean_train_loss == pytest.approx(1.2057661956)
    assert r.ending is Ending.completed


def test_wandb_history_and_string_numbers(tmp_path):
    p = tmp_path / "wandb-history.jsonl"
    rows = [{"_step": 0, "_runtime": 1.5, "_timestamp": 1.7e9, "train/loss": "2.5", "eval/loss": None},
            {"_step": 1, "_runtime": 3.0, "train/loss": "NaN", "lr": 1e-4},
            {"_step": 2, "_runtime": 4.5, "train/loss": 1.25, "eval/loss": 1.5, "eval/accuracy": "Infinity"}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert P.sniff(p, p.read_bytes()) >= 0.8
    r = parse(p)
    v = r.series["train/loss"].value.tolist()
    assert v[0] == 2.5 and math.isnan(v[1]) and v[2] == 1.25
    assert r.series["eval/loss"].step.tolist() == [2.0] and r.series["eval/loss"].value.tolist() == [1.5]
    assert r.series["eval/accuracy"].value[0] == math.inf
    assert r.series["train/learning_rate"].step.tolist() == [1.0]
    assert r.series["train/runtime_s"].value.tolist() == [1.5, 3.0, 4.5]
    assert "train/timestamp" not in r.series
    assert r.ending is Ending.unknown


def test_bare_nan_epoch_only_and_restart(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"epoch": 1, "loss": NaN, "val_loss": 2.0}\n{"epoch": 2, "loss": 1.5, "val_loss": Infinity}\n'
                 '{"epoch": 1, "loss": 1.9}\n')
    r = parse(p)
    assert math.isnan(r.series["train/loss"].value[0])
    assert r.series["eval/loss"].value.tolist() == [2.0, math.inf]
    assert r.series["train/loss"].step.tolist() == [1.0, 2.0, 1.0]
    assert any("epoch is used as the step" in n for n in r.notes)
    assert any("went back from 2 to 1" in n for n in r.notes)


def test_log_history_used_when_nothing_before(tmp_path):
    p = tmp_path / "state.jsonl"
    state = {"global_step": 20, "max_steps": 20, "log_history": [
        {"loss": 2.0, "step": 10, "epoch": 0.5}, {"eval_loss": 1.9, "step": 10, "epoch": 0.5},
        {"loss": 1.5, "step": 20, "epoch": 1.0},
        {"train_runtime": 12.5, "train_loss": 1.75, "step": 20, "epoch": 1.0}]}
    p.write_text(json.dumps({"step": 0, "note": "start"}) + "\n" + json.dumps(state) + "\n")
    r = parse(p)
    assert r.series["train/loss"].value.tolist() == [2.0, 1.5]
    assert r.series["eval/loss"].step.tolist() == [10.0]
    assert r.summary.mean_train_loss == 1.75 and r.config.max_steps == 20
    assert r.ending is Ending.completed


def test_declared_total_not_reached_is_interrupted(tmp_path):
    p = tmp_path / "logging.jsonl"
    p.write_text("".join(json.dumps({"loss": 2.0 - i / 10, "global_step/max_steps": f"{i}/100"}) + "\n"
                         for i in range(1, 6)))
    r = parse(p)
    assert r.series["train/loss"].step.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert r.ending is Ending.interrupted and "100" in r.ending_reason


@pytest.mark.parametrize("key,expected", [
    ("loss", ("train", "loss")), ("eval_loss", ("eval", "loss")), ("val/acc", ("eval", "accuracy")),
    ("train/loss", ("train", "loss")), ("test_f1", ("test", "f1")), ("lr", ("train", "learning_rate")),
    ("memory(GiB)", ("train", "memory_gib")), ("train_speed(s/it)", ("train", "speed_s_per_it")),
])
def test_split_name(key, expected):
    assert split_name(key) == expected


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data,sniff_zero", [
    (b"", True), (bytes(range(256)) * 8, True), (b"\x00\x00{\"step\": 1}\n", True),
    (b'{"step": 1, "loss": 2.0}\n\xff\xfe{"step": 2, "loss": \xc3}\n{"step": 3, "loss": 1.0}\n', False),
    (b'{"step": 1, "loss": 1e308}\r\n{"step": 2, "loss": 1e-308}\r\n{"step": 3, "loss": -Infinity}\r\n', False),
    (b'{"step": 1, "loss": ' + b"1" * (5 * 1024 * 1024) + b"}\n", False),
    (b"not json at all\njust text 1 2 3\n", True),
    (b'[1, 2, 3]\n{"step": 1, "loss": 2}\n', True),
    (b'{"step": 1, "loss": {"nested": [1, 2]}, "x": [1]}\n' + b"{" * 100000 + b"\n", False),
])
def test_bad_input(tmp_path, data, sniff_zero):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(data)
    score = P.sniff(p, data[: 256 * 1024])
    assert 0.0 <= score <= 1.0
    if sniff_zero:
        assert score == 0.0
    try:
        r = P.parse(p, ParseContext())
    except ParseError:
        return
    assert isinstance(r, Run)


def test_extremes_and_crlf_kept(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"step": 1, "loss": 1e308}\r\n{"step": 2, "loss": 1e-308}\r\n{"step": 3, "loss": -Infinity}\r\n')
    r = parse(p)
    assert r.series["train/loss"].value.tolist() == [1e308, 1e-308, -math.inf]


def test_not_jsonl_is_parse_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text("hello\nworld 1 2\n")
    with pytest.raises(ParseError):
        P.parse(p, ParseContext())


# ---------------------------------------------------------------------------
# Property: rows written with json.dumps come back
# ---------------------------------------------------------------------------

@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
       st.sampled_from(["step", "global_step", "iter", "_step", "iteration"]), st.booleans())
def test_property_roundtrip(tmp_path, values, step_key, as_string):
    p = tmp_path / "h.jsonl"
    lines = [json.dumps({step_key: i * 5, "loss": (repr(v) if as_string else v), "name": "x"}) for i, v in enumerate(values)]
    p.write_text("\n".join(lines) + "\n")
    r = parse(p)
    s = r.series["train/loss"]
    assert s.step.tolist() == [i * 5.0 for i in range(len(values))]
    for got, v in zip(s.value.tolist(), values):
        assert (math.isnan(got) and math.isnan(v)) or got == v
    assert "train/name" not in r.series
