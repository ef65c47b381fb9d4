"""TensorBoard events parser on files written by the real writers (HF TensorBoardCallback, Lightning's
TensorBoardLogger, torch's SummaryWriter) and on bad input."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from logcheck import ParseContext, ParseError, Run
from logcheck.plugins import parse_tensorboard as ptb

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TB = ptb.TensorBoardParser()


def events_in(folder: Path) -> Path:
    found = sorted(folder.rglob("events.out.tfevents.*"))
    if not found:
        pytest.skip(f"no events file under {folder} (run tests/fixtures/gen_sources.py)")
    return found[0]


def parse(path: Path) -> Run:
    return TB.parse(path, ParseContext())


def f32(x: float) -> float:
    return float(np.float32(x))


def v32(values) -> list[float]:
    """The series' values as the float32 TensorBoard stored (the parser gives their shortest decimal)."""
    return [f32(x) for x in np.asarray(values).tolist()]


# ---------------------------------------------------------------------------
# Hugging Face: the events file against the trainer_state.json of the same run
# ---------------------------------------------------------------------------


def test_hf_events_hold_the_numbers_the_trainer_logged():
    run = parse(events_in(FIXTURES / "tb_hf" / "runs"))
    state = json.loads((FIXTURES / "tb_hf" / "trainer_state.json").read_text())
    train = [e for e in state["log_history"] if "loss" in e]
    evals = [e for e in state["log_history"] if "eval_loss" in e]
    summary = next(e for e in state["log_history"] if "train_runtime" in e)
    assert run.format == "hf"
    loss = run.series["train/loss"]
    assert loss.step.tolist() == [float(e["step"]) for e in train]
    # TensorBoard keeps float32: equal to the logged value rounded to float32
    assert v32(loss.value) == [f32(e["loss"]) for e in train]
    assert v32(run.series["train/grad_norm"].value) == [f32(e["grad_norm"]) for e in train]
    assert v32(run.series["train/learning_rate"].value) == [f32(e["learning_rate"]) for e in train]
    ev = run.series["eval/loss"]
    assert ev.step.tolist() == [float(e["step"]) for e in evals]
    assert v32(ev.value) == [f32(e["eval_loss"]) for e in evals]
    # train/epoch is not a series: it fills the epoch column
    assert "train/epoch" not in run.series
    assert v32(loss.epoch) == [f32(e["epoch"]) for e in train]
    assert run.summary.train_runtime_s == pytest.approx(summary["train_runtime"], rel=1e-6)
    assert run.summary.mean_train_loss == pytest.approx(summary["train_loss"], rel=1e-6)
    assert run.summary.global_step == state["global_step"]
    # values come back as the shortest decimal of their float32 (10.460033, not 10.460033416748047)
    assert all(len(repr(v).replace("-", "").replace(".", "").lstrip("0")) <= 9 for v in loss.value.tolist())


def test_shortest_float32():
    x = np.array([0.0005625, 10.46, 1.0 / 3, 1e-7, 123456.7, -5.5e-5, 0.0, np.nan, np.inf, 3e38])
    y = ptb.shortest_float32(x.astype(np.float32).astype(np.float64))
    assert y[:2].tolist() == [0.0005625, 10.46]
    assert repr(float(y[2])) == "0.33333334"
    assert (y[np.isfinite(y)].astype(np.float32) == x[np.isfinite(x)].astype(np.float32)).all()
    assert np.isnan(y[7]) and y[8] == np.inf


def test_matches_tensorboards_own_reader():
    loader = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")
    path = events_in(FIXTURES / "tb_hf" / "runs")
    expected: dict[str, list[tuple[int, float]]] = {}
    for ev in loader.RawEventFileLoader(str(path)).Load():
        from tensorboard.compat.proto import event_pb2
        e = event_pb2.Event.FromString(ev)
        for v in e.summary.value:
            if v.HasField("simple_value"):
                expected.setdefault(v.tag, []).append((e.step, v.simple_value))
    sink = ptb._Sink()
    ptb.read_events(path, sink)
    got = {t.decode(): list(zip(np.asarray(c[0]).astype(int).tolist(), list(c[1]))) for t, c in sink.cols.items()}
    assert got == expected
    assert sink.skipped > 0  # the args / model_config text summaries are not scalars


# ---------------------------------------------------------------------------
# Lightning: TensorBoardLogger against CSVLogger of the same fit
# ---------------------------------------------------------------------------


def test_lightning_events_match_its_metrics_csv_and_shift_the_step():
    run = parse(events_in(FIXTURES / "tb_lightning" / "lightning_logs"))
    csv_path = next((FIXTURES / "tb_lightning" / "lightning_logs").rglob("metrics.csv"))
    rows = list(csv.DictReader(open(csv_path)))
    steps = [int(r["step"]) for r in rows if r["train_loss_step"]]
    vals = [float(r["train_loss_step"]) for r in rows if r["train_loss_step"]]
    assert run.format == "lightning"
    loss = run.series["train/loss"]
    assert loss.key == "train_loss_step"
    # logged 0-based step S -> S + 1 optimizer steps done (the note says so)
    assert loss.step.tolist() == [s + 1.0 for s in steps]
    assert v32(loss.value) == [f32(v) for v in vals]
    val = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    assert run.series["eval/loss"].step.tolist() == [s + 1.0 for s, _ in val]
    assert v32(run.series["eval/loss"].value) == [f32(v) for _, v in val]
    assert "train/loss_epoch" in run.series
    # "epoch" fills the epoch column; hp_metric's -1 placeholder is not a metric
    assert "train/epoch" not in run.series and "train/hp_metric" not in run.series
    epochs = [float(r["epoch"]) for r in rows if r["train_loss_step"]]
    assert loss.epoch.tolist() == epochs
    assert any("step + 1" in n for n in run.notes)
    assert any("hp_metric" in n for n in run.notes)


# ---------------------------------------------------------------------------
# Tensor-stored scalars and non-scalar summaries, written by torch's SummaryWriter
# ---------------------------------------------------------------------------


def test_tensor_scalars_and_non_scalars(tmp_path):
    tb = pytest.importorskip("torch.utils.tensorboard")
    w = tb.SummaryWriter(log_dir=str(tmp_path))
    logged = []
    for step in range(0, 300, 7):  # steps past 127 take a two-byte varint
        v = 3.0 / (step + 1) + 0.5
        w.add_scalar("val_loss", v, step, new_style=True)  # a tensor with plugin "scalars"
        w.add_scalar("train_loss", v + 0.25, step)
        logged.append((step, v))
    w.add_scalar("train_loss", float("nan"), 301)
    w.add_scalar("train_loss", float("inf"), 302)
    w.add_text("notes", "not a number", 5)
    w.add_histogram("weights", np.arange(10.0), 5)
    w.close()
    run = parse(events_in(tmp_path))
    ev = run.series["eval/loss"]
    assert ev.step.tolist() == [float(s) for s, _ in logged]
    assert v32(ev.value) == [f32(v) for _, v in logged]
    tr = run.series["train/loss"]
    assert tr.step.tolist()[-2:] == [301.0, 302.0]
    assert math.isnan(tr.value[-2]) and tr.value[-1] == math.inf  # NaN/inf are data
    assert set(run.series) == {"eval/loss", "train/loss"}  # text and histogram skipped


def test_restarted_writer_files_in_one_folder_merge_by_step(tmp_path):
    tb = pytest.importorskip("torch.utils.tensorboard")
    for part, steps in enumerate((range(1, 11), range(8, 16))):  # resumed from step 8
        w = tb.SummaryWriter(log_dir=str(tmp_path), filename_suffix=f".{part}")
        for s in steps:
            w.add_scalar("train/loss", 10.0 - s + part * 0.5, s)
            w.add_scalar("train/epoch", s / 10, s)
        w.close()
    files = sorted(tmp_path.glob("events.out.tfevents.*"))
    assert len(files) == 2
    run = ptb.build_run(files, str(tmp_path))
    loss = run.series["train/loss"]
    assert loss.step.tolist() == [float(s) for s in range(1, 16)]
    # the later file wins where both logged a step
    assert loss.value[loss.step.tolist().index(9.0)] == pytest.approx(10.0 - 9 + 0.5)


# ---------------------------------------------------------------------------
# Sniffing and bad input
# ---------------------------------------------------------------------------


def test_sniff():
    path = events_in(FIXTURES / "tb_hf" / "runs")
    head = path.read_bytes()[:262144]
    assert TB.sniff(path, head) == 1.0
    log = FIXTURES / "tb_hf" / "run.log"
    assert TB.sniff(log, log.read_bytes()[:262144]) == 0.0
    assert TB.sniff(FIXTURES / "tb_hf" / "trainer_state.json", b'{\n  "log_history": []}') == 0.0


def test_truncated_file_reads_up_to_the_cut(tmp_path):
    src = events_in(FIXTURES / "tb_hf" / "runs")
    data = src.read_bytes()
    cut = tmp_path / src.name
    cut.write_bytes(data[:-7])
    full, part = parse(src), parse(cut)
    assert len(part.series["eval/loss"]) <= len(full.series["eval/loss"])
    n = len(part.series["train/loss"])
    assert part.series["train/loss"].value.tolist() == full.series["train/loss"].value.tolist()[:n]
    assert any("cut short" in x for x in part.notes)


@pytest.mark.parametrize("content", [
    b"",
    b"\x00" * 64,
    b"\xff" * 64,
    b"hello world, this is not an events file\n" * 10,
    (5).to_bytes(8, "little") + b"\x00" * 4 + b"\x09\x01",
    (10**12).to_bytes(8, "little") + b"\x00" * 40,
])
def test_garbage_gives_parse_error_or_an_empty_run(tmp_path, content):
    p = tmp_path / "events.out.tfevents.123.host"
    p.write_bytes(content)
    try:
        run = parse(p)
    except ParseError:
        return
    assert not run.has_metrics()


def test_fuzzed_records_never_raise_anything_but_parse_error(tmp_path):
    src = events_in(FIXTURES / "tb_hf" / "runs").read_bytes()
    rng = np.random.default_rng(0)
    for i in range(60):
        data = bytearray(src)
        for pos in rng.integers(0, len(data), size=20):
            data[int(pos)] = int(rng.integers(0, 256))
        p = tmp_path / f"events.out.tfevents.{i}"
        p.write_bytes(bytes(data))
        try:
            parse(p)
        except ParseError:
            pass


def test_tensor_content_scalars_as_tf2_writes_them(tmp_path):
    """tf.summary.scalar (Keras' TensorBoard callback) stores a 0-d tensor with packed bytes; TensorFlow is not
    installed here, so the Events are built with tensorboard's own protobuf classes and EventFileWriter."""
    pytest.importorskip("tensorboard.compat.proto.event_pb2")
    import struct
    import time

    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder = tmp_path / "validation"  # Keras writes train/ and validation/ folders
    w = EventFileWriter(str(folder))
    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    logged = [(e, 1.0 / (e + 1)) for e in range(5)]
    for epoch, v in logged:
        dbl = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, tensor_content=struct.pack("<d", v))
        flt = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=struct.pack("<f", v * 2))
        hp = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[7.0])
        hp_meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="hparams"))
        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag="epoch_loss", tensor=dbl, metadata=meta),
            summary_pb2.Summary.Value(tag="epoch_accuracy", tensor=flt, metadata=meta),
            summary_pb2.Summary.Value(tag="_hparams_/session_start_info", tensor=hp, metadata=hp_meta),
        ])
        w.add_event(event_pb2.Event(wall_time=time.time(), step=epoch, summary=summary))
    w.close()
    run = parse(events_in(folder))
    assert run.series["eval/loss"].step.tolist() == [float(e) for e, _ in logged]
    assert run.series["eval/loss"].value.tolist() == [v for _, v in logged]  # double: exact
    assert v32(run.series["eval/accuracy"].value) == [f32(v * 2) for _, v in logged]
    assert len(run.series) == 2  # the hparams plugin value is not a metric


def test_thousands_of_tags_stay_within_the_runs_series_limit(tmp_path, monkeypatch):
    # one tag per step (as a loop that logs a new name each time would): the run keeps the first
    # MAX_SERIES series and says how many more it did not keep
    tb = pytest.importorskip("torch.utils.tensorboard")
    from logcheck import records

    monkeypatch.setattr(records, "MAX_SERIES", 20)
    w = tb.SummaryWriter(log_dir=str(tmp_path))
    for step in range(60):
        w.add_scalar("train_loss", 3.0 - step / 60, step)
        w.add_scalar(f"extra/m{step}", 1.0, step)
    w.close()
    run = parse(events_in(tmp_path))
    assert len(run.series) == 20
    assert len(run.series["train/loss"]) == 60
    assert any("41 more metrics were not kept" in n for n in run.notes), run.notes
