"""Training throughput of the backend (Hugging Face Trainer) against a minimal PyTorch loop.

Same model (the tiny 2-layer GPT-2, or --model), same blocks, same batch, same optimizer (AdamW,
linear decay, grad-norm clipping at 1.0 as the Trainer's defaults), a fixed number of steps; the
first --warmup steps are not timed. Prints tokens/s of both and their ratio. On a CUDA GPU it can
also times the full reference run (792 steps, fp16) against the 81.1 s the seed reports.

    python benchmarks/bench_backend.py --steps 20
    python benchmarks/bench_backend.py --reference-model DISTILGPT2_DIR   # on a GPU: + reference run

Needs ../shared/data (GPT-2 tokenizer files, tiny Shakespeare) or --tokenizer/--data.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED_TRAIN_RUNTIME_S = 81.1  # the seed's train_runtime (fp16 GPU, distilgpt2, 792 steps)


def make_setup(args):
    import transformers

    from logcheck.backends.config import build_config
    from logcheck.backends.shakespeare import build_model, prepare_data

    config = build_config("shakespeare", model=args.model, tokenizer=args.tokenizer, data=args.data,
                          max_chars=args.max_chars, batch_size=args.batch_size)
    data = prepare_data(config)
    transformers.set_seed(0)
    return config, data, lambda: build_model(config, data["tokenizer"])


def time_trainer(config, data, new_model, steps: int, warmup: int, device: str) -> float:
    """Seconds for steps - warmup optimizer steps of Trainer.train()."""
    import transformers

    marks: list[float] = []

    class StepClock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if device == "cuda":
                import torch

                torch.cuda.synchronize()
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            output_dir=out, max_steps=steps, per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr, logging_strategy="no", eval_strategy="no", save_strategy="no",
            report_to="none", disable_tqdm=True, seed=0, use_cpu=device == "cpu",
        )
        trainer = transformers.Trainer(model=new_model(), args=args, train_dataset=data["train"],
                                       callbacks=[StepClock()])
        trainer.train()
    return marks[steps - 1] - marks[warmup - 1]


def time_plain_loop(config, data, new_model, steps: int, warmup: int, device: str) -> float:
    """The same work written by hand: shuffle, forward, backward, clip, AdamW, linear schedule."""
    import torch

    model = new_model().to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    loader = torch.utils.data.DataLoader(data["train"], batch_size=config.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    marks: list[float] = []
    batches = iter(loader)
    for _ in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        loss = model(input_ids=batch["input_ids"].to(device), labels=batch["labels"].to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
    return marks[steps - 1] - marks[warmup - 1]


def reference_run(args) -> None:
    """The full reference configuration through the backend worker; wall time vs the seed's 81.1 s."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "logcheck.backends.shakespeare", "--resolved", "--model", args.reference_model,
                   "--tokenizer", args.tokenizer, "--data", args.data, "-o", out, "--no-save-checkpoints"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        state = json.loads(Path(out, "trainer_state.json").read_text())
    runtime = next(e["train_runtime"] for e in reversed(state["log_history"]) if "train_runtime" in e)
    print(f"reference run ({Path(args.reference_model).name}, fp16, 792 steps): train_runtime {runtime:.1f} s "
          f"(seed: {SEED_TRAIN_RUNTIME_S} s, ratio {runtime / SEED_TRAIN_RUNTIME_S:.2f}); "
          f"process wall time {wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tokenizer", default=str(SHARED / "gpt2-tokenizer"))
    parser.add_argument("--data", default=str(SHARED / "tinyshakespeare.txt"))
    parser.add_argument("--max-chars", type=int, default=200_000, help="text used (tokenizing all is slow)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--reference-model", default=str(SHARED / "gpt2-tokenizer" / "distilgpt2-config.json"),
                        help="model of the GPU reference run: a distilgpt2 directory or hub id, or its "
                             "config .json (random init, same compute) [default: the config]")
    parser.add_argument("--no-reference", action="store_true", help="skip the GPU reference run")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config, data, new_model = make_setup(args)
    tokens_per_step = config.batch_size * config.block_size
    timed = args.steps - args.warmup
    trainer_s = time_trainer(config, data, new_model, args.steps, args.warmup, device)
    plain_s = time_plain_loop(config, data, new_model, args.steps, args.warmup, device)
    trainer_tps, plain_tps = timed * tokens_per_step / trainer_s, timed * tokens_per_step / plain_s
    print(f"device {device}, model {args.model}, batch {config.batch_size} x {config.block_size} tokens, "
          f"{timed} timed steps after {args.warmup} warm-up, torch threads {torch.get_num_threads()}")
    print(f"Trainer (logcheck backend): {trainer_tps:10,.0f} tokens/s  ({trainer_s / timed * 1000:.0f} ms/step)")
    print(f"plain PyTorch loop:         {plain_tps:10,.0f} tokens/s  ({plain_s / timed * 1000:.0f} ms/step)")
    print(f"Trainer / plain loop: {trainer_tps / plain_tps:.3f}")
    if device == "cuda" and not args.no_reference:
        reference_run(args)
    elif device != "cuda":
        print("reference run timing (vs the seed's 81.1 s) skipped: needs a CUDA GPU for fp16")


if __name__ == "__main__":
    main()
