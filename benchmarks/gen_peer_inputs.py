#!/usr/bin/env python
"""Seeded large inputs for ``bench_peers.py``, written by the libraries' own writers.

    python benchmarks/gen_peer_inputs.py --out /tmp/logcheck-peer-inputs [--n 1000000]

* ``trainer_state.json``: ``--n`` log_history entries (train logs, an eval every 100 steps, a few
  ``NaN`` grad norms as fp16 overflows give, the end-of-training summary), saved with transformers'
  ``TrainerState.save_to_json`` (``json.dumps(asdict(state), indent=2, sort_keys=True)``): ~160 MB.
* ``metrics.csv``: ``--n`` rows written by Lightning's ``CSVLogger`` (``train_loss_step`` and
  ``lr-AdamW`` per step, ``val_loss``/``train_loss_epoch`` per epoch), as a ``Trainer`` would log them.
* ``events.out.tfevents.*``: ``--n`` scalars written by ``torch.utils.tensorboard.SummaryWriter`` with
  the Hugging Face tags (``train/loss``, ``train/learning_rate``, ``train/grad_norm``, ``train/epoch``),
  so ``--n / 4`` steps.

The loss is ``1.8 + 6 (t+10)^-0.4`` with 3% log-normal noise (PERF_FINDINGS.md's generator), rounded to
4 decimals as the Trainer rounds it. Existing files with the same size parameter are kept (``--force``
rewrites them); the TensorBoard writer is slow (pure-Python CRC32C, ~1-2 min for 1 M scalars).
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

SEED = 1234


def loss_at(t: int, rnd: random.Random) -> float:
    return 1.8 + 6.0 * (t + 10) ** -0.4 * math.exp(rnd.gauss(0.0, 0.03))


def lr_at(t: int, total: int, peak: float = 5e-5, warmup: int = 500) -> float:
    return peak * t / warmup if t < warmup else peak * max(0.0, (total - t) / max(1, total - warmup))


def write_state(path: Path, n: int) -> None:
    from transformers import TrainerState

    rnd = random.Random(SEED)
    eval_every = 100
    steps_per_epoch = 10_000
    history = []
    # n entries in all: one per train step, plus an eval entry every eval_every steps, plus the summary.
    train_steps = int((n - 1) * eval_every / (eval_every + 1))
    t = 0
    while len(history) < n - 1:
        t += 1
        gn = float(rnd.lognormvariate(0.5, 0.3))
        if rnd.random() < 1e-4:
            gn = math.nan
        history.append({"epoch": round(t / steps_per_epoch, 4), "grad_norm": gn,
                        "learning_rate": lr_at(t, train_steps), "loss": round(loss_at(t, rnd), 4), "step": t})
        if t % eval_every == 0 and len(history) < n - 1:
            history.append({"epoch": round(t / steps_per_epoch, 4), "eval_loss": round(loss_at(t, rnd) + 0.05, 4),
                            "eval_runtime": 12.3456, "eval_samples_per_second": 81.0,
                            "eval_steps_per_second": 10.125, "step": t})
    history.append({"epoch": round(t / steps_per_epoch, 4), "step": t, "total_flos": 1.2e17,
                    "train_loss": 2.1234, "train_runtime": 86400.5, "train_samples_per_second": 92.6,
                    "train_steps_per_second": 2.894})
    state = TrainerState(epoch=t / steps_per_epoch, global_step=t, max_steps=t, logging_steps=1,
                         eval_steps=eval_every, save_steps=5000, train_batch_size=32,
                         num_train_epochs=math.ceil(t / steps_per_epoch), log_history=history,
                         total_flos=1.2e17)
    state.save_to_json(str(path))


def write_csv(folder: Path, n: int) -> Path:
    from lightning.pytorch.loggers import CSVLogger

    rnd = random.Random(SEED)
    logger = CSVLogger(str(folder), name="lightning_logs", version=0, flush_logs_every_n_steps=10_000)
    steps_per_epoch = 10_000
    rows = 0
    step = 0
    while rows < n:
        epoch = step // steps_per_epoch
        logger.log_metrics({"train_loss_step": loss_at(step + 1, rnd), "epoch": float(epoch),
                            "lr-AdamW": lr_at(step + 1, n)}, step=step)
        rows += 1
        if (step + 1) % steps_per_epoch == 0 and rows < n:
            logger.log_metrics({"val_loss": loss_at(step + 1, rnd) + 0.05, "train_loss_epoch": loss_at(step, rnd),
                                "epoch": float(epoch)}, step=step)
            rows += 1
        step += 1
    logger.save()
    logger.finalize("success")
    return Path(logger.log_dir) / "metrics.csv"


def write_events(folder: Path, n: int) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    rnd = random.Random(SEED)
    steps = n // 4
    w = SummaryWriter(log_dir=str(folder), max_queue=1000, flush_secs=3600)
    for t in range(1, steps + 1):
        w.add_scalar("train/loss", round(loss_at(t, rnd), 4), t)
        w.add_scalar("train/grad_norm", rnd.lognormvariate(0.5, 0.3), t)
        w.add_scalar("train/learning_rate", lr_at(t, steps), t)
        w.add_scalar("train/epoch", t / 10_000, t)
    w.close()
    return next(folder.glob("events.out.tfevents.*"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/logcheck-peer-inputs")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--only", nargs="*", choices=["state", "csv", "events"])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out) / f"n{args.n}"
    out.mkdir(parents=True, exist_ok=True)
    todo = set(args.only or ["state", "csv", "events"])
    made = {}
    if "state" in todo:
        p = out / "hf" / "trainer_state.json"
        if args.force or not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.time()
            write_state(p, args.n)
            print(f"wrote {p} ({p.stat().st_size / 1e6:.0f} MB) in {time.time() - t0:.0f}s", flush=True)
        made["state"] = p
    if "csv" in todo:
        hits = sorted((out / "lightning").glob("lightning_logs/version_0/metrics.csv"))
        if args.force or not hits:
            t0 = time.time()
            p = write_csv(out / "lightning", args.n)
            print(f"wrote {p} ({p.stat().st_size / 1e6:.0f} MB) in {time.time() - t0:.0f}s", flush=True)
    if "events" in todo:
        hits = sorted((out / "tb").glob("events.out.tfevents.*"))
        if args.force or not hits:
            for h in hits:
                h.unlink()
            t0 = time.time()
            p = write_events(out / "tb", args.n)
            print(f"wrote {p} ({p.stat().st_size / 1e6:.0f} MB) in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
