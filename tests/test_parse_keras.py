"""Keras parser on real logs (shared corpus, fixtures made by tests/fixtures/gen_keras.py) and bad input."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import Ending, ParseContext, ParseError, Run, StepOrigin
from logcheck.pluginmanager import PluginManager
from logcheck.plugins import parse_keras as pk

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

KERAS = pk.KerasConsoleParser()


def parse_all(path: Path) -> list[Run]:
    out = KERAS.parse(Path(path), ParseContext())
    return out if isinstance(out, list) else [out]


def parse_one(path: Path) -> Run:
    runs = parse_all(path)
    assert len(runs) == 1
    return runs[0]


def corpus(name: str) -> Path:
    p = CORPUS / "raw_keras" / name
    if not p.is_file():
        pytest.skip(f"{p} is not present (../shared is absent)")
    return p


def fixture(name: str, file: str = "run.log") -> Path:
    p = FIXTURES / name / file
    if not p.is_file():
        pytest.skip(f"fixture {name} not generated (python tests/fixtures/gen_keras.py)")
    return p


def sniff(path: Path) -> float:
    with open(path, "rb") as f:
        return KERAS.sniff(path, f.read(256 * 1024))


def points(series) -> list[tuple[float, float]]:
    return list(zip(series.step.tolist(), series.value.tolist()))


def test_registers_through_the_plugin_manager():
    pm = PluginManager()
    pm.load_builtins()
    if pm.pm.get_plugin("parse_keras") is None:  # until it is listed in BUILTIN_PLUGINS
        assert pm.register(pk, name="parse_keras")
    pm.collect()
    assert pm.parsers["keras_console"].framework == "keras"
    assert pm.parsers["keras_console"].format == "raw"


@pytest.mark.parametrize("key,expected", [
    ("loss", ("train", "loss")), ("val_loss", ("eval", "loss")), ("val_accuracy", ("eval", "accuracy")),
    ("acc", ("train", "acc")), ("learning_rate", ("train", "learning_rate")), ("lr", ("train", "learning_rate")),
    ("epoch", None),
])
def test_metric_names(key, expected):
    assert pk.keras_metric(key) == expected


# ---------------------------------------------------------------------------
# shared corpus
# ---------------------------------------------------------------------------


def test_classic_keras_40_epochs():
    path = corpus("keras_cat_dog_40ep_converging.txt")
    assert sniff(path) >= 0.85
    run = parse_one(path)
    assert points(run.eval_loss)[0] == (1.0, 0.671) and points(run.eval_loss)[-1] == (40.0, 0.3401)
    assert points(run.train_loss)[0] == (1.0, 0.6855) and points(run.train_loss)[-1] == (40.0, 0.3206)
    assert len(run.get("acc", "eval")) == 40 and run.get("acc", "eval").value[8] == pytest.approx(0.76301)
    assert run.get("epoch_time_s").value[0] == 351 and run.get("step_time_ms").value[0] == 1000  # "351s 1s/step"
    assert run.eval_loss.step_origin == StepOrigin.logged
    assert run.ending == Ending.completed and run.config.num_train_epochs == 40


def test_keras3_road_cnn():
    path = corpus("keras3_road_cnn_volatile_val.txt")
    assert sniff(path) >= 0.85
    run = parse_one(path)
    ev = run.eval_loss
    assert len(ev) == 40
    assert ev.value[:3].tolist() == [8.6561, 8.0184, 2.9823]
    assert points(ev)[8] == (9.0, 6.1631)  # the spike
    assert points(ev)[-1] == (40.0, 0.0946)  # not the test-set evaluate() bar printed after fit
    assert points(run.train_loss)[0] == (1.0, 0.2188)  # the epoch summary, not the 476/477 frame (0.2660)
    assert run.get("learning_rate").value[-1] == pytest.approx(1.25e-4)
    assert run.get("step_time_ms").value[0] == 108 and run.get("epoch_time_s").value[0] == 70
    assert run.config.extra["total_params"] == 13463715
    assert run.config.metric_for_best_model == "val_accuracy"
    assert run.config.best_global_step == 37
    assert 36 in run.config.checkpoints
    assert any("ReduceLROnPlateau" in e.text for e in run.events)
    assert run.ending == Ending.completed


def test_tf2_three_models_with_batch_frames():
    path = corpus("keras_tf2_3cnn_traffic_signs_batch_progress.txt")
    assert sniff(path) >= 0.85
    t = time.perf_counter()
    runs = parse_all(path)
    assert time.perf_counter() - t < 5
    assert len(runs) == 4  # CNN1, CNN2, CNN3 and a fourth fit, each from Epoch 1/50
    cnn1 = runs[0]
    assert len(cnn1.eval_loss) == 50
    assert points(cnn1.eval_loss)[0] == (1.0, 1.3943) and points(cnn1.eval_loss)[-1] == (50.0, 0.457)
    i = int(np.argmin(cnn1.eval_loss.value))
    assert (cnn1.eval_loss.step[i], cnn1.eval_loss.value[i]) == (29.0, 0.3441)
    assert cnn1.train_loss.value[-1] == pytest.approx(0.1053)
    assert cnn1.config.extra["total_params"] == 115214  # the summary printed after its fit
    assert runs[1].name.endswith("#2") and runs[1].eval_loss.value[0] == pytest.approx(2.8222)
    assert all(r.ending == Ending.completed for r in runs)


def test_csvlogger_file():
    path = corpus("emotion_resnet50_csvlogger.log")
    assert sniff(path) >= 0.5
    run = parse_one(path)
    ev = run.eval_loss
    assert len(ev) == 17
    assert points(ev)[1] == (2.0, 7.41715145111084)  # epoch 1 (0-based) spike
    assert points(ev)[-1] == (17.0, 1.0745148658752441)
    assert run.train_loss.value[0] == pytest.approx(1.7160215377807617)
    assert run.ending == Ending.unknown


# ---------------------------------------------------------------------------
# fixtures made with real Keras 3 (torch backend)
# ---------------------------------------------------------------------------


def test_fixture_console_agrees_with_its_csvlogger():
    run = parse_one(fixture("keras_mlp"))
    ref = parse_one(fixture("keras_mlp", "training.csv"))
    assert len(run.eval_loss) == len(ref.eval_loss) >= 3
    assert run.eval_loss.step.tolist() == ref.eval_loss.step.tolist()
    np.testing.assert_allclose(run.eval_loss.value, ref.eval_loss.value, atol=6e-5)  # console prints 4 decimals
    np.testing.assert_allclose(run.train_loss.value, ref.train_loss.value, atol=6e-5)
    np.testing.assert_allclose(run.get("accuracy").value, ref.get("accuracy").value, atol=6e-5)
    assert len(run.get("step_time_ms")) == len(run.eval_loss)


def test_fixture_early_stopping_and_overfit():
    log = fixture("keras_overfit")
    text = log.read_text(errors="replace")
    stop = int(re.search(r"Epoch (\d+): early stopping", text).group(1))
    best = int(re.search(r"best epoch: (\d+)", text).group(1))
    run = parse_one(log)
    assert run.ending == Ending.completed and str(stop) in run.ending_reason
    assert run.config.best_global_step == best
    assert run.config.early_stopping_patience == stop - best == 5  # gen_keras.py uses patience=5
    ev, tr = run.eval_loss, run.train_loss
    assert len(ev) == stop
    assert ev.value[-1] > ev.value[best - 1]  # val loss rose after the best epoch ...
    assert tr.value[-1] < tr.value[best - 1]  # ... while train loss kept falling
    assert any(e.text.startswith(f"Epoch {stop}: early stopping") for e in run.events)


def test_fixture_verbose2():
    run = parse_one(fixture("keras_mlp_verbose2"))
    ref = parse_one(fixture("keras_mlp_verbose2", "training.csv"))
    np.testing.assert_allclose(run.eval_loss.value, ref.eval_loss.value, atol=6e-5)
    assert len(run.get("epoch_time_s")) == len(run.eval_loss)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def real_keras_bytes() -> bytes:
    for p in (FIXTURES / "keras_mlp" / "run.log", CORPUS / "raw_keras" / "keras_cat_dog_40ep_converging.txt"):
        if p.is_file():
            return p.read_bytes()
    pytest.skip("no real Keras log available")


def parse_or_error(path: Path):
    try:
        out = KERAS.parse(path, ParseContext())
    except ParseError:
        return None
    runs = out if isinstance(out, list) else [out]
    assert all(isinstance(r, Run) for r in runs)
    return runs


def test_empty_and_binary(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(ParseError):
        KERAS.parse(empty, ParseContext())
    binary = tmp_path / "bin.log"
    binary.write_bytes(bytes(range(256)) * 200)
    parse_or_error(binary)


def test_truncated_log_is_interrupted(tmp_path):
    data = real_keras_bytes()
    full_run = parse_one_bytes(tmp_path, data, "full.log")
    cut = data[: data.rfind(b"Epoch ", 0, len(data) // 2) + 40]
    run = parse_one_bytes(tmp_path, cut, "cut.log")
    assert run.ending == Ending.interrupted
    assert 0 < len(run.eval_loss) < len(full_run.eval_loss)


def parse_one_bytes(tmp_path: Path, data: bytes, name: str) -> Run:
    p = tmp_path / name
    p.write_bytes(data)
    return parse_one(p)


def test_invalid_utf8_nan_inf(tmp_path):
    data = real_keras_bytes().decode("utf-8", "replace")
    data = re.sub(r"val_loss: [\d.]+", "val_loss: nan", data, count=1)
    data = re.sub(r"(- loss: )[\d.]+(\s+- val_)", r"\1inf\2", data, count=1)
    raw = data.encode().replace(b"Epoch 2/", b"\xff\xfe\nEpoch 2/", 1)
    run = parse_one_bytes(tmp_path, raw, "odd.log")
    assert np.isnan(run.eval_loss.value[0])
    assert np.isinf(run.train_loss.value).any()


def test_five_megabyte_line_of_backspace_frames(tmp_path):
    data = re.sub(rb"\x1b\[[0-9;]*m", b"", real_keras_bytes())
    frame = next((f for f in re.split(rb"[\r\b\n]+", data) if re.search(rb"\d+/\d+ .*(ETA|step) .*loss: ", f)), None)
    if frame is None:
        pytest.skip("no per-batch frame in the available log")
    blob = (b"\x08" * 40 + b"\r").join([frame] * (5_000_000 // (len(frame) + 41) + 1))
    t = time.perf_counter()
    p = tmp_path / "long.log"
    p.write_bytes(b"Epoch 1/3\n" + blob + b"\n")
    run = parse_one(p)
    assert time.perf_counter() - t < 10
    assert run.ending == Ending.interrupted  # frames but no epoch summary: the log stops mid-epoch


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=3000),
    st.lists(st.sampled_from([b"Epoch 1/3\n", b"Epoch 2/3\n", b"10/10 ", b"[==============================]",
                              b"\xe2\x94\x81" * 5, b" - 5s 50ms/step", b" - loss: ", b" - val_loss: ", b"0.5",
                              b"nan", b"1e999", b"\x08" * 10, b"\r", b"\n", b"\xff", b"ETA: 1s",
                              b"Epoch 2: early stopping\n", b"epoch,loss,val_loss\n", b"0,0.5,", b",\n",
                              b"Traceback (most recent call last):\n", b"ValueError: x\n", b"\x1b[1m"]),
             max_size=80).map(b"".join),
))
def test_any_bytes_give_runs_or_parse_error(tmp_path, data):
    p = tmp_path / "fuzz.log"
    p.write_bytes(data)
    # the readers themselves, not parse(), which would turn a bug into a ParseError
    for read in (lambda: pk._KerasReader(p).read(), lambda: pk._read_keras_csv(p)):
        try:
            out = read()
        except ParseError:
            continue
        assert all(isinstance(r, Run) for r in (out if isinstance(out, list) else [out]))
    assert 0.0 <= KERAS.sniff(p, data[:256 * 1024]) <= 1.0


def test_sniff(tmp_path):
    assert KERAS.sniff(tmp_path / "a.json", b'{"epoch": 1, "loss": 0.5}') == 0
    assert KERAS.sniff(tmp_path / "a.log", b"step 10: loss 0.5\n") == 0
    lightning = FIXTURES / "lightning_tqdm" / "run.log"
    if lightning.is_file():
        assert sniff(lightning) == 0
    rich = CORPUS / "lightning" / "tmr_rich_ansi_500ep_val_rises.out"
    if rich.is_file():
        assert sniff(rich) == 0
    # "epoch, loss, ppl, accuracy" from a hand-written loop: not a CSVLogger file
    nmt = CORPUS / "raw_other" / "nmt_mhplstm_train_csvish.log"
    if nmt.is_file():
        assert sniff(nmt) == 0


def test_traceback_ends_the_run_as_crashed(tmp_path):
    import subprocess
    import sys

    tb = subprocess.run([sys.executable, "-c", "raise ValueError('bad input shape')"], capture_output=True).stderr
    data = real_keras_bytes()
    cut = data[: data.rfind(b"Epoch ", 0, len(data) // 2)]
    run = parse_one_bytes(tmp_path, cut + tb, "crash.log")
    assert run.ending == Ending.crashed
    assert "ValueError: bad input shape" in run.ending_reason
    assert len(run.eval_loss) >= 1
