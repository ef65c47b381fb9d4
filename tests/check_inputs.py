"""Runs from Hugging Face ``trainer_state.json`` files, for the check tests.

Prefers the real parser (``hf_state`` from logcheck.plugins.parse_hf) when it is
registered; until then a tiny local reader turns ``log_history`` into series.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from logcheck import Run, RunBuilder

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"


def _real_parser():
    try:
        from logcheck.pluginmanager import make_plugin_manager

        pm = make_plugin_manager(load_entrypoints=False)
        return pm.parsers.get("hf_state")
    except Exception:
        return None


def load_state_run(path: Path) -> Run:
    parser = _real_parser()
    if parser is not None:
        from logcheck import ParseContext

        res = parser.parse(Path(path), ParseContext())
        return res[0] if isinstance(res, list) else res
    d = json.loads(Path(path).read_text())
    b = RunBuilder(str(path), "hf")
    for e in d.get("log_history", []):
        step = float(e.get("step", math.nan))
        epoch = float(e.get("epoch", math.nan))
        for k, v in e.items():
            if k in ("step", "epoch") or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            if k.startswith("eval_"):
                split, name = "eval", k[5:]
            elif k.startswith(("train_", "predict_", "test_")) or k in ("total_flos",):
                continue
            else:
                split, name = "train", k
            b.add(split, name, step, float(v), epoch)
    for key, field in (("max_steps", "max_steps"), ("num_train_epochs", "num_train_epochs"),
                       ("logging_steps", "logging_steps"), ("eval_steps", "eval_steps")):
        if d.get(key) is not None:
            b.config[field] = d[key]
    return b.build()


def corpus_file(rel: str) -> Optional[Path]:
    p = CORPUS / rel
    return p if p.is_file() else None


def reference_envelope() -> Run:
    """The reference run (REFERENCE_RUN.md) as an envelope of its published figures. NOT a real log.

    Published: train 4.2445, 4.0845, 3.9501, 3.8433, 3.7416 at steps 20-100; later-epoch
    train losses in 3.48-3.61 up to step 780; eval 3.884 ... 3.657 at steps 100-700;
    264 steps per epoch; summary train_loss 3.696 (the run MEAN). Steps 120-780 are
    filled in inside the published range (a gentle decline plus a deterministic
    +/-0.012 wiggle); they are an envelope, not the run's actual values.
    """
    from logcheck import Summary
    from logcheck.testing import series_run
    import numpy as np

    steps = list(range(20, 781, 20))
    published = [4.2445, 4.0845, 3.9501, 3.8433, 3.7416]
    mid = list(np.linspace(3.70, 3.62, 8))  # steps 120-260
    epoch2 = list(np.linspace(3.595, 3.55, 13))  # steps 280-520
    epoch3 = list(np.linspace(3.56, 3.50, 13))  # steps 540-780
    wiggle = [0.0] * 13 + [(-1) ** i * 0.012 for i in range(26)]
    values = [v + w for v, w in zip(published + mid + epoch2 + epoch3, wiggle)]
    assert all(3.48 <= v <= 3.61 for v in values[13:])
    train = [(s, v, s / 264) for s, v in zip(steps, values)]
    evals = [3.884, 3.765, 3.721, 3.693, 3.673, 3.666, 3.657]
    ev = [(s, v, s / 264) for s, v in zip(range(100, 701, 100), evals)]
    run = series_run(path="reference-envelope", train_loss=train, eval_loss=ev)
    return run.model_copy(update={"summary": Summary(mean_train_loss=3.696, epochs=3.0, global_step=792)})
