"""DVCLive's dvclive/ folder, written by dvclive.Live.log_metric."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from logcheck import ParseContext, ParseError
from logcheck.plugins.parse_dvclive import DVCLiveParser

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dvclive"
LIVE = FIXTURES / "dvclive"
P = DVCLiveParser()


def needs_fixture():
    if not LIVE.is_dir():
        pytest.skip("dvclive fixture missing (tests/fixtures/gen_sources.py dvclive)")


def test_series_are_what_log_metric_got():
    needs_fixture()
    logged = json.loads((FIXTURES / "logged.json").read_text())
    run = P.parse(LIVE, ParseContext())
    for key, series in (("train/loss", "train/loss"), ("eval/loss", "eval/loss"), ("lr", "train/learning_rate")):
        s = run.series[series]
        assert s.step.tolist() == [float(st) for st, _ in logged[key]]
        assert s.value.tolist() == pytest.approx([v for _, v in logged[key]], rel=1e-15)
    assert run.config.num_train_epochs == 10.0  # log_param("epochs", 10)
    assert run.summary.global_step == logged["train/loss"][-1][0]
    assert run.summary.extra["dvclive/train/loss"] == logged["train/loss"][-1][1]
    assert not run.conflicts


def test_sniff_claims_the_dvclive_folder_only():
    needs_fixture()
    assert P.sniff(LIVE, b"") > 0.9
    assert P.sniff(LIVE / "plots", b"") == 0.0
    assert P.sniff(FIXTURES.parent / "tb_hf", b"") == 0.0


def test_metrics_json_disagreeing_with_the_tsv_is_a_conflict(tmp_path):
    needs_fixture()
    dst = tmp_path / "dvclive"
    shutil.copytree(LIVE, dst)
    # the test alters the real metrics.json so that its final train loss differs from the TSV's last row
    doc = json.loads((dst / "metrics.json").read_text())
    real = doc["train"]["loss"]
    doc["train"]["loss"] = real + 0.5
    (dst / "metrics.json").write_text(json.dumps(doc))
    run = P.parse(dst, ParseContext())
    (c,) = run.conflicts
    assert c.what.startswith("train/loss")
    assert sorted(c.values.values()) == [real, real + 0.5]


def test_empty_or_broken_folders(tmp_path):
    (tmp_path / "dvclive" / "plots" / "metrics").mkdir(parents=True)
    with pytest.raises(ParseError):
        P.parse(tmp_path / "dvclive", ParseContext())
    (tmp_path / "dvclive" / "plots" / "metrics" / "loss.tsv").write_bytes(b"no step column\n1\n")
    with pytest.raises(ParseError):
        P.parse(tmp_path / "dvclive", ParseContext())
