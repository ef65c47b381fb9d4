"""Lightning console and metrics.csv parsers on real logs (shared corpus, generated fixtures) and bad input."""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import Ending, ParseContext, ParseError, Run, StepOrigin
from logcheck.pluginmanager import make_plugin_manager
from logcheck.plugins import parse_lightning as pl

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

CONSOLE = pl.LightningConsoleParser()
CSV = pl.LightningCSVParser()


def parse_one(parser, path: Path) -> Run:
    out = parser.parse(Path(path), ParseContext())
    runs = out if isinstance(out, list) else [out]
    assert len(runs) == 1
    return runs[0]


def corpus(sub: str, name: str) -> Path:
    p = CORPUS / sub / name
    if not p.is_file():
        pytest.skip(f"{p} is not present (../shared is absent)")
    return p


def sniff(parser, path: Path) -> float:
    with open(path, "rb") as f:
        return parser.sniff(path, f.read(256 * 1024))


def points(series) -> list[tuple[float, float]]:
    return list(zip(series.step.tolist(), series.value.tolist()))


# ---------------------------------------------------------------------------
# metric names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key,expected", [
    ("train_loss_step", ("train", "loss")),
    ("train_loss_epoch", ("train", "loss_epoch")),
    ("train_loss", ("train", "loss")),
    ("loss", ("train", "loss")),
    ("train_loss_batch", ("train", "loss")),
    ("val_loss", ("eval", "loss")),
    ("valid_loss", ("eval", "loss")),
    ("v_loss", ("eval", "loss")),
    ("val_loss_epoch", ("eval", "loss")),
    ("val_acc", ("eval", "acc")),
    ("val/rmse_loss", ("eval", "rmse_loss")),
    ("train/nll_loss", ("train", "nll_loss")),
    ("test_acc", ("test", "acc")),
    ("lr-AdamW", ("train", "learning_rate")),
    ("v_num", None),
    ("epoch", None),
    ("step", None),
])
def test_metric_names(key, expected):
    assert pl.lightning_metric(key) == expected


def test_plugin_registers_both_parsers():
    pm = make_plugin_manager(load_entrypoints=False)
    assert pm.parsers["lightning_console"].format == "lightning"
    assert pm.parsers["lightning_csv"].format == "lightning"
    assert pm.parser_owner["lightning_console"] == "parse_lightning"


# ---------------------------------------------------------------------------
# shared corpus: console
# ---------------------------------------------------------------------------


def test_roberta_wandb_capture_ctrl_c():
    path = corpus("lightning", "pl_roberta_biencoder_wandb_capture_nan_ctrlc.log")
    assert sniff(CONSOLE, path) >= 0.9
    run = parse_one(CONSOLE, path)
    loss = run.train_loss
    # bars interleaved with tensor prints: "| 1/2494 [..., train_loss_batch=27.60]" ... "| 1162/2494 [... =26.50]"
    assert len(loss) == 62  # counters that only go up; replayed older frames are skipped
    assert points(loss)[0] == (1.0, 27.6)
    assert points(loss)[-1] == (1162.0, 26.5)
    assert loss.key == "train_loss_batch"
    assert loss.step_origin == StepOrigin.reconstructed
    assert np.all(np.diff(loss.step) > 0)
    assert run.eval_loss is None
    assert run.ending == Ending.interrupted and run.ending_line == 1112
    assert "Ctrl + C" in (run.ending_reason or "")
    assert run.config.extra["total_params"] == 249e6
    assert run.config.extra["cuda_visible_devices"] == "[0]"
    assert any("Checkpoint directory" in e.text and e.level == "warning" for e in run.events)


def test_unet_truncated_old_1x_carriage_returns():
    path = corpus("lightning", "pl_unet_seg_truncated_epoch0_cr.out")
    assert sniff(CONSOLE, path) >= 0.9
    run = parse_one(CONSOLE, path)
    loss = run.train_loss
    # 1988 frames on one line; one point per distinct batch counter 1..990 of 4347
    assert len(loss) == 990
    assert loss.step[0] == 1 and loss.step[-1] == 990
    assert loss.value[0] == pytest.approx(1.86) and loss.value[-1] == pytest.approx(1.67)
    running = run.get("running_loss")  # 1.x "loss=" is a running mean
    assert running.value[0] == pytest.approx(1.864) and running.value[-1] == pytest.approx(1.678)
    assert loss.step_origin == StepOrigin.estimated  # 1.x totals include validation batches
    assert run.ending == Ending.interrupted
    assert run.eval_loss is None  # the sanity check is not a validation result


def test_tmr_rich_ansi_epoch_summaries():
    path = corpus("lightning", "tmr_rich_ansi_500ep_val_rises.out")
    assert sniff(CONSOLE, path) >= 0.85
    run = parse_one(CONSOLE, path)
    ev, tr = run.eval_loss, run.train_loss
    assert len(ev) == len(tr) == 500
    assert points(ev)[0] == (1.0, 4.591) and points(ev)[-1] == (500.0, 2.128)
    assert points(tr)[0] == (1.0, 5.362) and points(tr)[-1] == (500.0, 0.3056)
    i = int(np.argmin(ev.value))
    assert (ev.step[i], ev.value[i]) == (114.0, 1.865)  # v_loss bottoms out, then rises to 2.128
    assert run.get("kl", "eval").value[-1] == pytest.approx(87.01)
    assert run.get("t2m/R01", "eval").value[0] == pytest.approx(1.32)  # "1.32%"
    assert ev.step_origin == StepOrigin.index
    assert run.ending == Ending.completed and run.ending_line == 1027
    assert "max_epochs=500" in run.ending_reason
    assert run.config.num_train_epochs == 500
    assert run.config.extra["trainable_params"] == 16.1e6


# ---------------------------------------------------------------------------
# shared corpus: metrics.csv
# ---------------------------------------------------------------------------


def test_opal_lr_monitor_and_slash_names():
    path = corpus("lightning_csv", "opal_lrmonitor_slash_names.csv")
    assert sniff(CSV, path) >= 0.8
    run = parse_one(CSV, path)
    lr = run.get("learning_rate")
    assert len(lr) == 108 and lr.key == "lr-Adam"
    assert points(lr)[0] == (50.0, 0.00328141592920354)  # logged step 49 -> 50 steps done
    nll = run.get("nll_loss")
    assert points(nll)[0] == (50.0, 0.0575530878690101)
    rmse = run.get("rmse_loss", "eval")
    assert len(rmse) == 8
    assert points(rmse)[-1] == (5432.0, 0.01806013539950508)
    assert math.isnan(lr.epoch[0])  # lr rows have an empty epoch cell
    assert run.ending == Ending.unknown


def test_probing_train_only():
    path = corpus("lightning_csv", "probing_train_only_noisy.csv")
    run = parse_one(CSV, path)
    assert len(run.train_loss) == 28
    assert points(run.train_loss)[0] == (50.0, 1.1845405101776123)
    assert points(run.train_loss)[-1] == (1400.0, 0.22343090176582336)
    assert run.train_loss.epoch[-1] == 19
    assert run.eval_loss is None


def test_slm_10_epochs_sparse_rows():
    path = corpus("lightning_csv", "slm_lm_10ep_metrics.csv")
    assert sniff(CSV, path) >= 0.8
    run = parse_one(CSV, path)
    ev = run.eval_loss
    assert len(ev) == 10
    assert points(ev)[0] == (14074.0, 4.132571697235107)
    assert points(ev)[-1] == (140740.0, 3.570486068725586)
    assert np.all(np.diff(ev.value) < 0)  # monotone
    ep = run.get("loss_epoch")
    assert len(ep) == 10 and ep.value[-1] == pytest.approx(3.687237024307251)
    assert len(run.train_loss) == 2814 and run.train_loss.step[0] == 50


def test_slm_val_rising():
    run = parse_one(CSV, corpus("lightning_csv", "slm_lm_val_rising_short.csv"))
    assert points(run.eval_loss) == [(287.0, 7.873239040374756), (574.0, 8.135467529296875),
                                     (861.0, 8.143464088439941), (1148.0, 8.455973625183105)]
    assert run.train_loss.value[0] == pytest.approx(7.39065408706665)


# ---------------------------------------------------------------------------
# generated fixtures: console and metrics.csv of the same run agree
# ---------------------------------------------------------------------------


def fixture_pair(name: str) -> tuple[Path, Path]:
    d = FIXTURES / name
    log = d / "run.log"
    csvs = sorted(d.rglob("metrics.csv"))
    if not log.is_file() or not csvs:
        pytest.skip(f"fixture {name} not generated yet")
    return log, csvs[-1]


def close3(a: float, b: float) -> bool:
    """The bars print ~3 significant digits."""
    return abs(a - b) <= 6e-3 * abs(b) + 1e-4


@pytest.mark.parametrize("name", ["lightning_tqdm", "lightning_rich", "lightning_overfit"])
def test_console_and_csv_agree_on_val_loss(name):
    log, csv_path = fixture_pair(name)
    con = parse_one(CONSOLE, log)
    ref = parse_one(CSV, csv_path)
    assert sniff(CONSOLE, log) >= 0.85 and sniff(CSV, csv_path) >= 0.9
    assert ref.eval_loss is not None and con.eval_loss is not None
    by_epoch = {int(e): (s, v) for s, v, e in zip(ref.eval_loss.step, ref.eval_loss.value, ref.eval_loss.epoch)}
    for s, v, e in zip(con.eval_loss.step, con.eval_loss.value, con.eval_loss.epoch):
        ref_step, ref_val = by_epoch[int(e)]
        assert close3(v, ref_val), (e, v, ref_val)
        assert s == ref_step, (e, s, ref_step)  # console epoch*total+n == csv step+1
    if name != "lightning_rich":  # a non-terminal Rich console prints only its final state
        assert len(con.eval_loss) == len(ref.eval_loss)
    # step-level losses at the steps both sources have
    con_train = dict(points(con.train_loss))
    shared = [(s, v) for s, v in points(ref.train_loss) if s in con_train]
    assert shared or name == "lightning_rich"
    for s, v in shared:
        assert close3(con_train[s], v), (s, con_train[s], v)


def test_tqdm_fixture_details():
    log, csv_path = fixture_pair("lightning_tqdm")
    con = parse_one(CONSOLE, log)
    assert con.train_loss.step_origin == StepOrigin.reconstructed
    steps = con.train_loss.step
    assert len(np.unique(steps)) == len(steps)  # one point per batch counter, not per redraw
    text = log.read_bytes().decode("utf-8", "replace")
    if "Signaling Trainer to stop" in text:
        assert con.ending == Ending.completed and con.config.early_stopping_patience is not None
    elif "`Trainer.fit` stopped" in text:
        assert con.ending == Ending.completed
    hp = csv_path.parent / "hparams.yaml"
    if hp.is_file():
        ref = parse_one(CSV, csv_path)
        first = next(l for l in hp.read_text().splitlines() if re.match(r"^\w+: \S", l))
        key, val = first.split(": ", 1)
        assert str(ref.config.extra[key]) in (val, str(pl.parse_number(val)), val.strip("'\""))


def test_hparams_reader(tmp_path):
    (tmp_path / "hparams.yaml").write_text("lr: 0.001\nbatch_size: 32\nname: tiny\nuse_amp: true\n"
                                           "nested:\n  a: 1\nlist:\n- 1\n")
    got = pl.read_simple_yaml(tmp_path / "hparams.yaml")
    assert got == {"lr": 0.001, "batch_size": 32, "name": "tiny", "use_amp": True}


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def real_console_bytes() -> bytes:
    for p in (FIXTURES / "lightning_tqdm" / "run.log", CORPUS / "lightning" / "pl_unet_seg_truncated_epoch0_cr.out"):
        if p.is_file():
            return p.read_bytes()
    pytest.skip("no real Lightning console log available")


def parse_or_error(parser, path: Path):
    try:
        out = parser.parse(path, ParseContext())
    except ParseError:
        return None
    runs = out if isinstance(out, list) else [out]
    assert all(isinstance(r, Run) for r in runs)
    return runs


@pytest.mark.parametrize("parser", [CONSOLE, CSV], ids=["console", "csv"])
def test_empty_and_binary(tmp_path, parser):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(ParseError):
        parser.parse(empty, ParseContext())
    binary = tmp_path / "bin.log"
    binary.write_bytes(bytes(range(256)) * 200 + b"\x00" * 5000)
    parse_or_error(parser, binary)


def test_truncated_and_invalid_utf8(tmp_path):
    data = real_console_bytes()
    full = tmp_path / "full.log"
    full.write_bytes(data)
    ref = parse_one(CONSOLE, full)
    for cut in (len(data) // 3, len(data) // 2 + 7, len(data) - 5):
        p = tmp_path / f"cut{cut}.log"
        p.write_bytes(data[:cut])
        runs = parse_or_error(CONSOLE, p)
        if runs:
            assert len(runs[0].train_loss or []) <= len(ref.train_loss)
    broken = tmp_path / "broken.log"
    broken.write_bytes(data.replace(b"Epoch", b"\xff\xfeEpoch", 3))
    assert len(parse_one(CONSOLE, broken).train_loss) >= len(ref.train_loss) - 3


def test_nan_and_inf_are_kept(tmp_path):
    data = real_console_bytes().decode("utf-8", "replace")
    # make the losses of the real log non-finite: the values are data, not errors
    data = re.sub(r"train_loss_step=[-\d.e+]+", "train_loss_step=nan", data, count=40)
    data = re.sub(r"train_loss_step=[-\d.e+]+", "train_loss_step=inf", data, count=10)
    p = tmp_path / "nan.log"
    p.write_text(data)
    loss = parse_one(CONSOLE, p).train_loss
    assert np.isnan(loss.value).any()
    assert np.isinf(loss.value).any() or len(loss) < 5


def test_five_megabyte_line_of_frames(tmp_path):
    data = real_console_bytes()
    frame = next(f for f in re.split(rb"[\r\n]", data) if re.search(rb"Epoch \d+: .*\| \d+/\d+ \[.*=", f))
    blob = b"\r".join([frame] * (5_000_000 // (len(frame) + 1) + 1))
    p = tmp_path / "long.log"
    p.write_bytes(b"GPU available: False, used: False\n" + blob + b"\n")
    t = time.perf_counter()
    run = parse_one(CONSOLE, p)
    assert time.perf_counter() - t < 10
    assert len(run.train_loss) == 1  # the same redraw repeated is one point


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=3000),
    st.lists(st.sampled_from([b"Epoch 1: ", b" 50%|", b"\xe2\x96\x88", b"| 3/10 ", b"[00:01<00:01, 7.5it/s, ",
                              b"v_num=0, ", b"train_loss_step=", b"val_loss=", b"nan", b"1e400", b"-0.5",
                              b"]", b"\r", b"\n", b"\xff", b"Epoch 3/9 ", b"\xe2\x94\x81", b" 0:00:01 \xe2\x80\xa2 ",
                              b"epoch,step,val_loss\n", b"0,9,", b",,", b"Traceback (most recent call last):\n",
                              b"`Trainer.fit` stopped: `max_epochs=3` reached.", b"\x1b[0m", b"[rank: 0] "]),
             max_size=80).map(b"".join),
))
def test_any_bytes_give_runs_or_parse_error(tmp_path, data):
    p = tmp_path / "fuzz.log"
    p.write_bytes(data)
    # the readers themselves, not parse(), which would turn a bug into a ParseError
    for read in (lambda: pl._ConsoleReader(p).read(), lambda: pl._read_metrics_csv(p)):
        try:
            assert isinstance(read(), Run)
        except ParseError:
            pass
    for parser in (CONSOLE, CSV):
        assert 0.0 <= parser.sniff(p, data[:256 * 1024]) <= 1.0


def test_sniff_rejects_json_and_keras(tmp_path):
    j = b'{"loss": 1.0, "epoch": 1}\n'
    assert CONSOLE.sniff(tmp_path / "x.jsonl", j) == 0
    assert CSV.sniff(tmp_path / "x.jsonl", j) == 0
    keras = FIXTURES / "keras_mlp" / "run.log"
    if keras.is_file():
        assert sniff(CONSOLE, keras) < 0.5
    plain = b"epoch,loss,val_loss\n1,0.5,0.6\n"
    assert CSV.sniff(tmp_path / "history.csv", plain) == 0


def real_traceback() -> bytes:
    """A traceback as Python itself prints it."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "def step():\n    raise RuntimeError('CUDA out of memory')\nstep()"],
                          capture_output=True)
    assert b"Traceback (most recent call last):" in proc.stderr
    return proc.stderr


def test_traceback_ends_the_run_as_crashed(tmp_path):
    data = real_console_bytes()
    cut = data[: len(data) // 2]
    cut = cut[: cut.rfind(b"\n") + 1]
    p = tmp_path / "crash.log"
    p.write_bytes(cut + real_traceback())
    run = parse_one(CONSOLE, p)
    assert run.ending == Ending.crashed
    assert "RuntimeError: CUDA out of memory" in run.ending_reason
    assert run.ending_line == cut.count(b"\n") + 1
    assert any(e.level == "error" and "CUDA out of memory" in e.text for e in run.events)


# ---------------------------------------------------------------------------
# metrics.csv: the numpy reader gives the row-by-row reader's Run, to the bit
# ---------------------------------------------------------------------------

def _same_runs(a: Run, b: Run) -> None:
    assert list(a.series) == list(b.series)
    for key, sa in a.series.items():
        sb = b.series[key]
        assert (sa.name, sa.split, sa.key, sa.step_origin) == (sb.name, sb.split, sb.key, sb.step_origin), key
        for col in ("step", "value", "epoch"):
            x, y = getattr(sa, col), getattr(sb, col)
            assert x.shape == y.shape and x.tobytes() == np.asarray(y, dtype=np.float64).tobytes(), (key, col)
        assert sa.line.tolist() == sb.line.tolist(), key
    assert a.summary == b.summary and a.config == b.config and a.notes == b.notes
    # bytes: the row reader counts lines without their "\r" (iter_lines), the numpy reader the file's bytes
    assert [s.model_copy(update={"bytes": 0}) for s in a.sources] == [s.model_copy(update={"bytes": 0}) for s in b.sources]


def _csv_cases(tmp_path: Path) -> list[Path]:
    """Synthetic metrics.csv files (written with the csv module, not by Lightning): the shapes the
    numpy reader must read exactly like float() - exponents, negatives, long and short cells, nan/inf,
    sparse rows, two columns for one series, \\n and \\r\\n line ends."""
    import csv
    rng = np.random.default_rng(11)
    out = []

    def write(name, header, rows, end="\r\n"):
        p = tmp_path / name
        with open(p, "w", newline="") as f:
            w = csv.writer(f, lineterminator=end)
            w.writerow(header)
            w.writerows(rows)
        out.append(p)

    n = 6000
    loss = 1.8 + 6 * (np.arange(n) + 10.0) ** -0.4 * np.exp(rng.normal(0, 0.03, n))
    rows = []
    for s in range(n):
        rows.append([float(s // 1000), 5e-5 * s / n, s, "", float(loss[s]), ""])
        if s % 1000 == 999:
            rows.append([float(s // 1000), "", s, float(loss[s]) + 0.1, "", float(loss[s]) + 0.05])
    header = ["epoch", "lr-AdamW", "step", "train_loss_epoch", "train_loss_step", "val_loss"]
    write("dense.csv", header, rows)
    write("dense_lf.csv", header, rows, end="\n")
    mixed = [r[:] for r in rows]
    for i, cell in ((5, "nan"), (300, "inf"), (900, "-inf"), (1200, "12.5%")):
        mixed[i][4] = cell
    write("nan_inf_pct.csv", header, mixed)
    # every magnitude and shape float() reads: exponents, negatives, 17 digits, 2-digit integer parts
    vals = np.concatenate([rng.standard_normal(4000) * 10.0 ** rng.integers(-30, 30, 4000),
                           rng.random(4000) * 100, -rng.random(1000), rng.random(1000) * 1e-9])
    write("magnitudes.csv", ["epoch", "step", "train_loss", "train/grad_norm"],
          [[0.0, s, repr(float(v)), f"{abs(v):.{1 + s % 18}g}"] for s, v in enumerate(vals)])
    write("two_columns_one_series.csv", ["epoch", "step", "train_loss", "train_loss_step", "val_loss"],
          [[0.0, s, (1.0 / (s + 1) if s % 3 else ""), (2.0 / (s + 1) if s % 2 else ""), ""] for s in range(3000)])
    write("missing_steps.csv", header, [[0.0, 1e-3, (s if s % 7 else ""), "", 1.0 + s, ""] for s in range(3000)])
    write("no_epoch_long_steps.csv", ["step", "train_loss_step", "lr-SGD", "lr-SGD/pg2"],
          [[10 ** 9 + s, 1.0 / (s + 1), 0.1, "1.5e-05"] for s in range(3000)])
    return out


def test_csv_numpy_reader_matches_the_row_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(pl, "_CSV_CHUNK", 1 << 14)  # many chunks: lines cut across reads
    paths = _csv_cases(tmp_path)
    paths += sorted(CORPUS.glob("lightning_csv/*.csv")) + sorted(FIXTURES.rglob("metrics.csv"))
    fast_used = 0
    for p in paths:
        rows_run = pl._read_metrics_csv_rows(p)
        try:
            b, series, lines, nbytes = pl._read_metrics_csv_fast(p)
        except pl._Irregular:
            assert p.name == "nan_inf_pct.csv"  # "12.5%" is parse_number's, not float's
            continue
        fast_used += 1
        _same_runs(pl._finish_metrics_csv(p, b, lines, nbytes, series), rows_run)
    assert fast_used >= 6


def test_csv_shared_columns_and_int32_lines(tmp_path):
    p = _csv_cases(tmp_path)[0]
    run = pl._read_metrics_csv(p)
    loss, lr = run.series["train/loss"], run.series["train/learning_rate"]
    assert loss.step is lr.step and loss.line is lr.line  # logged together: one step and line column
    assert loss.line.dtype == np.int32 and int(loss.line[0]) == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_cell_readers_give_float_bits(seed):
    rng = np.random.default_rng(seed)
    cells = [repr(float(v)).encode() for v in np.concatenate([
        rng.random(20000) * 10, rng.random(5000) * 100, rng.standard_normal(5000) * 10.0 ** rng.integers(-12, 20, 5000)])]
    digits = "0123456789"
    for _ in range(10000):  # other decimal shapes, some float() rejects
        s = "".join(rng.choice(list(digits), rng.integers(0, 3))) + "." + "".join(rng.choice(list(digits), rng.integers(0, 20)))
        if rng.random() < 0.5:
            s += str(rng.choice(["e", "E"])) + str(rng.choice(["-", "+", ""])) + str(rng.integers(0, 120)).zfill(int(rng.integers(1, 4)))
        if rng.random() < 0.05:
            s = str(rng.choice(["-", "+", "1", "."])) + s
        cells.append(s.encode())
    cells += [str(i).encode() for i in range(0, 10 ** 8, 9_999_991)] + [b"0", b"00000001", b"1.", b"9.99999999999999999"]
    chunk = b",".join(cells) + b"\n"
    buf = np.frombuffer(chunk, np.uint8)
    ends = np.flatnonzero((buf == 44) | (buf == 10))
    at = np.concatenate([[0], ends[:-1] + 1])
    ln = ends - at
    padded = bytes(8) + chunk + bytes(64)
    at_every_byte = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    expected = []
    for c in cells:
        try:
            expected.append(float(c))
        except ValueError:
            expected.append(None)
    long_ = np.flatnonzero(ln > 8)
    vals, done = pl._decimal_cells(at_every_byte, at[long_], ln[long_])
    assert done.mean() > 0.5
    for j in np.flatnonzero(done).tolist():
        want = expected[long_[j]]
        assert want is not None and np.float64(want).tobytes() == vals[j].tobytes(), cells[long_[j]]
    short = np.flatnonzero((ln <= 8) & np.array([e is not None for e in expected]))
    got = pl._short_cells(at_every_byte[at[short] + 8] & pl._LOW_BYTES[ln[short]], ln[short])
    assert got.tobytes() == np.array([expected[i] for i in short], dtype=np.float64).tobytes()
