"""The warnings check: what the library messages in a log mean.

Every event (warning, error or library notice) is matched against the
knowledge base in :mod:`logcheck.plugins.warning_kb`. Messages whose verdict
depends on context are decided here:

- weight-loading reports (missing / unexpected / newly initialised / unused
  keys) by *which* keys, *which* model (does it tie its embeddings?) and *when*
  (from_pretrained at the start vs. a reload after training started);
- fp16 loss-scale overflows by how often they happen.

Warnings that match nothing are listed as such, never guessed at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from logcheck import CheckResult, Event, Finding, Param, Rule, Run, Settings, Severity, Status, hookimpl, rule_doc

from . import warning_kb as kb
from .warning_kb import KnownMessage

CHECK = "warnings"

def _rule(code: str, name: str, severity: Severity, summary: str, what: str, why: str, example: str,
          fix: str, params: Optional[dict[str, Param]] = None) -> Rule:
    return Rule(code=code, name=name, check=CHECK, severity=severity, summary=summary,
                doc=rule_doc(what, why, example, fix), params=params or {})


RULES: tuple[Rule, ...] = (
    _rule(kb.WEIGHTS_NOT_LOADED, "weights-not-loaded", Severity.warning,
          "A weight-loading message means some parameters were not loaded (untied head, renamed keys, backbone).",
          "Reads `There were missing keys in the checkpoint model loaded`, `Some weights of X were not initialized "
          "... newly initialized`, `Some weights of the model checkpoint ... were not used` and transformers 5's "
          "`LOAD REPORT`, and flags the cases where parameters really stayed untrained: a missing untied `lm_head` "
          "(e.g. LLaMA with `tie_word_embeddings=False`), missing and unexpected keys that pair up under another "
          "prefix (renamed modules), backbone layers newly initialised, or weights re-initialised after training "
          "started.",
          "The model silently trains or evaluates with random parameters in place of the ones you meant to load.",
          "There were missing keys in the checkpoint model loaded: ['lm_head.weight'].   (LLaMA, untied head)",
          "Load the checkpoint into the class it was saved from; map renamed keys; save with "
          "`save_pretrained` so tied weights are handled; check `tie_word_embeddings`."),
    _rule(kb.WEIGHTS_LOAD_BENIGN, "weights-load-benign", Severity.info,
          "A weight-loading message that is expected, with the reason (tied weights, new task head, dropped pretraining head).",
          "Explains load messages that are harmless, and why: the missing key is tied to a weight that was loaded "
          "(GPT-2's `lm_head.weight` is `transformer.wte.weight`), the newly initialised keys are a new task head "
          "at the start of fine-tuning, or the unused keys are the checkpoint's pretraining head.",
          "Nothing is wrong; the finding records the reason so nobody has to guess.",
          "There were missing keys in the checkpoint model loaded: ['lm_head.weight'].   (distilgpt2: tied)",
          "Nothing to do."),
    _rule(kb.WEIGHTS_LOAD_UNVERIFIED, "weights-load-unverified", Severity.info,
          "A weight-loading message whose effect the log cannot settle (e.g. the model's tying is not shown).",
          "Reports load messages where the verdict depends on something the log does not show, and states the "
          "condition under which it is benign.",
          "The same message is harmless for one model and means an untrained layer for another.",
          "There were missing keys in the checkpoint model loaded: ['lm_head.weight'].   (model unknown)",
          "Check the model's config (`tie_word_embeddings`) or log it; logcheck reads it from a config dump."),
    _rule(kb.OUT_OF_MEMORY, "out-of-memory", Severity.error,
          "The accelerator ran out of memory.",
          "Finds CUDA/HIP/MPS out-of-memory errors.",
          "The step (or the run) failed; with several ranks the others then hang or time out.",
          "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 130.00 MiB.",
          "Lower the per-device batch size and keep the effective batch with gradient accumulation; use gradient "
          "checkpointing, mixed precision or shorter sequences."),
    _rule(kb.DISTRIBUTED_TIMEOUT, "distributed-timeout", Severity.error,
          "A collective operation timed out or NCCL reported an error.",
          "Finds NCCL watchdog timeouts and NCCL errors.",
          "One rank hung or died; the whole job stops or wastes its allocation waiting.",
          "Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, Timeout(ms)=600000)",
          "Find the rank that stalled first (its own error); raise the timeout only for known slow steps."),
    _rule(kb.DATALOADER_WORKER_DIED, "dataloader-worker-died", Severity.error,
          "A DataLoader worker process was killed or exited.",
          "Finds `DataLoader worker (pid X) is killed by signal` and `exited unexpectedly`.",
          "Training stops, or restarts workers and loses time; usually host memory or shared memory ran out.",
          "RuntimeError: DataLoader worker (pid 1234) is killed by signal: Killed.",
          "Lower num_workers / prefetch_factor, raise /dev/shm, or fix the dataset code that crashed."),
    _rule(kb.LOSS_SCALE_OVERFLOWS, "loss-scale-overflows", Severity.warning,
          "fp16 loss-scale overflows (skipped steps) are frequent, not just the scaler's start-up calibration.",
          "Counts `Gradient overflow. Skipping step`, DeepSpeed's `OVERFLOW! Rank N Skipping step` and fairseq's "
          "`gradient overflow detected`. A few at the start are the scaler finding its scale (reported as info); "
          "more than `max_fraction` of the steps (and more than `min_count`) is a warning.",
          "Every overflow skips an optimizer step; frequent overflows mean fp16's range is too small for the "
          "gradients, and training silently does less than it says.",
          "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768",
          "Use bf16, lower the learning rate, clip gradients, or find the layer producing inf/NaN.",
          {"max_fraction": Param(default=0.02, doc="overflows per step above which overflows are frequent"),
           "min_count": Param(default=20, doc="fewer overflows than this are never frequent (calibration)")}),
    _rule(kb.HARMFUL_MESSAGE, "harmful-library-message", Severity.warning,
          "A known library message that means the run lost something.",
          "Matches messages the knowledge base marks harmful that have no rule of their own, e.g. "
          "`Could not locate the best model`.",
          "The run did not do what its configuration says.",
          "Could not locate the best model at out/checkpoint-600/pytorch_model.bin",
          "Follow the hint of the finding."),
    _rule(kb.BENIGN_MESSAGE, "benign-library-message", Severity.info,
          "A known library message that is harmless, with the reason.",
          "Matches messages the knowledge base marks benign (pad token notices, tokenizers fork warning, "
          "use_reentrant, rare fp16 overflows at the start).",
          "Nothing is wrong; the reason is recorded so nobody has to wonder.",
          "Setting `pad_token_id` to `eos_token_id`:50256 for open-end generation.",
          "Nothing to do (the hint says how to silence it)."),
    _rule(kb.DEPRECATION_NOTICE, "deprecation-notice", Severity.info,
          "A FutureWarning / DeprecationWarning: works now, may break on upgrade.",
          "Groups deprecation notices by message.",
          "The script relies on an API that a future library version removes.",
          "FutureWarning: `evaluation_strategy` is deprecated and will be removed in version 4.46.",
          "Use the replacement the message names."),
    _rule(kb.PERFORMANCE_NOTICE, "performance-notice", Severity.info,
          "A library hint about speed or logging coverage (few DataLoader workers, log interval).",
          "Matches performance hints from Lightning, torch.compile and others.",
          "The run may be slower than it needs to be, or log fewer points than expected.",
          "The 'train_dataloader' does not have many workers which may be a bottleneck.",
          "Follow the hint."),
    _rule(kb.UNCLASSIFIED_WARNING, "unclassified-warning", Severity.info,
          "A warning or error that the knowledge base does not know; listed, not judged.",
          "Lists each distinct unknown warning with its count and first line (at most `max_listed`).",
          "Unknown is not the same as harmless; someone should read it once.",
          "UserWarning: Some custom message from a training script",
          "Read it; if it recurs across runs, add an entry to the knowledge base (a plugin can register more).",
          {"max_listed": Param(default=20, doc="unknown warnings listed one by one; the rest are counted")}),
    _rule(kb.KNOWN_NOTICE, "library-notice", Severity.info,
          "A known message worth knowing that is neither a problem nor noise (interrupted run, no checkpoint to "
          "resume from, checkpoint folder not empty).",
          "Matches messages the knowledge base marks as notices and says what each means for the run.",
          "Not a defect in itself; it changes how the rest of the report reads (e.g. a run stopped by hand).",
          "Unable to find latest file at checkpoints/latest, if trying to load latest checkpoint please ensure ...",
          "Follow the hint if the notice was not intended."),
)


@hookimpl
def logcheck_register_rules(register):
    for rule in RULES:
        register(rule)


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\[[0-9;]{1,8}m")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def classify(text: str) -> tuple[Optional[KnownMessage], Optional[re.Match]]:
    """The first knowledge-base entry whose pattern finds ``text``, and the match."""
    plain = _plain(text)
    low = plain.lower()
    for entry in kb.KNOWN_MESSAGES:
        if entry.needles and not any(n in low for n in entry.needles):
            continue
        m = entry.pattern.search(plain)
        if m:
            return entry, m
    return None, None


# Patterns of the rarer paths compile on first use (kb.LazyPattern): every run imports this module.
_KEY_RX = kb.LazyPattern(r"'([^']+)'|\"([^\"]+)\"")


def parse_key_list(text: str) -> tuple[list[str], bool]:
    """Keys from a printed Python list/set (``['a', 'b']``); True when the list looks cut off."""
    text = text.strip()
    end = text.find("]") if text.startswith("[") else text.find("}")
    body = text if end < 0 else text[: end + 1]
    keys = [a or b for a, b in _KEY_RX.findall(body)]
    return keys, end < 0


# Keys may hold merged layer indices with spaces: "model.layers.{0, 1, 2}.mlp.up_proj.weight".
_REPORT_ROW = kb.LazyPattern(r"^[ \t]*([^|\n]+?)[ \t]*\|[ \t]*(MISSING|UNEXPECTED|MISMATCH)\b", re.MULTILINE)


# ---------------------------------------------------------------------------
# What the log says about the model
# ---------------------------------------------------------------------------

_TIE_FLAG = kb.LazyPattern(r"[\"']?tie_word_embeddings[\"']?\s*[:=]\s*[\"']?(true|false)", re.IGNORECASE)
_MODEL_HINT_LINE = kb.LazyPattern(
    r"model_type|architectures|_name_or_path|model_name|loading (?:weights|configuration) file|"
    r"LOAD REPORT|Some weights of|Model config|from_pretrained", re.IGNORECASE)


@dataclass
class ModelEvidence:
    ties: Optional[bool] = None  # does the model tie its output head to the input embeddings?
    family: Optional[str] = None
    name: Optional[str] = None  # what the family was read from
    source: str = ""  # where in the run: "run config", "line 12"

    def describe(self) -> str:
        return f"model {self.name}, from {self.source}" if self.name else f"from {self.source}"


def model_evidence(run: Run) -> ModelEvidence:
    """What the run reveals about the model: an explicit tie flag wins, then the model family."""
    ev = ModelEvidence()
    cfg = run.config
    # 1. an explicit tie_word_embeddings (config dump or parsed config)
    flag = cfg.extra.get("tie_word_embeddings")
    if isinstance(flag, bool):
        ev.ties, ev.source = flag, "run config (tie_word_embeddings)"
    candidates: list[tuple[str, str]] = []
    if cfg.model_name:
        candidates.append((cfg.model_name, "run config"))
    for k in ("model_type", "architectures", "model_name_or_path", "_name_or_path", "model", "model_name",
              "model_class"):
        v = cfg.extra.get(k)
        if isinstance(v, (list, tuple)):
            v = " ".join(str(x) for x in v)
        if isinstance(v, str) and v:
            candidates.append((v, f"run config ({k})"))
    for e in run.events:
        text = _plain(e.text)
        if ev.ties is None:
            m = _TIE_FLAG.search(text)
            if m:
                ev.ties, ev.source = m.group(1).lower() == "true", f"line {e.line} (tie_word_embeddings)"
        if _MODEL_HINT_LINE.search(text):
            candidates.append((text[:500], f"line {e.line}"))
    for text, source in candidates:
        for family, rx, ties in kb.MODEL_FAMILIES:
            m = rx.search(text)
            if m:
                ev.family, ev.name = family, _word_around(text, m)
                if ev.ties is None:
                    ev.ties = ties
                    ev.source = source
                elif not ev.source:
                    ev.source = source
                return ev
    return ev


def _word_around(text: str, m: re.Match) -> str:
    """The whole token containing the match, e.g. 'distilgpt2' or 'meta-llama/Llama-2-7b-hf'."""
    start, end = m.start(), m.end()
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "\"'[(,:=":
        start -= 1
    while end < len(text) and not text[end].isspace() and text[end] not in "\"'](),:":
        end += 1
    return text[start:end]


# ---------------------------------------------------------------------------
# Weight-loading reports
# ---------------------------------------------------------------------------


@dataclass
class LoadReport:
    """One weight load as the log reports it (may merge two adjacent messages)."""

    kind: str  # "reload" (Trainer loading a checkpoint) or "from_pretrained"
    line: int
    step: Optional[float]
    events: list[Event] = field(default_factory=list)
    entry_ids: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    truncated: bool = False
    cls: Optional[str] = None
    src: Optional[str] = None

    @property
    def last_line(self) -> int:
        return max((e.last_line or e.line) for e in self.events)


def _load_report_from(event: Event, entry: KnownMessage, m: re.Match) -> LoadReport:
    kind = "reload" if entry.id.endswith("after-load") else "from_pretrained"
    rep = LoadReport(kind=kind, line=event.line, step=event.step, events=[event], entry_ids=[entry.id])
    gd = m.groupdict()
    rep.cls, rep.src = gd.get("cls"), gd.get("src")
    if entry.id == "hf-load-report":
        # "GPT2LMHeadModel LOAD REPORT from: ..." (bold escapes around the class removed by _plain)
        before = re.search(r"([A-Za-z_][\w.]{0,100})\W{0,12}$", _plain(event.text)[max(0, m.start() - 120): m.start()])
        rep.cls = before.group(1) if before else None
        for key, status in _REPORT_ROW.findall(_plain(event.text)):
            {"MISSING": rep.missing, "UNEXPECTED": rep.unexpected, "MISMATCH": rep.mismatched}[status].append(key)
        if not (rep.missing or rep.unexpected or rep.mismatched):
            rep.truncated = True  # the table was not captured with the message
        return rep
    if entry.id == "hf-newly-initialized-shape-mismatch":
        rep.mismatched = re.findall(r"^- (\S+): found shape", _plain(event.text), re.MULTILINE)
        rep.truncated = not rep.mismatched
        return rep
    keys, cut = parse_key_list(gd.get("keys") or "")
    rep.truncated = cut
    if entry.id in ("hf-missing-keys-after-load", "hf-newly-initialized"):
        rep.missing = keys
    else:
        rep.unexpected = keys
    return rep


def _merge_adjacent(reports: list[LoadReport], max_gap: int = 12) -> list[LoadReport]:
    """Missing and unexpected keys of one load come as two messages a few lines apart: merge them."""
    out: list[LoadReport] = []
    for rep in sorted(reports, key=lambda r: r.line):
        prev = out[-1] if out else None
        if (prev is not None and prev.kind == rep.kind and rep.line - prev.last_line <= max_gap
                and (rep.cls is None or prev.cls is None or rep.cls == prev.cls)
                and not (set(prev.entry_ids) & set(rep.entry_ids))):
            prev.events += rep.events
            prev.entry_ids += rep.entry_ids
            prev.missing += rep.missing
            prev.unexpected += rep.unexpected
            prev.mismatched += rep.mismatched
            prev.truncated |= rep.truncated
            prev.cls = prev.cls or rep.cls
            prev.src = prev.src or rep.src
            continue
        out.append(rep)
    return out


def rename_pairs(missing: Iterable[str], unexpected: Iterable[str]) -> list[tuple[str, str]]:
    """Missing/unexpected keys that are the same parameter under another prefix.

    ``bert.encoder.layer.0.x`` missing with ``encoder.layer.0.x`` unexpected (a
    prefix added or dropped), or ``model.a.x`` vs ``module.a.x`` (a prefix renamed).
    """
    unexpected = list(unexpected)
    by_name = set(unexpected)
    by_tail: dict[str, str] = {}
    for u in unexpected:
        if "." in u:
            by_tail.setdefault(u.split(".", 1)[1], u)
    pairs = []
    for mk in missing:
        tail = mk.split(".", 1)[1] if "." in mk else None
        # The shared part must name a parameter inside a module ("a.weight"), not just "bias":
        # classifier.bias and cls.bias are two different heads, not one renamed.
        if tail is None or "." not in tail:
            tail = None
        if tail is not None and tail in by_name:  # prefix added on the model side
            pairs.append((mk, tail))
        elif tail is not None and tail in by_tail:  # prefix renamed
            pairs.append((mk, by_tail[tail]))
        elif "." in mk:
            for u in unexpected:  # prefix added on the checkpoint side
                if u.endswith("." + mk):
                    pairs.append((mk, u))
                    break
    return pairs


def _tied_source(key: str) -> Optional[str]:
    for suffix, source in kb.TIED_KEY_SOURCES:
        if key == suffix or key.endswith("." + suffix):
            return source
    return None


_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "base_model.model.")


def _is_task_head(key: str) -> bool:
    for w in _WRAPPER_PREFIXES:
        if key.startswith(w):
            key = key[len(w):]
    return key.startswith(kb.TASK_HEAD_PREFIXES) or key.split(".")[1:2] == ["pooler"]


def _keys_text(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', …' if len(keys) > limit else ''}]"


@dataclass
class Verdict:
    code: str
    verdict: str
    reason: str
    hint: str


def judge_load(rep: LoadReport, model: ModelEvidence) -> Verdict:
    """Decide one weight-loading report: benign, harmful or unverified, with the reason."""
    where = f" at step {rep.step:g}" if rep.step else ""
    pairs = rename_pairs(rep.missing, rep.unexpected)
    if pairs:
        mk, uk = pairs[0]
        return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                       f"{len(pairs)} missing key(s) pair with unexpected keys under another prefix "
                       f"(missing '{mk}' vs unexpected '{uk}'): the parameters were renamed, so their "
                       "checkpoint values were not loaded",
                       "load the state dict with the prefix stripped/added (or save and load with the same "
                       "wrapper: DDP 'module.', PEFT 'base_model.model.'), then check the message is gone")
    late = rep.kind == "from_pretrained" and rep.step is not None and rep.step > 0
    if rep.missing:
        tied = [k for k in rep.missing if _tied_source(k)]
        untied = [k for k in rep.missing if not _tied_source(k)]
        heads = [k for k in untied if _is_task_head(k)]
        backbone = [k for k in untied if not _is_task_head(k)]
        if rep.kind == "reload" or late:
            if untied:
                return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                               f"{len(untied)} parameter(s) {_keys_text(untied)} were not in the checkpoint "
                               f"loaded{where}, so they keep values that were never saved with it",
                               "save checkpoints with save_pretrained / the Trainer so every parameter is stored; "
                               "check the checkpoint belongs to this architecture")
            if model.ties is True:
                return Verdict(kb.WEIGHTS_LOAD_BENIGN, kb.BENIGN,
                               f"{_tie_reason(model, tied)} ({model.describe()}), so "
                               f"{_keys_text(tied)} is restored with the embeddings it shares",
                               "nothing to do: tied weights are stored once")
            if model.ties is False:
                return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                               f"the model does not tie its output head to the input embeddings "
                               f"({model.describe()}), so the missing {_keys_text(tied)} is a separate head that was not "
                               "restored: it keeps the in-memory model's values (random when freshly built, the "
                               "last step's at load-best-model), not the checkpoint's",
                               "save the full state dict (the head included) and reload it; for an untied "
                               "model lm_head.weight must be in the checkpoint")
            return Verdict(kb.WEIGHTS_LOAD_UNVERIFIED, kb.DEPENDS,
                           f"benign if the model ties {_keys_text(tied)} to its input embeddings (GPT-2, BERT, "
                           "T5 v1.0, BART and Whisper do; LLaMA-2 and Mistral do not, and then the head was not "
                           "restored); the log does not show the model's config",
                           "check tie_word_embeddings in the model's config.json; log it (or the model name) "
                           "so the verdict can be made")
        # from_pretrained at the start of a run
        if backbone:
            return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                           f"{len(backbone)} non-head parameter(s) {_keys_text(backbone)} of "
                           f"{rep.cls or 'the model'} were newly initialised: the checkpoint "
                           f"{rep.src or ''} does not hold the model's body".replace("  ", " "),
                           "load a checkpoint of the same architecture, or map its key names")
        if tied and model.ties is False:
            return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                           f"the untied output head {_keys_text(tied)} was newly initialised "
                           f"({model.describe()})",
                           "load a checkpoint that holds the head, or train it before use")
        what = _keys_text(heads + tied)
        return Verdict(kb.WEIGHTS_LOAD_BENIGN, kb.BENIGN,
                       f"the newly initialised {what} are a task head that {rep.cls or 'the model'} adds on top "
                       "of the pretrained body; expected at the start of fine-tuning",
                       "nothing to do if this run trains the head (it does when the log shows training after it)")
    if rep.unexpected and rep.kind == "reload":
        return Verdict(kb.WEIGHTS_LOAD_UNVERIFIED, kb.DEPENDS,
                       f"every model parameter was loaded{where}; {len(rep.unexpected)} extra checkpoint "
                       f"key(s) {_keys_text(rep.unexpected)} were ignored, harmless unless they belong to a "
                       "module the model should have",
                       "compare the checkpoint's keys with the model's state_dict")
    if rep.unexpected:
        heads = [k for k in rep.unexpected if _is_task_head(k) or _tied_source(k)]
        if len(heads) == len(rep.unexpected):
            return Verdict(kb.WEIGHTS_LOAD_BENIGN, kb.BENIGN,
                           f"the unused {_keys_text(rep.unexpected)} are the checkpoint's own head, which "
                           f"{rep.cls or 'this model class'} does not have; the body was loaded",
                           "nothing to do when you load a pretrained body for another head")
        return Verdict(kb.WEIGHTS_LOAD_UNVERIFIED, kb.DEPENDS,
                       f"{len(rep.unexpected)} checkpoint parameter(s) {_keys_text(rep.unexpected)} were not used "
                       f"by {rep.cls or 'the model'}; harmless if the checkpoint is from another architecture, "
                       "not if you expected an identical one",
                       "compare the checkpoint's architecture with the model class")
    if rep.mismatched:
        heads = [k for k in rep.mismatched if _is_task_head(k)]
        if len(heads) == len(rep.mismatched):
            return Verdict(kb.WEIGHTS_LOAD_BENIGN, kb.BENIGN,
                           f"the re-initialised {_keys_text(rep.mismatched)} are a task head with a new shape "
                           "(e.g. another number of labels)",
                           "nothing to do when the task's labels differ from the checkpoint's")
        return Verdict(kb.WEIGHTS_NOT_LOADED, kb.HARMFUL,
                       f"{_keys_text(rep.mismatched)} were re-initialised because their shapes differ from the "
                       "checkpoint's: the model config does not match it",
                       "use the checkpoint's config (hidden size, vocab size) or resize embeddings explicitly")
    return Verdict(kb.WEIGHTS_LOAD_UNVERIFIED, kb.DEPENDS,
                   "the load report's key list was not captured in the log",
                   "rerun with the full warning text (do not truncate log lines)")


def _tie_reason(model: ModelEvidence, tied: list[str]) -> str:
    pair = kb.TIE_PAIR_BY_FAMILY.get(model.family or "")
    if pair:
        return pair
    return f"the model ties {tied[0]} to {_tied_source(tied[0])}"


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


_PY_WARNING_AT = kb.LazyPattern(r"(?<!\S)\S+?\.py:\d+: \w*(?:Warning|Error)\b")


def _first_line(text: str, limit: int = 160) -> str:
    first = _plain(text).strip().splitlines()[0] if text.strip() else ""
    m = _PY_WARNING_AT.search(first)
    if m and "|" in first[: m.start()]:  # a progress bar glued in front of the warning
        first = first[m.start():]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _total_steps(run: Run) -> Optional[float]:
    if run.summary.global_step:
        return float(run.summary.global_step)
    best = None
    for s in run.series.values():
        if s.split.value == "train" and len(s):
            last = float(s.step.max())
            best = last if best is None else max(best, last)
    return best


@hookimpl
def logcheck_check(run: Run, settings: Settings) -> CheckResult:
    if not run.events:
        return CheckResult(check=CHECK, status=Status.skip,
                           reason="the log holds no warnings, errors or library messages")
    findings: list[Finding] = []
    by_entry: dict[str, list[Event]] = {}
    entry_of: dict[str, KnownMessage] = {}
    loads: list[LoadReport] = []
    unclassified: list[Event] = []
    for ev in run.events:
        entry, m = classify(ev.text)
        if entry is None:
            if ev.level in ("warning", "error"):
                unclassified.append(ev)
            continue
        if entry.analysis == "weights":
            loads.append(_load_report_from(ev, entry, m))
            continue
        by_entry.setdefault(entry.id, []).append(ev)
        entry_of[entry.id] = entry

    model = model_evidence(run) if loads else ModelEvidence()
    verdict_counts: dict[str, int] = {}
    for rep in _merge_adjacent(loads):
        v = judge_load(rep, model)
        verdict_counts[v.verdict] = verdict_counts.get(v.verdict, 0) + 1
        first = rep.events[0]
        findings.append(Finding(
            code=v.code,
            message=f"{v.verdict}: {_first_line(first.text, 120)} (line {rep.line}"
                    f"{f', step {rep.step:g}' if rep.step else ''}): {v.reason}.",
            hint=v.hint, step=rep.step, line=rep.line,
            evidence={"verdict": v.verdict, "kind": rep.kind, "entries": rep.entry_ids,
                      "first_line": rep.line, "count": sum(e.count for e in rep.events),
                      "missing": rep.missing[:50], "unexpected": rep.unexpected[:50],
                      "mismatched": rep.mismatched[:50], "keys_truncated": rep.truncated,
                      "model_class": rep.cls, "checkpoint": rep.src, "model_family": model.family,
                      "model_ties_embeddings": model.ties, "model_evidence": model.source or None},
        ))

    total_steps = _total_steps(run)
    for entry_id, events in by_entry.items():
        entry = entry_of[entry_id]
        count = sum(e.count for e in events)
        first = min(events, key=lambda e: e.line)
        last_line = max((e.last_line or e.line) for e in events)
        code, verdict, reason, hint = entry.code, entry.verdict, entry.reason, entry.hint
        extra: dict[str, Any] = {}
        if entry.analysis == "overflow":
            code, verdict, reason, extra = _judge_overflows(events, count, total_steps, settings)
        verdict_counts[verdict] = verdict_counts.get(verdict, 0) + 1
        times = f" ×{count}" if count > 1 else ""
        span = f", last at line {last_line}" if last_line != first.line else ""
        findings.append(Finding(
            code=code,
            message=f"{verdict}: {_first_line(first.text)}{times} (first at line {first.line}"
                    f"{f', step {first.step:g}' if first.step is not None else ''}{span}): {reason}.",
            hint=hint, step=first.step, line=first.line,
            evidence={"verdict": verdict, "entry": entry_id, "count": count, "first_line": first.line,
                      "last_line": last_line, "distinct_messages": len(events),
                      "examples": [_first_line(e.text, 300) for e in events[:3]], **extra},
        ))

    max_listed = int(settings.param(kb.UNCLASSIFIED_WARNING, "max_listed"))
    for ev in unclassified[:max_listed]:
        findings.append(Finding(
            code=kb.UNCLASSIFIED_WARNING,
            message=f"unclassified {ev.level}{f' ×{ev.count}' if ev.count > 1 else ''} at line {ev.line}"
                    f"{f' (step {ev.step:g})' if ev.step is not None else ''}: {_first_line(ev.text)}",
            hint="read it once; logcheck's knowledge base does not know this message",
            step=ev.step, line=ev.line,
            evidence={"verdict": "unknown", "count": ev.count, "first_line": ev.line,
                      "last_line": ev.last_line or ev.line, "level": ev.level, "logger": ev.logger,
                      "text": _plain(ev.text)[:500]},
        ))
    if len(unclassified) > max_listed:
        rest = unclassified[max_listed:]
        findings.append(Finding(
            code=kb.UNCLASSIFIED_WARNING,
            message=f"{len(rest)} more unclassified warnings/errors ({sum(e.count for e in rest)} lines), "
                    f"first at line {rest[0].line}",
            hint="raise params.WRN012.max_listed to list them all",
            line=rest[0].line,
            evidence={"verdict": "unknown", "count": sum(e.count for e in rest), "first_line": rest[0].line,
                      "distinct_messages": len(rest)},
        ))

    findings.sort(key=lambda f: (-settings.severity_of(f.code).rank, f.line or 0))
    worst = max((settings.severity_of(f.code).rank for f in findings), default=-1)
    status = Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_
    n_events = sum(e.count for e in run.events)
    shown = {kb.DEPENDS: "undecided (the log lacks the context)"}
    parts = [f"{n} {shown.get(k, k)}" for k, n in sorted(verdict_counts.items())]
    reason = (f"{len(run.events)} distinct messages ({n_events} lines): "
              f"{', '.join(parts) if parts else 'none known'}; {len(unclassified)} unclassified")
    if worst >= 1:
        bad = [f for f in findings if settings.severity_of(f.code).rank == worst]
        reason += f"; worst: {bad[0].code} at line {bad[0].line}"
    return CheckResult(
        check=CHECK, status=status, reason=reason, findings=findings,
        facts={"messages": len(run.events), "message_lines": n_events, "verdicts": verdict_counts,
               "unclassified": len(unclassified), "events_dropped": run.events_dropped,
               "model_family": model.family, "model_ties_embeddings": model.ties},
    )


def _judge_overflows(events: list[Event], count: int, total_steps: Optional[float],
                     settings: Settings) -> tuple[str, str, str, dict[str, Any]]:
    max_fraction = float(settings.param(kb.LOSS_SCALE_OVERFLOWS, "max_fraction"))
    min_count = int(settings.param(kb.LOSS_SCALE_OVERFLOWS, "min_count"))
    steps = [e.step for e in events if e.step is not None]
    limit = max(min_count, max_fraction * total_steps) if total_steps else float(min_count)
    extra: dict[str, Any] = {"overflows": count, "total_steps": total_steps, "limit": limit,
                             "first_step": min(steps) if steps else None, "last_step": max(steps) if steps else None}
    per = f" in {total_steps:g} steps ({count / total_steps:.1%})" if total_steps else ""
    if count > limit:
        return (kb.LOSS_SCALE_OVERFLOWS, kb.HARMFUL,
                f"{count} loss-scale overflows{per}, more than the {limit:g} a scaler needs to calibrate: "
                "each one skipped an optimizer step", extra)
    return (kb.BENIGN_MESSAGE, kb.BENIGN,
            f"{count} loss-scale overflow(s){per}: the fp16 scaler calibrating its scale; "
            "each skipped one step, which is negligible", extra)
