"""Adversarial console logs built from the real fixtures: each case once gave a wrong parse.

The inputs are real fixture bytes (a Trainer run, a nanoGPT run, a build-nanogpt log.txt from the
corpus) with a few bytes changed in tmp_path; they stand for damaged or unusual logs. Each test
compares against what the same parser reads from the unchanged bytes, or what its general line
handler reads (the fast paths must give the same run).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from logcheck import ParseContext, ParseError
from logcheck.plugins import parse_hf, parse_raw
from logcheck.plugins.parse_hf import HFConsoleParser
from logcheck.plugins.parse_raw import NanoGPTParser

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _runs(parser, path: Path):
    try:
        res = parser.parse(path, ParseContext())
    except ParseError as e:
        return f"ParseError: {e}"
    return res if isinstance(res, list) else [res]


def _dump(runs) -> str:
    return runs if isinstance(runs, str) else "\n".join(r.model_dump_json() for r in runs)


def _hf_fast_and_slow(path: Path, monkeypatch) -> tuple[str, str]:
    fast = _dump(_runs(HFConsoleParser(), path))
    with monkeypatch.context() as m:
        m.setattr(parse_hf._ConsoleReader, "fast", False)
        slow = _dump(_runs(HFConsoleParser(), path))
    return fast, slow


def _raw_fast_and_slow(cls, path: Path) -> tuple[str, str]:
    fast = _dump(_runs(cls(), path))
    general = cls()
    general.fast_line = None
    general.fast_block = None
    return fast, _dump(_runs(general, path))


# ---------------------------------------------------------------------------
# Hugging Face: progress-bar counters that do not fit the int32 counter columns
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("counter", [b"2147483648", b"9999999999", b"99999999999999999999"])
def test_hf_huge_counter_in_one_frame_keeps_the_run(tmp_path, monkeypatch, counter):
    # one frame of the training bar (drawn, then redrawn by tqdm.write on the next line) reads
    # N/72 with N past 2**31: the fast path stored it in an int32 column -> ParseError for the file
    src = (FIXTURES / "hf_every_step" / "run.log").read_bytes()
    assert src.count(b"| 30/72 [") == 2  # the frame, and its redraw on the next dict line
    f = tmp_path / "run.log"
    f.write_bytes(src.replace(b"| 30/72 [", b"| " + counter + b"/72 ["))
    fast, slow = _hf_fast_and_slow(f, monkeypatch)
    assert not fast.startswith("ParseError"), fast
    assert fast == slow
    run = HFConsoleParser().parse(f, ParseContext())
    ref = HFConsoleParser().parse(FIXTURES / "hf_every_step" / "run.log", ParseContext())
    loss, ref_loss = run.series["train/loss"], ref.series["train/loss"]
    assert len(loss) == len(ref_loss) == 72
    assert np.array_equal(loss.value, ref_loss.value)
    assert bool(np.all(np.diff(loss.step) > 0))


@pytest.mark.parametrize("rate", [b".it/s", b"..s/it", b"1.2.3it/s"])
def test_hf_rate_that_is_no_number_keeps_the_run(tmp_path, monkeypatch, rate):
    # a frame whose rate is "." before the unit: _rate called float(".") and the ValueError lost
    # the whole file (ParseError) on every path
    src = (FIXTURES / "hf_every_step" / "run.log").read_bytes()
    k = src.index(b"| 30/72 [")
    end = src.index(b"]", k)
    comma = src.rindex(b", ", k, end)
    old = src[comma:end + 1]
    assert src.count(old) == 2  # the frame, and its redraw on the next dict line
    f = tmp_path / "run.log"
    f.write_bytes(src.replace(old, b", " + rate + b"]"))
    fast, slow = _hf_fast_and_slow(f, monkeypatch)
    assert not fast.startswith("ParseError"), fast
    assert fast == slow
    run = HFConsoleParser().parse(f, ParseContext())
    assert len(run.series["train/loss"]) == 72


def test_hf_bar_counters_past_int32_give_points_not_parse_error(tmp_path, monkeypatch):
    # every frame of the training bar counts from 3e9 (a bar that is not a Trainer's): its
    # counters cannot be used (they are kept as int32), but the logged dicts are still points
    src = (FIXTURES / "hf_every_step" / "run.log").read_bytes()
    f = tmp_path / "run.log"
    big = 3 * 10**9
    f.write_bytes(re.sub(rb"\| (\d+)/72 \[", lambda m: b"| %d/%d [" % (big + int(m.group(1)), big + 72), src))
    fast, slow = _hf_fast_and_slow(f, monkeypatch)
    assert not fast.startswith("ParseError"), fast
    assert fast == slow
    run = HFConsoleParser().parse(f, ParseContext())
    assert len(run.series["train/loss"]) == 72
    assert len(run.series["eval/loss"]) == 3


# ---------------------------------------------------------------------------
# nanoGPT: the bytes fast path must read what the text path reads
# ---------------------------------------------------------------------------


def _nanogpt_losses(path: Path) -> np.ndarray:
    return NanoGPTParser().parse(path, ParseContext()).series["train/loss"].value


@pytest.mark.parametrize("wrap", [(b"\x1b[32m", b"\x1b[0m"), (b"\x00", b"")])
def test_nanogpt_coloured_or_nul_loss_is_read_not_nan(tmp_path, wrap):
    # "iter N: loss \x1b[32m2.90\x1b[0m, ..." (a coloured print): the fast path took the codes
    # as part of the number and stored NaN for every loss; the text path strips them
    src_path = FIXTURES / "nanogpt_loop" / "run.log"
    src = src_path.read_bytes()
    pre, post = wrap
    coloured = re.sub(rb"(iter \d+: loss )([^,]+),", lambda m: m.group(1) + pre + m.group(2) + post + b",", src)
    assert coloured != src
    f = tmp_path / "run.log"
    f.write_bytes(coloured)
    want = _nanogpt_losses(src_path)
    got = _nanogpt_losses(f)
    assert len(want) > 10 and not np.isnan(want).any()
    assert np.array_equal(got, want)
    fast, slow = _raw_fast_and_slow(NanoGPTParser, f)
    assert fast == slow


def test_nanogpt_non_ascii_digit_in_a_loss_reads_as_the_text_path_does(tmp_path):
    # float() takes "٣" (Arabic-Indic three); the fast path decoded the bytes as ASCII -> NaN
    src = (FIXTURES / "nanogpt_loop" / "run.log").read_bytes()
    m = re.search(rb"iter 10: loss (\d)\.", src)
    assert m
    edited = src[:m.start(1)] + "٣".encode() + src[m.end(1):]
    f = tmp_path / "run.log"
    f.write_bytes(edited)
    fast, slow = _raw_fast_and_slow(NanoGPTParser, f)
    assert fast == slow
    loss = NanoGPTParser().parse(f, ParseContext()).series["train/loss"]
    v = float(loss.value[list(loss.step).index(10.0)])
    assert math.isfinite(v) and 3.0 <= v < 4.0


@pytest.mark.skipif(not (CORPUS / "raw_nanogpt" / "build_nanogpt_bigger_loglines.txt").is_file(),
                    reason="shared corpus not present")
def test_nanogpt_log_txt_lines_with_trailing_blanks_are_read_by_both_paths(tmp_path):
    # build-nanogpt's log.txt ("N train X") with a blank after the value: the fast path read the
    # train lines, the text path dropped them (and every val / hella line)
    src = (CORPUS / "raw_nanogpt" / "build_nanogpt_bigger_loglines.txt").read_bytes()
    lines = src.split(b"\n")[:3000]
    f = tmp_path / "log.txt"
    f.write_bytes(b"\n".join(ln + b" " if ln else ln for ln in lines) + b"\n")
    ref = tmp_path / "ref.txt"
    ref.write_bytes(b"\n".join(lines) + b"\n")
    fast, slow = _raw_fast_and_slow(NanoGPTParser, f)
    assert fast == slow
    got = NanoGPTParser().parse(f, ParseContext())
    want = NanoGPTParser().parse(ref, ParseContext())
    assert set(got.series) == set(want.series) and "eval/loss" in got.series
    for k, s in want.series.items():
        assert np.array_equal(got.series[k].step, s.step), k
        assert np.array_equal(got.series[k].value, s.value, equal_nan=True), k


def test_nanogpt_block_path_with_coloured_lines_matches_the_general_path(tmp_path, monkeypatch):
    # many coloured iter lines among plain ones, read in small blocks (the block reader's path)
    monkeypatch.setattr(parse_raw, "_BLOCK", 257)
    monkeypatch.setattr(parse_raw, "_FAST_BLOCK_MIN", 0)
    src = (FIXTURES / "nanogpt_loop" / "run.log").read_bytes()
    k = iter(range(10**6))
    edited = re.sub(rb"(iter \d+: loss )([^,]+),",
                    lambda m: m.group(1) + (b"\x1b[1m" + m.group(2) + b"\x1b[0m" if next(k) % 3 == 0
                                            else m.group(2)) + b",", src)
    f = tmp_path / "run.log"
    f.write_bytes(edited)
    fast, slow = _raw_fast_and_slow(NanoGPTParser, f)
    assert fast == slow
    assert not np.isnan(_nanogpt_losses(f)).any()


def test_ms_swift_step_counter_with_a_negative_total_sets_no_max_steps(tmp_path):
    # crafted ms-swift-style dicts ('global_step/max_steps': 'N/M') with a nonsensical total
    from logcheck import ParseContext
    from logcheck.plugins.parse_hf import HFConsoleParser

    f = tmp_path / "run.log"
    f.write_text("".join(f"{{'loss': {3 - i / 10:.2f}, 'epoch': {i / 10:.2f}, 'global_step/max_steps': '{i}/-5'}}\n"
                         for i in range(1, 9)), encoding="utf-8")
    run = HFConsoleParser().parse(f, ParseContext())
    assert run.series["train/loss"].step.tolist() == [float(i) for i in range(1, 9)]
    assert run.config.max_steps is None
