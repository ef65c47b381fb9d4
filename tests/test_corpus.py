"""Every real log in ../shared/corpus parses without an error and yields the metrics it visibly holds.

Per-file figures are asserted in the parser tests; this test is the safety net over the
whole corpus: no plugin failure, no unreadable-input exit code, and a loss curve wherever
the file has one. Skipped when ../shared is absent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from logcheck.pipeline import analyze_paths

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md") if CORPUS.is_dir() else []

# Files that visibly hold no per-step loss curve (SOURCES.md says so).
NO_CURVE = {
    "empty_log_history_trainer_state.json",  # log_history: []
    "peft_two_adapters_summary_only.out",  # only train_runtime summaries
    "phi2_qlora_sparse_final_only.log",  # only "Final training loss"
    "grpo_single_entry_trainer_state.json",  # one entry
    "whisper_large_v2_ja_all_results.json",  # final figures only
    "megatron_ds_2node_oom_rank_prefixed.log",  # out of memory before the first iteration
}


@pytest.mark.corpus
@pytest.mark.skipif(not FILES, reason="../shared/corpus is not present")
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_file_parses_and_yields_its_curve(path: Path):
    report = analyze_paths([str(path)])
    assert not report.plugin_failures, [f.model_dump() for f in report.plugin_failures]
    assert report.exit_code in (0, 1, 3), [f.error for f in report.input_failures]
    if path.name in NO_CURVE:
        return
    assert report.runs, f"no run read from {path.name}"
    longest = max(
        (len(s) for rr in report.runs for k, s in rr.run.series.items() if s.name == "loss" or s.name.endswith("loss")),
        default=0,
    )
    assert longest >= 3, f"{path.name}: no loss curve found; series: {[list(rr.run.series) for rr in report.runs]}"
    assert all(rr.run.format for rr in report.runs)
