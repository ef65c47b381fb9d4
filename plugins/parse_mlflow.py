"""MLflow's local stores: the ``mlflow.db`` SQLite store and the legacy ``mlruns/`` file store.

* ``mlflow_db``: a file. MLflow's default backend since 3.7 (SQLAlchemy schema): ``runs`` (run_uuid,
  name, status, start_time, end_time, lifecycle_stage, experiment_id), ``params(key, value, run_uuid)``,
  ``metrics(key, value, timestamp, run_uuid, step, is_nan)``. Read with the standard library's
  ``sqlite3`` through a ``file:...?mode=ro`` URI, so logcheck never writes to (or locks) the store.
  The SQL store keeps NaN as ``value=0, is_nan=1`` and +-inf as +-1.7976931348623157e308; both are
  turned back into NaN/inf. One Run per MLflow run (deleted runs skipped).
* ``mlflow_files``: a folder (``mlruns/``, one experiment folder, or one run folder). Each run is
  ``<experiment>/<run_id>/`` with ``meta.yaml``, ``metrics/<key>`` (lines ``timestamp value step``;
  keys with ``/`` are sub-folders), ``params/<key>`` and ``tags/<key>``.

Metric keys map to splits like other structured sources: ``train_loss``/``train/loss`` -> train/loss,
``val_loss``/``eval/loss``/``validation_loss`` -> eval/loss, a bare ``loss`` -> train/loss. The step
is the step the user passed to ``log_metric`` (0 when none was given; a note says so).
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
from array import array
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import numpy as np

from logcheck import (Ending, ParseContext, ParseError, Parser, Run, RunBuilder, Series, Source, Split,
                      StepOrigin, hookimpl)

NAN = math.nan
_SQL_MAX = 1.7976931348623157e308  # MLflow's SQL store writes +-inf as +-float max
_SPLIT_PREFIX = re.compile(r"^(train|training|eval|val|valid|validation|dev|test)(?:[_/\-.])(.+)$", re.I)
_NON_NAME = re.compile(r"[^a-z0-9/]+")
_ALIASES = {"lr": "learning_rate", "gnorm": "grad_norm", "ppl": "perplexity", "acc": "accuracy"}
_STATUS = {"RUNNING": Ending.interrupted, "SCHEDULED": Ending.unknown, "FINISHED": Ending.completed,
           "FAILED": Ending.crashed, "KILLED": Ending.interrupted}
_FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_PARAMS = {"lr": ("learning_rate", float), "learning_rate": ("learning_rate", float),
           "batch_size": ("train_batch_size", int), "per_device_train_batch_size": ("train_batch_size", int),
           "epochs": ("num_train_epochs", float), "num_train_epochs": ("num_train_epochs", float),
           "max_epochs": ("num_train_epochs", float), "max_steps": ("max_steps", int),
           "gradient_accumulation_steps": ("gradient_accumulation_steps", int),
           "logging_steps": ("logging_steps", float), "eval_steps": ("eval_steps", float),
           "warmup_steps": ("warmup_steps", int), "seed": ("seed", int)}


def metric_key(key: str) -> tuple[str, str]:
    """``val_loss`` -> ("eval", "loss"); ``train/loss`` -> ("train", "loss"); ``lr`` -> ("train", "learning_rate")."""
    split = "train"
    k = key
    m = _SPLIT_PREFIX.match(key)
    if m:
        w = m.group(1).lower()
        split = "test" if w == "test" else "train" if w.startswith("train") else "eval"
        k = m.group(2)
        low = k.lower()
        if split == "train" and low.endswith("_step"):
            k = k[:-5]
        elif split != "train" and low.endswith("_epoch"):
            k = k[:-6]
    low = k.lower()
    if low in _ALIASES:
        return split, _ALIASES[low]
    if low.startswith(("lr-", "lr_", "lr/")):
        return split, "learning_rate"
    return split, _NON_NAME.sub("_", low).strip("_") or "value"


class _Cols:
    __slots__ = ("step", "value", "key")

    def __init__(self, key: str):
        self.key = key
        self.step = array("d")
        self.value = array("d")


def _finish(b: RunBuilder, cols: dict[tuple[str, str], _Cols], source: str, params: dict[str, str],
            status: Optional[str], name: str, no_step: bool) -> Run:
    for k, v in params.items():
        target = _PARAMS.get(k.lower())
        if target is None:
            b.config_extra[k] = v
            continue
        try:
            b.config[target[0]] = target[1](float(v)) if target[1] is int else target[1](v)
        except (TypeError, ValueError, OverflowError):
            b.config_extra[k] = v
    if no_step:
        b.note("some metrics were logged without a step (MLflow stores step 0 for them)")
    ending = _STATUS.get((status or "").upper(), Ending.unknown)
    b.end(ending, None, f"MLflow run status {status}" if status else "the MLflow run has no status")
    try:
        run = b.build()
    except ValueError:  # a parameter value of an unexpected type
        b.config.clear()
        run = b.build()
    series: dict[str, Series] = {}
    for (split, mname), c in cols.items():
        if not b.admit(split, mname, len(series)):
            continue
        st = np.frombuffer(c.step, dtype=np.float64)
        va = np.frombuffer(c.value, dtype=np.float64)
        if len(st) > 1 and np.any(np.diff(st) < 0):
            order = np.argsort(st, kind="stable")
            st, va = st[order], va[order]
        series[f"{split}/{mname}"] = Series(
            name=mname, split=Split(split), key=c.key, step=st.copy(), value=va.copy(),
            epoch=np.full(len(st), NAN), line=np.zeros(len(st), dtype=np.int64),
            step_origin=StepOrigin.logged, source=source)
    return run.model_copy(update={"series": series, "name": name, "notes": run.notes + b.dropped_notes()})


def _add_point(cols: dict[tuple[str, str], _Cols], names: dict[str, tuple[str, str]], key: str,
               step: float, value: float) -> None:
    sn = names.get(key)
    if sn is None:
        sn = names[key] = metric_key(key)
    c = cols.get(sn)
    if c is None:
        c = cols[sn] = _Cols(key)
    c.step.append(step)
    c.value.append(value)


# ---------------------------------------------------------------------------
# mlflow.db
# ---------------------------------------------------------------------------


def open_readonly(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(Path(path).resolve())) + "?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    con.execute("PRAGMA query_only = 1")
    return con


def read_mlflow_db(path: Path, parser_name: str = "mlflow_db") -> list[Run]:
    spath = str(path)
    try:
        con = open_readonly(path)
    except sqlite3.Error as e:
        raise ParseError(f"{path}: cannot open as SQLite: {e}") from None
    try:
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as e:
            raise ParseError(f"{path}: not a readable SQLite database: {e}") from None
        if not {"runs", "metrics"} <= tables:
            raise ParseError(f"{path}: an SQLite file without MLflow's runs and metrics tables")
        run_cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        has_name = "name" in run_cols
        runs_meta = con.execute(
            f"SELECT run_uuid, {'name' if has_name else 'NULL'}, status, start_time, end_time, "
            "lifecycle_stage, experiment_id FROM runs ORDER BY start_time, run_uuid").fetchall()
        exp_names: dict[Any, str] = {}
        if "experiments" in tables:
            exp_names = {r[0]: r[1] for r in con.execute("SELECT experiment_id, name FROM experiments")}
        params: dict[str, dict[str, str]] = {}
        if "params" in tables:
            for key, value, uuid in con.execute("SELECT key, value, run_uuid FROM params"):
                params.setdefault(uuid, {})[key] = value
        metric_cols = {r[1] for r in con.execute("PRAGMA table_info(metrics)")}
        nan_col = "is_nan" if "is_nan" in metric_cols else "0"
        out: list[Run] = []
        size = path.stat().st_size
        deleted = 0
        for uuid, name, status, start, end, stage, exp in runs_meta:
            if stage == "deleted":
                deleted += 1
                continue
            label = name or uuid[:8]
            b = RunBuilder(f"{spath}#{label}", "mlflow", name=f"{path.name}#{label}")
            b.sources.append(Source(path=spath, parser=parser_name, format="mlflow", framework="mlflow",
                                    bytes=size))
            cols: dict[tuple[str, str], _Cols] = {}
            names: dict[str, tuple[str, str]] = {}
            no_step = False
            add = _add_point
            rows = con.execute(f"SELECT key, step, value, {nan_col} FROM metrics WHERE run_uuid = ? "
                               "ORDER BY key, step, timestamp", (uuid,))
            for key, step, value, is_nan in rows:
                if is_nan:
                    value = NAN
                elif value is None:
                    continue
                elif value >= _SQL_MAX:
                    value = math.inf
                elif value <= -_SQL_MAX:
                    value = -math.inf
                if step is None:
                    step = 0
                    no_step = True
                add(cols, names, key, float(step), float(value))
            b.config_extra["mlflow_run_id"] = uuid
            if exp is not None:
                b.config_extra["mlflow_experiment"] = exp_names.get(exp, str(exp))
            if start and end:
                b.summary_extra["mlflow_run_duration_s"] = (end - start) / 1000.0
            out.append(_finish(b, cols, spath, params.get(uuid, {}), status, f"{path.name}#{label}", no_step))
        if not out:
            raise ParseError(f"{path}: the MLflow store holds no runs" + (f" ({deleted} deleted)" if deleted else ""))
        return out
    except sqlite3.Error as e:
        raise ParseError(f"{path}: cannot read the MLflow store: {e}") from None
    finally:
        con.close()


class MLflowDBParser(Parser):
    name = "mlflow_db"
    format = "mlflow"
    framework = "mlflow"
    description = "MLflow's SQLite tracking store (mlflow.db), read-only: one run per MLflow run"

    def sniff(self, path: Path, head: bytes) -> float:
        if not head.startswith(b"SQLite format 3\x00"):
            return 0.0
        if Path(path).name == "mlflow.db":
            return 1.0
        # the schema is in the first pages: MLflow's tables by name
        return 0.9 if b"latest_metrics" in head and b"CREATE TABLE metrics" in head else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> list[Run]:
        path = Path(path)
        try:
            return read_mlflow_db(path, self.name)
        except ParseError:
            raise
        except (OSError, ValueError, TypeError, OverflowError, MemoryError) as e:
            raise ParseError(f"{path}: unreadable as an MLflow store ({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------
# mlruns/ file store
# ---------------------------------------------------------------------------


def _read_meta(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        if not path.is_file():  # absent, or a pipe or device that would block
            return out
        with open(path, "rb") as f:
            text = f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return out
    for line in text.splitlines()[:200]:
        if line[:1] in (" ", "\t", "-") or ":" not in line:
            continue
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip().strip("'\"")
    return out


def is_file_store_run(d: Path) -> bool:
    return (d / "meta.yaml").is_file() and (d / "metrics").is_dir()


def file_store_runs(root: Path, limit: int = 10_000) -> list[Path]:
    """Run folders under an ``mlruns/`` root, an experiment folder or a run folder."""
    if is_file_store_run(root):
        return [root]
    found: list[Path] = []
    for exp in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_file_store_run(exp):
            found.append(exp)
            continue
        if not (exp / "meta.yaml").is_file():
            continue
        for run in sorted(p for p in exp.iterdir() if p.is_dir()):
            if is_file_store_run(run):
                found.append(run)
                if len(found) >= limit:
                    return found
    return found


def read_file_store_run(run_dir: Path, parser_name: str = "mlflow_files") -> Run:
    meta = _read_meta(run_dir / "meta.yaml")
    label = meta.get("run_name") or run_dir.name[:8]
    experiment = _read_meta(run_dir.parent / "meta.yaml").get("name") or run_dir.parent.name
    b = RunBuilder(str(run_dir), "mlflow", name=f"{experiment}/{label}")
    cols: dict[tuple[str, str], _Cols] = {}
    names: dict[str, tuple[str, str]] = {}
    no_step = False
    mdir = run_dir / "metrics"
    nbytes = 0
    bad = 0
    for dirpath, _dirs, files in os.walk(mdir):
        for fn in sorted(files):
            fp = Path(dirpath) / fn
            if not fp.is_file():
                continue  # a pipe, a device or a broken link would block or never end
            key = fp.relative_to(mdir).as_posix()
            try:
                with open(fp, "rb") as f:
                    for raw in f:
                        nbytes += len(raw)
                        parts = raw.split()
                        if len(parts) < 2:
                            continue
                        try:
                            value = float(parts[1])
                            step = float(parts[2]) if len(parts) > 2 else 0.0
                        except ValueError:
                            bad += 1
                            continue
                        if len(parts) < 3:
                            no_step = True
                        _add_point(cols, names, key, step, value)
            except OSError as e:
                raise ParseError(f"{fp}: cannot read: {e.strerror or e}") from None
    params: dict[str, str] = {}
    pdir = run_dir / "params"
    if pdir.is_dir():
        for dirpath, _dirs, files in os.walk(pdir):
            for fn in files:
                fp = Path(dirpath) / fn
                if not fp.is_file():
                    continue
                try:
                    with open(fp, "rb") as f:
                        params[fp.relative_to(pdir).as_posix()] = f.read(1000).decode("utf-8", "replace")
                except OSError:
                    continue
    if bad:
        b.note(f"{bad} metric lines were not 'timestamp value step' and were skipped")
    b.sources.append(Source(path=str(run_dir), parser=parser_name, format="mlflow", framework="mlflow",
                            bytes=nbytes))
    b.config_extra["mlflow_run_id"] = meta.get("run_id") or meta.get("run_uuid") or run_dir.name
    b.config_extra["mlflow_experiment"] = experiment
    try:
        start, end = int(meta.get("start_time", "")), int(meta.get("end_time", ""))
        if end > start:
            b.summary_extra["mlflow_run_duration_s"] = (end - start) / 1000.0
    except ValueError:
        pass
    status = meta.get("status")
    if status is not None and status.isdigit():
        status = _FILE_STATUS.get(int(status), status)
    return _finish(b, cols, str(run_dir), params, status, f"{experiment}/{label}", no_step)


class MLflowFilesParser(Parser):
    name = "mlflow_files"
    format = "mlflow"
    framework = "mlflow"
    description = "MLflow's legacy file store (mlruns/<experiment>/<run>/metrics/<key>): one run per MLflow run"
    reads_directories = True

    def sniff(self, path: Path, head: bytes) -> float:
        p = Path(path)
        try:
            if is_file_store_run(p):
                return 0.95
            if p.name == "mlruns" or (p / "0" / "meta.yaml").is_file():
                return 0.95 if file_store_runs(p, limit=1) else 0.0
            if (p / "meta.yaml").is_file():
                return 0.9 if file_store_runs(p, limit=1) else 0.0
        except OSError:
            return 0.0
        return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> list[Run]:
        path = Path(path)
        try:
            runs = [read_file_store_run(r, self.name) for r in file_store_runs(path)]
        except ParseError:
            raise
        except (OSError, ValueError, TypeError, OverflowError, MemoryError) as e:
            raise ParseError(f"{path}: unreadable as an MLflow file store ({type(e).__name__}: {e})") from None
        runs = [r for r in runs if r.series or r.config.extra]
        if not runs:
            raise ParseError(f"{path}: no MLflow runs with metrics in this folder")
        return runs


@hookimpl
def logcheck_register_parsers(register):
    register(MLflowDBParser())
    register(MLflowFilesParser())
