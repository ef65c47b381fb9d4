#!/usr/bin/env python
"""Seeded generator of SYNTHETIC benchmark logs of any size (not library output).

    python benchmarks/genlog.py --size 1G --out /tmp/bench/hf_1G.synthetic.log
    python benchmarks/genlog.py --steps 34200 --out /tmp/bench/hf_10M.synthetic.log
    python benchmarks/genlog.py --size 100M --no-tqdm --out /tmp/bench/hf_dense.synthetic.log
    python benchmarks/genlog.py --size 100M --format nanogpt --out /tmp/bench/nano.synthetic.log
    python benchmarks/genlog.py --steps 1000000 --format lightning-csv --out /tmp/bench/metrics.csv

These files only exercise logcheck's speed and memory. They imitate the shapes
described in /work/shared/PERF_FINDINGS.md section 1, but they were not written
by transformers, tqdm, Lightning or nanoGPT, so they must never be used as test
fixtures claiming to be a library's output (tests/fixtures/generate.py makes those
with real trainings). The console formats start with a line saying so.

Formats:

* ``hf`` (default): Trainer stdout+stderr as ``python -u train.py > log 2>&1`` captures it
  with ``logging_steps=1``: ``[INFO|trainer.py:..]`` header lines, one tqdm frame per step,
  per step a train dict written the way ``tqdm.write`` writes it (``\\r`` + spaces + ``\\r``,
  the dict, ``\\n``, then the bar redrawn), an eval bar and an ``{'eval_loss': ...}`` dict
  every 100 steps, checkpoint lines every 5000 steps, rare ``[WARNING|...]`` and
  ``UserWarning`` lines, rare ``'grad_norm': inf`` (rate 1e-4) and the final
  ``{'train_runtime': ...}`` dict. ~319 bytes per train record at 1 GB.
* ``hf --no-tqdm``: the same dicts without progress bars (dense, ~106 bytes per record).
* ``nanogpt``: ``iter N: loss X, time Yms, mfu Z%`` per step and ``step N: train loss ..,
  val loss ..`` every 250 steps (~52 bytes per record).
* ``lightning-csv``: a metrics.csv in CSVLogger's layout (sorted header, one row per logged
  dict, empty cells for absent keys): ``train_loss_step`` and ``lr-AdamW`` every step,
  ``val_loss`` and ``train_loss_epoch`` once per epoch.

The loss is ``1.8 + 6 (t+10)^-0.4`` with 3% log-normal noise and rare spikes, rounded to 4
decimals as the Trainer rounds it; ``grad_norm`` is a float32 widened to float64 (long repr);
``learning_rate`` a linear warmup/decay (full repr).
"""
from __future__ import annotations

import argparse
import math
import random
import struct
import sys
from pathlib import Path
from typing import IO, Callable

SEED = 1234
BANNER = "synthetic benchmark input written by logcheck benchmarks/genlog.py (seed {seed}); not library output"

# Bytes per step, measured on generated files; used to turn --size into --steps.
_BYTES_PER_STEP = {"hf": 316.0, "hf-no-tqdm": 104.0, "nanogpt": 49.0, "lightning-csv": 45.0}

_PARTIALS = " ▏▎▍▌▋▊▉"  # tqdm's unicode bar: full blocks + one of these eighths


def parse_size(text: str) -> int:
    """``10M`` -> 10_000_000 bytes (decimal units, as MB/s figures use)."""
    t = text.strip().upper().rstrip("B")
    mult = {"K": 10**3, "M": 10**6, "G": 10**9}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)


def loss_at(t: int, rnd: random.Random) -> float:
    base = 1.8 + 6.0 * (t + 10) ** -0.4
    noise = math.exp(rnd.gauss(0.0, 0.03))
    if rnd.random() < 2e-4:  # a rare loss spike
        noise *= 1.5 + rnd.random()
    return base * noise


def lr_at(t: int, total: int, peak: float = 5e-5, warmup: int = 500) -> float:
    if t < warmup:
        return peak * (t + 1) / warmup
    return peak * max(0.0, (total - t) / max(1, total - warmup))


def f32(x: float) -> float:
    """A float32 widened to float64, as ``grad_norm`` tensors print: 1.2345678806304932."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _clock(seconds: float) -> str:
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def tqdm_frame(n: int, total: int, elapsed: float, rate: float, desc: str = "") -> str:
    """One tqdm frame as ``format_meter`` draws it in a 10-cell bar (non-tty width)."""
    frac = n / total if total else 0.0
    cells = frac * 10
    full = int(cells)
    bar = "█" * full
    if full < 10:
        bar += _PARTIALS[int((cells - full) * 8)] + " " * (10 - full - 1)
    remaining = (total - n) / rate if rate > 0 else 0.0
    rate_s = f"{rate:5.2f}it/s" if rate >= 1 else f"{1 / rate:5.2f}s/it"
    head = f"{desc}: " if desc else ""
    return f"{head}{frac * 100:3.0f}%|{bar}| {n}/{total} [{_clock(elapsed)}<{_clock(remaining)}, {rate_s}]"


def _info(lineno: int, ts: str, msg: str, level: str = "INFO", where: str = "trainer.py") -> str:
    return f"[{level}|{where}:{lineno}] {ts} >> {msg}\n"


def write_hf(out: IO[str], steps: int, seed: int, tqdm: bool = True) -> None:
    rnd = random.Random(seed)
    ts = "2024-05-01 12:00:00,000"
    batch, n_examples = 8, steps * 8
    eval_every, eval_batches, save_every = 100, 20, 5000
    w = out.write
    w(BANNER.format(seed=seed) + "\n")
    w(_info(2078, ts, "***** Running training *****"))
    for line in (f"  Num examples = {n_examples:,}", "  Num Epochs = 1",
                 f"  Instantaneous batch size per device = {batch}",
                 f"  Total train batch size (w. parallel, distributed & accumulation) = {batch}",
                 "  Gradient Accumulation steps = 1", f"  Total optimization steps = {steps:,}",
                 "  Number of trainable parameters = 124,439,808"):
        w(_info(2079, ts, line))
    rate = 9.8
    elapsed = 0.0
    clear = "\r" + " " * 60 + "\r"
    bar = tqdm_frame(0, steps, 0.0, rate) if tqdm else ""
    if tqdm:
        w("\r" + bar)
    loss_sum = 0.0
    for t in range(steps):
        step = t + 1
        rate = max(1.0, rate + rnd.gauss(0.0, 0.05))
        elapsed += 1.0 / rate
        loss = loss_at(t, rnd)
        loss_sum += loss
        gn = math.inf if rnd.random() < 1e-4 else f32(abs(rnd.gauss(1.0, 0.3)) + 0.05)
        lr = lr_at(t, steps)
        epoch = round(step / steps, 4)
        d = f"{{'loss': {round(loss, 4)!r}, 'grad_norm': {gn!r}, 'learning_rate': {lr!r}, 'epoch': {epoch!r}}}"
        if tqdm:
            bar = tqdm_frame(step, steps, elapsed, rate)
            # the bar advances, then tqdm.write clears it, writes the dict and redraws the bar
            w("\r" + bar + clear + d + "\n\r" + bar)
        else:
            w(d + "\n")
        if step % eval_every == 0:
            eloss = 1.8 + 6.0 * (t + 10) ** -0.4 * 1.02 + rnd.gauss(0.0, 0.002)
            if tqdm:
                w("\n")
                for i in range(1, eval_batches + 1):
                    w("\r" + tqdm_frame(i, eval_batches, i / 40.0, 40.0) + "\x1b[A\n")
                w(clear + "\x1b[A")
            w(f"{{'eval_loss': {round(eloss, 4)!r}, 'eval_runtime': {round(eval_batches / 40.0 + rnd.random(), 4)!r}, "
              f"'eval_samples_per_second': {round(160 + rnd.random() * 10, 3)!r}, "
              f"'eval_steps_per_second': {round(20 + rnd.random(), 3)!r}, 'epoch': {epoch!r}}}\n")
            if tqdm:
                w("\r" + bar)
        if step % save_every == 0:
            w(("\n" if tqdm else "") + _info(3305, ts, f"Saving model checkpoint to out/checkpoint-{step}"))
            w(_info(2556, ts, f"Configuration saved in out/checkpoint-{step}/config.json", where="configuration_utils.py"))
            if tqdm:
                w("\r" + bar)
        if rnd.random() < 2e-5:
            w(("\n" if tqdm else "")
              + _info(328, ts, "Gradient overflow. Skipping step, loss scaler 0 reducing loss scale", "WARNING", "logging.py"))
            if tqdm:
                w("\r" + bar)
        if rnd.random() < 1e-5:
            w(("\n" if tqdm else "")
              + "/usr/lib/python3.11/site-packages/torch/optim/lr_scheduler.py:143: UserWarning: Detected call of "
                "`lr_scheduler.step()` before `optimizer.step()`.\n  warnings.warn(\"Detected call of\")\n")
            if tqdm:
                w("\r" + bar)
    runtime = round(elapsed, 4)
    w(("\n" if tqdm else "") + _info(2329, ts, "\n\nTraining completed. Do not forget to share your model on huggingface.co/models =)\n\n"))
    w(f"{{'train_runtime': {runtime!r}, 'train_samples_per_second': {round(steps * batch / elapsed, 3)!r}, "
      f"'train_steps_per_second': {round(steps / elapsed, 3)!r}, 'train_loss': {loss_sum / steps!r}, 'epoch': 1.0}}\n")
    if tqdm:
        w("\r" + tqdm_frame(steps, steps, elapsed, steps / elapsed) + "\n")


def write_nanogpt(out: IO[str], steps: int, seed: int) -> None:
    rnd = random.Random(seed)
    w = out.write
    w(BANNER.format(seed=seed) + "\n")
    w("tokens per iteration will be: 491,520\nnumber of parameters: 123.59M\n")
    for t in range(steps + 1):
        if t % 250 == 0:
            base = 1.8 + 6.0 * (t + 10) ** -0.4
            w(f"step {t}: train loss {base * 0.99:.4f}, val loss {base * 1.01:.4f}\n")
        w(f"iter {t}: loss {loss_at(t, rnd):.4f}, time {95 + rnd.random() * 10:.2f}ms, "
          f"mfu {30 + rnd.random() * 2:.2f}%\n")


def write_lightning_csv(out: IO[str], steps: int, seed: int) -> None:
    rnd = random.Random(seed)
    per_epoch = max(1, min(1000, steps // 10 or 1))
    w = out.write
    w("epoch,lr-AdamW,step,train_loss_epoch,train_loss_step,val_loss\n")
    epoch_sum = 0.0
    for t in range(steps):
        ep = t // per_epoch
        loss = loss_at(t, rnd)
        epoch_sum += loss
        w(f"{ep},{lr_at(t, steps)!r},{t},,{loss!r},\n")
        if (t + 1) % per_epoch == 0:
            val = 1.8 + 6.0 * (t + 10) ** -0.4 * 1.02
            w(f"{ep},,{t},,,{val!r}\n")
            w(f"{ep},,{t},{epoch_sum / per_epoch!r},,\n")
            epoch_sum = 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="file to write (keep it out of the repository)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--steps", type=int, help="training steps to write")
    g.add_argument("--size", help="approximate file size: 10M, 100M, 1G (decimal units)")
    ap.add_argument("--format", choices=("hf", "nanogpt", "lightning-csv"), default="hf")
    ap.add_argument("--no-tqdm", action="store_true", help="hf without progress bars (dense)")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args(argv)
    kind = "hf-no-tqdm" if (a.format == "hf" and a.no_tqdm) else a.format
    steps = a.steps if a.steps is not None else max(1, int(parse_size(a.size) / _BYTES_PER_STEP[kind]))
    writers: dict[str, Callable[[IO[str], int, int], None]] = {
        "hf": lambda f, n, s: write_hf(f, n, s, tqdm=True),
        "hf-no-tqdm": lambda f, n, s: write_hf(f, n, s, tqdm=False),
        "nanogpt": write_nanogpt,
        "lightning-csv": write_lightning_csv,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # newline="" so "\n" stays "\n" and every "\r" is written as is
    with open(out, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
        writers[kind](f, steps, a.seed)
    print(f"{out}: {out.stat().st_size:,} bytes, {steps:,} steps ({kind}, seed {a.seed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
