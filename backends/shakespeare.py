"""The reference run: fine-tune a GPT-2 on tiny Shakespeare with the Hugging Face Trainer.

This module is the training *worker*. ``logcheck train`` starts it as a child process
(``python -m logcheck.backends.shakespeare ...``, or ``python -m torch.distributed.run ... -m
logcheck.backends.shakespeare ...`` for several processes) and captures everything it prints into
``run.log``; it can also be launched directly under ``torchrun`` / ``accelerate launch``.

torch and transformers are imported inside functions so a missing extra becomes one line.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import click

from logcheck.errors import LogcheckError, MissingExtraError, UsageError

from .config import (
    GPT2_MODEL_MAX_LENGTH,
    TINY_MODEL,
    TrainConfig,
    build_config,
    effective_tokenizer,
    train_options,
)


def import_training_libs() -> tuple[Any, Any]:
    from .config import require_training_extras

    require_training_extras()  # cheap: finds the modules without importing them
    try:
        import torch
    except ImportError:
        raise MissingExtraError("torch", "train") from None
    try:
        import transformers
    except ImportError:
        raise MissingExtraError("transformers", "train") from None
    return torch, transformers


# ---------------------------------------------------------------- data


def load_tokenizer(spec: str):
    """GPT-2 BPE tokenizer from a hub id or a directory; pad = eos as in the reference script."""
    _, transformers = import_training_libs()
    path = Path(spec)
    if path.is_dir() and not (path / "tokenizer_config.json").exists():
        # Bare vocab.json + merges.txt: give it the limit distilgpt2's hub tokenizer has, so the
        # stream warning ("Token indices sequence length is longer ...") is the reference run's.
        tokenizer = transformers.GPT2TokenizerFast.from_pretrained(
            spec, model_max_length=GPT2_MODEL_MAX_LENGTH
        )
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(spec)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def read_text(path: str, max_chars: int | None = None) -> str:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return text[:max_chars] if max_chars else text


def tokenize_stream(tokenizer, text: str) -> list[int]:
    """The whole text as one token stream (no special tokens; GPT-2 adds none)."""
    return tokenizer(text)["input_ids"]


def cut_blocks(token_ids: list[int], block_size: int):
    """Consecutive blocks of block_size tokens, the remainder dropped: a (n_blocks, block_size) tensor."""
    torch, _ = import_training_libs()
    n_blocks = len(token_ids) // block_size
    if n_blocks < 2:
        raise UsageError(
            f"the text gives {len(token_ids)} tokens, fewer than two blocks of {block_size}; "
            "pass more --data or a smaller --block-size"
        )
    return torch.tensor(token_ids[: n_blocks * block_size], dtype=torch.long).view(n_blocks, block_size)


def make_block_dataset(blocks):
    torch, _ = import_training_libs()

    class TokenBlocks(torch.utils.data.Dataset):
        """Causal LM examples: labels are the inputs (the model shifts them)."""

        def __init__(self, data):
            self.data = data

        def __len__(self) -> int:
            return self.data.shape[0]

        def __getitem__(self, index: int) -> dict[str, Any]:
            block = self.data[index]
            return {"input_ids": block, "labels": block.clone()}

    return TokenBlocks(blocks)


def split_blocks(dataset, train_fraction: float, seed: int):
    """random_split with a seeded torch.Generator, train size int(fraction * n) as the reference."""
    torch, _ = import_training_libs()
    n_train = int(train_fraction * len(dataset))
    return torch.utils.data.random_split(
        dataset, [n_train, len(dataset) - n_train], generator=torch.Generator().manual_seed(seed)
    )


def prepare_data(config: TrainConfig, tokenizer=None) -> dict[str, Any]:
    """Tokenizer, token count, blocks and the train/eval split of a configuration."""
    tokenizer = tokenizer or load_tokenizer(effective_tokenizer(config))
    token_ids = tokenize_stream(tokenizer, read_text(config.data, config.max_chars))
    blocks = cut_blocks(token_ids, config.block_size)
    train_set, eval_set = split_blocks(make_block_dataset(blocks), config.train_fraction, config.split_seed)
    return {"tokenizer": tokenizer, "n_tokens": len(token_ids), "n_blocks": blocks.shape[0],
            "train": train_set, "eval": eval_set}


# ---------------------------------------------------------------- model


def build_model(config: TrainConfig, tokenizer):
    """A pretrained model (hub id / directory), or a randomly initialised GPT-2 (tiny / config .json)."""
    _, transformers = import_training_libs()
    if config.model == TINY_MODEL or config.model.endswith(".json"):
        if config.model == TINY_MODEL:
            model_config = transformers.GPT2Config(
                vocab_size=len(tokenizer), n_positions=max(256, config.block_size),
                n_layer=config.tiny_layers, n_head=config.tiny_heads, n_embd=config.tiny_width,
                bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                tie_word_embeddings=True,
            )
        else:
            model_config = transformers.GPT2Config.from_json_file(config.model)
            model_config.tie_word_embeddings = True
        return transformers.GPT2LMHeadModel(model_config)
    return transformers.AutoModelForCausalLM.from_pretrained(config.model)


# ---------------------------------------------------------------- training


def precision(config: TrainConfig, torch) -> dict[str, bool]:
    """fp16 on a CUDA GPU unless bf16 is asked for and supported; fp32 on CPU."""
    cuda = torch.cuda.is_available()
    if config.fp16 and not cuda:
        raise UsageError("--fp16 needs a CUDA GPU; none is visible (drop --fp16 to train in fp32)")
    if config.bf16:
        if cuda and torch.cuda.is_bf16_supported():
            return {"fp16": False, "bf16": True}
        print("logcheck: --bf16 is not supported on this device; training in "
              + ("fp16" if cuda else "fp32"), file=sys.stderr)
        return {"fp16": cuda and config.fp16 is not False, "bf16": False}
    return {"fp16": cuda if config.fp16 is None else bool(config.fp16), "bf16": False}


def training_arguments(config: TrainConfig, torch, transformers):
    precision_flags = precision(config, torch)
    kwargs: dict[str, Any] = dict(
        output_dir=config.output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.lr,
        logging_steps=config.logging_steps,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps" if config.save_checkpoints else "no",
        save_steps=config.save_steps,
        load_best_model_at_end=config.load_best_model_at_end,
        metric_for_best_model=config.metric_for_best_model,
        greater_is_better=config.greater_is_better,
        seed=config.seed,
        report_to="none",
        **precision_flags,
    )
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        kwargs["ddp_backend"] = "gloo"
    return transformers.TrainingArguments(**kwargs)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_training(config: TrainConfig) -> int:
    """Train, save state/model/config; everything printed here ends up in run.log."""
    torch, transformers = import_training_libs()
    import accelerate

    transformers.set_seed(config.seed)
    data = prepare_data(config)
    tokenizer = data["tokenizer"]
    model = build_model(config, tokenizer)
    args = training_arguments(config, torch, transformers)

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    config.extra = {
        "n_tokens": data["n_tokens"],
        "n_blocks": data["n_blocks"],
        "n_train_blocks": len(data["train"]),
        "n_eval_blocks": len(data["eval"]),
        "world_size": world_size,
        "device": "cuda:" + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "fp16": args.fp16,
        "bf16": args.bf16,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "model_class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "accelerate": accelerate.__version__},
    }
    if is_main_process():
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        Path(config.output_dir, "run_config.json").write_text(config.to_json())
        print("logcheck train: effective configuration")
        print(config.to_json(), end="", flush=True)

    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["eval"],
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(config.output_dir)
    trainer.save_state()
    return 0


@click.command(name="shakespeare-worker", context_settings={"help_option_names": ["-h", "--help"]})
@train_options
@click.option("--resolved", is_flag=True, hidden=True,
              help="Inputs were already resolved by `logcheck train` (skip the network check).")
def worker_command(preset: str, resolved: bool, **flags: Any) -> None:
    """Run the training in this process (what `logcheck train` starts, and what torchrun launches)."""
    from .config import resolve_inputs

    nproc = flags.pop("nproc_per_node", None)
    try:
        config = build_config(preset, **flags)
        if nproc:
            config.nproc_per_node = nproc
        if not resolved:
            resolve_inputs(config)
        code = run_training(config)
    except LogcheckError as exc:
        click.echo(f"logcheck: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    worker_command.main(args=argv, prog_name="python -m logcheck.backends.shakespeare")


if __name__ == "__main__":
    main()
