"""A W&B run folder written by wandb 0.31 in offline mode (Hugging Face Trainer, report_to="wandb")."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from logcheck import ParseContext, ParseError
from logcheck.pipeline import parse_file, prepare
from logcheck.pluginmanager import make_plugin_manager
from logcheck.plugins.parse_wandb import WandbRunParser, is_wandb_run_dir
from logcheck.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "wandb_offline"
P = WandbRunParser()


def run_dir() -> Path:
    found = sorted((FIXTURES / "wandb").glob("offline-run-*")) if FIXTURES.is_dir() else []
    if not found:
        pytest.skip("wandb_offline fixture missing (tests/fixtures/gen_sources.py wandb_offline)")
    return found[0]


def core_context() -> ParseContext:
    pm = make_plugin_manager(["logcheck.plugins.parse_wandb"], load_entrypoints=False)
    settings, pm = prepare(Settings(), pm)
    return ParseContext(settings=settings, parse_file=lambda p: parse_file(Path(p), settings, pm))


def test_console_copy_is_read_by_the_hf_parser():
    d = run_dir()
    assert P.sniff(d, b"") > 0.9 and is_wandb_run_dir(d)
    out = P.parse(d, core_context())
    run = out[-1] if isinstance(out, list) else out
    assert run.path == str(d)
    assert [s.parser for s in run.sources] == ["hf_console"]
    state = json.loads((FIXTURES / "trainer_state.json").read_text())
    train = [e for e in state["log_history"] if "loss" in e]
    loss = run.series["train/loss"]
    assert loss.step.tolist() == [float(e["step"]) for e in train]
    # the console prints 4 significant digits (transformers 5)
    assert loss.value.tolist() == pytest.approx([e["loss"] for e in train], rel=1e-3)
    evals = [e for e in state["log_history"] if "eval_loss" in e]
    assert run.series["eval/loss"].value.tolist() == pytest.approx([e["eval_loss"] for e in evals], rel=1e-3)
    # wandb 0.31 offline writes no wandb-summary.json; the binary history is not decoded, and says so
    assert not (d / "files" / "wandb-summary.json").exists()
    assert any(".wandb" in n and "not decoded" in n for n in run.notes)


def test_sniff_rejects_other_folders(tmp_path):
    d = run_dir()
    assert P.sniff(d / "files", b"") == 0.0
    assert P.sniff(FIXTURES.parent / "tb_hf", b"") == 0.0
    assert P.sniff(tmp_path, b"") == 0.0


def test_folder_without_console_or_summary(tmp_path):
    d = tmp_path / "offline-run-20260101_000000-abcd1234"
    (d / "files").mkdir(parents=True)
    with pytest.raises(ParseError):
        P.parse(d, core_context())
