"""MLflow's SQLite store (mlflow.db) and legacy file store (mlruns/), written by mlflow.log_metric."""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from logcheck import Ending, ParseContext, ParseError
from logcheck.plugins import parse_mlflow as pm

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DB_GZ = FIXTURES / "mlflow_db" / "mlflow.db.gz"
MLRUNS = FIXTURES / "mlruns_files" / "mlruns"


@pytest.fixture
def mlflow_db(tmp_path) -> Path:
    if not DB_GZ.is_file():
        pytest.skip("mlflow_db fixture missing (tests/fixtures/gen_sources.py mlflow_db)")
    db = tmp_path / "mlflow.db"
    with gzip.open(DB_GZ) as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def logged(folder: str) -> dict:
    return json.loads((FIXTURES / folder / "logged.json").read_text())


def check_runs(runs, expected: dict) -> None:
    by_name = {r.name.rsplit("#", 1)[-1].rsplit("/", 1)[-1]: r for r in runs}
    assert len(runs) == len(expected["runs"]) == 2
    for want in expected["runs"]:
        run = by_name[want["name"]]
        assert run.series["train/loss"].step.tolist() == [float(s) for s, _ in want["train_loss"]]
        assert run.series["train/loss"].value.tolist() == [v for _, v in want["train_loss"]]
        assert run.series["eval/loss"].step.tolist() == [float(s) for s, _ in want["val_loss"]]
        assert run.series["eval/loss"].value.tolist() == pytest.approx([v for _, v in want["val_loss"]], rel=1e-12)
        assert run.series["train/final_acc"].value.tolist() == [want["final_acc"]]
        assert run.config.learning_rate == want["params"]["lr"]
        assert run.config.train_batch_size == want["params"]["batch_size"]
        assert run.config.extra["mlflow_run_id"] == want["run_id"]
        assert run.ending == Ending.completed


def test_sqlite_store_one_run_per_mlflow_run(mlflow_db):
    expected = logged("mlflow_db")
    assert expected["tracking_uri"].startswith("sqlite:")  # MLflow's default store since 3.7
    runs = pm.MLflowDBParser().parse(mlflow_db, ParseContext())
    check_runs(runs, expected)
    assert all(r.config.extra["mlflow_experiment"] == "tiny" for r in runs)


def test_sqlite_store_is_opened_read_only(mlflow_db):
    before = hashlib.sha256(mlflow_db.read_bytes()).hexdigest()
    con = pm.open_readonly(mlflow_db)
    with pytest.raises(sqlite3.OperationalError):
        con.execute("DELETE FROM metrics")
    con.close()
    pm.MLflowDBParser().parse(mlflow_db, ParseContext())
    assert hashlib.sha256(mlflow_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in mlflow_db.parent.iterdir()) == ["mlflow.db"]  # no journal or WAL left


def test_sqlite_sniff(mlflow_db, tmp_path):
    p = pm.MLflowDBParser()
    assert p.sniff(mlflow_db, mlflow_db.read_bytes()[:262144]) == 1.0
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert p.sniff(other, other.read_bytes()[:262144]) == 0.0
    with pytest.raises(ParseError):
        p.parse(other, ParseContext())
    junk = tmp_path / "mlflow.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(ParseError):
        p.parse(junk, ParseContext())


def test_file_store_reads_the_same_numbers():
    if not MLRUNS.is_dir():
        pytest.skip("mlruns_files fixture missing")
    p = pm.MLflowFilesParser()
    assert p.sniff(MLRUNS, b"") > 0.9
    exp = next(d for d in MLRUNS.iterdir() if d.name != "0")
    assert p.sniff(exp, b"") > 0.8
    one = next(d for d in exp.iterdir() if d.is_dir())
    assert p.sniff(one, b"") > 0.9
    assert p.sniff(FIXTURES / "tb_hf", b"") == 0.0
    check_runs(p.parse(MLRUNS, ParseContext()), logged("mlruns_files"))
    assert len(p.parse(one, ParseContext())) == 1


def test_file_store_bad_lines_are_skipped_with_a_note(tmp_path):
    if not MLRUNS.is_dir():
        pytest.skip("mlruns_files fixture missing")
    dst = tmp_path / "mlruns"
    shutil.copytree(MLRUNS, dst)
    # the test appends a corrupt line to a real metric file
    metric = next(dst.rglob("metrics/train_loss"))
    with open(metric, "ab") as f:
        f.write(b"1795597183000 not-a-number 99\n")
    runs = pm.MLflowFilesParser().parse(dst, ParseContext())
    assert any("skipped" in n for r in runs for n in r.notes)


@pytest.mark.parametrize("key,expected", [
    ("train_loss", ("train", "loss")), ("val_loss", ("eval", "loss")), ("eval/loss", ("eval", "loss")),
    ("validation_accuracy", ("eval", "accuracy")), ("lr", ("train", "learning_rate")),
    ("loss", ("train", "loss")), ("test_f1", ("test", "f1")), ("train_loss_step", ("train", "loss")),
])
def test_metric_key(key, expected):
    assert pm.metric_key(key) == expected
