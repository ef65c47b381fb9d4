"""``-j N``: analysing in worker processes gives the same report as the sequential path."""
from __future__ import annotations

import json
from pathlib import Path

from logcheck.parallel import analyze_paths_parallel, default_jobs
from logcheck.pipeline import analyze_paths, prepare

TRAIN = "{{'loss': {loss}, 'learning_rate': 1e-05, 'epoch': {epoch}}}\n"
SUMMARY = "{'train_runtime': 12.5, 'train_samples_per_second': 80.0, 'train_steps_per_second': 10.0, " \
          "'train_loss': 1.5, 'epoch': 1.0}\n"


def _log(n: int, bad_at: int | None = None) -> str:
    rows = []
    for s in range(1, n + 1):
        loss = "nan" if s == bad_at else round(2.0 * (s + 1) ** -0.2, 4)
        rows.append(TRAIN.format(loss=loss, epoch=round(s / n, 4)))
    return "".join(rows) + SUMMARY


def _as_json(report) -> str:
    return json.dumps(report.to_json(), sort_keys=True, default=str)


def test_parallel_report_equals_sequential(tmp_path: Path) -> None:
    top = tmp_path / "runs"
    for i in range(12):
        d = top / f"run{i:02d}"
        d.mkdir(parents=True)
        (d / "train.log").write_text(_log(40 + i, bad_at=30 if i == 5 else None))
    (top / "run03" / "notes.txt").write_text("nothing to judge here\n")
    (top / "run04" / "blob.log").write_bytes(bytes(range(256)) * 40)  # unreadable: exit 2
    single = tmp_path / "single.log"
    single.write_text(_log(25))
    paths = [str(top), str(single)]

    settings, pm = prepare(load_entrypoints=False)
    seq = analyze_paths(paths, settings, pm)
    settings, pm = prepare(load_entrypoints=False)
    par = analyze_paths_parallel(paths, settings, pm, jobs=2)

    assert len(par.runs) == len(seq.runs) == 13
    assert par.exit_code == seq.exit_code == 2
    assert [f.path for f in par.input_failures] == [f.path for f in seq.input_failures]
    assert _as_json(par) == _as_json(seq)
    assert any(f.code for rr in par.runs for f in rr.findings)  # the NaN run was judged in a worker


def test_one_job_or_one_file_takes_the_sequential_path(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_text(_log(30))
    settings, pm = prepare(load_entrypoints=False)
    rep = analyze_paths_parallel([str(p)], settings, pm, jobs=4)
    assert len(rep.runs) == 1 and rep.exit_code in (0, 1)
    assert default_jobs() >= 1
