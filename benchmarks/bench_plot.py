"""Time ``--plot`` and ``--html`` on a one-million-step run (1M train points + 10k evals).

The run is synthetic (a power-law decay with noise, a few spikes and NaNs, an eval
curve that turns up at the end); it is analysed by the real checks first (timed
apart), then drawn. Prints one line per stage::

    python benchmarks/bench_plot.py                 # 1,000,000 train points, 10,000 evals
    python benchmarks/bench_plot.py --train 200000  # smaller
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_run(n_train: int, n_eval: int, seed: int = 0):
    from logcheck import RunBuilder, Series, Split

    rng = np.random.default_rng(seed)
    step = np.arange(1, n_train + 1, dtype=np.float64)
    loss = 2.0 + 8.0 * (step + 50.0) ** -0.35 + rng.normal(0, 0.05, n_train)
    spikes = rng.choice(n_train, 5, replace=False)
    loss[spikes] *= 4.0
    loss[rng.choice(n_train, 3, replace=False)] = np.nan
    estep = np.linspace(n_train / n_eval, n_train, n_eval).round()
    ev = 2.1 + 8.0 * (estep + 50.0) ** -0.35 + rng.normal(0, 0.01, n_eval)
    ev += np.where(estep > 0.7 * n_train, 0.4 * (estep / n_train - 0.7), 0.0)  # overfitting at the end
    lr = 3e-4 * np.minimum(1.0, step / 2000.0) * (1 - step / (n_train + 1))
    gn = np.abs(1.0 + rng.normal(0, 0.2, n_train))
    epochs = step / (n_train / 10.0)

    def series(name: str, split: Split, st: np.ndarray, va: np.ndarray, ep: np.ndarray) -> Series:
        return Series(name=name, split=split, key=name, step=st, value=va, epoch=ep,
                      line=np.arange(1, st.size + 1, dtype=np.int64), source="bench.log")

    b = RunBuilder("bench.log", "raw")
    run = b.build()
    eep = estep / (n_train / 10.0)
    return run.model_copy(update={"series": {
        "train/loss": series("loss", Split.train, step, loss, epochs),
        "train/learning_rate": series("learning_rate", Split.train, step, lr, epochs),
        "train/grad_norm": series("grad_norm", Split.train, step, gn, epochs),
        "eval/loss": series("loss", Split.eval, estep, ev, eep),
    }})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1_000_000)
    ap.add_argument("--eval", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=None, help="keep the images here (default: a temp dir)")
    args = ap.parse_args()

    from logcheck.pipeline import check_run, prepare
    from logcheck.report import Report

    t = time.perf_counter()
    run = make_run(args.train, args.eval)
    print(f"build run ({args.train:,} train + {args.eval:,} eval points): {time.perf_counter() - t:.2f} s")
    settings, pm = prepare(load_entrypoints=False)
    t = time.perf_counter()
    rr = check_run(run, settings, pm)
    print(f"checks: {time.perf_counter() - t:.2f} s "
          f"({', '.join(f'{r.check}={r.status.value}' for r in rr.results)})")
    report = Report(runs=[rr])

    t = time.perf_counter()
    import matplotlib  # noqa: F401  (imported once; counted apart from drawing)

    from logcheck.plot import plot_report
    print(f"import matplotlib: {time.perf_counter() - t:.2f} s")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_plot_"))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("curves.png", "curves.svg"):
        t = time.perf_counter()
        plot_report(report, out / name, settings)
        size = (out / name).stat().st_size
        print(f"--plot {name}: {time.perf_counter() - t:.2f} s ({size / 1024:.0f} KiB)")
    from logcheck.html_report import write_html

    t = time.perf_counter()
    write_html(report, out / "report.html", settings)
    print(f"--html report.html: {time.perf_counter() - t:.2f} s ({(out / 'report.html').stat().st_size / 1024:.0f} KiB)")
    print(f"files in {out}")


if __name__ == "__main__":
    main()
