"""Property tests: for EVERY registered parser, any bytes give runs or a ParseError.

Never another exception, never a hang. Inputs are random bytes and random
splices of log syntax (dict lines, progress-bar frames, ``\\r``, non-finite
spellings, rank prefixes, CSV and JSON fragments), so the parsers' deeper code
paths are reached, not only their "not mine" exits.
"""
from __future__ import annotations

import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import ParseContext, ParseError, Run
from logcheck.pluginmanager import make_plugin_manager

PARSERS = make_plugin_manager(load_entrypoints=False).parsers
HANG_SECONDS = 20  # one small input; anything near this is a hang, not slowness

FRAGMENTS = [
    "{'loss': ", "{'eval_loss': ", "'grad_norm': ", "'learning_rate': ", "'epoch': ", "'train_runtime': ",
    "'train_loss': ", "'global_step/max_steps': '3/10'", "{", "}", "[", "]", "(", ")", ", ", ": ", "'", '"',
    "nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e309", "-0.0", "5e-324", "2.3456", "0", "-1",
    "123456789012345678901234567890", "1.0E+00", "tensor(2.31)", "12.5%", "\n", "\r", "\r\n", "\x00", "\t", " ",
    "  5%|▌         | 40/792 [00:04<01:20,  9.31it/s]", "100%|██████████| 8/8 [00:08<00:00,  1.35s/it]",
    "\x1b[A", "\x1b[31m", " 10%|x         | 2/10 [0\u00b2:1\u0663<1\u00b9:10, \u00b2.00it/s]", "1d, 02:03:04", "[rank0]: ", "[rank1]: ", "0: ", "[INFO|trainer.py:2078] 2024-05-01 12:00:00,000 >> ",
    "***** Running training *****", "  Num examples = 64", "  Total optimization steps = 48",
    "  Num Epochs = 3", "Saving model checkpoint to out/checkpoint-500", "Traceback (most recent call last):",
    "RuntimeError: CUDA out of memory", "KeyboardInterrupt", "UserWarning: ", "iter 5: loss 2.3, time 100.00ms, mfu 30.00%",
    "step 250: train loss 2.1, val loss 2.2", "step=", "loss=", "lr=", " | ", "Epoch 1/3", "Epoch 2: 100%|",
    " v_num=0, train_loss_step=2.31]", "epoch,step,train_loss_step,val_loss\n", "0,49,7.62,\n", ",,,\n",
    '{"loss": 1.5, "step": 3}', '{"log_history": [{"loss": 1.0, "step": 1}]}', '{"global_step": 10}',
    '"eval_loss": ', "| epoch 001 | loss 7.1 | ppl 137 | wps 1000 | ups 2 | lr 0.0005 | num_updates 100",
    " iteration      100/    1000 | consumed samples: 800 | lm loss: 5.1E+00 | grad norm: 1.2 |",
    "step:  10  loss:  5.4  memory: 1.2GiB  wps: 10,000  mfu: 30.00%",
    "1/10 [==>...........] - ETA: 1s - loss: 0.9 - accuracy: 0.5", "\xff", "é", "█",
]

text_like = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8),
                               st.floats(allow_nan=True, allow_infinity=True).map(repr),
                               st.integers(-10**6, 10**20).map(str)), max_size=80).map("".join)
# a tqdm frame with arbitrary text in its counters and times, then a metrics dict on the same line
slot = st.text(alphabet=st.sampled_from("0123456789:.,dsit/?k \u00b2\u0663\u00b9"), max_size=8)
bar_then_dict = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 200), slot, slot, slot).map(
        lambda t: f"\r{t[0] % 101:3d}%|##        | {t[0]}/{t[1]} [{t[2]}<{t[3]}, {t[4]}]\r"
                  f"{{'loss': {t[0] / 7:.4f}, 'epoch': {t[0] / 100}}}\n"),
    max_size=12).map(lambda rows: "".join(rows).encode("utf-8", "surrogatepass"))
log_bytes = st.one_of(
    bar_then_dict,
    st.binary(max_size=2000),
    text_like.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.tuples(text_like, st.binary(max_size=50), text_like).map(
        lambda t: t[0].encode("utf-8", "surrogatepass") + t[1] + t[2].encode("utf-8", "surrogatepass")),
)

# Names that make the directory-aware or name-aware parsers take their normal path.
FILE_NAMES = {"hf_state": "trainer_state.json", "hf_results": "all_results.json",
              "lightning_csv": "metrics.csv", "jsonl": "metrics.jsonl"}


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no parser's ``except Exception`` can swallow it."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


def _check_parser(name: str, data: bytes, workdir: Path) -> None:
    parser = PARSERS[name]
    d = workdir / name
    d.mkdir(exist_ok=True)
    path = d / FILE_NAMES.get(name, "train.log")
    path.write_bytes(data)
    target = d if parser.reads_directories else path
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        score = parser.sniff(target, data[:256 * 1024])
        assert isinstance(score, (int, float)) and 0.0 <= float(score) <= 1.0, score
        try:
            result = parser.parse(target, ParseContext())
        except ParseError:
            return
    except Hang:
        pytest.fail(f"parser {name} hung for {HANG_SECONDS} s on {data[:200]!r}...")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    runs = result if isinstance(result, list) else [result]
    assert all(isinstance(r, Run) for r in runs), f"{name} returned {result!r}"
    for r in runs:
        for key, s in r.series.items():
            assert len(s.step) == len(s.value) == len(s.epoch) == len(s.line), key


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=log_bytes)
def test_any_bytes_give_runs_or_parse_error(name: str, data: bytes, workdir: Path) -> None:
    _check_parser(name, data, workdir)


def test_every_builtin_parser_is_covered() -> None:
    # the property above runs over whatever is registered; make sure that is not nothing
    assert {"hf_console", "hf_state", "nanogpt", "kv_generic", "lightning_csv", "jsonl"} <= set(PARSERS)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=bar_then_dict.filter(bool))
def test_odd_bar_text_never_sinks_a_console_log(data: bytes, workdir: Path) -> None:
    # every line holds a valid metrics dict: whatever the bar around it says, the dicts are read
    path = workdir / "bars.log"
    path.write_bytes(data)
    try:
        result = PARSERS["hf_console"].parse(path, ParseContext())
    except ParseError as e:
        pytest.fail(f"a log of valid dicts was refused: {e}")
    runs = result if isinstance(result, list) else [result]
    assert sum(len(r.series["train/loss"]) for r in runs if "train/loss" in r.series) >= 1
