"""DVCLive's output folder (``dvclive/``): ``plots/metrics/**/*.tsv`` and ``metrics.json`` (``dvclive`` parser).

``Live.log_metric("train/loss", v)`` appends a row to ``plots/metrics/train/loss.tsv`` (columns
``step`` and the metric's last name; DVCLive 2.x also wrote a ``timestamp`` column first) and keeps the
latest value in ``metrics.json`` (nested by ``/``, plus ``"step"``). The TSV rows become the series;
``metrics.json`` is cross-checked against each series' last point (a disagreement is a Conflict) and
kept as summary figures. ``params.yaml`` (``log_param``) becomes configuration. DVCLive's step is the
number of ``next_step()`` calls made before the value was logged (0 for the first).
"""
from __future__ import annotations

import math
import os
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from logcheck import (Conflict, Ending, ParseContext, ParseError, Parser, Run, RunBuilder, Series, Source, Split,
                      StepOrigin, hookimpl)
from logcheck.parsing import loads_json, parse_number
from logcheck.plugins.parse_mlflow import metric_key

_CONFIG = {"lr": ("learning_rate", float), "learning_rate": ("learning_rate", float),
           "epochs": ("num_train_epochs", float), "batch_size": ("train_batch_size", int)}


def dvclive_root(p: Path) -> Path | None:
    """The DVCLive folder at ``p`` (itself or its ``dvclive/`` child), or None."""
    for d in (p, p / "dvclive"):
        if (d / "plots" / "metrics").is_dir() or ((d / "metrics.json").is_file() and
                                                   ((d / "plots").is_dir() or (d / "dvc.yaml").is_file())):
            return d
    return None


def _flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}/" if isinstance(v, dict) else f"{prefix}{k}"))
        return out
    v = parse_number(obj) if not isinstance(obj, bool) else None
    if v is not None:
        out[prefix] = v
    return out


def _read_tsv(fp: Path) -> tuple[str, array, array, int]:
    steps, values = array("d"), array("d")
    bad = 0
    with open(fp, "rb") as f:
        header = f.readline().rstrip(b"\r\n").split(b"\t")
        cols = [h.decode("utf-8", "replace") for h in header]
        if "step" not in cols or len(cols) < 2:
            raise ParseError(f"{fp}: not a DVCLive metrics TSV (no 'step' column)")
        si = cols.index("step")
        vi = len(cols) - 1 if cols[-1] != "step" else 0
        for raw in f:
            cells = raw.rstrip(b"\r\n").split(b"\t")
            if len(cells) != len(cols):
                bad += 1
                continue
            try:
                steps.append(float(cells[si]))
                values.append(float(cells[vi]))
            except ValueError:
                v = parse_number(cells[vi].decode("utf-8", "replace"))
                s = parse_number(cells[si].decode("utf-8", "replace"))
                if v is None or s is None:
                    bad += 1
                    continue
                steps.append(s)
                values.append(v)
    return cols[vi], steps, values, bad


def read_dvclive(root: Path, parser_name: str = "dvclive") -> Run:
    b = RunBuilder(str(root), "dvclive")
    mdir = root / "plots" / "metrics"
    series: dict[str, Series] = {}
    nbytes = 0
    bad = 0
    if mdir.is_dir():
        for dirpath, _dirs, files in os.walk(mdir):
            for fn in sorted(files):
                if not fn.endswith(".tsv"):
                    continue
                fp = Path(dirpath) / fn
                if not fp.is_file():
                    continue  # a pipe, a device or a broken link would block or never end
                key = fp.relative_to(mdir).as_posix()[:-4]
                _, st, va, nbad = _read_tsv(fp)
                bad += nbad
                nbytes += fp.stat().st_size
                split, name = metric_key(key)
                skey = f"{split}/{name}"
                if skey not in series and not b.admit(split, name, len(series)):
                    continue
                steps = np.frombuffer(st, dtype=np.float64).copy()
                vals = np.frombuffer(va, dtype=np.float64).copy()
                series[skey] = Series(name=name, split=Split(split), key=key, step=steps, value=vals,
                                      epoch=np.full(len(steps), math.nan),
                                      line=np.arange(2, len(steps) + 2, dtype=np.int64),
                                      step_origin=StepOrigin.logged, source=str(fp))
    conflicts: list[Conflict] = []
    mj = root / "metrics.json"
    if mj.is_file():
        try:
            final = _flatten(loads_json(mj.read_bytes()))
        except (ValueError, OSError) as e:
            b.note(f"metrics.json could not be read: {e}")
            final = {}
        last_step = final.pop("step", None)
        for key, v in final.items():
            b.summary_extra[f"dvclive/{key}"] = v
            split, name = metric_key(key)
            s = series.get(f"{split}/{name}")
            if s is None or not len(s):
                continue
            lv = float(s.value[-1])
            same = (math.isnan(lv) and math.isnan(v)) or math.isclose(lv, v, rel_tol=1e-6, abs_tol=1e-12)
            if not same:
                conflicts.append(Conflict(what=f"{split}/{name} final value", step=float(s.step[-1]),
                                          values={str(s.source): lv, str(mj): v}))
        if last_step is not None and math.isfinite(last_step):  # "step": NaN or 1e999 says nothing
            b.summary["global_step"] = int(last_step)
        b.sources.append(Source(path=str(mj), parser=parser_name, format="dvclive", framework="dvclive",
                                bytes=mj.stat().st_size))
    params = root / "params.yaml"
    if params.is_file():
        from logcheck.plugins.parse_lightning import read_simple_yaml

        for k, v in read_simple_yaml(params).items():
            target = _CONFIG.get(k.lower())
            if target and isinstance(v, (int, float)) and not isinstance(v, bool):
                b.config[target[0]] = target[1](v)
            else:
                b.config_extra[k] = v
    if not series and not b.summary_extra:
        raise ParseError(f"{root}: a DVCLive folder without metrics (no plots/metrics/*.tsv, no metrics.json)")
    if bad:
        b.note(f"{bad} TSV rows were not 'step<TAB>value' and were skipped")
    b.note("DVCLive's step counts next_step() calls before the value was logged (0 for the first)")
    b.sources.insert(0, Source(path=str(mdir), parser=parser_name, format="dvclive", framework="dvclive",
                               bytes=nbytes))
    b.end(Ending.unknown, None, "a DVCLive folder does not say how the run ended")
    run = b.build()
    return run.model_copy(update={"series": series, "conflicts": tuple(conflicts)})


class DVCLiveParser(Parser):
    name = "dvclive"
    format = "dvclive"
    framework = "dvclive"
    description = "DVCLive output folder: plots/metrics/**/*.tsv, metrics.json, params.yaml"
    reads_directories = True

    def sniff(self, path: Path, head: bytes) -> float:
        try:
            return 0.95 if dvclive_root(Path(path)) == Path(path) else 0.0
        except OSError:
            return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Run:
        path = Path(path)
        root = dvclive_root(path)
        if root is None:
            raise ParseError(f"{path}: not a DVCLive folder (no plots/metrics or metrics.json)")
        try:
            return read_dvclive(root, self.name)
        except ParseError:
            raise
        except (OSError, ValueError, TypeError, OverflowError, MemoryError) as e:
            raise ParseError(f"{path}: unreadable as a DVCLive folder ({type(e).__name__}: {e})") from None


@hookimpl
def logcheck_register_parsers(register):
    register(DVCLiveParser())
