"""The warnings check and its knowledge base.

Messages that claim to be a library's output are produced by that library
(transformers' own functions, called here) or read from real logs in
../shared/corpus; the tests skip cleanly when either is unavailable.
"""
from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from logcheck import RunBuilder, Severity, Status
from logcheck.plugins import check_warnings as cw
from logcheck.plugins import warning_kb as kb
from logcheck.testing import first, make_test_settings, run_check

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


# ---------------------------------------------------------------------------
# Library-produced message text
# ---------------------------------------------------------------------------


def _capture(logger: logging.Logger, fn) -> str:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    try:
        fn()
    finally:
        logger.removeHandler(handler)
    return buf.getvalue().strip()


@pytest.fixture(scope="module")
def trainer_after_load():
    """transformers' own ``Trainer._issue_warnings_after_load``: keys -> the message it logs."""
    trainer_mod = pytest.importorskip("transformers.trainer")

    def message(missing=(), unexpected=()) -> list[str]:
        fake_self = SimpleNamespace(model=SimpleNamespace(_keys_to_ignore_on_save=None))
        result = SimpleNamespace(missing_keys=list(missing), unexpected_keys=list(unexpected))
        text = _capture(trainer_mod.logger,
                        lambda: trainer_mod.Trainer._issue_warnings_after_load(fake_self, result))
        return [ln for ln in text.splitlines() if ln.strip()]

    return message


@pytest.fixture(scope="module")
def load_report():
    """transformers 5's own ``log_state_dict_report``: (class name, source, keys) -> the text it logs."""
    lr = pytest.importorskip("transformers.utils.loading_report")
    fields = lr.LoadStateDictInfo.__dataclass_fields__

    def message(cls_name: str, src: str, missing=(), unexpected=()) -> str:
        kwargs = dict(missing_keys=set(missing), unexpected_keys=set(unexpected), mismatched_keys=set(),
                      error_msgs=[], conversion_errors={}, skipped_pp_keys=set())
        info = lr.LoadStateDictInfo(**{k: v for k, v in kwargs.items() if k in fields})
        model = type(cls_name, (), {})()
        logger = logging.getLogger("logcheck-test-load-report")
        logger.setLevel(logging.WARNING)
        return _capture(logger, lambda: lr.log_state_dict_report(model, src, False, info, logger=logger))

    return message


def _run(events, model_name=None, extra=None, steps=40):
    b = RunBuilder("run.log", "hf")
    for i in range(steps):
        b.add("train", "loss", 20.0 * (i + 1), 4.2 - 0.01 * i, line=10 + i)
    if model_name:
        b.config["model_name"] = model_name
    if extra:
        b.config_extra.update(extra)
    for line, level, text in events:
        b.event(line, level, text)
    return b.build()


# ---------------------------------------------------------------------------
# The reference run: missing lm_head.weight at the end, GPT-2 family
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["distilgpt2", "gpt2"])
def test_reference_missing_lm_head_is_benign_because_gpt2_ties(trainer_after_load, model_name):
    (msg,) = trainer_after_load(missing=["lm_head.weight"])
    assert msg.startswith("There were missing keys in the checkpoint model loaded: ['lm_head.weight']")
    res = run_check(cw, _run([(905, "warning", msg)], model_name=model_name))
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None, res.findings
    assert "GPT-2 ties lm_head.weight to transformer.wte.weight" in f.message
    assert f.evidence["verdict"] == "benign" and f.line == 905
    assert res.status == Status.pass_  # the report must not cry wolf
    assert not first(res, kb.WEIGHTS_NOT_LOADED)


def test_model_revealed_by_class_name_in_another_message(trainer_after_load, load_report):
    (msg,) = trainer_after_load(missing=["lm_head.weight"])
    # the model class appears in a transformers load report earlier in the same log
    pre = load_report("GPT2LMHeadModel", "./tiny-model", unexpected=["transformer.h.0.attn.masked_bias"])
    res = run_check(cw, _run([(3, "warning", pre), (905, "warning", msg)]))
    assert res.facts["model_family"] == "gpt2"
    assert first(res, kb.WEIGHTS_NOT_LOADED) is None
    assert "GPT-2 ties lm_head.weight" in first(res, kb.WEIGHTS_LOAD_BENIGN).message


def test_explicit_tie_flag_wins_over_family(trainer_after_load):
    (msg,) = trainer_after_load(missing=["lm_head.weight"])
    res = run_check(cw, _run([(905, "warning", msg)], model_name="gpt2", extra={"tie_word_embeddings": False}))
    assert first(res, kb.WEIGHTS_NOT_LOADED) is not None
    assert res.status == Status.warn


def test_untied_llama_head_missing_is_harmful(trainer_after_load):
    (msg,) = trainer_after_load(missing=["lm_head.weight"])
    res = run_check(cw, _run([(905, "warning", msg)], model_name="meta-llama/Llama-2-7b-hf"))
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None and f.evidence["verdict"] == "harmful"
    assert "does not tie" in f.message and "Llama-2-7b" in f.message
    assert res.status == Status.warn


def test_unknown_model_is_conditional_not_alarm(trainer_after_load):
    (msg,) = trainer_after_load(missing=["lm_head.weight"])
    res = run_check(cw, _run([(905, "warning", msg)]))
    f = first(res, kb.WEIGHTS_LOAD_UNVERIFIED)
    assert f is not None
    assert "benign if the model ties" in f.message and "does not show the model's config" in f.message
    assert res.status == Status.pass_


def test_missing_body_weights_after_reload_are_harmful(trainer_after_load):
    (msg,) = trainer_after_load(missing=["transformer.h.0.attn.c_attn.weight", "lm_head.weight"])
    res = run_check(cw, _run([(905, "warning", msg)], model_name="gpt2"))
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None and "transformer.h.0.attn.c_attn.weight" in f.message


def test_renamed_parameters_pair_up_and_are_harmful(trainer_after_load):
    missing = ["bert.encoder.layer.0.attention.self.query.weight", "bert.embeddings.word_embeddings.weight"]
    unexpected = ["encoder.layer.0.attention.self.query.weight", "embeddings.word_embeddings.weight"]
    lines = trainer_after_load(missing=missing, unexpected=unexpected)
    assert len(lines) == 2
    res = run_check(cw, _run([(700, "warning", lines[0]), (701, "warning", lines[1])], model_name="bert-base-uncased"))
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None, res.findings
    assert "renamed" in f.message and "'bert.encoder.layer.0.attention.self.query.weight'" in f.message
    assert len([x for x in res.findings if x.code.startswith("WRN00")]) == 1  # the two messages are one load


def test_rename_pairs_helper():
    assert cw.rename_pairs(["module.a.w"], ["model.a.w"]) == [("module.a.w", "model.a.w")]
    assert cw.rename_pairs(["a.w"], ["module.a.w"]) == [("a.w", "module.a.w")]
    assert cw.rename_pairs(["lm_head.weight"], []) == []
    assert cw.rename_pairs(["x.y"], ["z.q"]) == []
    assert cw.rename_pairs(["classifier.bias"], ["cls.bias"]) == []  # two heads, not a rename


def test_pretraining_head_swapped_for_classifier_is_benign(load_report):
    text = load_report("BertForSequenceClassification", "bert-base-uncased",
                       missing=["classifier.weight", "classifier.bias"],
                       unexpected=["cls.predictions.bias", "cls.seq_relationship.weight", "cls.seq_relationship.bias"])
    res = run_check(cw, _run([(5, "warning", text)], steps=0))
    assert first(res, kb.WEIGHTS_NOT_LOADED) is None, res.findings
    assert first(res, kb.WEIGHTS_LOAD_BENIGN) is not None


def test_transformers5_load_report_table_is_parsed(load_report):
    text = load_report("BertForSequenceClassification", "bert-base-uncased",
                       missing=["classifier.weight", "classifier.bias"])
    assert "LOAD REPORT" in text
    res = run_check(cw, _run([(5, "warning", text)], steps=0))
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None, res.findings
    assert set(f.evidence["missing"]) == {"classifier.weight", "classifier.bias"}
    assert "task head" in f.message


def test_transformers5_load_report_backbone_missing_is_harmful(load_report):
    text = load_report("LlamaForCausalLM", "./ckpt", missing=[f"model.layers.{i}.mlp.up_proj.weight" for i in range(4)])
    res = run_check(cw, _run([(5, "warning", text)], steps=0))
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None and "model.layers" in f.message


# ---------------------------------------------------------------------------
# Real lines from the corpus
# ---------------------------------------------------------------------------


def _corpus_events(rel: str, pattern: str, level: str = "warning", limit: int = 50):
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"corpus file {rel} not available")
    rx = re.compile(pattern)
    out = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if rx.search(text):
                out.append((n, level, text))
                if len(out) >= limit:
                    break
    assert out, f"{rel}: no line matches {pattern!r}"
    return out


def test_corpus_unused_pretraining_head_is_benign():
    events = _corpus_events("lightning/pl_roberta_biencoder_wandb_capture_nan_ctrlc.log",
                            r"^Some weights of the model checkpoint at roberta-base were not used")
    res = run_check(cw, _run(events, steps=0))
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None, res.findings
    assert "lm_head.decoder.weight" in f.evidence["unexpected"]
    assert f.evidence["model_class"] == "RobertaModel"
    assert res.status == Status.pass_


def test_corpus_new_classifier_head_at_start_is_benign():
    events = _corpus_events("hf/bert_mlm_then_cls_two_trainer_runs.txt",
                            r"^Some weights of BertForSequenceClassification were not initialized")
    res = run_check(cw, _run(events, steps=0))
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None and "classifier.weight" in f.evidence["missing"]
    assert "start of fine-tuning" in f.message


def test_newly_initialized_after_training_started_is_harmful():
    events = _corpus_events("hf/bert_mlm_then_cls_two_trainer_runs.txt",
                            r"^Some weights of BertForSequenceClassification were not initialized")
    b = RunBuilder("run.log", "hf")
    b.add("train", "loss", 500.0, 1.0, line=1)  # training had reached step 500 before the message
    for line, level, text in events:
        b.event(line + 100, level, text)
    res = run_check(cw, b.build())
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None and f.step == 500


def test_corpus_oom_is_error():
    events = _corpus_events("raw_megatron/megatron_ds_2node_oom_rank_prefixed.log", r"CUDA out of memory",
                            level="error")
    res = run_check(cw, _run(events))
    f = first(res, kb.OUT_OF_MEMORY)
    assert f is not None and f.line == events[0][0]
    assert f.evidence["count"] == len(events)
    assert res.status == Status.fail


def test_corpus_deepspeed_overflows_at_start_are_benign():
    events = _corpus_events("raw_other/deepspeed_zero3_fp16_overflow_8gpu.out", r"OVERFLOW! Rank \d+ Skipping step",
                            level="info")
    res = run_check(cw, _run(events, steps=200))
    f = first(res, kb.BENIGN_MESSAGE)
    assert f is not None and f.evidence["entry"] == "fp16-overflow"
    assert f.evidence["overflows"] == len(events) == 5
    assert first(res, kb.LOSS_SCALE_OVERFLOWS) is None


def test_frequent_overflows_warn():
    events = _corpus_events("raw_fairseq/fairseq_hydra_hubert_pretrain_overflow_restart_truncated.log",
                            r"gradient overflow detected", level="info", limit=1000)
    res = run_check(cw, _run(events, steps=len(events)))  # one overflow per logged step: far too many
    assert len(events) > 20
    f = first(res, kb.LOSS_SCALE_OVERFLOWS)
    assert f is not None and f.evidence["overflows"] == len(events)
    assert res.status == Status.warn


def test_corpus_use_reentrant_is_benign_and_nccl_teardown_benign():
    events = _corpus_events("hf/peft_two_adapters_summary_only.out", r"use_reentrant")
    events += _corpus_events("raw_megatron/megatron_ds_qwen7b_tp4_500it.log", r"destroy_process_group\(\)")
    res = run_check(cw, _run(events))
    ids = {f.evidence.get("entry") for f in res.findings}
    assert {"checkpoint-use-reentrant", "destroy-process-group"} <= ids
    assert res.status == Status.pass_


# ---------------------------------------------------------------------------
# Patterns, unknown warnings, quiet runs
# ---------------------------------------------------------------------------

# Format examples for the patterns, written out from the library sources named in warning_kb.
PATTERN_EXAMPLES = {
    "nccl-timeout": "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=BROADCAST, "
                    "NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600081 milliseconds before timing out.",
    "dataloader-worker-killed": "RuntimeError: DataLoader worker (pid 4242) is killed by signal: Killed.",
    "fp16-overflow": "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 32768.0",
    "pad-token-eos": "Setting `pad_token_id` to `eos_token_id`:50256 for open-end generation.",
    "tokenizers-fork": "huggingface/tokenizers: The current process just got forked, after parallelism has "
                       "already been used. Disabling parallelism to avoid deadlocks...",
    "lightning-few-workers": "The 'train_dataloader' does not have many workers which may be a bottleneck.",
    "cuda-out-of-memory": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB.",
    "deprecation": "FutureWarning: `tokenizer` is deprecated and will be removed in version 5.0.0.",
}


@pytest.mark.parametrize("entry_id,text", sorted(PATTERN_EXAMPLES.items()))
def test_pattern_examples_classify(entry_id, text):
    entry, _ = cw.classify(text)
    assert entry is not None and entry.id == entry_id


def test_nccl_timeout_is_error():
    res = run_check(cw, _run([(77, "error", PATTERN_EXAMPLES["nccl-timeout"])]))
    assert first(res, kb.DISTRIBUTED_TIMEOUT) is not None and res.status == Status.fail


def test_kb_entries_are_well_formed():
    ids = [e.id for e in kb.KNOWN_MESSAGES]
    assert len(ids) == len(set(ids))
    codes = {r.code for r in cw.RULES}
    for e in kb.KNOWN_MESSAGES:
        assert e.verdict in (kb.BENIGN, kb.HARMFUL, kb.DEPENDS, kb.INFO)
        assert e.code in codes and e.reason
        assert (e.analysis is not None) == (e.verdict == kb.DEPENDS)
        assert e.needles and all(n == n.lower() for n in e.needles), e.id  # the prefilter is lower-case


def test_many_long_unknown_events_are_cheap():
    import time

    b = RunBuilder("run.log", "raw")
    for i in range(2000):  # the most events a run keeps, each near the 2000-character cap
        b.event(i + 1, "warning", "x.y" * 500 + f" unknown warning {i} " + "z" * 400)
    run = b.build()
    settings = make_test_settings([cw])
    t0 = time.perf_counter()
    res = cw.logcheck_check(run=run, settings=settings)
    assert time.perf_counter() - t0 < 5.0
    assert res.facts["unclassified"] == 2000


def test_unknown_warnings_are_listed_with_count_and_first_line():
    b = RunBuilder("run.log", "raw")
    b.add("train", "loss", 1.0, 2.0, line=1)
    for line in (12, 30, 31):
        b.event(line, "warning", "UserWarning: frobnication level is unusual for this widget")
    b.event(40, "error", "Something else went sideways")
    res = run_check(cw, b.build())
    unknown = [f for f in res.findings if f.code == kb.UNCLASSIFIED_WARNING]
    assert len(unknown) == 2
    assert unknown[0].evidence["count"] == 3 and unknown[0].line == 12
    assert res.status == Status.pass_  # listed, not judged


def test_unknown_warning_list_is_capped():
    b = RunBuilder("run.log", "raw")
    for i in range(30):
        b.event(i + 1, "warning", f"custom warning number {i}")
    res = run_check(cw, b.build(), params={kb.UNCLASSIFIED_WARNING: {"max_listed": 5}})
    unknown = [f for f in res.findings if f.code == kb.UNCLASSIFIED_WARNING]
    assert len(unknown) == 6 and "25 more" in unknown[-1].message


def test_no_events_skips():
    res = run_check(cw, _run([]))
    assert res.status == Status.skip and res.reason


def test_benign_only_run_stays_quiet():
    events = [(i + 1, "warning", t) for i, t in enumerate(
        [PATTERN_EXAMPLES["pad-token-eos"], PATTERN_EXAMPLES["tokenizers-fork"], PATTERN_EXAMPLES["deprecation"]])]
    res = run_check(cw, _run(events))
    settings = make_test_settings([cw])
    assert all(settings.severity_of(f.code) == Severity.info for f in res.findings)
    assert res.status == Status.pass_


def test_rules_documented():
    for r in cw.RULES:
        for section in ("## What it does", "## Why is this bad", "## Example", "## How to fix"):
            assert section in r.doc, (r.code, section)


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_real_hf_tiny_fixture_missing_lm_head_without_model_evidence():
    """tests/fixtures/hf_tiny: a real Trainer run whose console log never names the model."""
    if not (FIXTURES / "hf_tiny" / "trainer_state.json").is_file():  # generated last
        pytest.skip("fixture hf_tiny not generated")
    from logcheck.pipeline import analyze_paths

    # The console log alone does not say which model it was: unverified, not guessed.
    report = analyze_paths([str(FIXTURES / "hf_tiny" / "run.log")])
    res = next(r for r in report.runs[0].results if r.check == "warnings")
    f = first(res, kb.WEIGHTS_LOAD_UNVERIFIED)
    assert f is not None and f.evidence["missing"] == ["lm_head.weight"]
    assert "does not show the model's config" in f.message
    assert res.status == Status.pass_
    # The run folder holds the model's config.json (tie_word_embeddings true): benign, with the reason.
    report = analyze_paths([str(FIXTURES / "hf_tiny")])
    res = next(r for r in report.runs[0].results if r.check == "warnings")
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None and "ties lm_head.weight to transformer.wte.weight" in f.message


def test_real_healthy_fixture_has_nothing_at_warning_or_above():
    if not (FIXTURES / "hf_tiny" / "trainer_state.json").is_file():  # generated last
        pytest.skip("fixture hf_tiny not generated")
    from logcheck.pipeline import analyze_paths

    report = analyze_paths([str(FIXTURES / "hf_tiny")])
    for res in report.runs[0].results:
        if res.check in ("warnings", "throughput", "config"):
            assert res.status in (Status.pass_, Status.skip), (res.check, res.reason)


def test_real_untied_gpt2_fixture_is_harmful_once_the_config_is_known():
    """tests/fixtures/hf_untied_head: a real GPT-2 with tie_word_embeddings=False whose checkpoints lack
    lm_head.weight. The console log prints the same message as the tied run; the model's own config.json
    (next to the log) says the head is untied. Until the loader reads config.json into run.config, this
    test puts its fields there itself."""
    import json

    folder = FIXTURES / "hf_untied_head"
    if not (folder / "trainer_state.json").is_file() or not (folder / "config.json").is_file():
        pytest.skip("fixture hf_untied_head not generated")
    from logcheck.pipeline import load_paths, prepare

    settings, pm = prepare(load_entrypoints=False)
    runs, _ = load_paths([str(folder)], settings, pm)
    run = runs[0]
    model_cfg = json.loads((folder / "config.json").read_text())
    if "tie_word_embeddings" not in run.config.extra:
        extra = dict(run.config.extra, tie_word_embeddings=model_cfg["tie_word_embeddings"],
                     model_type=model_cfg["model_type"], architectures=model_cfg["architectures"])
        run = run.model_copy(update={"config": run.config.model_copy(update={"extra": extra})})
    res = run_check(cw, run)
    f = first(res, kb.WEIGHTS_NOT_LOADED)
    assert f is not None, res.findings
    assert f.evidence["missing"] == ["lm_head.weight"] and f.evidence["model_ties_embeddings"] is False
    assert "does not tie" in f.message
    assert res.status == Status.warn


def test_real_tied_gpt2_fixture_is_benign_once_the_config_is_known():
    """tests/fixtures/hf_tiny (the reference run's shape): GPT-2 ties lm_head to wte, so the message is benign."""
    import json

    folder = FIXTURES / "hf_tiny"
    if not (folder / "trainer_state.json").is_file() or not (folder / "config.json").is_file():
        pytest.skip("fixture hf_tiny not generated")
    from logcheck.pipeline import load_paths, prepare

    settings, pm = prepare(load_entrypoints=False)
    run = load_paths([str(folder)], settings, pm)[0][0]
    model_cfg = json.loads((folder / "config.json").read_text())
    if "architectures" not in run.config.extra:  # until the loader reads config.json (see the report)
        extra = dict(run.config.extra, model_type=model_cfg["model_type"], architectures=model_cfg["architectures"])
        if "tie_word_embeddings" in model_cfg:
            extra["tie_word_embeddings"] = model_cfg["tie_word_embeddings"]
        run = run.model_copy(update={"config": run.config.model_copy(update={"extra": extra})})
    res = run_check(cw, run)
    f = first(res, kb.WEIGHTS_LOAD_BENIGN)
    assert f is not None, res.findings
    assert "GPT-2 ties lm_head.weight to transformer.wte.weight" in f.message
    assert res.status == Status.pass_
