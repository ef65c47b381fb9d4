"""Tests for the Hugging Face parsers (plugins/parse_hf.py).

Real logs from ../shared/corpus (skipped when absent), real fixtures from
tests/fixtures (skipped until generated), and bad input. Synthetic dict lines
below are made with ``str(dict)``, which is exactly how the Trainer prints them.
"""
from __future__ import annotations

import math
import random
import re
import shutil
import tempfile
from unittest import mock
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import Ending, ParseContext, ParseError, Run, Split, StepOrigin
from logcheck.plugins.parse_hf import HFConsoleParser, HFResultsParser, HFStateParser

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
HF = CORPUS / "hf"
HF_STATE = CORPUS / "hf_state"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

CONSOLE = HFConsoleParser()
STATE = HFStateParser()
RESULTS = HFResultsParser()
CTX = ParseContext()


def corpus(name: str) -> Path:
    p = CORPUS / name
    if not p.is_file():
        pytest.skip(f"{p} is not present")
    return p


def runs_of(res) -> list[Run]:
    return res if isinstance(res, list) else [res]


def one(res) -> Run:
    runs = runs_of(res)
    assert len(runs) == 1, [r.name for r in runs]
    return runs[0]


def steps(run: Run, key: str) -> list[float]:
    return run.series[key].step.tolist()


def values(run: Run, key: str) -> list[float]:
    return run.series[key].value.tolist()


# ---------------------------------------------------------------------------
# Registration and sniffing
# ---------------------------------------------------------------------------


def test_registered_as_builtin_parsers():
    from logcheck.pluginmanager import make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    for name in ("hf_console", "hf_state", "hf_results"):
        assert name in pm.parsers
        assert pm.parsers[name].format == "hf"


def test_sniff_corpus_files_pick_the_right_parser():
    if not HF.is_dir():
        pytest.skip("corpus absent")
    for f in sorted(HF.iterdir()):
        head = f.read_bytes()[: 256 * 1024]
        assert CONSOLE.sniff(f, head) >= 0.7, f.name
        assert STATE.sniff(f, head) == 0 and RESULTS.sniff(f, head) == 0, f.name
    for f in sorted(HF_STATE.iterdir()):
        head = f.read_bytes()[: 256 * 1024]
        assert CONSOLE.sniff(f, head) == 0, f.name
        if f.name.endswith("trainer_state.json"):
            assert STATE.sniff(f, head) == 1.0 and RESULTS.sniff(f, head) == 0
        else:
            assert STATE.sniff(f, head) == 0 and RESULTS.sniff(f, head) >= 0.6


# ---------------------------------------------------------------------------
# Console logs from the corpus
# ---------------------------------------------------------------------------


def test_bert_two_trainer_runs_in_one_file():
    runs = runs_of(CONSOLE.parse(corpus("hf/bert_mlm_then_cls_two_trainer_runs.txt"), CTX))
    assert [r.name.rsplit("#", 1)[1] for r in runs] == ["1", "2"]
    mlm, cls = runs
    # run 1: 13 losses every 500 steps; 3 epochs of 2319 steps (bar total 6957 printed after the summary)
    assert steps(mlm, "train/loss") == [500.0 * k for k in range(1, 14)]
    assert values(mlm, "train/loss")[0] == 1.6282 and values(mlm, "train/loss")[-1] == 0.0014
    assert mlm.series["train/loss"].step_origin == StepOrigin.reconstructed
    assert steps(mlm, "eval/loss") == [2319.0, 4638.0, 6957.0]
    assert values(mlm, "eval/loss")[0] == 0.0012160619953647256
    assert len(mlm.series["eval/runtime"]) == 3 and values(mlm, "eval/runtime")[0] == 16.8658
    # train_loss is the MEAN of the run, never the last loss
    assert mlm.summary.mean_train_loss == 0.1268128219462339
    assert mlm.summary.mean_train_loss != values(mlm, "train/loss")[-1]
    assert mlm.summary.epochs == 3.0 and mlm.summary.train_runtime_s == 2331.9715
    assert mlm.ending == Ending.completed and mlm.ending_line == 78
    # run 2: evaluation per epoch (226 steps), loss every 500 steps; TrainOutput gives global_step
    assert steps(cls, "eval/loss") == [226.0 * k for k in range(1, 11)]
    assert values(cls, "eval/f1")[0] == 0.9598552923328276
    assert steps(cls, "train/loss") == [500.0, 1000.0, 1500.0, 2000.0]
    assert cls.summary.global_step == 2260 and cls.summary.mean_train_loss == 0.0429237630514972
    # the "eval_results= {...}" print after training is not a Trainer log line
    assert len(cls.series["eval/loss"]) == 10
    # the set-up warning printed between the runs belongs to the second one
    assert any("Some weights of BertForSequenceClassification" in e.text for e in cls.events)
    assert not any("Some weights" in e.text for e in mlm.events)
    assert cls.sources[0].framework_version == "4.35.2"


def test_cpt_crlf_console_matches_its_state_file():
    con = one(CONSOLE.parse(corpus("hf/cpt_large_adgen_windows_crlf.txt"), CTX))
    state = one(STATE.parse(corpus("hf_state/cpt_large_adgen_trainer_state.json"), CTX))
    for key in ("train/loss", "eval/loss", "eval/rouge-1"):
        assert steps(con, key) == steps(state, key), key
        np.testing.assert_allclose(values(con, key), values(state, key), rtol=0, atol=1e-12)
    assert steps(con, "train/loss") == [500.0 * k for k in range(1, 11)]
    assert steps(con, "eval/loss")[-1] == 5490.0
    ev = con.series["eval/loss"]
    assert ev.step[int(np.argmin(ev.value))] == 6 * 549 and float(ev.value.min()) == 0.48532548546791077
    assert con.summary.mean_train_loss == 0.4479398911550831 and con.summary.epochs == 10.0
    c = con.config
    assert (c.max_steps, c.num_train_epochs, c.train_batch_size, c.num_examples) == (5490, 10.0, 6, 3290)
    assert c.gradient_accumulation_steps == 1 and c.eval_batch_size == 6
    assert c.extra["trainable_parameters"] == 424102912
    assert con.sources[0].framework_version == "4.38.1"
    assert any(e.level == "warning" and "as_target_tokenizer" in e.text for e in con.events)


def test_trl_string_metrics_buffered_stdout():
    run = one(CONSOLE.parse(corpus("hf/llama32_3b_qlora_trl_string_metrics.txt"), CTX))
    loss = run.series["train/loss"]
    assert len(loss) == 167
    # stdout was block-buffered: the bar counters next to the dicts are wrong, the epochs are not
    assert loss.step.tolist() == [10.0 * k for k in range(1, 168)]
    assert loss.step_origin == StepOrigin.reconstructed
    assert (loss.value[0], loss.value[-1]) == (3.412, 0.5822)
    assert values(run, "train/mean_token_accuracy")[0] == 0.5337
    assert steps(run, "eval/loss") == [559.0, 1118.0, 1677.0]
    assert values(run, "eval/loss") == [0.7417, 0.715, 0.7206]
    assert run.summary.mean_train_loss == 0.7331 and run.summary.epochs == 3.0
    assert run.summary.train_runtime_s == 2918.0
    # the bar readings were not next to their dicts, so no throughput series is invented
    assert "train/steps_per_second" not in run.series
    assert run.ending == Ending.completed


def test_lmsys_interrupted_by_keyboard_interrupt():
    run = one(CONSOLE.parse(corpus("hf/lmsys_gemma2_9b_lora_interrupted.log"), CTX))
    assert run.ending == Ending.interrupted
    assert run.ending_reason == "KeyboardInterrupt (line 3185) at step 244 of 8264"
    assert run.ending_line == 3185
    assert steps(run, "train/loss") == [10.0 * k for k in range(1, 25)]
    assert values(run, "train/loss")[0] == 12.4476 and values(run, "train/loss")[-1] == 0.488
    assert steps(run, "eval/loss") == [200.0] and values(run, "eval/log_loss") == [1.032826258623043]
    c = run.config
    assert (c.logging_steps, c.eval_steps, c.gradient_accumulation_steps, c.max_steps) == (10, 200, 16, 8264)
    assert c.checkpoints == (200,)
    assert any(e.level == "error" and e.text.startswith("KeyboardInterrupt") for e in run.events)
    assert any("evaluation_strategy" in e.text and e.level == "warning" for e in run.events)


def test_mobilevlm_bar_steps_rank_duplicates_and_throughput():
    run = one(CONSOLE.parse(corpus("hf/mobilevlm_deepspeed_4gpu_pretrain.out"), CTX))
    loss = run.series["train/loss"]
    assert len(loss) == 4361 and loss.step.tolist() == list(range(1, 4362))
    assert loss.step_origin == StepOrigin.reconstructed
    assert (loss.value[0], loss.value[-1]) == (6.6484, 0.4502)
    sps = run.series["train/steps_per_second"]
    assert len(sps) == 4361 and sps.step[0] == 1
    assert sps.value[0] == pytest.approx(1 / 7.12) and sps.value[-1] == 1.08
    assert run.series["train/elapsed_s"].value[-1] == 3709  # 1:01:49
    assert run.summary.mean_train_loss == 0.5458970939148131
    assert run.summary.train_runtime_s == 3709.8176
    nccl = [e for e in run.events if "NCCL backend in DeepSpeed" in e.text]
    assert len(nccl) == 1 and nccl[0].count == 4  # one per rank, folded
    assert run.ending == Ending.completed


def test_ms_swift_logged_steps_and_string_values():
    run = one(CONSOLE.parse(corpus("hf/ms_swift_gemma4_26b_fsdp2_string_metrics.log"), CTX))
    loss = run.series["train/loss"]
    assert loss.step_origin == StepOrigin.logged
    assert loss.step.tolist() == list(range(1, 2354))
    assert loss.value[0] == 1.921
    gn = run.series["train/grad_norm"]
    assert float(gn.value.max()) == 19580.0 and int((gn.value > 100).sum()) == 72
    assert run.summary.mean_train_loss == 1.206 and run.summary.global_step == 2353
    assert run.sources[0].framework_version == "5.5.4"


def test_peft_summary_only_four_runs():
    runs = runs_of(CONSOLE.parse(corpus("hf/peft_two_adapters_summary_only.out"), CTX))
    assert [r.summary.mean_train_loss for r in runs] == [
        1.527357816696167, 1.5054534673690796, 1.5291342735290527, 1.5291342735290527]
    assert all(r.train_loss is None and r.ending == Ending.completed for r in runs)
    assert runs[0].summary.train_runtime_s == 11.2237


def test_every_corpus_console_log_parses():
    if not HF.is_dir():
        pytest.skip("corpus absent")
    for f in sorted(HF.iterdir()):
        for run in runs_of(CONSOLE.parse(f, CTX)):
            assert run.has_metrics(), f.name
            assert run.ending != Ending.unknown, f.name
            for s in run.series.values():
                assert len(s) and np.all(np.diff(s.step) >= 0), (f.name, s.name)


# ---------------------------------------------------------------------------
# trainer_state.json and *_results.json
# ---------------------------------------------------------------------------


def test_every_state_file_parses():
    if not HF_STATE.is_dir():
        pytest.skip("corpus absent")
    for f in sorted(HF_STATE.glob("*trainer_state.json")):
        run = one(STATE.parse(f, CTX))
        assert run.ending in (Ending.completed, Ending.interrupted), f.name
        for s in run.series.values():
            assert s.step_origin == StepOrigin.logged


def test_state_bashkir_best_checkpoint():
    run = one(STATE.parse(corpus("hf_state/bashkir_asr_trainer_state.json"), CTX))
    assert len(run.series["train/loss"]) == 400 and len(run.series["eval/loss"]) == 20
    assert (steps(run, "train/loss")[0], values(run, "train/loss")[0]) == (25.0, 11.030513916015625)
    assert (steps(run, "eval/loss")[-1], values(run, "eval/loss")[-1]) == (10000.0, 0.20911209285259247)
    assert run.config.best_global_step == 6500 and run.config.best_metric == 34.68042083052487
    assert run.config.best_model_checkpoint == "whisper-ba/checkpoint-6500"
    assert (run.config.logging_steps, run.config.eval_steps, run.config.save_steps) == (25, 500, 500)
    assert run.ending == Ending.completed


def test_state_interrupted_and_summary():
    dna = one(STATE.parse(corpus("hf_state/dnabert2_cls_trainer_state.json"), CTX))
    assert dna.ending == Ending.interrupted
    assert dna.ending_reason == "state file of a run stopped at step 2200 of 2315"
    ev = dna.series["eval/loss"]
    assert ev.step[int(np.argmin(ev.value))] == 800 and float(ev.value.min()) == 0.23172695934772491
    over = one(STATE.parse(corpus("hf_state/overfit_eval_loss_rises_trainer_state.json"), CTX))
    assert over.summary.mean_train_loss == 0.16937365282474154
    assert over.summary.train_runtime_s == 20769.0609 and over.summary.global_step == 8920
    ev = over.series["eval/loss"]
    assert ev.step[int(np.argmin(ev.value))] == 2600 == over.config.best_global_step
    assert over.ending == Ending.completed and len(over.series["train/loss"]) == 892


def test_state_odd_keys_and_rl_entries():
    eagle = one(STATE.parse(corpus("hf_state/eagle_draft_custom_keys_trainer_state.json"), CTX))
    assert len(eagle.series["train/loss"]) == 2000
    assert len(eagle.series["train/learning_rate"]) == 2000  # from "lr"
    assert eagle.series["train/learning_rate"].key == "lr"
    assert "train/acc_0" in eagle.series and "train/remaining_time" not in eagle.series
    gn = eagle.series["train/grad_norm"]
    assert gn.step[int(np.argmax(gn.value))] == 22360
    assert eagle.ending == Ending.interrupted and "40000 of 252780" in eagle.ending_reason
    grpo = one(STATE.parse(corpus("hf_state/trl_grpo_negative_loss_trainer_state.json"), CTX))
    assert float(grpo.series["train/loss"].value.min()) == -0.029813943430781364
    assert len(grpo.series["train/reward"]) == 100
    single = one(STATE.parse(corpus("hf_state/grpo_single_entry_trainer_state.json"), CTX))
    assert steps(single, "train/loss") == [10.0] and values(single, "train/loss") == [0.0]
    empty = one(STATE.parse(corpus("hf_state/empty_log_history_trainer_state.json"), CTX))
    assert not empty.series and empty.ending == Ending.completed and empty.summary.global_step == 3


def test_state_whisper_eval_rises_and_stepless_predict_entries():
    w = one(STATE.parse(corpus("hf_state/whisper_large_v2_ja_trainer_state.json"), CTX))
    assert steps(w, "eval/loss") == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0]
    assert values(w, "eval/loss")[:3] == [0.320997953414917, 0.35849472880363464, 0.3937181532382965]
    cpt = one(STATE.parse(corpus("hf_state/cpt_large_adgen_trainer_state.json"), CTX))
    # predict_* entries carry no step: placed at the step logged before them, not at their index
    assert steps(cpt, "test/loss")[-1] == 5490.0 and min(steps(cpt, "test/loss")) >= 549


def test_results_file_and_sibling_state(tmp_path):
    src = corpus("hf_state/whisper_large_v2_ja_all_results.json")
    run = one(RESULTS.parse(src, CTX))
    assert run.summary.mean_train_loss == 0.01890342615880072 and run.summary.epochs == 38.17
    assert run.summary.extra["eval_loss"] == 0.4200145900249481
    assert run.ending == Ending.completed
    # beside its trainer_state.json the final eval becomes a point at the global step
    shutil.copy(src, tmp_path / "all_results.json")
    shutil.copy(corpus("hf_state/whisper_large_v2_ja_trainer_state.json"), tmp_path / "trainer_state.json")
    run = one(RESULTS.parse(tmp_path / "all_results.json", CTX))
    assert steps(run, "eval/loss") == [5000.0] and values(run, "eval/wer") == [0.7449365679946583]


def test_state_checkpoint_folders(tmp_path):
    src = corpus("hf_state/lora_flat_loss_no_eval_trainer_state.json")
    for n in (500, 1000):
        (tmp_path / f"checkpoint-{n}").mkdir()
    (tmp_path / "checkpoint-notanumber").mkdir()
    shutil.copy(src, tmp_path / "trainer_state.json")
    shutil.copy(src, tmp_path / "checkpoint-1000" / "trainer_state.json")
    assert one(STATE.parse(tmp_path / "trainer_state.json", CTX)).config.checkpoints == (500, 1000)
    inner = one(STATE.parse(tmp_path / "checkpoint-1000" / "trainer_state.json", CTX))
    assert inner.config.checkpoints == (500, 1000)
    assert len(inner.series["train/loss"]) == 100 and steps(inner, "train/loss")[-1] == 1000


def test_state_nonfinite_tokens(tmp_path):
    p = tmp_path / "trainer_state.json"
    p.write_text('{"global_step": 3, "max_steps": 10, "log_history": ['
                 '{"loss": NaN, "grad_norm": Infinity, "step": 1, "epoch": 0.1},'
                 '{"loss": 2.5, "grad_norm": -Infinity, "step": 2},'
                 '{"loss": 2.0, "step": 3, "remaining_time": "1h"}]}')
    run = one(STATE.parse(p, CTX))
    loss, gn = run.series["train/loss"].value, run.series["train/grad_norm"].value
    assert math.isnan(loss[0]) and loss[1:].tolist() == [2.5, 2.0]
    assert gn.tolist() == [math.inf, -math.inf]
    assert run.ending == Ending.interrupted and "step 3 of 10" in run.ending_reason


# ---------------------------------------------------------------------------
# Fixtures made by real trainings (tests/fixtures/generate.py)
# ---------------------------------------------------------------------------


def fixture_dir(name: str) -> Path:
    d = FIXTURES / name
    if not d.is_dir():
        pytest.skip(f"fixture {name} not generated yet")
    return d


def console_log(d: Path) -> Path:
    for cand in ("run.log", "train.log", "console.log"):
        if (d / cand).is_file():
            return d / cand
    logs = sorted(d.glob("*.log"))
    if not logs:
        pytest.skip(f"no console log in {d}")
    return logs[0]


@pytest.mark.parametrize("name", ["hf_tiny", "hf4_tiny", "hf_overfit", "hf_high_lr", "hf_lr_zero",
                                  "hf_every_step", "hf4_every_step"])
def test_fixture_console_agrees_with_state(name):
    d = fixture_dir(name)
    state_path = d / "trainer_state.json"
    if not state_path.is_file():
        pytest.skip("no trainer_state.json")
    con = runs_of(CONSOLE.parse(console_log(d), CTX))[-1]
    state = one(STATE.parse(state_path, CTX))
    for key in ("train/loss", "eval/loss"):
        if key not in state.series:
            continue
        # the console's step reconstruction must give exactly the state file's steps
        assert steps(con, key) == steps(state, key), key
        assert con.series[key].step_origin in (StepOrigin.logged, StepOrigin.reconstructed)
        a, b = con.series[key].value, state.series[key].value
        fin = np.isfinite(b)
        assert np.array_equal(np.isfinite(a), fin)
        # 4.x rounds to 4 decimals, 5.x prints 4 significant digits
        np.testing.assert_allclose(a[fin], b[fin], rtol=6e-4, atol=6e-5)
    if state.summary.mean_train_loss is not None:
        assert con.summary.mean_train_loss == pytest.approx(state.summary.mean_train_loss, rel=6e-4)
        assert con.ending == Ending.completed
    # at INFO verbosity every checkpoint folder beside the state file was announced in the log
    if con.config.checkpoints:
        assert set(state.config.checkpoints) <= set(con.config.checkpoints)
    if state.config.best_model_checkpoint and con.config.best_model_checkpoint:
        assert Path(con.config.best_model_checkpoint).name == Path(state.config.best_model_checkpoint).name
    results = d / "all_results.json"
    if results.is_file():
        res = one(RESULTS.parse(results, CTX))
        assert res.summary.global_step == state.summary.global_step
        assert res.summary.mean_train_loss == state.summary.mean_train_loss


def test_fixture_reference_structure():
    d = fixture_dir("hf_reference_tiny")
    run = runs_of(CONSOLE.parse(console_log(d), CTX))[-1]
    assert steps(run, "train/loss") == [float(s) for s in range(20, 781, 20)]
    ev = steps(run, "eval/loss")
    assert ev[:7] == [float(s) for s in range(100, 701, 100)] and ev[7:] in ([], [792.0])
    assert run.config.max_steps == 792
    loss = run.series["train/loss"].value
    mean = run.summary.mean_train_loss
    # train_loss is the mean over all 792 steps: close to the mean of the logged losses, above the end
    assert mean == pytest.approx(float(loss.mean()), rel=0.05)
    assert mean > float(loss[-5:].mean())
    assert run.ending == Ending.completed


def test_fixture_untied_head_missing_keys_warning():
    d = fixture_dir("hf_untied_head")
    runs = runs_of(CONSOLE.parse(console_log(d), CTX))
    if runs[-1].ending != Ending.completed:
        pytest.skip("fixture still being generated (no end-of-training summary yet)")
    texts = [e.text for r in runs for e in r.events if e.level == "warning"]
    assert any("lm_head.weight" in t and ("missing" in t.lower() or "MISSING" in t) for t in texts), texts


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = "run.log") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def metrics_line(**kw) -> bytes:
    # str(dict) is how the Trainer prints its logs (4.x floats)
    return (str(kw) + "\n").encode()


def test_empty_and_junk_raise_parse_error(tmp_path):
    for parser in (CONSOLE, STATE, RESULTS):
        with pytest.raises(ParseError):
            parser.parse(write(tmp_path, b""), CTX)
    junk = random.Random(7).randbytes(100_000)
    for parser in (CONSOLE, STATE, RESULTS):
        with pytest.raises(ParseError):
            parser.parse(write(tmp_path, junk), CTX)
    with pytest.raises(ParseError):
        STATE.parse(write(tmp_path, b'{"log_history": 5}'), CTX)
    with pytest.raises(ParseError):
        STATE.parse(write(tmp_path, b'{"log_history": [{"loss": 1.0, "step": 1}'), CTX)


def test_truncated_dict_and_nonfinite_values(tmp_path):
    good = metrics_line(loss=2.5, grad_norm=1.25, learning_rate=5e-05, epoch=0.1)
    bad = metrics_line(loss=float("nan"), grad_norm=float("inf"), learning_rate=5e-05, epoch=0.2)
    neg = metrics_line(loss=3.0, grad_norm=float("-inf"), learning_rate=5e-05, epoch=0.3)
    truncated = metrics_line(loss=1.5, grad_norm=2.0, learning_rate=5e-05, epoch=0.4)[:20]
    five = str({"loss": "nan", "grad_norm": "inf", "learning_rate": "5e-05", "epoch": "0.5"}).encode() + b"\n"
    run = one(CONSOLE.parse(write(tmp_path, good + bad + neg + truncated + b"\n" + five), CTX))
    loss = run.series["train/loss"].value
    gn = run.series["train/grad_norm"].value
    assert len(loss) == 4
    assert loss[0] == 2.5 and math.isnan(loss[1]) and loss[2] == 3.0 and math.isnan(loss[3])
    assert gn.tolist()[:3] == [1.25, math.inf, -math.inf] and gn[3] == math.inf
    assert run.ending == Ending.interrupted  # no summary


def test_huge_line_invalid_utf8_and_crlf(tmp_path):
    dicts = [metrics_line(loss=4.0 - k / 10, learning_rate=5e-05, epoch=round(0.1 * k, 2)) for k in range(1, 4)]
    data = (b"\xff\xfe\x80 garbage " * 10 + b"\n" + dicts[0].replace(b"\n", b"\r\n")
            + b"x" * (5 << 20) + b"\n"
            + b"\xc3\x28" + b"\r" + dicts[1]
            + dicts[2].replace(b"\n", b"\r\n"))
    run = one(CONSOLE.parse(write(tmp_path, data), CTX))
    assert values(run, "train/loss") == [3.9, 3.8, 3.7]
    assert run.series["train/loss"].line.tolist() == [2, 4, 5]


def test_tqdm_frames_and_eval_bar(tmp_path):
    # tqdm.write's order: bar frames, a clearing frame, the dict; eval bars count eval batches
    frames = b"".join(
        b"\r %d%%|#   | %d/30 [00:0%d<00:10,  9.%d1it/s]" % (k * 3, k, k % 10, k % 10) for k in range(1, 11))
    eval_bar = b"\r  0%|   | 0/4 [00:00<?, ?it/s]\x1b[A\r 50%|#  | 2/4 [00:00<00:00, 20.0it/s]\x1b[A\n"
    data = (frames + b"\r      \r" + metrics_line(loss=2.0, learning_rate=1e-4, epoch=1.0)
            + eval_bar + metrics_line(eval_loss=2.2, eval_runtime=0.5, epoch=1.0)
            + b"".join(b"\r %d%%|#  | %d/30 [00:1%d<00:05, 8.0it/s]" % (k * 3, k, k % 10) for k in range(11, 21))
            + b"\r" + metrics_line(loss=1.5, learning_rate=5e-5, epoch=2.0)
            + b"\r 66%|## | 20/30 [00:20<00:05, 8.0it/s]\n")
    run = one(CONSOLE.parse(write(tmp_path, data), CTX))
    assert steps(run, "train/loss") == [10.0, 20.0]
    assert run.series["train/loss"].step_origin == StepOrigin.reconstructed
    assert steps(run, "eval/loss") == [10.0] and steps(run, "eval/runtime") == [10.0]
    assert steps(run, "train/steps_per_second") == [10.0, 20.0]
    assert values(run, "train/steps_per_second") == [9.01, 8.0]
    assert run.ending == Ending.interrupted and "step 20 of 30" in run.ending_reason


def test_rank_prefixed_duplicates_keep_rank0(tmp_path):
    line = metrics_line(loss=2.0, learning_rate=1e-4, epoch=0.5)
    line2 = metrics_line(loss=1.9, learning_rate=1e-4, epoch=0.6)
    data = b"".join(b"[rank%d]: " % r + line for r in range(4)) + b"".join(b"[rank%d]: " % r + line2 for r in (1, 0))
    run = one(CONSOLE.parse(write(tmp_path, data), CTX))
    assert values(run, "train/loss") == [2.0, 1.9]


@pytest.mark.parametrize("true_steps, spe, logging_steps", [
    (list(range(20, 781, 20)), 264.0, None),            # the reference run's structure
    ([1] + list(range(20, 781, 20)), 264.0, None),      # logging_first_step
    (list(range(420, 781, 20)), 264.0, 20),             # resumed from checkpoint-400
    (list(range(500, 6957, 500)), 2319.0, None),        # 2-decimal epochs cannot pin it alone
])
def test_steps_from_rounded_epochs(true_steps, spe, logging_steps):
    from logcheck.plugins.parse_hf import _ConsoleReader

    epochs = np.round(np.array(true_steps, dtype=float) / spe, 2)  # 4.x logs round(epoch, 2)
    got, origin, how = _ConsoleReader._grid_steps(epochs, spe, logging_steps)
    assert got.tolist() == [float(s) for s in true_steps], how
    assert origin == StepOrigin.reconstructed
    # a wrong logging_steps is not forced onto the data
    _, origin, _ = _ConsoleReader._grid_steps(epochs, spe, 7)
    assert origin == StepOrigin.estimated


def test_unprefixed_rank_duplicates_are_folded(tmp_path):
    a = metrics_line(loss=2.0, learning_rate=1e-4, epoch=0.5)
    b = metrics_line(loss=1.9, learning_rate=1e-4, epoch=0.6)
    run = one(CONSOLE.parse(write(tmp_path, a * 4 + b * 4), CTX))
    assert values(run, "train/loss") == [2.0, 1.9]
    assert any("6 metrics dicts" in n for n in run.notes)


def test_traceback_crash_reason(tmp_path):
    data = (metrics_line(loss=2.0, learning_rate=1e-4, epoch=0.5)
            + b"Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    trainer.train()\n"
            + b"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    run = one(CONSOLE.parse(write(tmp_path, data), CTX))
    assert run.ending == Ending.crashed
    assert run.ending_reason.startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert run.ending_line == 5


def trainer_like_console(path: Path, runs: list[dict]) -> None:
    """Drive the real tqdm exactly as transformers' ProgressCallback does and print the logs with
    ``training_bar.write(str(logs))``; a run with ``crash_at`` ends in a traceback instead."""
    from tqdm.auto import tqdm

    with open(path, "w") as f:
        for spec in runs:
            total, spe, log_every, eval_every = spec["total"], spec["spe"], spec["log"], spec["eval"]
            bar = tqdm(total=total, file=f)
            for step in range(1, total + 1):
                if step == spec.get("crash_at"):
                    bar.close()
                    f.write("Traceback (most recent call last):\n  File \"train.py\", line 9, in <module>\n"
                            "    trainer.train()\nRuntimeError: CUDA error: an illegal memory access\n")
                    break
                bar.update(1)
                epoch = round(step / spe, 2)
                if step % log_every == 0:
                    bar.write(str({"loss": round(5.0 - step / 100, 4), "learning_rate": 1e-4, "epoch": epoch}),
                              file=f)
                if step % eval_every == 0:
                    ev = tqdm(total=7, leave=False, file=f)
                    for _ in range(7):
                        ev.update(1)
                    ev.close()
                    bar.write(str({"eval_loss": round(6.0 - step / 100, 4), "eval_runtime": 0.5,
                                   "epoch": epoch}), file=f)
            else:
                bar.write(str({"train_runtime": 1.5, "train_samples_per_second": 10.0,
                               "train_steps_per_second": 1.0, "train_loss": 4.5, "epoch": round(total / spe, 2)}),
                          file=f)
                bar.close()


def test_real_tqdm_crash_then_second_run(tmp_path):
    p = tmp_path / "run.log"
    trainer_like_console(p, [dict(total=60, spe=30, log=5, eval=20, crash_at=38),
                             dict(total=90, spe=30, log=5, eval=25)])
    first, second = runs_of(CONSOLE.parse(p, CTX))
    assert steps(first, "train/loss") == [5.0 * k for k in range(1, 8)]
    assert first.series["train/loss"].step_origin == StepOrigin.reconstructed
    assert steps(first, "eval/loss") == [20.0]
    assert first.ending == Ending.crashed
    assert first.ending_reason == "RuntimeError: CUDA error: an illegal memory access"
    assert steps(second, "train/loss") == [5.0 * k for k in range(1, 19)]
    assert values(second, "train/loss")[-1] == 4.1
    assert steps(second, "eval/loss") == [25.0, 50.0, 75.0]
    assert second.config.max_steps == 90 and second.ending == Ending.completed
    # one bar reading per logged dict at most, at that dict's step (the first dict had only "?it/s")
    sps = second.series["train/steps_per_second"]
    assert 0 < len(sps) <= 18 and set(sps.step.tolist()) <= set(steps(second, "train/loss"))
    assert np.all(sps.value > 0)


def test_real_tqdm_eval_before_first_train_log(tmp_path):
    p = tmp_path / "run.log"
    trainer_like_console(p, [dict(total=40, spe=40, log=15, eval=10)])
    run = one(CONSOLE.parse(p, CTX))
    # the eval bar (total 7) ran before any train dict: the training bar (total 40) is still chosen
    assert run.config.max_steps == 40
    assert steps(run, "train/loss") == [15.0, 30.0]
    assert steps(run, "eval/loss") == [10.0, 20.0, 30.0, 40.0]
    assert run.summary.mean_train_loss == 4.5 and run.ending == Ending.completed


class _Bytes:
    """Writes each example to a fresh temporary file (hypothesis re-runs the test body)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="logcheck-hf-")

    def path(self, data: bytes) -> Path:
        p = Path(self.dir) / "x.log"
        p.write_bytes(data)
        return p


_TMP = _Bytes()
_PIECES = st.sampled_from([
    b"{'loss': ", b"nan", b"2.5", b", 'epoch': ", b"}", b"\r", b"\n", b"\r\n", b"'eval_loss': ",
    b"{'train_runtime': 1.0, 'train_loss': 2.0, 'epoch': 1.0}", b" 10%|#  | 3/30 [00:01<00:09, 3.0it/s]",
    b"Traceback (most recent call last):\n", b"KeyboardInterrupt\n", b"\xff", b"[rank1]: ", b"{", b"'",
    b'{"log_history": [', b'{"step": 1, "loss": 1}', b"]}", b"***** Running training *****\n",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), st.lists(_PIECES, max_size=40).map(b"".join)))
def test_any_bytes_give_runs_or_parse_error(data):
    p = _TMP.path(data)
    for parser in (CONSOLE, STATE, RESULTS):
        try:
            res = parser.parse(p, CTX)
        except ParseError:
            continue
        for run in runs_of(res):
            assert isinstance(run, Run)
            for s in run.series.values():
                assert s.split in (Split.train, Split.eval, Split.test)
                assert len(s.step) == len(s.value) == len(s.line)


def teardown_module(module):
    shutil.rmtree(_TMP.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# The fast path for tqdm dict lines gives what the general line handler gives
# ---------------------------------------------------------------------------


def _console_logs() -> list[Path]:
    files = sorted(p for p in FIXTURES.rglob("*.log") if p.is_file())
    files += sorted(p for p in (Path(__file__).resolve().parents[1] / "examples").rglob("*.log"))
    if CORPUS.is_dir():
        files += sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", ""))
    return files


def _dump(path: Path) -> str:
    try:
        r = HFConsoleParser().parse(path, ParseContext())
    except ParseError as e:
        return f"ParseError: {e}"
    runs = r if isinstance(r, list) else [r]
    return "\n".join(x.model_dump_json() for x in runs)


def _edited(data: bytes, edits: list[tuple[int, bytes, bool]]) -> bytes:
    """``data`` with each piece inserted (or written over) at its position (mod the length)."""
    buf = bytearray(data)
    for pos, piece, replace in edits:
        p = pos % (len(buf) + 1)
        buf[p:p + (len(piece) if replace else 0)] = piece
    return bytes(buf)


def _fast_and_slow(path: Path) -> tuple[str, str]:
    """The run with the fast paths, and with every line through the general line handler. The
    fast paths' run is checked to be the same with and without the C scanner first."""
    fast = _dump(path)
    reader = parse_hf_module()
    if reader.use_c:
        reader.use_c = False
        try:
            assert _dump(path) == fast, "the C scanner and the pure-Python bulk path differ"
        finally:
            reader.use_c = True
        # the C scanner reads whole blocks once the training bar's total is known (from the
        # second block on): small blocks let a small file reach that path
        from logcheck.plugins import parse_hf

        with mock.patch.object(parse_hf, "_BLOCK", 8192), mock.patch.object(parse_hf, "_MIN_BULK", 2):
            small = _dump(path)
            reader.fast = False
            try:
                assert small == _dump(path), "the C scanner's block path and the line handler differ"
            finally:
                reader.fast = True
    reader.fast = False
    try:
        return fast, _dump(path)
    finally:
        reader.fast = True


def test_fast_path_gives_the_same_runs_as_the_line_handler(monkeypatch):
    from logcheck.plugins import parse_hf

    files = _console_logs()
    assert len(files) >= 10
    fast = {p: _dump(p) for p in files}
    monkeypatch.setattr(parse_hf._ConsoleReader, "fast", False)
    differ = [str(p) for p in files if _dump(p) != fast[p]]
    assert not differ


def test_fast_path_handles_frames_it_does_not_know_like_the_line_handler(tmp_path, monkeypatch):
    # progress-bar lines as tqdm draws them (each frame after a carriage return), mixed with
    # what the fast path must leave to the general handler: a bar with a description, a
    # warning between frames, ANSI colour, a rank prefix, non-ASCII digits, a NUL
    def frame(n: int) -> str:
        p = n * 100 // 40
        return f"\r{p:3d}%|{'#' * (p // 10):10s}| {n}/40 [00:0{n % 10}<00:10,  4.{n % 10}0it/s]"

    extras = ["", "", "", "\rTraining:", "\rsome text", "\x1b[32m", "\r٣%", "\x00", "[rank0]: "]
    rnd = random.Random(7)
    lines = []
    for i in range(4, 41, 4):  # a dict every 4 steps: the redrawn bar, 4 new frames, then the dict
        x = rnd.choice(extras)
        bar = "".join(frame(n) for n in range(i - 4, i + 1))
        lines.append(f"{x}{bar}\r{' ' * 20}\r{{'loss': {3 - i / 20:.4f}, 'grad_norm': {1 + i % 3}.5, "
                     f"'learning_rate': {5e-5 * (1 - i / 40):.3e}, 'epoch': {i / 40:.2f}}}")
        if i % 12 == 0:
            lines.append(f"{{'eval_loss': {3 - i / 25:.4f}, 'eval_runtime': 1.5, 'epoch': {i / 40:.2f}}}")
    f = tmp_path / "mixed.log"
    f.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    fast = _dump(f)
    monkeypatch.setattr(parse_hf_module(), "fast", False)
    assert _dump(f) == fast
    run = HFConsoleParser().parse(f, ParseContext())
    assert run.series["train/loss"].step.tolist() == list(range(4, 41, 4))


def parse_hf_module():
    from logcheck.plugins import parse_hf

    return parse_hf._ConsoleReader


def test_series_logged_together_share_their_step_epoch_and_line_columns():
    run = HFConsoleParser().parse(FIXTURES / "hf_tiny" / "run.log", ParseContext())
    loss, lr = run.series["train/loss"], run.series["train/learning_rate"]
    assert len(loss) == len(lr) > 10
    assert np.shares_memory(loss.step, lr.step)
    assert np.shares_memory(loss.line, lr.line)
    assert not loss.step.flags.writeable


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    [b"\r", b" ", b"0", b"9", b"/", b"[", b"]", b"<", b",", b"%", b"|", b"{'", b"}", b"\x1b[A", b"\xe2\x96\x88",
     b"\xd9\xa3", b"\x00", b"'", b"nan", b"Training: ", b"\n"]), st.booleans()), max_size=6),
       st.sampled_from(["hf_tiny", "hf_reference_tiny"]))
def test_fast_path_agrees_with_the_line_handler_on_mutated_real_lines(tmp_path_factory, edits, fixture):
    # real tqdm + dict lines of a Trainer run, with a few bytes inserted or replaced; hf_reference_tiny
    # logs every 10 steps, so its dict lines hold ~20 frames (the path that checks the middle ones)
    src = (FIXTURES / fixture / "run.log").read_bytes()
    lines = src.split(b"\n")
    rows = [i for i, ln in enumerate(lines) if ln.endswith(b"}") and b"\r" in ln][:12]
    f = tmp_path_factory.mktemp("mut") / "run.log"
    f.write_bytes(_edited(b"\n".join(lines[max(0, rows[0] - 3):rows[-1] + 2]), edits))
    fast, slow = _fast_and_slow(f)
    assert fast == slow


@pytest.mark.parametrize("middle", [
    "",  # only Trainer-bar frames between: the fast path skips reading them
    "\rSome weights of the model checkpoint were not used when initializing GPT2LMHeadModel",
    "\rEvaluating:  50%|█████     | 3/6 [00:01<00:01,  2.00it/s]",
    "\r 45%|████▌     | 9/20 [00:03<00:04,  2.50it/s]",  # a second bar of another total
    "\r100%|██████████| 40/40 [00:08<00:00,  5.00it/s]",  # the training bar done mid-line
])
def test_frames_between_the_first_and_last_are_checked_before_they_are_skipped(tmp_path, monkeypatch, middle):
    def frame(n: int) -> str:
        p = n * 100 // 40
        return f"\r{p:3d}%|{'█' * (p // 10):10s}| {n}/40 [00:{n:02d}<00:{40 - n:02d},  5.{n % 10}0it/s]"

    lines = ["***** Running training *****"]
    for i in (20, 40):  # a dict every 20 steps: 21 frames on each dict line
        frames = [frame(n) for n in range(i - 20, i + 1)]
        frames.insert(10, middle)
        lines.append("".join(frames) + f"\r{' ' * 30}\r{{'loss': {3 - i / 40:.4f}, 'grad_norm': 1.5, "
                     f"'learning_rate': {5e-5 * (1 - i / 40):.3e}, 'epoch': {i / 40:.2f}}}")
    f = tmp_path / "run.log"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast = _dump(f)
    monkeypatch.setattr(parse_hf_module(), "fast", False)
    assert _dump(f) == fast
    run = HFConsoleParser().parse(f, ParseContext())
    if "/20 [" not in middle:  # a bar started before the first dict may be taken for the training bar
        assert run.series["train/loss"].step.tolist() == [20, 40]
    if "Some weights" in middle:
        assert any("Some weights" in e.text for e in run.events)


def _dict_lines_of(fixture: str) -> list[bytes]:
    """The dicts a real Trainer run printed, each on its own line (as with disable_tqdm=True)."""
    src = (FIXTURES / fixture / "run.log").read_bytes()
    return [ln.rpartition(b"\r")[2] for ln in src.split(b"\n") if ln.rpartition(b"\r")[2].startswith(b"{'")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["copy", "dup", "nan", "int", "bool", "back", "eval", "text", "cr", "stop"]),
                min_size=0, max_size=8),
       st.integers(0, 2**31))
def test_dense_dict_lines_stored_in_bulk_give_the_same_run_as_line_by_line(tmp_path_factory, edits, seed):
    base = _dict_lines_of("hf_reference_tiny")
    train = [ln for ln in base if ln.startswith(b"{'loss'")]
    rnd = random.Random(seed)
    lines = list(base) * 3  # long runs of train dicts, with the run's own eval dicts and summary
    for e in edits:
        p = rnd.randrange(len(lines))
        t = rnd.choice(train)
        lines.insert(p, {
            "copy": t, "dup": lines[p - 1] if p else t,
            "nan": t.replace(b"'loss': ", b"'loss': nan, 'x': ", 1),
            "int": t.replace(b"'grad_norm': ", b"'grad_norm': 3, 'y': ", 1),
            "bool": t.replace(b"'loss': ", b"'loss': True, 'z': ", 1),
            "back": t.replace(b"'epoch': ", b"'epoch': 0.0, 'e': ", 1),
            "eval": b"{'eval_loss': 2.5, 'eval_runtime': 1.0, 'epoch': 1.0}",
            "text": b"Saving model checkpoint to out/checkpoint-40",
            "cr": t + b"\r", "stop": b"{'train_runtime': 10.0, 'train_loss': 3.0, 'epoch': 3.0}",
        }[e])
    f = tmp_path_factory.mktemp("dense") / "run.log"
    f.write_bytes(b"\n".join(lines) + b"\n")
    from logcheck.plugins import parse_hf

    # decoded in pieces, as a long log is
    with mock.patch.object(parse_hf, "_DECODE_AT_ONCE", 24 if seed % 2 else parse_hf._DECODE_AT_ONCE):
        fast, slow = _fast_and_slow(f)
    assert fast == slow


def test_dense_bulk_path_is_taken_and_stores_every_dict(tmp_path, scanner):
    lines = _dict_lines_of("hf_reference_tiny")
    train = [ln for ln in lines if ln.startswith(b"{'loss'")]
    assert len(train) >= 30
    f = tmp_path / "run.log"
    f.write_bytes(b"\n".join(train) + b"\n")
    from logcheck.plugins import parse_hf

    calls = []
    reader = parse_hf._ConsoleReader
    orig_py, orig_c = reader._dense_bulk, reader._c_bulk

    def spy(self, first, batch, ds, keys, *rest):
        ok = orig_py(self, first, batch, ds, keys, *rest)
        calls.append((len(batch), ok))
        return ok

    def spy_c(self, first, fr, a, b):
        ok = orig_c(self, first, fr, a, b)
        calls.append((b - a, ok))
        return ok

    reader._dense_bulk, reader._c_bulk = spy, spy_c
    try:
        run = HFConsoleParser().parse(f, ParseContext())
    finally:
        reader._dense_bulk, reader._c_bulk = orig_py, orig_c
    assert sum(n for n, ok in calls if ok) >= len(train) - 1
    assert len(run.series["train/loss"]) == len(train)
    assert run.series["train/loss"].line.tolist() == list(range(1, len(train) + 1))


# ---------------------------------------------------------------------------
# Runs of tqdm dict lines read together (_TqdmFrames) give what the line handler gives
# ---------------------------------------------------------------------------


def _bulk_lines(path: Path) -> tuple[int, str]:
    """How many dict lines went through a bulk path (C scanner or pure Python), and the run as JSON."""
    from logcheck.plugins import parse_hf

    taken = []
    origs = {cls: cls.apply for cls in (parse_hf._TqdmFrames, parse_hf._CFrames)}

    def spying(orig):
        def spy(self, rd, a, b, i0):
            taken.append(b - a)
            return orig(self, rd, a, b, i0)
        return spy

    for cls, orig in origs.items():
        cls.apply = spying(orig)
    try:
        run = _dump(path)
        return sum(taken), run
    finally:
        for cls, orig in origs.items():
            cls.apply = orig


@pytest.fixture(params=["c", "python"])
def scanner(request, monkeypatch):
    """Each bulk test twice: with the C scanner (skipped where it is not built) and without."""
    from logcheck.plugins import parse_hf

    if request.param == "c":
        if parse_hf._speedups is None:
            pytest.skip("logcheck._speedups is not built here")
        monkeypatch.setattr(parse_hf._ConsoleReader, "use_c", True)
    else:
        monkeypatch.setattr(parse_hf._ConsoleReader, "use_c", False)
    return request.param


@pytest.mark.parametrize("name", ["hf_every_step", "hf4_every_step"])
def test_c_scanner_reads_whole_blocks_once_the_bar_total_is_known(name):
    from logcheck.plugins import parse_hf

    if parse_hf._speedups is None:
        pytest.skip("logcheck._speedups is not built here")
    log = FIXTURES / name / "run.log"
    blocks = []
    orig = parse_hf._ConsoleReader._c_piece

    def spy(self, start, fr, begin):
        blocks.append(begin)
        return orig(self, start, fr, begin)

    # small blocks, so that this small file has blocks after the one where the bar's total appears
    with mock.patch.object(parse_hf, "_BLOCK", 8192), mock.patch.object(parse_hf, "_MIN_BULK", 2), \
            mock.patch.object(parse_hf._ConsoleReader, "_c_piece", spy):
        taken, fast = _bulk_lines(log)
        with mock.patch.object(parse_hf._ConsoleReader, "fast", False):
            slow = _dump(log)
    assert blocks.count(0) >= 2  # whole blocks (begin 0), not runs found by _tqdm_lines
    assert taken >= 40
    assert fast == slow


@pytest.mark.parametrize("name", ["hf_every_step", "hf4_every_step"])
def test_log_every_step_runs_are_read_in_bulk_and_give_the_line_handlers_run(name, scanner):
    log = FIXTURES / name / "run.log"
    if not log.is_file():
        pytest.skip(f"fixture {name} not generated")
    taken, fast = _bulk_lines(log)
    assert taken >= 40  # of the 72 dict lines; the rest follow an eval or start a run of lines
    assert _fast_and_slow(log) == (fast, fast)
    run = HFConsoleParser().parse(log, ParseContext())
    loss = run.series["train/loss"]
    assert loss.step.tolist() == list(range(1, 73))
    assert loss.step_origin == StepOrigin.reconstructed
    # the bar's rate next to each dict, as tqdm printed it ("4.67it/s")
    rate = run.series["train/steps_per_second"]
    assert len(rate) == 72 and np.isfinite(rate.value).all() and 1 < float(np.median(rate.value)) < 20


def _every_step_lines() -> list[bytes]:
    src = (FIXTURES / "hf_every_step" / "run.log").read_bytes()
    return src.split(b"\n")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    [b"\r", b" ", b"0", b"9", b"/", b"[", b"]", b"<", b",", b"%", b"|", b"{'", b"}", b"\x1b[A", b"\xe2\x96\x88",
     b"\x00", b"'", b"nan", b"\n", b"?it/s", b"s/it", b"72", b"100%|"]), st.booleans()), max_size=5),
       st.lists(st.sampled_from(["dup", "drop", "swap", "restart"]), max_size=3), st.integers(0, 2**31),
       st.sampled_from(["hf_every_step", "hf_reference_tiny", "hf_overfit"]))
def test_bulk_tqdm_path_agrees_with_the_line_handler_on_mutated_real_lines(tmp_path_factory, edits, moves, seed,
                                                                          fixture):
    # real dict lines with a few bytes changed, and lines repeated, dropped, swapped or taken from
    # the start again (a restarted run): the bulk path must give the line handler's run. Every step
    # logged: the redrawn frame and one new frame a line; hf_reference_tiny logs every 10 steps and
    # hf_overfit every 4: the frames between are checked by byte counts
    log = FIXTURES / fixture / "run.log"
    if not log.is_file():
        pytest.skip(f"fixture {fixture} not generated")
    from logcheck.plugins import parse_hf

    lines = log.read_bytes().split(b"\n")
    rnd = random.Random(seed)
    for mv in moves:
        p = rnd.randrange(1, len(lines) - 1)
        if mv == "dup":
            lines.insert(p, lines[p])
        elif mv == "drop":
            del lines[p]
        elif mv == "swap":
            lines[p], lines[p + 1] = lines[p + 1], lines[p]
        else:
            lines[p:p] = lines[:p][-30:]
    f = tmp_path_factory.mktemp("bulk") / "run.log"
    f.write_bytes(_edited(b"\n".join(lines), edits))
    with mock.patch.object(parse_hf, "_MIN_BULK", 2):  # shorter runs in bulk too: more boundaries
        fast, slow = _fast_and_slow(f)
    assert fast == slow


def test_bulk_tqdm_path_on_a_synthetic_million_step_shape(tmp_path, scanner):
    # benchmarks/genlog.py's synthetic log (labelled synthetic; it imitates a long logging_steps=1
    # run with an eval bar every 100 steps and rare inf grad norms): same run both ways
    import subprocess
    import sys

    gen = Path(__file__).resolve().parents[1] / "benchmarks" / "genlog.py"
    f = tmp_path / "synthetic.log"
    subprocess.run([sys.executable, str(gen), "--steps", "3000", "--out", str(f)], check=True,
                   capture_output=True)
    taken, fast = _bulk_lines(f)
    assert taken > 2500
    assert _fast_and_slow(f) == (fast, fast)


def test_frame_with_a_broken_glyph_before_the_percentage_is_left_to_the_line_handler(tmp_path):
    # a frame whose bar glyph is cut ("\xe2\x96") right before a "100%|": the fast path used to
    # decode that prefix as the bar's description and gave up on the whole file (UnicodeDecodeError)
    lines = _every_step_lines()
    k = next(i for i, ln in enumerate(lines) if ln.endswith(b"}") and b" 17%|" in ln)
    lines[k] = re.sub(rb" 17%\|[^|]*\|", b" 17%|\xe2\x96100%|       |", lines[k], count=1)
    f = tmp_path / "run.log"
    f.write_bytes(b"\n".join(lines))
    fast, slow = _fast_and_slow(f)
    assert not fast.startswith("ParseError")
    assert fast == slow


def test_state_file_whose_entries_change_their_keys(tmp_path):
    # every third log entry without grad_norm: train/loss spans two key sets (two column groups);
    # its line column was sized to the larger group and came out short (a check then raised
    # IndexError: an internal error for a plain state file)
    import json

    hist = []
    for i in range(1, 41):
        e = {"epoch": i / 40, "grad_norm": 1.0 + i / 100, "learning_rate": 1e-3, "loss": 3 - i / 40, "step": i}
        if i % 3 == 0:
            del e["grad_norm"]
        hist.append(e)
    f = tmp_path / "trainer_state.json"
    f.write_text(json.dumps({"global_step": 40, "max_steps": 40, "log_history": hist}), encoding="utf-8")
    run = one(HFStateParser().parse(f, ParseContext()))
    loss = run.series["train/loss"]
    assert loss.step.tolist() == list(range(1, 41))
    for s in run.series.values():
        assert len(s.line) == len(s.step) == len(s.value) == len(s.epoch)
    assert len(run.series["train/grad_norm"]) == 40 - 13
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "logcheck", str(f), "--format", "json"], capture_output=True,
                         text=True)
    assert res.returncode in (0, 1), res.stderr
    import json as _json

    assert _json.loads(res.stdout)["errors"] == []  # no check failed (plugin errors are listed here)


def test_thousands_of_key_sets_are_gathered_in_linear_time(tmp_path, monkeypatch):
    # one dict line per key set ({'loss', 'm<i>', 'epoch'}): each metric its own ordinal column;
    # every column was compared with every other one before (4,000 key sets took 36 s)
    from logcheck.plugins import parse_hf

    n = 600
    f = tmp_path / "run.log"
    f.write_text("\n".join(f"{{'loss': {1 + i / n:.4f}, 'm{i}': 1.0, 'epoch': {i / n:.4f}}}" for i in range(n)) + "\n",
                 encoding="utf-8")
    calls = []
    real = np.array_equal
    monkeypatch.setattr(parse_hf.np, "array_equal", lambda a, b, *k, **kw: calls.append(1) or real(a, b, *k, **kw))
    run = HFConsoleParser().parse(f, ParseContext())
    assert len(run.series) == n + 1 and len(run.series["train/loss"]) == n
    assert run.series["train/m7"].step.tolist() == [8.0] and run.series["train/m7"].line.tolist() == [8]
    assert len(calls) < n  # was n * (n - 1) / 2
