"""Knowledge base of library messages that training logs carry.

Each :class:`KnownMessage` says what one kind of message means: a regex that
finds it in an event's text, a verdict, the rule code a finding uses, the
reason (why the verdict) and the fix. ``check_warnings`` matches every event
against :data:`KNOWN_MESSAGES` in order; the first match wins, so specific
entries come before generic ones (deprecations last).

Verdicts:

- ``benign``: expected, nothing to do (the reason says why);
- ``harmful``: the run lost something (the reason says what);
- ``depends``: the verdict needs context (which keys, which model, how often,
  when); ``check_warnings`` decides it with the entry's ``analysis``;
- ``info``: worth knowing, not a problem in itself (deprecations, performance hints).

The message formats were taken from the libraries' sources: transformers'
``Trainer._issue_warnings_after_load`` (``There were missing/unexpected keys in
the checkpoint model loaded: [...]``), ``PreTrainedModel.from_pretrained`` in
transformers 4.x (``Some weights of X were not initialized from the model
checkpoint at Y and are newly initialized: [...]``, ``Some weights of the model
checkpoint at Y were not used when initializing X: [...]``), transformers 5's
``log_state_dict_report`` (``X LOAD REPORT from: Y`` and a ``Key | Status`` table),
DeepSpeed's ``loss_scaler.update_scale``, fairseq's trainer, PyTorch and Lightning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

BENIGN = "benign"
HARMFUL = "harmful"
DEPENDS = "depends"
INFO = "info"

# Rule codes (declared with their docs in check_warnings).
WEIGHTS_NOT_LOADED = "WRN001"
WEIGHTS_LOAD_BENIGN = "WRN002"
WEIGHTS_LOAD_UNVERIFIED = "WRN003"
OUT_OF_MEMORY = "WRN004"
DISTRIBUTED_TIMEOUT = "WRN005"
DATALOADER_WORKER_DIED = "WRN006"
LOSS_SCALE_OVERFLOWS = "WRN007"
HARMFUL_MESSAGE = "WRN008"
BENIGN_MESSAGE = "WRN009"
DEPRECATION_NOTICE = "WRN010"
PERFORMANCE_NOTICE = "WRN011"
UNCLASSIFIED_WARNING = "WRN012"
KNOWN_NOTICE = "WRN013"


@dataclass(frozen=True)
class KnownMessage:
    """One kind of library message and what it means."""

    id: str
    pattern: LazyPattern  # behaves as a compiled re.Pattern
    verdict: str
    code: str
    reason: str
    hint: str = ""
    #: for verdict "depends": which analysis in check_warnings decides it
    analysis: Optional[str] = None
    #: lower-case substrings, one of which the text must contain before the regex runs (speed)
    needles: tuple[str, ...] = ()


class LazyPattern:
    """A regex compiled on first use: ``re.compile`` is pure Python (~0.3 ms a pattern here) and most
    entries never run on a given log (the ``needles`` prefilter skips them), so importing the knowledge
    base must not compile all of them. Every other attribute is the compiled pattern's."""

    __slots__ = ("pattern", "_flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self._flags = flags
        self._compiled: Optional[re.Pattern] = None

    def compiled(self) -> re.Pattern:
        rx = self._compiled
        if rx is None:
            rx = self._compiled = re.compile(self.pattern, self._flags)
        return rx

    def search(self, string: str, *args: int) -> Optional[re.Match]:
        return self.compiled().search(string, *args)

    def match(self, string: str, *args: int) -> Optional[re.Match]:
        return self.compiled().match(string, *args)

    def __getattr__(self, name: str) -> object:  # flags, finditer, findall, sub, groupindex, ...
        if name.startswith("__") or name in LazyPattern.__slots__:  # copy/pickle probing a bare instance
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyPattern):
            return (self.pattern, self._flags) == (other.pattern, other._flags)
        return self.compiled() == other

    def __hash__(self) -> int:
        return hash((self.pattern, self._flags))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {re.RegexFlag(self._flags)!r})"


def _rx(p: str) -> LazyPattern:
    return LazyPattern(p, re.IGNORECASE | re.DOTALL)


KNOWN_MESSAGES: tuple[KnownMessage, ...] = (
    # --- weights loading -------------------------------------------------------
    KnownMessage(
        id="hf-missing-keys-after-load", needles=('missing keys in the checkpoint',),
        pattern=_rx(r"There were missing keys in the checkpoint model loaded:\s*(?P<keys>[\[{].*)"),
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="the Trainer reloaded a checkpoint (resume or best model) and some parameters were not in it",
        hint="check that every missing key is a tied weight; otherwise those parameters are untrained",
    ),
    KnownMessage(
        id="hf-unexpected-keys-after-load", needles=('unexpected keys in the checkpoint',),
        pattern=_rx(r"There were unexpected keys in the checkpoint model loaded:\s*(?P<keys>[\[{].*)"),
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="the reloaded checkpoint holds parameters the model does not have",
        hint="a checkpoint of a different architecture or renamed modules; compare the key names",
    ),
    KnownMessage(
        id="hf-newly-initialized-shape-mismatch", needles=('newly initialized because',),
        pattern=_rx(r"Some weights of (?P<cls>\S+) were not initialized from the model checkpoint at (?P<src>\S+)"
                    r" and are newly initialized because the shapes did not match"),
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="from_pretrained re-initialised weights whose shapes differ from the checkpoint's",
        hint="expected for a task head with a new number of labels; otherwise the config does not match the checkpoint",
    ),
    KnownMessage(
        id="hf-newly-initialized", needles=('newly initialized',),
        pattern=_rx(r"Some weights of (?P<cls>\S+) were not initialized from the (?:model checkpoint at (?P<src>\S+)|"
                    r"Flax model|PyTorch model)\s+and are newly initialized:\s*(?P<keys>[\[{].*)"),
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="from_pretrained created parameters that the checkpoint does not hold",
        hint="expected for a new task head at the start of fine-tuning; train the model before using it",
    ),
    KnownMessage(
        id="hf-unused-checkpoint-weights", needles=('were not used when initializing',),
        pattern=_rx(r"Some weights of the model checkpoint at (?P<src>\S+) were not used when initializing "
                    r"(?P<cls>[^:\s]+):\s*(?P<keys>[\[{].*)"),
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="from_pretrained dropped checkpoint parameters the model class has no place for",
        hint="expected when loading a checkpoint into a class with another head; not when the classes should match",
    ),
    KnownMessage(
        id="hf-load-report", needles=('load report',),  # transformers >= 5
        pattern=_rx(r"LOAD REPORT\W* from: (?P<src>\S+)"),  # the class name before it: see check_warnings
        verdict=DEPENDS, code=WEIGHTS_LOAD_UNVERIFIED, analysis="weights",
        reason="from_pretrained reported keys that were missing, unexpected or reshaped",
        hint="read the report's table: MISSING keys are newly initialised, UNEXPECTED keys were dropped",
    ),
    KnownMessage(
        id="hf-best-model-not-found", needles=('could not locate the best model',),
        pattern=_rx(r"Could not locate the best model at (?P<src>\S+)"),
        verdict=HARMFUL, code=HARMFUL_MESSAGE,
        reason="load_best_model_at_end could not find the best checkpoint, so the final model is the last one, not the best",
        hint="in distributed runs, make every node able to read the output dir (or set save_on_each_node=True)",
    ),
    # --- fatal resource and communication errors ---------------------------------
    KnownMessage(
        id="cuda-out-of-memory", needles=('out of memory', 'outofmemoryerror', 'resource_exhausted'),
        pattern=_rx(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
                    r"RESOURCE_EXHAUSTED|HIP out of memory|MPS backend out of memory"),
        verdict=HARMFUL, code=OUT_OF_MEMORY,
        reason="the accelerator ran out of memory",
        hint="lower the per-device batch size (keep the effective batch with gradient_accumulation_steps), "
             "enable gradient checkpointing or mixed precision, or shorten sequences",
    ),
    KnownMessage(
        id="nccl-timeout", needles=('timeout', 'timed out', 'time out'),
        pattern=_rx(r"Watchdog caught collective operation timeout|collective operation timeout|"
                    r"NCCL (?:communicator|operation).{0,80}time(?:d)? ?out|ProcessGroupNCCL.{0,120}Timeout|"
                    r"NCCL.{0,40}watchdog.{0,80}(?:timeout|abort)|DistBackendError.{0,120}timeout|"
                    r"Some NCCL operations have failed or timed out"),
        verdict=HARMFUL, code=DISTRIBUTED_TIMEOUT,
        reason="a collective operation did not complete in time: a rank hung, died or fell behind",
        hint="find the rank that stalled (its own traceback or OOM); raise the timeout only for known slow steps "
             "such as checkpointing or evaluation on rank 0",
    ),
    KnownMessage(
        id="nccl-error", needles=('nccl',),
        pattern=_rx(r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|ncclRemoteError"),
        verdict=HARMFUL, code=DISTRIBUTED_TIMEOUT,
        reason="the collective-communication library reported an error",
        hint="rerun with NCCL_DEBUG=INFO to see which link or rank failed",
    ),
    KnownMessage(
        id="dataloader-worker-killed", needles=('dataloader worker',),
        pattern=_rx(r"DataLoader worker \(pid\(?s?\)?.{0,40}\) (?:is killed|exited unexpectedly)"),
        verdict=HARMFUL, code=DATALOADER_WORKER_DIED,
        reason="a DataLoader worker process died (often killed by the OS for host memory, or shared memory full)",
        hint="lower num_workers or prefetch_factor, raise /dev/shm (docker --shm-size), or look for a crash in the dataset code",
    ),
    # --- mixed precision ----------------------------------------------------------
    KnownMessage(
        id="fp16-overflow", needles=('overflow',),
        pattern=_rx(r"Gradient overflow\.\s+Skipping step|OVERFLOW!\s+Rank \d+ Skipping step|"
                    r"gradient overflow detected, ignoring gradient|Skipping step, loss scaler \d+ reducing loss scale"),
        verdict=DEPENDS, code=LOSS_SCALE_OVERFLOWS, analysis="overflow",
        reason="the fp16 loss scaler found inf/NaN gradients, skipped the update and lowered the scale",
        hint="a few at the start are the scaler calibrating; if they keep coming, use bf16, lower the learning rate "
             "or clip gradients",
    ),
    # --- performance hints -----------------------------------------------------------
    KnownMessage(
        id="lightning-few-workers", needles=('does not have many workers',),
        pattern=_rx(r"does not have many workers which may be a bottleneck"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="Lightning found a DataLoader with few workers, which can starve the accelerator",
        hint="raise num_workers (Lightning suggests a value in the message) if step time is spent waiting for data",
    ),
    KnownMessage(
        id="lightning-log-interval", needles=('smaller than the logging interval',),
        pattern=_rx(r"number of training batches \(\d+\) is smaller than the logging interval"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="an epoch has fewer batches than log_every_n_steps, so some epochs log no training points",
        hint="set Trainer(log_every_n_steps=...) below the number of batches per epoch",
    ),
    KnownMessage(
        id="torch-compile-recompile", needles=('torch._dynamo hit config',),
        pattern=_rx(r"torch\._dynamo hit config\.(?:cache_size_limit|recompile_limit)"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="torch.compile recompiled too often and fell back to eager mode for a function",
        hint="mark dynamic dimensions or pad inputs to fixed shapes",
    ),
    KnownMessage(
        id="deepspeed-allocator-cache-flush", needles=('allocator cache flushes',),
        pattern=_rx(r"pytorch allocator cache flushes since last step"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="DeepSpeed ZeRO-3 ran near the memory limit and flushed the allocator cache, which slows steps",
        hint="lower the micro-batch size or enable activation checkpointing / offload to relieve memory pressure",
    ),
    KnownMessage(
        id="fused-softmax-unavailable", needles=('fused softmax kernel',),
        pattern=_rx(r"constraints for invoking optimized fused softmax kernel are not met"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="Megatron fell back to the unfused softmax kernel (slower, same result)",
        hint="use a sequence length / head configuration the fused kernel supports if speed matters",
    ),
    KnownMessage(
        id="peak-flops-fallback", needles=('peak flops undefined',),
        pattern=_rx(r"Peak flops undefined for: .{1,80}fallback to"),
        verdict=INFO, code=PERFORMANCE_NOTICE,
        reason="the framework does not know this accelerator's peak FLOP/s and assumed another one, so the "
               "logged mfu is relative to the wrong peak",
        hint="divide the logged TFLOPS by your accelerator's real peak (or set peak_flops) for a true utilization",
    ),
    # --- notices: worth knowing, neither benign nor harmful ------------------------------
    KnownMessage(
        id="keyboard-interrupt", needles=('keyboardinterrupt', 'ctrl + c'),
        pattern=_rx(r"^\s*KeyboardInterrupt|Ctrl \+ C detected|Detected KeyboardInterrupt"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="the run was stopped by hand (Ctrl-C) or by a signal, not by its schedule",
        hint="",
    ),
    KnownMessage(
        id="deepspeed-no-checkpoint-to-resume", needles=('unable to find latest file',),
        pattern=_rx(r"Unable to find latest file at .{1,300}if trying to load latest checkpoint"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="DeepSpeed found no checkpoint to resume from, so this run started from scratch",
        hint="if you meant to resume, point --load at the checkpoint directory",
    ),
    KnownMessage(
        id="checkpoint-dir-not-empty", needles=('exists and is not empty',),
        pattern=_rx(r"Checkpoint directory .{1,300} exists and is not empty"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="checkpoints of this run go into a folder that already holds files (another run's checkpoints "
               "may be mixed in)",
        hint="use a fresh output directory per run",
    ),
    KnownMessage(
        id="bf16-grad-accumulation", needles=('bf16 gradient accumulation',),
        pattern=_rx(r"BF16 gradient accumulation is not safe numerically"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="gradients are accumulated in bf16, which loses precision with many accumulation steps",
        hint="accumulate gradients in fp32 (DeepSpeed data_types.grad_accum_dtype='fp32') for long accumulations",
    ),
    KnownMessage(
        id="fsdp-upcast", needles=('fsdp upcast',),
        pattern=_rx(r"FSDP upcast of low precision parameters to fp32"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="FSDP keeps low-precision parameters in fp32 under mixed precision; saved checkpoints are fp32",
        hint="",
    ),
    KnownMessage(
        id="iterable-dataset-len", needles=('iterabledataset',),
        pattern=_rx(r"Your `IterableDataset` has `__len__` defined"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="with several DataLoader workers the epoch length (and the progress bar, the epoch numbers) may be wrong",
        hint="shard the IterableDataset per worker and make __len__ match",
    ),
    KnownMessage(
        id="old-kernel", needles=('detected kernel version',),
        pattern=_rx(r"Detected kernel version [\d.]+, which is below the recommended minimum"),
        verdict=INFO, code=KNOWN_NOTICE,
        reason="accelerate warns that old Linux kernels can hang multi-process jobs",
        hint="only relevant if the run hung",
    ),
    # --- benign notices ------------------------------------------------------------
    KnownMessage(
        id="pad-token-eos", needles=('pad_token_id',),
        pattern=_rx(r"Setting `?pad_token_id`? to `?eos_token_id`?"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="generate() uses the end-of-sequence token for padding because the model has no pad token (normal for GPT-2)",
        hint="pass pad_token_id=tokenizer.eos_token_id to generate() to silence it",
    ),
    KnownMessage(
        id="tokenizers-fork", needles=('huggingface/tokenizers',),
        pattern=_rx(r"huggingface/tokenizers: The current process just got forked"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="the fast tokenizer disabled its own threads after a fork (DataLoader workers); results are unchanged",
        hint="set TOKENIZERS_PARALLELISM=false to silence it",
    ),
    KnownMessage(
        id="tokenizer-sequence-longer-than-model", needles=("token indices sequence length is longer",),
        pattern=_rx(r"Token indices sequence length is longer than the specified maximum sequence length"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason=("the tokenizer was given a whole text at once (e.g. a corpus tokenized as one stream, then cut "
                "into blocks); only feeding that sequence to the model unchunked would fail"),
        hint="nothing to do when the text is cut into model-sized blocks before training",
    ),
    KnownMessage(
        id="pin-memory-without-accelerator", needles=("pin_memory",),
        pattern=_rx(r"'pin_memory' argument is set as true but no accelerator is found"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="a CPU run: there is no device memory to pin, so the DataLoader simply does not pin",
        hint="set dataloader_pin_memory=False on CPU to silence it",
    ),
    KnownMessage(
        id="loss-type-none-default", needles=("loss_type=none",),
        pattern=_rx(r"`loss_type=None` was set in the config but it is unrecogni[sz]ed"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="transformers falls back to the model's standard loss (ForCausalLMLoss for a causal LM), as intended",
        hint="nothing to do",
    ),
    KnownMessage(
        id="tokenizer-special-tokens-aligned", needles=("new pad/bos/eos tokens",),
        pattern=_rx(r"The tokenizer has new PAD/BOS/EOS tokens that differ from the model config"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason=("transformers copied the tokenizer's special tokens (e.g. pad = eos for GPT-2) into the model and "
                "generation configs, so padding and generation use the same ids as the data"),
        hint="set the model config's pad_token_id yourself to silence it",
    ),
    KnownMessage(
        id="checkpoint-use-reentrant", needles=('use_reentrant',),
        pattern=_rx(r"torch\.utils\.checkpoint: (?:please pass in use_reentrant|the use_reentrant parameter)"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="gradient checkpointing asks for an explicit use_reentrant; the default still works",
        hint="pass gradient_checkpointing_kwargs={'use_reentrant': False}",
    ),
    KnownMessage(
        id="use-cache-gradient-checkpointing", needles=('use_cache=true',),
        pattern=_rx(r"`use_cache=True` is incompatible with gradient checkpointing"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="the KV cache is switched off while training with gradient checkpointing; it is not needed for training",
        hint="set model.config.use_cache = False before training to silence it",
    ),
    KnownMessage(
        id="attention-mask-not-set", needles=('attention mask',),
        pattern=_rx(r"The attention mask (?:and the pad token id were|is) not set"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="generate() inferred the attention mask; harmless for unpadded single prompts",
        hint="pass attention_mask to generate() when prompts are padded",
    ),
    KnownMessage(
        id="destroy-process-group", needles=('destroy_process_group',),
        pattern=_rx(r"destroy_process_group\(\) was not called before program exit"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="the process exited without tearing down torch.distributed; training results are not affected",
        hint="call torch.distributed.destroy_process_group() at the end of the script",
    ),
    KnownMessage(
        id="lightning-batch-size-inference", needles=('infer the `batch_size`',),
        pattern=_rx(r"Trying to infer the `batch_size` from an ambiguous collection"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="Lightning guessed the batch size for epoch-level averaging of logged values",
        hint="pass batch_size= to self.log()",
    ),
    KnownMessage(
        id="fast-tokenizer-pad", needles=('fast tokenizer',),
        pattern=_rx(r"with a fast tokenizer, using the `__call__` method is faster"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="a speed tip from the data collator; results are unchanged",
        hint="",
    ),
    KnownMessage(
        id="deepspeed-op-report", needles=('libaio', 'cutlass', 'nvidia inference', 'sparse_attn', 'triton version', 'hostfile'),
        pattern=_rx(r"async_io requires the dev libaio|async_io: please install the libaio|gds requires the dev libaio|"
                    r"gds: please install the libaio|If libaio is already installed|specify the CUTLASS repo directory|"
                    r"NVIDIA Inference is only supported on Ampere|sparse_attn requires a torch version|"
                    r"using untested triton version|FP Quantizer is using an untested triton version|"
                    r"Unable to find hostfile, will proceed with training with local resources"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="DeepSpeed's report of optional native ops that are not built; ops the run does not use",
        hint="",
    ),
    KnownMessage(
        id="run-name-equals-output-dir", needles=('run_name',),
        pattern=_rx(r"The `run_name` is currently set to the same value as `TrainingArguments.output_dir`"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="the experiment tracker's run name defaults to the output directory",
        hint="set run_name= to name runs in the tracker",
    ),
    KnownMessage(
        id="process-group-device-id", needles=('barrier()', 'device id'),
        pattern=_rx(r"barrier\(\): using the device under current context|No device id is provided via `init_process_group`"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="torch.distributed guessed the device for a collective from the current CUDA context",
        hint="pass device_id= to init_process_group to silence it",
    ),
    KnownMessage(
        id="hf-hub-unauthenticated", needles=('unauthenticated requests',),
        pattern=_rx(r"You are sending unauthenticated requests to the HF Hub"),
        verdict=BENIGN, code=BENIGN_MESSAGE,
        reason="downloads from the Hugging Face Hub without a token are rate-limited, nothing else",
        hint="set HF_TOKEN",
    ),
    # --- deprecations (generic, so last) -----------------------------------------------
    KnownMessage(
        id="deprecation", needles=('futurewarning', 'deprecationwarning', 'deprecat', 'will be removed in'),
        pattern=_rx(r"\bFutureWarning\b|\bDeprecationWarning\b|\bdeprecat(?:ed|ion|ing)\b|\bwill be removed in\b"),
        verdict=INFO, code=DEPRECATION_NOTICE,
        reason="a library API or setting the script uses is deprecated; it works now and may break on upgrade",
        hint="follow the replacement the message names before upgrading the library",
    ),
)

# ---------------------------------------------------------------------------
# Weight tying: which parameters are tied to another, and which models tie
# ---------------------------------------------------------------------------

#: Parameter (as a key suffix) -> the parameter it is tied to, when the model ties embeddings.
TIED_KEY_SOURCES: tuple[tuple[str, str], ...] = (
    ("lm_head.weight", "the input embeddings (transformer.wte.weight in GPT-2, model.embed_tokens.weight in "
                       "LLaMA-style models, shared.weight in T5/BART)"),
    ("proj_out.weight", "model.decoder.embed_tokens.weight (Whisper)"),
    ("encoder.embed_tokens.weight", "shared.weight (T5/BART)"),
    ("decoder.embed_tokens.weight", "shared.weight (T5/BART)"),
    ("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight (BERT)"),
    ("cls.predictions.decoder.bias", "cls.predictions.bias (BERT)"),
    ("lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight (RoBERTa)"),
    ("lm_head.decoder.bias", "lm_head.bias (RoBERTa)"),
    ("generator_lm_head.weight", "the generator's input embeddings (ELECTRA)"),
    ("vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight (DistilBERT)"),
    ("predictions.decoder.weight", "the word embeddings (ALBERT)"),
    ("embed_out.weight", "the input embeddings (GPT-NeoX, when tied)"),
    ("output.weight", "tok_embeddings.weight (when tied)"),
)

#: Exact tie partner for the reason text, per model family.
TIE_PAIR_BY_FAMILY: dict[str, str] = {
    "gpt2": "GPT-2 ties lm_head.weight to transformer.wte.weight",
    "whisper": "Whisper ties proj_out.weight to model.decoder.embed_tokens.weight",
    "t5": "T5 (v1.0) ties lm_head.weight and the encoder/decoder embed_tokens to shared.weight",
    "bart": "BART ties lm_head.weight and the encoder/decoder embed_tokens to model.shared.weight",
    "bert": "BERT ties cls.predictions.decoder.weight to bert.embeddings.word_embeddings.weight",
    "roberta": "RoBERTa ties lm_head.decoder.weight to roberta.embeddings.word_embeddings.weight",
    "distilbert": "DistilBERT ties vocab_projector.weight to distilbert.embeddings.word_embeddings.weight",
}

#: (family, regex on a model name / class / model_type, ties embeddings: True/False).
#: Order matters: the first match wins, so exceptions come before their family.
MODEL_FAMILIES: tuple[tuple[str, LazyPattern, Optional[bool]], ...] = (
    # families whose tying depends on the size: never guess
    ("llama-3.2", _rx(r"llama-?3\.2"), None),
    ("qwen", _rx(r"qwen"), None),
    ("t5-v1.1", _rx(r"flan-?t5|t5-v1_1|t5v1_1|\bmt5|umt5|byt5"), False),
    ("gpt2", _rx(r"distilgpt2|\bgpt-?2|GPT2LMHeadModel|GPT2Model|GPT2ForSequenceClassification|dialogpt"), True),
    ("whisper", _rx(r"whisper"), True),
    ("t5", _rx(r"\bt5\b|t5-(?:small|base|large|3b|11b)|T5ForConditionalGeneration"), True),
    ("bart", _rx(r"\bbart|mbart|BartForConditionalGeneration|pegasus|marian|opus-mt"), True),
    ("distilbert", _rx(r"distilbert"), True),
    ("roberta", _rx(r"roberta|camembert"), True),
    ("bert", _rx(r"\bbert|BertFor|BertModel|albert|electra"), True),
    ("gpt-neo", _rx(r"gpt-?neo(?!x)"), True),
    ("opt", _rx(r"\bopt-\d|OPTForCausalLM"), True),
    ("bloom", _rx(r"bloom"), True),
    ("gemma", _rx(r"gemma"), True),
    ("llama", _rx(r"llama|LlamaForCausalLM"), False),
    ("mistral", _rx(r"mistral|mixtral"), False),
    ("gpt-j", _rx(r"gpt-?j\b|GPTJForCausalLM"), False),
    ("gpt-neox", _rx(r"gpt-?neox|pythia"), False),
    ("phi", _rx(r"\bphi-?\d|PhiForCausalLM"), False),
)

#: Prefixes of parameters that a new task head adds (expected to be newly initialised).
TASK_HEAD_PREFIXES: tuple[str, ...] = (
    "classifier.", "score.", "qa_outputs.", "pooler.", "bert.pooler.", "roberta.pooler.", "cls.",
    "lm_head.", "pre_classifier.", "classification_head.", "logits_proj.", "head.",
    "seq_relationship.", "multiple_choice_head.", "summary.", "v_head.", "value_head.", "proj_out.",
    "projector.", "final_logits_bias",
)
