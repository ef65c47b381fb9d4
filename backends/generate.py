"""Use a trained model: sample text after a prompt, or measure perplexity on the eval split.

The seed's "test the model" step: load the saved model, sample 200 new tokens after ``ROMEO:\\n``
with temperature 0.8 and top-p 0.95.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from logcheck.errors import UsageError

from .config import TrainConfig
from .shakespeare import import_training_libs, load_tokenizer, prepare_data


def load_model_and_tokenizer(model_dir: str, tokenizer: str | None = None):
    torch, transformers = import_training_libs()
    transformers.utils.logging.disable_progress_bar()  # stdout is the sample; no "Loading weights" bars
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    tokenizer_source = tokenizer or model_dir
    has_tokenizer = tokenizer is not None or any(
        Path(model_dir, name).exists() for name in ("tokenizer.json", "vocab.json", "tokenizer_config.json")
    )
    if not has_tokenizer:
        config = saved_run_config(model_dir)
        if config is None or not config.tokenizer:
            raise UsageError(f"{model_dir} has no tokenizer files; pass --tokenizer DIR")
        tokenizer_source = config.tokenizer
    return model, load_tokenizer(tokenizer_source)


def saved_run_config(model_dir: str) -> TrainConfig | None:
    path = Path(model_dir, "run_config.json")
    return TrainConfig.from_json(path.read_text()) if path.is_file() else None


def sample(model_dir: str, prompt: str, *, max_new_tokens: int = 200, temperature: float = 0.8,
           top_p: float = 0.95, seed: int | None = None, tokenizer: str | None = None) -> str:
    """The prompt followed by max_new_tokens sampled tokens, decoded."""
    torch, transformers = import_training_libs()
    if seed is not None:
        transformers.set_seed(seed)
    model, tok = load_model_and_tokenizer(model_dir, tokenizer)
    inputs = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(
            **inputs, do_sample=True, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, pad_token_id=tok.eos_token_id,
        )
    return tok.decode(output[0], skip_special_tokens=True)


def eval_perplexity(model_dir: str, *, tokenizer: str | None = None, data: str | None = None,
                    batch_size: int | None = None) -> dict[str, Any]:
    """Mean loss over the eval split of the run that produced model_dir, and exp of it.

    The split is rebuilt from run_config.json (data, block size, split fraction and seed), so the
    blocks are the ones the Trainer evaluated on. Batch means weighted by batch size, as the Trainer's eval_loss.
    """
    torch, _ = import_training_libs()
    config = saved_run_config(model_dir) or TrainConfig()
    if data:
        config.data = data
    if not config.data or not Path(config.data).is_file():
        raise UsageError(f"no eval data for {model_dir}; pass --data PATH/tinyshakespeare.txt")
    model, tok = load_model_and_tokenizer(model_dir, tokenizer)
    split = prepare_data(config, tokenizer=tok)["eval"]
    loader = torch.utils.data.DataLoader(split, batch_size=batch_size or config.eval_batch_size)
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            rows = batch["input_ids"].shape[0]
            # each block counts its batch's mean loss, as the Trainer's evaluation loop repeats it per sample
            total += float(model(input_ids=batch["input_ids"], labels=batch["labels"]).loss) * rows
            count += rows
    mean = total / count
    return {"n_blocks": len(split), "eval_loss": mean, "perplexity": math.exp(mean)}
