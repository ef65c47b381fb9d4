"""``logcheck DIR``: every source of one run read as ONE run (merged by step, shared figures cross-checked);
a tree of several runs gives one run each. Real folders: an HF Trainer output dir with report_to="tensorboard",
a Lightning dir with TensorBoardLogger + CSVLogger, MLflow / DVCLive / W&B stores."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from logcheck import pipeline
from logcheck.cli import cli as cli_main
from logcheck.pluginmanager import BUILTIN_PLUGINS, make_plugin_manager
from logcheck.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODULES = ["logcheck.plugins.parse_tensorboard", "logcheck.plugins.parse_mlflow",
           "logcheck.plugins.parse_dvclive", "logcheck.plugins.parse_wandb"]
EXTRA = [m for m in MODULES if m not in BUILTIN_PLUGINS]  # until they are built-ins
STORES = hasattr(pipeline, "parse_directory")
needs_stores = pytest.mark.skipif(not STORES, reason="needs directory-store discovery in analyzer/pipeline.py "
                                                     "(parse_directory; see the issue 9 report)")


def load(path: Path):
    pm = make_plugin_manager(EXTRA, load_entrypoints=False)
    assert not pm.failures, pm.failures
    settings, pm = pipeline.prepare(Settings(), pm)
    runs, failures = pipeline.load_paths([str(path)], settings, pm)
    return runs, failures


def copy_fixture(name: str, dst: Path, skip=("logged.json",)) -> Path:
    src = FIXTURES / name
    if not src.is_dir():
        pytest.skip(f"fixture {name} missing (tests/fixtures/gen_sources.py {name})")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip))
    return dst


def cli_json(path: Path) -> dict:
    args = [a for m in EXTRA for a in ("-p", m)] + ["--format", "json", str(path)]
    res = CliRunner().invoke(cli_main, args)
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.output)


# ---------------------------------------------------------------------------
# Hugging Face output dir: console + trainer_state.json + runs/<date>/events
# ---------------------------------------------------------------------------


def test_hf_output_dir_is_one_run(tmp_path):
    d = copy_fixture("tb_hf", tmp_path / "out")
    runs, failures = load(d)
    assert not failures
    assert len(runs) == 1
    run = runs[0]
    parsers = sorted(s.parser for s in run.sources)
    assert "tensorboard" in parsers and "hf_state" in parsers and "hf_console" in parsers
    state = json.loads((d / "trainer_state.json").read_text())
    train = [e for e in state["log_history"] if "loss" in e]
    assert run.series["train/loss"].step.tolist() == [float(e["step"]) for e in train]
    assert run.series["train/loss"].value.tolist() == [e["loss"] for e in train]  # the state file wins
    assert not run.conflicts  # float32 in the events file, 4 digits in the console: all agree
    doc = cli_json(d)
    assert doc["runs"][0]["path"] == str(d)
    assert len(doc["runs"]) == 1


def test_console_and_state_that_disagree_give_a_finding_naming_both_values(tmp_path):
    d = copy_fixture("tb_hf", tmp_path / "out")
    # The test alters the real trainer_state.json: the train loss at the second logging step is changed,
    # so the console (and the events file) say one thing and the state file another.
    state = json.loads((d / "trainer_state.json").read_text())
    entry = [e for e in state["log_history"] if "loss" in e][1]
    real, fake = entry["loss"], round(entry["loss"] + 1.25, 4)
    entry["loss"] = fake
    (d / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    runs, _ = load(d)
    (run,) = runs
    hits = [c for c in run.conflicts if c.what == f"train/loss at step {entry['step']}"]
    assert hits and any(v == pytest.approx(real, rel=1e-3) for c in hits for v in c.values.values())
    assert any(v == fake for c in hits for v in c.values.values())
    doc = cli_json(d)
    findings = [f for r in doc["runs"] for f in r["findings"]
                if "disagree" in f["message"] and f"step {entry['step']}" in f["message"]]
    assert findings, "the conflict must surface as a finding"
    msg = findings[0]["message"]
    assert f"{fake:g}"[:5] in msg and f"{real:g}"[:4] in msg


# ---------------------------------------------------------------------------
# Lightning: console + TensorBoardLogger (version_0) + CSVLogger (version_1) of the same fit
# ---------------------------------------------------------------------------


@needs_stores
def test_lightning_dir_is_one_run(tmp_path):
    d = copy_fixture("tb_lightning", tmp_path / "lit")
    runs, failures = load(d)
    assert not failures
    assert len(runs) == 1, [r.path for r in runs]
    run = runs[0]
    assert {"tensorboard", "lightning_csv", "lightning_console"} <= {s.parser for s in run.sources}
    assert not [c for c in run.conflicts if "loss" in c.what]  # the two loggers agree after the step shift


def test_lightning_events_and_csv_agree_when_merged():
    ev = sorted((FIXTURES / "tb_lightning").rglob("events.out.tfevents.*"))
    csv = sorted((FIXTURES / "tb_lightning").rglob("metrics.csv"))
    if not ev or not csv:
        pytest.skip("tb_lightning fixture missing")
    pm = make_plugin_manager(EXTRA, load_entrypoints=False)
    settings, pm = pipeline.prepare(Settings(), pm)
    a = pipeline.parse_file(ev[0], settings, pm)[0]
    b = pipeline.parse_file(csv[0], settings, pm)[0]
    merged = pipeline.merge_runs([a, b])
    assert merged.series["train/loss"].step.tolist() == a.series["train/loss"].step.tolist()
    assert not merged.conflicts  # same steps after the +1 shift, same values (float32 vs CSV repr)


# ---------------------------------------------------------------------------
# Stores that are folders, and trees of several runs
# ---------------------------------------------------------------------------


@needs_stores
def test_mlruns_tree_gives_one_run_per_mlflow_run(tmp_path):
    d = copy_fixture("mlruns_files", tmp_path / "proj")
    runs, failures = load(d)
    assert not failures
    assert sorted(r.name.rsplit("/", 1)[-1] for r in runs) == ["lr0.01", "lr0.1"]


@needs_stores
def test_mlflow_db_runs_stay_separate(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    src = FIXTURES / "mlflow_db" / "mlflow.db.gz"
    if not src.is_file():
        pytest.skip("mlflow_db fixture missing")
    with gzip.open(src) as s, open(d / "mlflow.db", "wb") as t:
        shutil.copyfileobj(s, t)
    runs, failures = load(d)
    assert not failures and len(runs) == 2


@needs_stores
def test_dvclive_and_wandb_folders(tmp_path):
    d = copy_fixture("dvclive", tmp_path / "dv")
    runs, failures = load(d)
    assert not failures and len(runs) == 1 and runs[0].series["train/loss"].source.endswith("loss.tsv")
    w = copy_fixture("wandb_offline", tmp_path / "wb", skip=("logged.json", "run.log", "trainer_state.json"))
    runs, failures = load(w)
    assert not failures and len(runs) == 1
    assert any(".wandb" in n for n in runs[0].notes)


def test_tree_of_several_runs_gives_one_run_each(tmp_path):
    copy_fixture("tb_hf", tmp_path / "tree" / "a")
    copy_fixture("hf_tiny", tmp_path / "tree" / "b")
    runs, failures = load(tmp_path / "tree")
    assert not failures
    assert sorted(Path(r.path).name for r in runs) == ["a", "b"]
    a = next(r for r in runs if Path(r.path).name == "a")
    assert "tensorboard" in {s.parser for s in a.sources}


@needs_stores
def test_loop_console_and_its_jsonl_metrics_are_one_run(tmp_path):
    d = copy_fixture("jsonl_loop", tmp_path / "loop")
    runs, failures = load(d)
    assert not failures and len(runs) == 1
    run = runs[0]
    assert {s.parser for s in run.sources} >= {"jsonl"}
    lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert run.series["train/loss"].value.tolist() == [x["train/loss"] for x in lines]
    assert not run.conflicts  # the console prints the same losses to 4 decimals
