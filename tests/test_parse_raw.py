"""Raw-text parsers (nanogpt, megatron, fairseq, torchtitan, kv_generic) on real logs and bad input.

Expected figures were read off the corpus files by eye / grep (first and last lines, counts of
eval lines), not taken from the parser's output.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcheck import Ending, ParseContext, ParseError, Run, StepOrigin
from logcheck.plugins.parse_raw import (
    FairseqParser,
    KVGenericParser,
    MegatronParser,
    NanoGPTParser,
    TorchTitanParser,
    normalise_key,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PARSERS = {p.name: p for p in (NanoGPTParser(), MegatronParser(), FairseqParser(), TorchTitanParser(),
                               KVGenericParser())}

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="/work/shared corpus not present")


def sniff_winner(path: Path) -> str:
    head = path.read_bytes()[: 256 * 1024]
    scores = {n: p.sniff(path, head) for n, p in PARSERS.items()}
    return max(scores, key=scores.get)


@lru_cache(maxsize=None)
def parse(rel: str) -> tuple[str, tuple[Run, ...]]:
    path = CORPUS / rel
    name = sniff_winner(path)
    res = PARSERS[name].parse(path, ParseContext())
    runs = tuple(res) if isinstance(res, list) else (res,)
    return name, runs


def one(rel: str, parser: str) -> Run:
    name, runs = parse(rel)
    assert name == parser, f"{rel} was sniffed as {name}"
    assert len(runs) == 1
    return runs[0]


def pts(run: Run, key: str) -> list[tuple[float, float]]:
    s = run.series[key]
    return list(zip(s.step.tolist(), s.value.tolist()))


def approx(a, b, rel=1e-6):
    return a == pytest.approx(b, rel=rel)


# ---------------------------------------------------------------------------
# Every corpus file of these families parses
# ---------------------------------------------------------------------------

RAW_DIRS = ("raw_nanogpt", "raw_megatron", "raw_fairseq", "raw_other")


def _raw_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(f"{d}/{p.name}" for d in RAW_DIRS for p in (CORPUS / d).iterdir()
                  if p.is_file() and not p.name.endswith(".jsonl"))


@needs_corpus
@pytest.mark.parametrize("rel", _raw_files())
def test_every_raw_corpus_file_parses(rel):
    name, runs = parse(rel)
    assert runs
    for r in runs:
        assert r.format == "raw"
        assert r.sources and r.sources[0].parser == name
        for s in r.series.values():
            assert len(s.step) == len(s.value) == len(s.line) == len(s.epoch)
            assert (s.line > 0).all()  # every point cites its line


@needs_corpus
def test_family_sniffing():
    for d, want in (("raw_nanogpt", "nanogpt"), ("raw_megatron", "megatron"), ("raw_fairseq", "fairseq")):
        for p in (CORPUS / d).iterdir():
            assert sniff_winner(p) == want, p.name
    assert sniff_winner(CORPUS / "raw_other/torchtitan_vlm447m_ansi_resumed_ckpt_tps_dips.log") == "torchtitan"
    assert sniff_winner(CORPUS / "raw_other/word_lm_rnn_relu_nan_from_start.txt") == "kv_generic"
    # many "step:N - key:value" lines: kv_generic is surer than a weak guess (0.3) of another parser
    verl = CORPUS / "raw_other/verl_grpo_ray_ansi_prefixed_crash.out"
    assert KVGenericParser().sniff(verl, verl.read_bytes()[:262144]) == 0.35
    # kv_generic is the fallback: lowest non-zero score
    head = (CORPUS / "raw_nanogpt/nanogpt_gpt2_owt_10k_iters.log").read_bytes()[:65536]
    assert 0 < KVGenericParser().sniff(Path("x"), head) < NanoGPTParser().sniff(Path("x"), head)


# ---------------------------------------------------------------------------
# nanoGPT family
# ---------------------------------------------------------------------------

@needs_corpus
def test_nanogpt_classic_owt():
    r = one("raw_nanogpt/nanogpt_gpt2_owt_10k_iters.log", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 1001 and tl[0] == (0, 10.9733) and tl[-1] == (10000, 3.1397)
    ev = pts(r, "eval/loss")
    assert len(ev) == 101 and ev[0] == (0, 10.9897) and ev[-1] == (10000, 3.1447)
    assert pts(r, "train/loss_estimate")[0] == (0, 10.9886)
    mfu = pts(r, "train/mfu")
    assert len(mfu) == 1000 and mfu[0] == (10, 22.71)  # iter 0's "mfu -100.00%" sentinel skipped
    assert pts(r, "train/step_time_ms")[0] == (0, 31623.95)
    assert r.ending is Ending.unknown and r.ending_reason


@needs_corpus
def test_nanogpt_linesearch_truncated_with_custom_prints():
    r = one("raw_nanogpt/nanogpt_linesearch_custom_prints_truncated.log", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 1308 and tl[-1] == (13070, 3.3446)
    assert pts(r, "eval/loss")[-1] == (13000, 3.4155)
    assert set(r.series) == {"train/loss", "train/step_time_ms", "train/mfu", "train/loss_estimate", "eval/loss"}
    assert r.ending is not Ending.completed


@needs_corpus
def test_build_nanogpt_truncated():
    r = one("raw_nanogpt/build_nanogpt_124m_2n8g_truncated.out", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 1060 and tl[0] == (0, 10.955011) and tl[-1] == (1059, 4.464162)
    ev = pts(r, "eval/loss")
    assert len(ev) == 5 and ev[0] == (0, 10.9519) and ev[-1][1] == 4.7053
    assert pts(r, "train/grad_norm")[0] == (0, 15.342)
    assert pts(r, "train/tokens_per_sec")[0] == (0, 38583.74)
    assert pts(r, "train/step_time_ms")[0] == (0, 13588.31)
    assert pts(r, "eval/hellaswag_accuracy")[0] == (0, 0.2487)
    assert r.ending is not Ending.completed


@needs_corpus
def test_build_nanogpt_interleaved_samples_are_not_metrics():
    r = one("raw_nanogpt/build_nanogpt_124m_nowarmup_samples_interleaved.out", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 19073 and tl[0] == (0, 10.95501) and tl[-1] == (19072, 3.181935)
    assert len(r.series["eval/loss"]) == 78
    assert set(r.series) == {"train/loss", "train/learning_rate", "train/grad_norm", "train/step_time_ms",
                             "train/tokens_per_sec", "eval/loss", "eval/hellaswag_accuracy"}
    # eval/hella steps are step lines' steps, never beyond the last step
    assert r.series["eval/hellaswag_accuracy"].step.max() <= 19072


@needs_corpus
def test_build_nanogpt_logtxt():
    r = one("raw_nanogpt/build_nanogpt_bigger_loglines.txt", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 19073 and tl[0] == (0, 11.087302) and tl[-1] == (19072, 2.941178)
    ev = pts(r, "eval/loss")
    assert len(ev) == 78 and ev[0] == (0, 11.0864) and ev[-1] == (19072, 2.9147)
    assert pts(r, "eval/hellaswag_accuracy")[-1] == (19072, 0.3355)


@needs_corpus
def test_modded_nanogpt_wallclock_stop():
    r = one("raw_nanogpt/modded_nanogpt_paramgolf_wallclock_stop.log", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 23 and tl[0] == (1, 6.9319) and tl[1] == (2, 8.6081)
    assert pts(r, "eval/loss") == [(0, 6.9297), (4000, 2.0649), (6799, 1.9338)]
    assert pts(r, "eval/bpb")[-1] == (6799, 1.1453)
    assert pts(r, "train/step_avg_ms")[-1] == (6799, 88.26)
    assert r.ending is Ending.completed and "stopping_early" in r.ending_reason
    assert r.summary.extra["final_int8_zlib_roundtrip_exact.val_loss"] == 1.93925604
    assert any(e.level == "warning" and "OMP_NUM_THREADS" in e.text for e in r.events)


@needs_corpus
def test_nanogpt_bracket_variant_two_ranks():
    r = one("raw_nanogpt/nanogpt_seis_val_plateau_gap.log", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 800 and tl[0] == (10, 8.739) and tl[-1] == (8000, 1.8766)
    ev = pts(r, "eval/loss")
    assert len(ev) == 17 and ev[0] == (0, 9.8491) and ev[-1] == (8000, 2.3993)
    assert pts(r, "train/learning_rate")[0] == (0, 7.5e-07)
    assert pts(r, "train/step_time_ms")[0] == (10, 11136)
    assert r.ending is Ending.completed and "done" in r.ending_reason
    inductor = [e for e in r.events if "max_autotune_gemm" in e.text]
    assert inductor and inductor[0].count == 2  # rank0 and rank1 print it: folded


@needs_corpus
def test_custom_step_pipe_resume_loss_jump():
    r = one("raw_nanogpt/qwen3_pretrain_resume_loss_explosion.out", "nanogpt")
    tl = pts(r, "train/loss")
    assert len(tl) == 966
    assert tl[0] == (47700, 1.4684) and tl[1] == (47710, 13.845)  # the jump at the resume
    assert tl[-1] == (57350, 13.5626)
    assert pts(r, "train/tokens_per_sec")[0] == (47700, 113400.0)  # "113.4k tok/s"
    assert pts(r, "train/mfu")[0] == (47700, 114.07)
    assert pts(r, "train/grad_norm")[1] == (47710, 0.768)
    assert any("47700" in n for n in r.notes)  # "[Checkpoint] resumed from ... at step 47700"


# ---------------------------------------------------------------------------
# Megatron
# ---------------------------------------------------------------------------

@needs_corpus
def test_megatron_deepspeed_500_iterations():
    r = one("raw_megatron/megatron_ds_qwen7b_tp4_500it.log", "megatron")
    tl = pts(r, "train/loss")
    assert len(tl) == 500 and tl[0] == (1, 12.63599) and tl[-1][0] == 500
    ev = pts(r, "eval/loss")
    assert [s for s, _ in ev] == [100, 200, 300, 400, 500, 500]
    assert ev[0][1] == 7.66649 and ev[-1][1] == 6.335348
    assert pts(r, "eval/perplexity")[0] == (100, 2135.573)
    assert pts(r, "train/grad_norm")[0] == (1, 20.203)
    assert pts(r, "train/step_time_ms")[0] == (1, 15165.9)
    assert pts(r, "train/tflops")[0] == (1, 7.97)
    assert (r.series["train/skipped_iterations"].value == 0).all()
    assert len(r.series["train/nan_iterations"]) == 500
    assert r.ending is Ending.completed and "500" in r.ending_reason


@needs_corpus
def test_megatron_lm_stopped_early():
    r = one("raw_megatron/megatron_lm_gpt2_finetune_5800it_plateau.log", "megatron")
    tl = pts(r, "train/loss")
    assert len(tl) == 5800 and tl[0] == (1, 3.010825) and tl[-1] == (5800, 2.496638)
    assert pts(r, "train/learning_rate")[-1] == (5800, 7.5e-05)
    assert r.ending is Ending.interrupted and "500000" in r.ending_reason


@needs_corpus
def test_megatron_oom_before_first_iteration():
    r = one("raw_megatron/megatron_ds_2node_oom_rank_prefixed.log", "megatron")
    assert not r.has_metrics()
    assert r.ending is Ending.crashed and "OutOfMemoryError" in r.ending_reason
    assert any(e.level == "error" and "CUDA out of memory" in e.text for e in r.events)


# ---------------------------------------------------------------------------
# fairseq
# ---------------------------------------------------------------------------

@needs_corpus
def test_fairseq_hydra_hubert_restart_overflow_truncated():
    r = one("raw_fairseq/fairseq_hydra_hubert_pretrain_overflow_restart_truncated.log", "fairseq")
    tl = pts(r, "train/loss")
    assert len(tl) == 251 and tl[0] == (200, 11.52) and tl[-1] == (50200, 3.013)
    assert len(r.series["eval/loss"]) == 25  # first subset seen: dev-other
    assert len(r.series["eval/dev_clean_loss"]) == 25
    assert r.series["eval/loss"].value[0] == 7.552
    assert len(r.series["train/loss_epoch"]) == 96
    overflow = sum(e.count for e in r.events if "overflow" in e.text)
    assert overflow == 82
    assert any("restarted" in n for n in r.notes)
    assert r.ending is Ending.interrupted


@needs_corpus
def test_fairseq_hydra_wav2vec2():
    r = one("raw_fairseq/fairseq_hydra_wav2vec2_pretrain_json.log", "fairseq")
    assert pts(r, "train/loss")[0] == (200, 9.276)
    ev = r.series["eval/loss"]
    assert len(ev) == 10 and ev.value[0] == 6.389 and ev.value[-1] == 3.792
    assert ev.step[0] == 479 and ev.epoch[0] == 1
    assert pts(r, "train/learning_rate")[0] == (200, 3.125e-06)
    assert pts(r, "train/grad_norm")[0] == (200, 1.421)
    assert sum(e.count for e in r.events if "overflow" in e.text) == 19


def test_fairseq_classic_and_simple_formats(tmp_path):
    p = tmp_path / "train.log"
    p.write_text(
        "| epoch 001 | loss 8.213 | nll_loss 8.1 | ppl 274.1 | wps 1200 | ups 2 | wpb 600 | lr 0.0005 | gnorm 1.2 | num_updates 100\n"
        "| epoch 001 | valid on 'valid' subset | loss 7.5 | nll_loss 7.4 | ppl 181 | num_updates 100\n"
        "2021-05-01 12:00:00 | INFO | train_inner | epoch 002:    100 / 200 loss=6.5, nll_loss=6.4, ppl=90.5, "
        "wps=1000, ups=1.5, wpb=600, bsz=8, num_updates=200, lr=0.0004, gnorm=0.9\n"
        "2021-05-01 12:10:00 | INFO | valid | epoch 002 | valid on 'valid' subset | loss 6.1 | ppl 68.6 | num_updates 200\n"
        "2021-05-01 12:11:00 | INFO | fairseq_cli.train | done training in 3600.0 seconds\n")
    assert FairseqParser().sniff(p, p.read_bytes()) > 0.5
    r = FairseqParser().parse(p, ParseContext())
    assert pts(r, "train/loss") == [(100, 8.213), (200, 6.5)]
    assert pts(r, "eval/loss") == [(100, 7.5), (200, 6.1)]
    assert pts(r, "train/grad_norm") == [(100, 1.2), (200, 0.9)]
    assert r.ending is Ending.completed


# ---------------------------------------------------------------------------
# torchtitan
# ---------------------------------------------------------------------------

@needs_corpus
def test_torchtitan_resumed_ansi():
    r = one("raw_other/torchtitan_vlm447m_ansi_resumed_ckpt_tps_dips.log", "torchtitan")
    tl = pts(r, "train/loss")
    assert len(tl) == 1000 and tl[0] == (6501, 2.22753) and tl[-1][0] == 7500
    assert pts(r, "train/tokens_per_sec")[0] == (6501, 256)
    assert pts(r, "train/memory_gib")[0] == (6501, 23.75)
    assert pts(r, "train/memory_pct")[0] == (6501, 75.73)
    assert pts(r, "train/mfu")[0] == (6501, 0.61)
    tps = r.series["train/tokens_per_sec"].value
    assert tps.max() > 1000 and (tps < 300).sum() >= 2  # the checkpoint-save dips survive parsing
    assert any("step-6500" in n for n in r.notes)
    assert r.ending is Ending.completed


def test_torchtitan_comma_thousands_and_crash(tmp_path):
    p = tmp_path / "titan.log"
    p.write_text(
        "[rank0]:[titan] 2025-01-01 10:00:00,000 - root - INFO - step: 10  loss:  9.1234  grad_norm:  1.23  "
        "memory: 12.30GiB(15.60%)  tps: 1,812  tflops: 12.30  mfu: 4.50%\n"
        "[rank1]:[titan] 2025-01-01 10:00:00,000 - root - INFO - step: 10  loss:  9.1299  grad_norm:  1.23  "
        "memory: 12.30GiB(15.60%)  tps: 1,800  tflops: 12.30  mfu: 4.50%\n"
        "[rank0]:[titan] 2025-01-01 10:00:05,000 - root - INFO - step: 20  loss:  nan  grad_norm:  inf  "
        "memory: 12.30GiB(15.60%)  tps: 1,811  tflops: 12.30  mfu: 4.50%\n"
        "[rank0]:Traceback (most recent call last):\n"
        "[rank0]:  File \"train.py\", line 1, in <module>\n"
        "[rank0]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    r = TorchTitanParser().parse(p, ParseContext())
    assert pts(r, "train/tokens_per_sec") == [(10, 1812), (20, 1811)]  # rank1's duplicate dropped
    loss = r.series["train/loss"].value
    assert loss[0] == 9.1234 and math.isnan(loss[1])
    assert math.isinf(r.series["train/grad_norm"].value[1])
    assert r.ending is Ending.crashed and "OutOfMemoryError" in r.ending_reason and r.ending_line == 6


# ---------------------------------------------------------------------------
# kv_generic on real hand-written loops
# ---------------------------------------------------------------------------

@needs_corpus
def test_word_language_model_nan_from_start():
    r = one("raw_other/word_lm_rnn_relu_nan_from_start.txt", "kv_generic")
    tl = r.series["train/loss"]
    assert len(tl) == 70 and np.isnan(tl.value).all()
    assert tl.step[0] == 200 and tl.step_origin is StepOrigin.reconstructed  # (epoch-1)*2983 + 200
    assert tl.step[-1] == 4 * 2983 + 2800
    ev = r.series["eval/loss"]
    assert len(ev) == 5 and np.isnan(ev.value).all()
    assert len(r.series["test/loss"]) == 1 and math.isnan(r.series["test/loss"].value[0])
    lr = r.series["train/learning_rate"].value
    assert lr[0] == 20.0 and lr[-1] == 0.3125
    assert pts(r, "train/step_time_ms")[0] == (200, 11.61)
    assert r.ending is Ending.completed


@needs_corpus
def test_custom_lm_epoch_blocks_mangled_utf8():
    r = one("raw_other/custom_lm_wikitext_tqdm_mangled_utf8.txt", "kv_generic")
    tl, ev = pts(r, "train/loss"), pts(r, "eval/loss")
    assert len(tl) == 20 and tl[0] == (1, 7.4976)
    assert len(ev) == 20 and ev[0] == (1, 6.6384) and ev[-1][0] == 20 and ev[-1][1] < 5.33
    assert pts(r, "eval/perplexity")[0] == (1, 763.86)
    assert len(r.series["test/loss"]) == 1
    assert any("epoch number is used as the step" in n for n in r.notes)


@needs_corpus
def test_deepspeed_step_lines_and_overflows():
    r = one("raw_other/deepspeed_zero3_fp16_overflow_8gpu.out", "kv_generic")
    tl = pts(r, "train/loss")
    assert len(tl) == 100 and tl[0] == (1, 5.3) and tl[-1] == (100, 4.879)
    assert pts(r, "train/tokens_per_sec")[0] == (1, 870.33)
    assert sum(e.count for e in r.events if "OVERFLOW" in e.text) == 5
    assert r.ending is Ending.completed


@needs_corpus
def test_dino_metriclogger_two_runs():
    name, runs = parse("raw_other/dino_vits_ssl_early_rise_then_converge.out")
    assert name == "kv_generic" and len(runs) == 2
    a, b = runs
    assert a.name.endswith("#1") and b.name.endswith("#2")
    tl = a.series["train/loss"]
    assert len(tl) == 15800 and tl.value[0] == 10.776567 and tl.step_origin is StepOrigin.reconstructed
    assert tl.step[-1] == 99 * 1562 + 1561
    ep = a.series["train/loss_epoch"]  # "Averaged stats": the epoch average is the value in parentheses
    assert len(ep) == 100 and ep.value[0] == 9.531198 and ep.value[2] > ep.value[0]
    assert b.series["train/loss"].value[0] == 6.958993
    assert a.ending is Ending.interrupted


@needs_corpus
def test_python_logging_epoch_step_per_epoch_counter():
    r = one("raw_other/gpt2_lora_alpaca_custom.log", "kv_generic")
    tl = r.series["train/loss"]
    assert len(tl) == 1302 and tl.value[0] == 8.9351 and tl.value[-1] == 0.4631
    # "Epoch 1 | Step 0/6501" restarts per epoch: global step = epoch * 6501 + step
    assert tl.step[-1] == 6501 + 6500 and np.all(np.diff(tl.step) > 0)
    ev = pts(r, "eval/loss")
    assert ev[0] == (6500, 0.5301) and ev[1] == (13001, 0.4887)
    assert pts(r, "train/loss_epoch") == [(6500, 0.607), (13001, 0.4735)]
    assert r.ending is Ending.completed
    assert "train/min_lr" not in r.series  # the config printout is not a metric


@needs_corpus
def test_kaggle_folds_become_runs():
    name, runs = parse("raw_other/kaggle_kfold_cv_stuck_fold.log")
    assert name == "kv_generic" and len(runs) > 30
    assert pts(runs[0], "train/loss")[0] == (1, 0.6962) and pts(runs[0], "eval/loss")[0] == (1, 0.6354)
    stuck = runs[1]
    assert (stuck.series["eval/loss"].value == 0.8388).all() and len(stuck.series["eval/loss"]) == 3


@needs_corpus
def test_mt_epoch_line_with_repeated_keys():
    r = one("raw_other/mt_en2zh_transformer_plateau.log", "kv_generic")
    assert len(r.series["train/loss"]) == 52 and r.series["train/loss"].value[0] > 11
    assert pts(r, "train/token_acc")[0][1] != pts(r, "eval/token_acc")[0][1]
    assert len(r.series["eval/seq_acc"]) == 52


@needs_corpus
def test_csvish_train_and_valid_files():
    tr = one("raw_other/nmt_mhplstm_train_csvish.log", "kv_generic")
    va = one("raw_other/nmt_mhplstm_valid_csvish.log", "kv_generic")
    assert pts(tr, "train/loss")[0] == (0, 9.15862) and len(tr.series["train/loss"]) == 400
    assert pts(tr, "train/accuracy")[0] == (0, 0.023)
    v = va.series["eval/loss"]  # the file name says valid
    assert len(v) == 400 and v.step[0] == 0 and v.value[0] > 9
    assert v.value.min() < 2.7 and v.value[-1] > v.value.min()  # overfitting: min then rise
    assert "train/loss" not in va.series


@needs_corpus
def test_transformer_en_de_and_duplicate_best_prints():
    r = one("raw_other/transformer_en_de_epoch_lines_zh_msgs.log", "kv_generic")
    assert len(r.series["train/loss"]) == 100 and len(r.series["eval/loss"]) == 100
    assert pts(r, "eval/loss")[0] == (1, 3.2508)
    assert r.ending is Ending.completed


@needs_corpus
def test_t5_batch_and_average_losses():
    r = one("raw_other/t5_finetune_bleu_20ep.log", "kv_generic")
    assert len(r.series["train/batch_loss"]) == 7760
    assert len(r.series["train/loss"]) == 20  # "Average Train Loss"
    assert "eval/bleu_4" in r.series


@needs_corpus
def test_verl_prefixed_steps_then_crash():
    r = one("raw_other/verl_grpo_ray_ansi_prefixed_crash.out", "kv_generic")
    pg = r.series["train/actor/pg_loss"]
    assert len(pg) == 21 and pg.step[0] == 1 and pg.step[-1] == 21
    assert pts(r, "train/actor/pg_loss")[1] == (2, 0.04758650064468384)
    assert r.ending is Ending.crashed and "ActorUnavailableError" in r.ending_reason


@needs_corpus
def test_sparse_and_text_heavy_logs():
    r = one("raw_other/phi2_qlora_sparse_final_only.log", "kv_generic")
    assert r.series["train/final_loss"].value.tolist() == [pytest.approx(1.1465, abs=1e-4)]
    assert r.series["train/final_loss"].step_origin is StepOrigin.index
    g = one("raw_other/custom_grpo_ansi_interleaved_generations.log", "kv_generic")
    assert "train/grpo_loss" in g.series and "train/answer" not in g.series


# ---------------------------------------------------------------------------
# Fixtures from real tiny trainings (skipped until they exist)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fixture,parser", [("nanogpt_loop", "nanogpt"), ("kv_loop", "kv_generic")])
def test_fixture_loops(fixture, parser):
    d = FIXTURES / fixture
    logs = sorted(p for p in d.glob("*.log")) if d.is_dir() else []
    if not logs:
        pytest.skip(f"fixture {fixture} not generated yet")
    for p in logs:
        assert sniff_winner(p) == parser
        res = PARSERS[parser].parse(p, ParseContext())
        runs = res if isinstance(res, list) else [res]
        tl = runs[0].train_loss
        assert tl is not None and len(tl) >= 2
        assert np.isfinite(tl.value).any()


# ---------------------------------------------------------------------------
# Generic key handling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("key,expected", [
    ("loss", ("train", "loss")), ("train_loss", ("train", "loss")), ("avg_train_loss", ("train", "loss")),
    ("Train Loss", ("train", "loss")), ("val loss", ("eval", "loss")), ("Valid Loss", ("eval", "loss")),
    ("avg_val_loss", ("eval", "loss")), ("test ppl", ("test", "perplexity")), ("LR", ("train", "learning_rate")),
    ("learning rate", ("train", "learning_rate")), ("gnorm", ("train", "grad_norm")), ("Grad", ("train", "grad_norm")),
    ("norm", ("train", "grad_norm")), ("tok/s", ("train", "tokens_per_sec")), ("dev_f1", ("eval", "f1")),
])
def test_normalise_key(key, expected):
    split, name, metric = normalise_key(key)
    assert ((split or "train"), name) == expected and metric


def test_kv_recognises_and_refuses(tmp_path):
    p = tmp_path / "loop.log"
    p.write_text(
        "Namespace(epochs=5, lr=20, batch_size=32)\n"            # config: refused
        "Loading 12 shards from /data/2024/run 7\n"               # prose numbers: refused
        "step=10 loss=2.5 lr=1e-4 seed=42\n"                      # explicit key=value on a step line
        "The model has 124 layers and loss is high\n"             # prose: refused
        "[Step 20/40] Loss: 2.25 | Global Tokens/s: 1,200\n"
        "Epoch 1 - avg_train_loss: 2.2  avg_val_loss: 2.4  time: 12s\n"
        "step 30, loss 2.0, acc 55.5%, x = 7\n"                   # "x = 7" (spaced) is not key=value
        "step 40 | loss inf | ppl NaN\n"
        "Training done.\n")
    r = KVGenericParser().parse(p, ParseContext())
    assert pts(r, "train/loss") == [(10, 2.5), (20, 2.25), (30, 2.0), (40, math.inf)]
    assert pts(r, "train/seed") == [(10, 42)]
    assert pts(r, "train/tokens_per_sec") == [(20, 1200)]
    assert pts(r, "eval/loss") == [(20, 2.4)]  # epoch summary placed at the last step
    assert pts(r, "train/loss_epoch") == [(20, 2.2)]
    assert pts(r, "train/accuracy") == [(30, 55.5)]
    assert math.isnan(r.series["train/perplexity"].value[0])
    assert not any(k.endswith(("/layers", "/shards", "/x", "/batch_size", "/epochs")) for k in r.series)
    assert r.ending is Ending.completed and "40" in r.ending_reason  # [Step 20/40]: 40 declared, 40 reached


# ---------------------------------------------------------------------------
# Bad input: never an exception other than ParseError
# ---------------------------------------------------------------------------

BAD_INPUTS = {
    "empty": b"",
    "binary": bytes(range(256)) * 64,
    "nul_bytes": b"iter 0: loss 2.5, time 10.00ms, mfu 1.00%\n\x00\x00\x00iter 10: loss 2.4\x00, time 1ms\n",
    "invalid_utf8": b"step 1 | loss \xff\xfe 2.5 | lr 1e-3\nstep 2 | loss 2.4 | lr 1e-3 \xc3\n",
    "huge_line": b"step 1 loss=2.5 " + b"x" * (5 * 1024 * 1024) + b" loss=3\nstep 2 loss=2.4\n",
    "nonfinite": (b"iter 0: loss nan, time 1.00ms, mfu 1.00%\niter 1: loss inf, time 1.00ms, mfu 1.00%\n"
                  b"step=2 loss=NaN grad_norm=Infinity\nstep=3 loss=-inf lr=1e308\nstep=4 loss=1e-308\n"),
    "only_newlines": b"\n\n\r\n\r\r\n",
    "cr_frames": b"\r 10%|# | 1/10 [00:01<00:09, loss=2.5]\r 20%|## | 2/10 [00:02<00:08, loss=2.4]\n",
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_never_crashes(tmp_path, parser, case):
    p = tmp_path / f"{case}.log"
    p.write_bytes(BAD_INPUTS[case])
    head = BAD_INPUTS[case][: 256 * 1024]
    score = PARSERS[parser].sniff(p, head)
    assert 0.0 <= score <= 1.0
    if case in ("empty", "binary"):
        assert score == 0.0
    try:
        res = PARSERS[parser].parse(p, ParseContext())
    except ParseError:
        assert case == "binary"
        return
    for r in (res if isinstance(res, list) else [res]):
        assert isinstance(r, Run)


def test_nonfinite_and_extreme_values_are_kept(tmp_path):
    p = tmp_path / "x.log"
    p.write_bytes(BAD_INPUTS["nonfinite"])
    r = KVGenericParser().parse(p, ParseContext())
    loss = dict(pts(r, "train/loss"))
    assert math.isnan(loss[2]) and loss[3] == -math.inf and loss[4] == 1e-308
    assert pts(r, "train/learning_rate") == [(3, 1e308)]
    assert pts(r, "train/grad_norm")[0][1] == math.inf
    n = NanoGPTParser().parse(p, ParseContext())
    v = n.series["train/loss"].value
    assert math.isnan(v[0]) and v[1] == math.inf


def test_crlf_equals_lf(tmp_path):
    body = ("step 0: train loss 2.5000, val loss 2.6000\niter 0: loss 2.4000, time 10.00ms, mfu -100.00%\n"
            "iter 10: loss 2.3000, time 10.00ms, mfu 3.00%\n")
    a, b = tmp_path / "lf.log", tmp_path / "crlf.log"
    a.write_bytes(body.encode())
    b.write_bytes(body.replace("\n", "\r\n").encode())
    ra, rb = (NanoGPTParser().parse(x, ParseContext()) for x in (a, b))
    assert pts(ra, "train/loss") == pts(rb, "train/loss") == [(0, 2.4), (10, 2.3)]
    assert pts(rb, "train/mfu") == [(10, 3.0)]


def test_binary_is_parse_error(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(b"\x00\x01\x02PK\x03\x04" * 1000)
    for parser in PARSERS.values():
        assert parser.sniff(p, p.read_bytes()) == 0.0
        with pytest.raises(ParseError):
            parser.parse(p, ParseContext())


def test_restart_note_and_appended_runs(tmp_path):
    p = tmp_path / "two.log"
    lines = [f"iter {i}: loss {3 - i / 100:.4f}, time 1.00ms, mfu 1.00%" for i in range(0, 100, 10)]
    lines += [f"iter {i}: loss {2.5 - i / 100:.4f}, time 1.00ms, mfu 1.00%" for i in range(50, 120, 10)]  # resume
    lines += [f"iter {i}: loss {3.1 - i / 100:.4f}, time 1.00ms, mfu 1.00%" for i in range(0, 50, 10)]  # new run
    p.write_text("\n".join(lines) + "\n")
    runs = NanoGPTParser().parse(p, ParseContext())
    assert isinstance(runs, list) and len(runs) == 2
    assert runs[0].name.endswith("#1") and runs[1].name.endswith("#2")
    assert any("went back from 90 to 50 at line 11" in n for n in runs[0].notes)
    assert len(runs[0].series["train/loss"]) == 17 and len(runs[1].series["train/loss"]) == 5
    assert runs[1].series["train/loss"].value[0] == 3.1


def test_traceback_keyboard_interrupt_and_rank_dedup(tmp_path):
    p = tmp_path / "ranks.log"
    p.write_text(
        "[rank0]:step 1 | loss 2.5000 | lr 1e-3\n[rank1]:step 1 | loss 2.6000 | lr 1e-3\n"
        "0: step 2 | loss 2.4000 | lr 1e-3\n"
        "[rank0]:UserWarning: something odd\n[rank1]:UserWarning: something odd\n"
        "Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    main()\n"
        "KeyboardInterrupt\n")
    r = NanoGPTParser().parse(p, ParseContext())
    assert pts(r, "train/loss") == [(1, 2.5), (2, 2.4)]
    w = [e for e in r.events if "something odd" in e.text]
    assert len(w) == 1 and w[0].count == 2 and w[0].step == 2
    assert r.ending is Ending.interrupted and r.ending_line == 9


# ---------------------------------------------------------------------------
# Properties (one per parser): printed numbers come back as they were printed
# ---------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
anyfloat = st.floats(allow_nan=True, allow_infinity=True)
PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@PROP
@given(st.lists(st.tuples(positive, positive, positive), min_size=1, max_size=30))
def test_property_nanogpt(tmp_path, rows):
    text = "".join(f"iter {i * 10}: loss {a:.4f}, time {b:.2f}ms, mfu {c:.2f}%\n" for i, (a, b, c) in enumerate(rows))
    r = NanoGPTParser().parse(_write(tmp_path, "n.log", text), ParseContext())
    assert r.series["train/loss"].value.tolist() == [float(f"{a:.4f}") for a, _, _ in rows]
    assert r.series["train/step_time_ms"].step.tolist() == [i * 10.0 for i in range(len(rows))]


@PROP
@given(st.lists(st.tuples(positive, positive), min_size=1, max_size=30), st.integers(30, 10**6))
def test_property_megatron(tmp_path, rows, total):
    text = "".join(f" iteration {i + 1:>8}/{total:>8} | elapsed time per iteration (ms): 100.0 | "
                   f"lm loss: {a:.6E} | grad norm: {g:.3f} | number of skipped iterations:   0 |\n"
                   for i, (a, g) in enumerate(rows))
    r = MegatronParser().parse(_write(tmp_path, "m.log", text), ParseContext())
    assert r.series["train/loss"].value.tolist() == [float(f"{a:.6E}") for a, _ in rows]
    assert r.series["train/grad_norm"].value.tolist() == [float(f"{g:.3f}") for _, g in rows]
    assert r.ending is (Ending.completed if len(rows) >= total else Ending.interrupted)


@PROP
@given(st.lists(finite, min_size=1, max_size=30))
def test_property_fairseq_json(tmp_path, losses):
    text = "".join(f'[2021-05-01 12:00:00,000][train_inner][INFO] - {{"epoch": 1, "update": 0.1, '
                   f'"loss": "{x:.3f}", "num_updates": "{(i + 1) * 100}", "lr": "0.0001"}}\n'
                   for i, x in enumerate(losses))
    r = FairseqParser().parse(_write(tmp_path, "f.log", text), ParseContext())
    assert r.series["train/loss"].value.tolist() == [float(f"{x:.3f}") for x in losses]
    assert r.series["train/loss"].step[-1] == len(losses) * 100


@PROP
@given(st.lists(st.tuples(positive, st.integers(0, 10**7)), min_size=1, max_size=30))
def test_property_torchtitan(tmp_path, rows):
    text = "".join(f"[rank0]:[titan] 2025-01-01 10:00:00,000 - root - INFO - \x1b[31mstep: {i + 1}  "
                   f"\x1b[32mloss: {a:8.4f}  \x1b[33mmemory: 1.00GiB(2.00%)  \x1b[34mtps: {t:,}  mfu: 1.00%\x1b[39m\n"
                   for i, (a, t) in enumerate(rows))
    r = TorchTitanParser().parse(_write(tmp_path, "t.log", text), ParseContext())
    assert r.series["train/loss"].value.tolist() == [float(f"{a:.4f}") for a, _ in rows]
    assert r.series["train/tokens_per_sec"].value.tolist() == [float(t) for _, t in rows]


@PROP
@given(st.lists(anyfloat, min_size=1, max_size=30), st.sampled_from(["=", ": ", " "]), st.sampled_from([" ", " | ", ", "]))
def test_property_kv_generic(tmp_path, losses, sep, fs):
    text = "".join(f"step{sep}{i}{fs}loss{sep}{x!r}{fs}lr{sep}0.001\n" for i, x in enumerate(losses))
    r = KVGenericParser().parse(_write(tmp_path, "k.log", text), ParseContext())
    got = r.series["train/loss"].value.tolist()
    assert len(got) == len(losses)
    for g, x in zip(got, losses):
        assert (math.isnan(g) and math.isnan(x)) or g == x
    assert r.series["train/loss"].step.tolist() == [float(i) for i in range(len(losses))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_property_fuzz_never_raises_other_errors(tmp_path, data):
    p = tmp_path / "fuzz.log"
    p.write_bytes(data)
    for parser in PARSERS.values():
        parser.sniff(p, data)
        try:
            parser.parse(p, ParseContext())
        except ParseError:
            pass


def test_timestamp_prefixed_nanogpt_and_megatron(tmp_path):
    p = tmp_path / "n.log"
    p.write_text("2024-01-01 12:00:00,123 - INFO - step 0: train loss 4.0000, val loss 4.1000\n"
                 "2024-01-01 12:00:01,123 - INFO - iter 0: loss 3.9000, time 12.00ms, mfu -100.00%\n"
                 "INFO:__main__:iter 10: loss 3.5000, time 11.00ms, mfu 2.50%\n")
    assert sniff_winner(p) == "nanogpt"
    r = NanoGPTParser().parse(p, ParseContext())
    assert pts(r, "train/loss") == [(0, 3.9), (10, 3.5)] and pts(r, "eval/loss") == [(0, 4.1)]
    m = tmp_path / "m.log"
    m.write_text("[2024-05-01 12:00:00] iteration      100/     200 | consumed samples: 3200 | "
                 "elapsed time per iteration (ms): 812.3 | learning rate: 1.5E-04 | lm loss: 6.3E+00 | "
                 "loss scale: 1.0 | grad norm: 1.2 | number of skipped iterations: 0 | number of nan iterations: 0 |\n"
                 "[2024-05-01 12:01:00] iteration      200/     200 | lm loss: nan | grad norm: nan | "
                 "number of skipped iterations: 1 | number of nan iterations: 1 |\n"
                 " validation loss at iteration 200 on validation set | lm loss value: 6.1E+00 | lm loss PPL: 4.5E+02 |\n")
    r = MegatronParser().parse(m, ParseContext())
    assert pts(r, "train/loss")[0] == (100, 6.3) and math.isnan(pts(r, "train/loss")[1][1])
    assert pts(r, "train/nan_iterations") == [(100, 0), (200, 1)]
    assert pts(r, "eval/loss") == [(200, 6.1)] and pts(r, "eval/perplexity") == [(200, 450.0)]
    assert r.ending is Ending.completed


# ---------------------------------------------------------------------------
# Fast paths (block reader, nanoGPT iter lines read a block at a time) == the general path
# ---------------------------------------------------------------------------

import logcheck.plugins.parse_raw as parse_raw  # noqa: E402
from logcheck.parsing import iter_lines  # noqa: E402


def _variants(cls):
    """The parser as shipped, without its block path, and with no fast path at all."""
    full = cls()
    per_line = cls()
    per_line.fast_block = None
    general = cls()
    general.fast_block = None
    general.fast_line = None
    return full, per_line, general


def _runs(parser, path):
    try:
        res = parser.parse(path, ParseContext())
    except ParseError as e:
        return f"ParseError: {e}"
    return list(res) if isinstance(res, list) else [res]


def assert_same_runs(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert list(x.series) == list(y.series)  # same series, first-logged order
        for k, s in x.series.items():
            t = y.series[k]
            assert (s.key, s.step_origin, s.source) == (t.key, t.step_origin, t.source), k
            for f in ("step", "value", "epoch", "line"):
                u, v = getattr(s, f), getattr(t, f)
                assert u.shape == v.shape and np.array_equal(u, v, equal_nan=True), f"{k}.{f}"
        assert x.model_dump(exclude={"series"}) == y.model_dump(exclude={"series"})


def assert_paths_agree(cls, path):
    full, per_line, general = (_runs(p, path) for p in _variants(cls))
    assert_same_runs(full, general)
    assert_same_runs(per_line, general)
    return full


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few lines, so that small inputs cross many block ends and take the block path."""
    monkeypatch.setattr(parse_raw, "_BLOCK", 257)
    monkeypatch.setattr(parse_raw, "_FAST_BLOCK_MIN", 0)


@needs_corpus
@pytest.mark.parametrize("rel", _raw_files())
def test_fast_paths_equal_general_path_on_corpus(rel, monkeypatch):
    path = CORPUS / rel
    parser = PARSERS[sniff_winner(path)]
    shipped = _runs(parser, path)  # default blocks
    monkeypatch.setattr(parse_raw, "_BLOCK", 257)
    monkeypatch.setattr(parse_raw, "_FAST_BLOCK_MIN", 0)
    assert_same_runs(_runs(parser, path), shipped)  # many block ends: the same lines
    if isinstance(parser, NanoGPTParser) or path.stat().st_size < 300_000:
        assert_paths_agree(NanoGPTParser, path)  # also on logs the nanoGPT block path does not expect


@needs_corpus
def test_fast_paths_on_a_big_real_nanogpt_log(tmp_path):
    """A real nanoGPT log repeated 40 times (> 1 MiB, default blocks): 40 appended runs, each with
    nanoGPT's "mfu -100.00%" first iterations and eval lines between the dense ones."""
    src = (CORPUS / "raw_nanogpt/nanogpt_gpt2_owt_10k_iters.log").read_bytes()
    p = tmp_path / "owt_x40.log"
    p.write_bytes(src * 40)
    runs = assert_paths_agree(NanoGPTParser, p)
    assert len(runs) == 40 and p.stat().st_size > parse_raw._BLOCK
    first = runs[0].series
    # the line column is shared by the three series of the iter line, mfu without its -100 rows
    assert first["train/loss"].line.base is first["train/step_time_ms"].line.base
    assert len(first["train/mfu"]) < len(first["train/loss"])


# "{s}": the step of the dense line before, so that only the line's own shape decides its path
_EDGE_LINES = [
    "iter {s}:1 loss , time 3.00ms, mfu 2.00%",  # an empty field, an extra number: not an iter line
    "it3er {s}: loss 1.0000, time 2.00ms, mfu 3.00%",
    "iter {s}.5: loss 2.0000, time 3.00ms, mfu 4.00%",  # a step with a dot
    "iter {s}: loss 1.2.3, time 3.00ms, mfu 4.00%",  # unreadable number
    "iter {s}: loss ., time 3.00ms, mfu 4.00%",
    "iter {s}: loss nan, time 3.00ms, mfu 4.00%",
    "iter {s}: loss inf, time 3.00ms, mfu 4.00%",
    "iter {s}: loss 2.0000, time 3.00ms, mfu -100.00%",  # nanoGPT's "not measured yet"
    "iter {s}: loss 2.0000, time 3.00ms",
    "iter {s}: loss 007.50, time 3.ms, mfu .5%",
    "iter {s}: loss 1234567890.123456789012, time 3.00ms, mfu 4.00%",  # more digits than a double holds
    "iter {s}: loss 2.0000, time 3.00ms, mfu 4.00%  ",
    "iter 2: loss 2.0000, time 3.00ms, mfu 4.00%",  # the step goes back
    "iter 0: loss 2.0000, time 3.00ms, mfu 4.00%",  # back to the first step: a new run
    "Traceback (most recent call last):",
    "RuntimeError: CUDA error",
    "step {s}: train loss 2.1000, val loss 2.2000",
    "[rank1]: iter {s}: loss 2.0000, time 3.00ms, mfu 4.00%",
    "2024-01-01 12:00:00 - INFO - iter {s}: loss 2.0000, time 3.00ms, mfu 4.00%",
    "iter {s}: loss 2.0000, time 3.00ms, mfu 4.00%\x00",
    "iter {s}: loss 2.0000, time 3.00ms, mfu 4.00%\r",
    "",
    "some text with iter in it and numbers 1 2 3",
]


def _dense(start: int, count: int) -> list[str]:
    return [f"iter {i}: loss {2 + 1 / (i + 1):.4f}, time {100 + i % 7:.2f}ms, mfu {30 + i % 3:.2f}%"
            for i in range(start, start + count)]


@pytest.mark.parametrize("edge", range(len(_EDGE_LINES)))
def test_fast_paths_agree_on_edge_lines(tmp_path, small_blocks, edge):
    e = _EDGE_LINES[edge]
    lines = _dense(0, 30) + [e.format(s=29)] + _dense(30, 30) + [e.format(s=59)] + _dense(60, 5)
    p = tmp_path / "edge.log"
    p.write_bytes("\n".join(lines).encode("utf-8"))  # no final newline
    runs = assert_paths_agree(NanoGPTParser, p)
    assert isinstance(runs, list) and sum(len(r.series["train/loss"]) for r in runs) >= 65


@PROP
@given(st.lists(st.sampled_from(_EDGE_LINES).map(lambda e: e.format(s=7)) | st.integers(0, 40).map(lambda i: _dense(i, 1)[0]),
                min_size=1, max_size=60),
       st.sampled_from([b"\n", b"\r\n"]))
def test_property_fast_paths_agree(tmp_path, lines, eol):
    p = tmp_path / "prop.log"
    p.write_bytes(eol.join(ln.encode("utf-8") for ln in lines) + eol)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parse_raw, "_BLOCK", 200)
        mp.setattr(parse_raw, "_FAST_BLOCK_MIN", 0)
        assert_paths_agree(NanoGPTParser, p)


class _Recorder(parse_raw._RawParser):
    name = "recorder"

    def line(self, st, n, text, rank):
        st.seen.append((n, text))


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_block_reader_gives_the_lines_of_iter_lines(tmp_path, monkeypatch, block):
    """Line numbers, CRLF, empty lines, a line longer than MAX_LINE_BYTES (in pieces), no final newline."""
    monkeypatch.setattr(parse_raw, "_BLOCK", block)
    long = b"x" * (parse_raw.MAX_LINE_BYTES + 10) + b"\r"
    data = b"a\r\n\nb c\r\n" + long + b"\n" + b"y" * (parse_raw.MAX_LINE_BYTES - 1) + b"\r\nlast\r"
    p = tmp_path / "lines.log"
    p.write_bytes(data)
    rec = _Recorder()
    seen = []
    orig = parse_raw._Stream.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        self.seen = seen

    monkeypatch.setattr(parse_raw._Stream, "__init__", init)
    run = rec.parse(p, ParseContext())
    expected = []
    for n, raw in iter_lines(p):
        if raw:
            text = raw.decode("utf-8", "replace")
            expected.append((n, parse_raw.last_frame(text) if "\r" in text else text))
    assert seen == expected
    assert run.sources[0].lines == max(n for n, _ in iter_lines(p)) == 6


def test_detection_asks_a_capped_parser_only_when_it_could_win(tmp_path):
    # max_score lets detection skip a costly sniff that cannot beat a more confident parser,
    # and gives the same winner as asking every parser in order (of equals, the first registered)
    from logcheck import Parser
    from logcheck.plugins.detect import logcheck_detect_format as detect

    asked = []

    def parser(name, score, cap=1.0):
        class P(Parser):
            max_score = cap

            def sniff(self, path, head):
                asked.append(name)
                return score
        p = P()
        p.name = name
        return p

    f = tmp_path / "x.log"
    f.write_text("x")
    # a confident parser registered after the capped one: the capped one is not asked
    assert detect(path=f, head=b"x", parsers={"generic": parser("generic", 0.35, 0.35), "hf": parser("hf", 0.95)}) == "hf"
    assert asked == ["hf"]
    asked.clear()
    # nothing more confident: it is asked, and wins
    assert detect(path=f, head=b"x", parsers={"generic": parser("generic", 0.35, 0.35), "weak": parser("weak", 0.3)}) == "generic"
    assert asked == ["weak", "generic"]
    asked.clear()
    # a tie at its cap: registered first, it still wins, as in order
    assert detect(path=f, head=b"x", parsers={"generic": parser("generic", 0.35, 0.35), "other": parser("other", 0.35)}) == "generic"
    assert detect(path=f, head=b"x", parsers={"other": parser("other", 0.35), "generic": parser("generic", 0.35, 0.35)}) == "other"
