"""Configuration of the bundled training backend: the preset, the flags, where inputs come from.

Standard library and click only: ``logcheck.backends.cli`` imports this module, and the analyzer
must never pull torch or transformers in (``logcheck --help`` stays fast and works without them).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from logcheck.errors import MissingExtraError, UsageError

TINY_MODEL = "tiny"
TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINY_SHAKESPEARE_CHARS = 1_115_394
# distilgpt2's hub tokenizer_config.json says 1024; local vocab.json + merges.txt carry no limit.
GPT2_MODEL_MAX_LENGTH = 1024


@dataclass
class TrainConfig:
    """Every setting of a backend run. The defaults are the reference run (REFERENCE_RUN.md)."""

    preset: str = "shakespeare"
    model: str = "distilgpt2"  # hub id, local directory, a config .json (random init), or "tiny"
    tokenizer: str | None = None  # None: the model's own (hub id / directory); "distilgpt2" for tiny
    data: str | None = None  # None: tiny Shakespeare from the cache, downloaded when online
    output_dir: str = "distilgpt2-tiny-shakespeare"
    block_size: int = 256
    train_fraction: float = 0.8
    split_seed: int = 42
    batch_size: int = 4
    eval_batch_size: int = 4
    epochs: float = 3.0
    max_steps: int = -1
    lr: float = 5e-5
    logging_steps: int = 20
    eval_steps: int = 100
    save_steps: int = 200
    save_checkpoints: bool = True
    load_best_model_at_end: bool = True
    metric_for_best_model: str = "eval_loss"
    greater_is_better: bool = False
    fp16: bool | None = None  # None: on exactly when a CUDA GPU is used and bf16 is not
    bf16: bool = False
    seed: int = 42  # TrainingArguments.seed (model init, shuffling, dropout)
    max_chars: int | None = None  # use only the first N characters of the text (tests, smoke runs)
    tiny_layers: int = 2
    tiny_heads: int = 2
    tiny_width: int = 64
    nproc_per_node: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # filled in by the worker (versions, devices)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


PRESETS: dict[str, TrainConfig] = {"shakespeare": TrainConfig()}


def _option_specs() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The train flags, shared by ``logcheck train`` and ``python -m logcheck.backends.shakespeare``."""
    return [
        (("--preset",), dict(type=click.Choice(sorted(PRESETS)), default="shakespeare", show_default=True,
                             help="Named configuration; every other flag overrides one of its settings.")),
        (("--model",), dict(default=None, help="Hub id, local model directory, a GPT-2 config .json "
                                               "(random init), or 'tiny' (2-layer random GPT-2). "
                                               "[preset: distilgpt2]")),
        (("--tokenizer",), dict(default=None, help="Hub id or directory with vocab.json + merges.txt "
                                                   "(or tokenizer.json). [default: the model's]")),
        (("--data",), dict(default=None, help="Text file to train on. [default: tiny Shakespeare, "
                                              "downloaded once into the cache]")),
        (("--output-dir", "-o"), dict(default=None, help="Where run.log, checkpoints, model and "
                                                         "report go. [preset: distilgpt2-tiny-shakespeare]")),
        (("--epochs",), dict(type=float, default=None, help="num_train_epochs. [preset: 3]")),
        (("--max-steps",), dict(type=int, default=None, help="Stop after N optimizer steps "
                                                             "(overrides --epochs).")),
        (("--lr",), dict(type=float, default=None, help="Learning rate. [preset: 5e-5]")),
        (("--batch-size",), dict(type=int, default=None, help="Per-device train batch size. [preset: 4]")),
        (("--eval-batch-size",), dict(type=int, default=None, help="Per-device eval batch size. "
                                                                   "[default: --batch-size]")),
        (("--block-size",), dict(type=int, default=None, help="Tokens per training block. [preset: 256]")),
        (("--train-fraction",), dict(type=float, default=None, help="Share of blocks for training "
                                                                    "(random_split). [preset: 0.8]")),
        (("--split-seed",), dict(type=int, default=None, help="torch.Generator seed of the split. "
                                                              "[preset: 42]")),
        (("--logging-steps",), dict(type=int, default=None, help="[preset: 20]")),
        (("--eval-steps",), dict(type=int, default=None, help="[preset: 100]")),
        (("--save-steps",), dict(type=int, default=None, help="[preset: 200]")),
        (("--save-checkpoints/--no-save-checkpoints",), dict(default=None, help="Write checkpoint-N "
                                                                                "folders (off also "
                                                                                "turns off "
                                                                                "load-best-model).")),
        (("--load-best/--no-load-best",), dict(default=None, help="load_best_model_at_end. [preset: on]")),
        (("--fp16/--no-fp16",), dict(default=None, help="[default: on with a CUDA GPU, off on CPU]")),
        (("--bf16",), dict(is_flag=True, default=None, help="bf16 instead of fp16 where the GPU "
                                                            "supports it.")),
        (("--seed",), dict(type=int, default=None, help="TrainingArguments.seed. [preset: 42]")),
        (("--max-chars",), dict(type=int, default=None, help="Train on the first N characters only "
                                                             "(smoke tests).")),
        (("--nproc-per-node",), dict(type=int, default=None, help="Data-parallel processes, started "
                                                                  "with torch.distributed.run. "
                                                                  "[default: 1]")),
    ]


def train_options(func: Callable) -> Callable:
    for decls, attrs in reversed(_option_specs()):
        func = click.option(*decls, **attrs)(func)
    return func


# flag name (click parameter) -> TrainConfig field, where they differ
_FLAG_TO_FIELD = {
    "save_checkpoints": "save_checkpoints",
    "load_best": "load_best_model_at_end",
}


def build_config(preset: str = "shakespeare", **flags: Any) -> TrainConfig:
    """The preset with every flag that was given applied; checks combinations the Trainer would reject."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    config = dataclasses.replace(PRESETS[preset], extra={})
    config.preset = preset
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for flag, value in flags.items():
        if value is None:
            continue
        name = _FLAG_TO_FIELD.get(flag, flag)
        if name not in names:
            raise UsageError(f"unknown setting {flag!r}")
        setattr(config, name, value)
    if flags.get("eval_batch_size") is None and flags.get("batch_size") is not None:
        config.eval_batch_size = config.batch_size
    if not config.save_checkpoints:
        # load_best_model_at_end restores a saved checkpoint; without checkpoints there is none.
        config.load_best_model_at_end = False
    _validate(config)
    return config


def _validate(config: TrainConfig) -> None:
    for name in ("block_size", "batch_size", "eval_batch_size", "logging_steps", "eval_steps",
                 "save_steps", "nproc_per_node"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if not 0 < config.train_fraction < 1:
        raise UsageError(f"--train-fraction must be between 0 and 1, got {config.train_fraction}")
    if config.max_steps == 0 or config.max_steps < -1:
        raise UsageError(f"--max-steps must be positive, got {config.max_steps}")
    if config.lr <= 0:
        raise UsageError(f"--lr must be positive, got {config.lr}")
    if config.load_best_model_at_end and config.save_steps % config.eval_steps != 0:
        # The Trainer raises the same thing after importing everything; say it before.
        raise UsageError(
            f"--save-steps {config.save_steps} is not a multiple of --eval-steps {config.eval_steps}, "
            "which load-best-model needs; change one or pass --no-load-best"
        )
    if config.fp16 and config.bf16:
        raise UsageError("--fp16 and --bf16 exclude each other")


# ---------------------------------------------------------------- where the inputs come from


def cache_dir() -> Path:
    base = os.environ.get("LOGCHECK_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "logcheck"


def hub_offline_by_setting() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when huggingface.co answers on port 443 (and offline mode is not set)."""
    if hub_offline_by_setting():
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _is_local_model(spec: str) -> bool:
    return spec == TINY_MODEL or Path(spec).exists()


def _in_hf_cache(repo_id: str, filename: str) -> bool:
    """Whether the hub cache already holds a file of repo_id (no network)."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return False
    from huggingface_hub import try_to_load_from_cache  # light; no torch

    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # malformed ids are simply "not cached"
        return False
    return isinstance(found, str)


def effective_tokenizer(config: TrainConfig) -> str:
    if config.tokenizer:
        return config.tokenizer
    if config.model == TINY_MODEL or config.model.endswith(".json"):
        return "distilgpt2"
    return config.model


def cached_data_path() -> Path:
    return cache_dir() / "tinyshakespeare.txt"


def resolve_inputs(config: TrainConfig, *, check_network: Callable[[], bool] = hub_reachable) -> None:
    """Fill in config.data / config.tokenizer, downloading tiny Shakespeare when needed and possible.

    Raises UsageError naming the exact flag when something is neither local, cached nor downloadable.
    Model and tokenizer hub downloads happen later in the worker (transformers caches them).
    """
    missing: list[str] = []
    online: bool | None = None

    def is_online() -> bool:
        nonlocal online
        if online is None:
            online = check_network()
        return online

    if config.data is not None:
        if not Path(config.data).is_file():
            raise UsageError(f"--data {config.data}: no such file")
        config.data = str(Path(config.data).resolve())
    elif cached_data_path().is_file():
        config.data = str(cached_data_path())
    elif is_online():
        config.data = str(download_tiny_shakespeare())
    else:
        missing.append("--data PATH/tinyshakespeare.txt")

    if not _is_local_model(config.model):
        if config.model.endswith(".json"):
            raise UsageError(f"--model {config.model}: no such config file")
        if not _in_hf_cache(config.model, "config.json") and not is_online():
            missing.append(f"--model DIR (a local copy of {config.model}) or --model tiny")
    elif config.model != TINY_MODEL:
        config.model = str(Path(config.model).resolve())

    tokenizer = effective_tokenizer(config)
    if Path(tokenizer).exists():
        config.tokenizer = str(Path(tokenizer).resolve())
    else:
        config.tokenizer = tokenizer
        if config.model != tokenizer or config.model == TINY_MODEL:
            if not _in_hf_cache(tokenizer, "vocab.json") and not _in_hf_cache(tokenizer, "tokenizer.json") \
                    and not is_online():
                missing.append(f"--tokenizer DIR (with vocab.json and merges.txt of {tokenizer})")
    if missing:
        raise UsageError("offline and no local copy; pass " + ", ".join(missing))


def download_tiny_shakespeare(url: str = TINY_SHAKESPEARE_URL) -> Path:
    target = cached_data_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    import urllib.request  # only when downloading

    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            out.write(response.read())
    except OSError as exc:
        raise UsageError(f"could not download tiny Shakespeare ({exc}); pass --data PATH") from None
    partial.replace(target)
    return target


def require_training_extras() -> None:
    """One line naming the pip install when torch or transformers is missing (without importing them)."""
    for module, package in (("torch", "torch"), ("transformers", "transformers"),
                            ("accelerate", "accelerate")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError(package, "train")
