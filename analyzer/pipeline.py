"""path → detect format → parser → Run → checks → Report → renderer → exit code.

The core reaches parsers, checks and renderers only through the plugin manager.
Directories are searched for every source of a run (console logs, state files,
metrics files); the sources of one run are merged into one Run and the figures
they share are cross-checked (a disagreement becomes a :class:`Conflict`).
"""
from __future__ import annotations

import math
import os
import re
import stat
from collections import defaultdict
from pathlib import Path
from typing import IO, Any, Iterable, Optional

import numpy as np

from .errors import InputError, LogcheckError, ParseError, UsageError
from .findings import CheckResult, Finding, Severity, Status
from .parsing import ParseContext, read_head
from .pluginmanager import PluginManager, make_plugin_manager
from .records import Conflict, Ending, Run, Series, Split, StepOrigin
from .report import InputFailure, Report, RunReport
from .settings import Settings

MAX_DIR_FILES = 20_000
MAX_DIR_DEPTH = 8

# Files in run folders that are never logs (weights, tokenizers, configs, our own outputs).
_SKIP_NAMES = {
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.json", "vocab.txt", "merges.txt", "added_tokens.json",
    "preprocessor_config.json", "adapter_config.json", "training_args.bin", "run_config.json",
    "report.json", "report.txt", "report.md", "requirements.txt", "README.md", "SOURCE.txt",
    "hparams.yaml", "wandb-metadata.json", "config.yaml",
}
_SKIP_SUFFIXES = {
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".npy", ".npz", ".h5", ".onnx",
    ".model", ".py", ".yaml", ".yml", ".md", ".png", ".jpg", ".svg", ".html", ".gz", ".zip",
    ".tar", ".lock", ".wandb", ".sh", ".ipynb", ".toml", ".cfg", ".ini",
}
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
# Sources whose steps are exact beat console logs whose steps may be reconstructed.
_AUTHORITY = {"hf_state": 0, "lightning_csv": 1, "jsonl": 2, "tensorboard": 2, "hf_results": 5}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _looks_binary(head: bytes) -> bool:
    """NULs, control bytes or invalid UTF-8 in more than a small share of the first 8 KiB."""
    if not head:
        return False
    sample = head[:8192]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13, 27, 8, 12))
    if controls > 0.05 * len(sample):
        return True
    text = sample.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    return bad > 0.1 * max(1, len(text))


def parse_file(path: Path, settings: Settings, pm: PluginManager) -> list[Run]:
    """Detect and parse one file. Raises InputError (one-line message) on bad input."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or a device would block or never end: only regular files are logs.
            raise InputError(f"{path}: not a regular file (a pipe, device or socket); save the log to a file first")
        size = st.st_size
        head = read_head(path)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    if size == 0:
        err = InputError(f"{path}: empty file, nothing to check")
        err.exit_code = 3
        raise err
    name = settings.parser
    if name is not None:
        if name not in pm.parsers:
            raise UsageError(f"--parser {name!r}: unknown parser; known: {', '.join(sorted(pm.parsers))}")
    else:
        try:
            name = pm.hook.logcheck_detect_format(path=path, head=head, parsers=pm.parsers)
        except Exception as e:  # a third-party detect hook raised
            pm.fail("detect_format", "detect", e)
            name = None
        if name is None or name not in pm.parsers:
            if _looks_binary(head):
                raise InputError(f"{path}: binary file ({size:,} bytes), not a training log")
            err = InputError(f"{path}: no training metrics recognised (no parser claims this file)")
            err.exit_code = 3
            raise err
    parser = pm.parsers[name]
    ctx = ParseContext(settings=settings, parse_file=lambda p: parse_file(Path(p), settings, pm))
    try:
        result = parser.parse(path, ctx)
    except LogcheckError:
        raise
    except MemoryError:
        raise InputError(f"{path}: out of memory while parsing with {name}") from None
    except RecursionError:
        raise ParseError(f"{path}: too deeply nested for parser {name}") from None
    except Exception as e:
        owner = pm.parser_owner.get(name, name)
        pm.fail(owner, f"parse:{name}", f"{type(e).__name__}: {e} (while reading {path})")
        raise ParseError(f"{path}: parser {name!r} failed: {type(e).__name__}: {e}") from None
    runs = [r for r in (result if isinstance(result, list) else [result]) if r is not None]
    # A file a parser claimed but that holds no metrics and no errors is "nothing to judge".
    kept = [r for r in runs if r.has_metrics() or r.ending == Ending.crashed
            or any(e.level == "error" for e in r.events)]
    if not kept:
        err = InputError(f"{path}: no training metrics found (read as {name})")
        err.exit_code = 3
        raise err
    return kept


def parse_directory(path: Path, settings: Settings, pm: PluginManager) -> Optional[list[Run]]:
    """Runs of a folder that a directory parser claims (an ``mlruns/`` tree, a W&B run folder, a
    ``dvclive/`` folder), or None when no directory parser claims it."""
    name = _directory_parser(path, pm)
    if name is None:
        return None
    parser = pm.parsers[name]
    ctx = ParseContext(settings=settings, parse_file=lambda p: parse_file(Path(p), settings, pm))
    try:
        result = parser.parse(path, ctx)
    except LogcheckError:
        raise
    except MemoryError:
        raise InputError(f"{path}: out of memory while parsing with {name}") from None
    except RecursionError:
        raise ParseError(f"{path}: too deeply nested for parser {name}") from None
    except Exception as e:
        owner = pm.parser_owner.get(name, name)
        pm.fail(owner, f"parse:{name}", f"{type(e).__name__}: {e} (while reading {path})")
        raise ParseError(f"{path}: parser {name!r} failed: {type(e).__name__}: {e}") from None
    runs = [r for r in (result if isinstance(result, list) else [result]) if r is not None and r.has_metrics()]
    if not runs:
        err = InputError(f"{path}: no training metrics found (read as {name})")
        err.exit_code = 3
        raise err
    return runs


def _directory_parser(path: Path, pm: PluginManager) -> Optional[str]:
    if not any(getattr(p, "reads_directories", False) for p in pm.parsers.values()):
        return None
    try:
        name = pm.hook.logcheck_detect_format(path=path, head=b"", parsers=pm.parsers)
    except Exception as e:  # a third-party detect hook raised
        pm.fail("detect_format", "detect", e)
        return None
    if name is None or name not in pm.parsers or not getattr(pm.parsers[name], "reads_directories", False):
        return None
    return name


def _store_folders(top: Path, pm: PluginManager, limit: int = 5000) -> dict[Path, str]:
    """Folders under ``top`` (``top`` included) that a directory parser claims; not descended into."""
    if not any(getattr(p, "reads_directories", False) for p in pm.parsers.values()):
        return {}
    found: dict[Path, str] = {}
    seen = 0
    for dirpath, dirnames, _ in os.walk(top, onerror=None):
        d = Path(dirpath)
        seen += 1
        name = None if _CHECKPOINT_DIR.match(d.name) or seen > limit else _directory_parser(d, pm)
        if name is not None:
            found[d] = name
            dirnames[:] = []
            continue
        if len(d.parts) - len(top.parts) >= MAX_DIR_DEPTH:
            dirnames[:] = []
        # wandb/latest-run is a symlink to a run folder: following it would read that run twice
        dirnames[:] = sorted(x for x in dirnames if not x.startswith(".") and x not in ("__pycache__", "node_modules")
                             and not (d / x).is_symlink())
    return found


def _source_files(root: Path, skip_dirs: frozenset[Path] = frozenset()) -> list[Path]:
    out: list[Path] = []
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, onerror=None):
        d = Path(dirpath)
        if len(d.parts) - root_depth >= MAX_DIR_DEPTH:
            dirnames[:] = []
        dirnames[:] = sorted(x for x in dirnames if not x.startswith(".") and x not in ("__pycache__", "node_modules")
                             and d / x not in skip_dirs)
        for fn in sorted(filenames):
            if fn.startswith("."):
                continue
            p = d / fn
            if fn in _SKIP_NAMES or p.suffix.lower() in _SKIP_SUFFIXES:
                continue
            try:
                if not stat.S_ISREG(p.stat().st_mode):
                    continue  # pipes, sockets, devices, broken links
            except OSError:
                continue
            if fn.startswith(("optimizer", "scheduler", "rng_state", "pytorch_model", "model-")):
                continue
            out.append(p)
            if len(out) > MAX_DIR_FILES:
                raise InputError(f"{root}: more than {MAX_DIR_FILES:,} files; point logcheck at a run folder")
    return out


def _run_root(path: Path, top: Path) -> tuple[Path, Optional[int]]:
    """The folder a file's run lives in: checkpoint-N/x belongs to the folder above."""
    rel = path.relative_to(top).parts[:-1]
    for i, part in enumerate(rel):
        m = _CHECKPOINT_DIR.match(part)
        if m:
            return top.joinpath(*rel[:i]), int(m.group(1))
    return path.parent, None


def load_directory(top: Path, settings: Settings, pm: PluginManager) -> tuple[list[Run], list[InputFailure]]:
    """Find every run in a folder; each run's sources are merged into one Run."""
    stores = _store_folders(top, pm)
    if top in stores:  # logcheck mlruns/, logcheck wandb/run-x/, logcheck dvclive/
        runs = parse_directory(top, settings, pm) or []
        return runs, []
    store_runs: dict[Path, list[Run]] = {}
    failures: list[InputFailure] = []
    for d in stores:
        try:
            store_runs[d] = parse_directory(d, settings, pm) or []
        except InputError as e:
            if e.exit_code != 3:
                failures.append(InputFailure(path=str(d), error=str(e), exit_code=e.exit_code))
    files = _source_files(top, frozenset(stores))
    groups: dict[Path, list[Path]] = defaultdict(list)
    ckpt_steps: dict[Path, set[int]] = defaultdict(set)
    for d, rs in store_runs.items():
        if rs:
            groups[d.parent].append(d)  # a store folder is one more source of the folder above it
    for f in files:
        root, step = _run_root(f, top)
        if step is not None:
            ckpt_steps[root].add(step)
        groups[root].append(f)
    # Checkpoint folders whose files were all skipped still tell which steps were saved.
    for dirpath, dirnames, _ in os.walk(top):
        for dn in dirnames:
            m = _CHECKPOINT_DIR.match(dn)
            if m:
                ckpt_steps[Path(dirpath)].add(int(m.group(1)))
        if len(Path(dirpath).parts) - len(top.parts) >= 3:
            dirnames[:] = []
    # Keep only the newest trainer_state.json of a run: the top one, else the last checkpoint's.
    for root, fs in groups.items():
        states = [f for f in fs if f.name == "trainer_state.json"]
        if len(states) > 1:
            top_state = [f for f in states if f.parent == root]
            keep = top_state[0] if top_state else max(
                states, key=lambda f: int(_CHECKPOINT_DIR.match(f.parent.name).group(1))
                if _CHECKPOINT_DIR.match(f.parent.name) else -1)
            groups[root] = [f for f in fs if f.name != "trainer_state.json" or f == keep]
    # A folder that holds only structured metrics files (runs/<date>/events..., lightning_logs/version_0/
    # metrics.csv) belongs to the console log in the nearest folder above it, when that folder has a
    # console log and this is the only such folder below it.
    # "Such folder" is per kind: lightning_logs/version_0 (TensorBoardLogger) and version_1 (CSVLogger)
    # of one fit both join; version_0..3 of four fits (four metrics.csv) stay four runs.
    def is_structured(f: Path) -> bool:
        return f in store_runs or _structured(f)

    def kind(r: Path) -> frozenset[str]:
        return frozenset(stores.get(f) or _source_kind(f) for f in groups[r])

    structured_only = [r for r in groups if r != top and all(is_structured(f) for f in groups[r])
                       and not any(len(store_runs.get(f, ())) > 1 for f in groups[r])]
    for r in sorted(structured_only, key=lambda p: -len(p.parts)):
        anc = next((a for a in r.parents if a in groups and _is_within(a, top)), None)
        if anc is None or all(is_structured(f) for f in groups[anc]):
            continue
        siblings = [o for o in structured_only if o != r and o in groups and anc in o.parents
                    and next((a for a in o.parents if a in groups), None) == anc and kind(o) & kind(r)]
        if not siblings:
            groups[anc].extend(groups.pop(r))
    runs: list[Run] = []
    for root in sorted(groups):
        parsed: list[tuple[Path, list[Run]]] = []
        for f in groups[root]:
            if f in store_runs:
                parsed.append((f, store_runs[f]))
                continue
            try:
                parsed.append((f, parse_file(f, settings, pm)))
            except InputError as e:
                if e.exit_code == 3:
                    continue  # a file without metrics inside a run folder is not an error
                failures.append(InputFailure(path=str(f), error=str(e), exit_code=e.exit_code))
        if not parsed:
            continue
        model = _model_config(root)
        seq_len = _backend_seq_len(root)
        for run in _runs_of_group(root, parsed):
            if model and run.path == str(root):
                run = _with_model_config(run, model)
            if seq_len and run.config.seq_len is None:
                run = run.model_copy(update={"config": run.config.model_copy(update={"seq_len": seq_len})})
            steps = ckpt_steps.get(root)
            if steps and len(run.sources) and run.path == str(root):
                cps = tuple(sorted(set(run.config.checkpoints) | steps))
                run = run.model_copy(update={"config": run.config.model_copy(update={"checkpoints": cps})})
            runs.append(run)
    if not runs and not failures:
        err = InputError(f"{top}: no training logs or metrics files found in this folder")
        err.exit_code = 3
        raise err
    return runs, failures


def _model_config(root: Path) -> dict[str, Any]:
    """What the model's config.json in a Hugging Face output folder says about the model.

    The console log rarely names the model; whether it ties ``lm_head`` to the input
    embeddings decides whether a missing ``lm_head.weight`` is harmless.
    """
    candidates = [root / "config.json"]
    ckpts = sorted((p for p in root.glob("checkpoint-*") if _CHECKPOINT_DIR.match(p.name)),
                   key=lambda p: int(p.name.split("-")[1]), reverse=True)
    candidates += [p / "config.json" for p in ckpts[:1]]
    for c in candidates:
        try:
            if not c.is_file() or c.stat().st_size > 1 << 20:
                continue
            import json

            doc = json.loads(c.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):  # a damaged file is no model config
            continue
        if not isinstance(doc, dict) or not ("model_type" in doc or "architectures" in doc):
            continue
        out: dict[str, Any] = {"config_file": str(c)}
        for k in ("model_type", "architectures", "tie_word_embeddings", "_name_or_path", "vocab_size",
                  "n_positions", "max_position_embeddings", "torch_dtype", "dtype", "transformers_version"):
            if k in doc and isinstance(doc[k], (str, int, float, bool, list)):
                out[k] = doc[k]
        return out
    return {}


def _backend_seq_len(root: Path) -> Optional[int]:
    """Tokens per sample from ``run_config.json``, the file ``logcheck train`` writes beside its log."""
    f = root / "run_config.json"
    try:
        if not f.is_file() or f.stat().st_size > 1 << 20:
            return None
        import json

        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    block = doc.get("block_size") if isinstance(doc, dict) else None
    return int(block) if isinstance(block, int) and not isinstance(block, bool) and block > 0 else None


def _with_model_config(run: Run, model: dict[str, Any]) -> Run:
    extra = dict(run.config.extra)
    for k, v in model.items():
        extra.setdefault(k, v)
    name = run.config.model_name
    if not name:
        archs = model.get("architectures")
        name = model.get("_name_or_path") or (archs[0] if isinstance(archs, list) and archs else None) \
            or model.get("model_type")
    cfg = run.config.model_copy(update={"extra": extra, "model_name": name or None})
    return run.model_copy(update={"config": cfg})


def _runs_of_group(root: Path, parsed: list[tuple[Path, list[Run]]]) -> list[Run]:
    """The runs of one folder: its files are one run when they hold at most one console log
    (plus the metrics files the library wrote beside it); a folder of several console logs
    is several runs, each read on its own."""
    consoles = [(f, rs) for f, rs in parsed if not (_structured(f) or f.is_dir())]
    structured = [(f, rs) for f, rs in parsed if _structured(f) or f.is_dir()]
    if len(consoles) > 1:
        return [r for _, rs in parsed for r in rs]
    # A store holding several runs (mlflow.db, mlruns/) is several runs, never merged into one.
    separate = [r for _, rs in structured if len(rs) > 1 for r in rs]
    pieces: list[Run] = [r for _, rs in structured if len(rs) == 1 for r in rs]
    earlier: list[Run] = []
    if consoles:
        console_runs = consoles[0][1]
        # A console file holding several runs: the files beside it describe its last one.
        earlier, last = console_runs[:-1], console_runs[-1]
        pieces.append(last)
    if not pieces:
        return earlier + separate
    return earlier + separate + [merge_runs(pieces, path=str(root))]


def _is_within(p: Path, top: Path) -> bool:
    return p == top or top in p.parents


def _source_kind(f: Path) -> str:
    return "events" if f.name.startswith("events.out.tfevents") else f.suffix.lower() or f.name


def _structured(f: Path) -> bool:
    """Metrics files a library writes (as opposed to a captured console log)."""
    n = f.name
    return (n.startswith("events.out.tfevents") or n.endswith(("_results.json", ".csv", ".tsv", ".db", ".jsonl"))
            or n in ("trainer_state.json", "metrics.json", "wandb-summary.json"))


def load_paths(paths: Iterable[str], settings: Settings, pm: PluginManager) -> tuple[list[Run], list[InputFailure]]:
    runs: list[Run] = []
    failures: list[InputFailure] = []
    files_by_root: dict[Path, list[Path]] = defaultdict(list)
    order: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            try:
                rs, fs = load_directory(path, settings, pm)  # a store folder given itself is parsed whole
                runs.extend(rs)
                failures.extend(fs)
            except InputError as e:
                failures.append(InputFailure(path=str(path), error=str(e), exit_code=e.exit_code))
            continue
        root = _run_root(path, path.parent)[0] if path.exists() else path.parent
        if _CHECKPOINT_DIR.match(path.parent.name):
            root = path.parent.parent
        if root not in files_by_root:
            order.append(root)
        files_by_root[root].append(path)
    for root in order:
        parsed: list[list[Run]] = []
        for f in files_by_root[root]:
            try:
                parsed.append(parse_file(f, settings, pm))
            except InputError as e:
                failures.append(InputFailure(path=str(f), error=str(e), exit_code=e.exit_code))
        runs.extend(_merge_given_together(parsed))
    return runs, failures


def _merge_given_together(parsed: list[list[Run]]) -> list[Run]:
    """Files given together from one folder are one run if they come from different parsers
    (a console log and its trainer_state.json); two console logs stay two runs."""
    if len(parsed) <= 1:
        return [r for rs in parsed for r in rs]
    parsers = [rs[-1].sources[0].parser if rs and rs[-1].sources else None for rs in parsed if rs]
    if len(set(parsers)) != len(parsers) or any(len(rs) != 1 for rs in parsed):
        return [r for rs in parsed for r in rs]
    return [merge_runs([rs[0] for rs in parsed if rs])]


# ---------------------------------------------------------------------------
# Merging sources of one run
# ---------------------------------------------------------------------------


def _authority(run: Run) -> int:
    parser = run.sources[0].parser if run.sources else ""
    return _AUTHORITY.get(parser, 3)


def merge_runs(runs: list[Run], path: Optional[str] = None) -> Run:
    """Merge runs read from different files of the same run; cross-check shared figures."""
    if len(runs) == 1:
        r = runs[0]
        return r if path is None else r.model_copy(update={"path": path, "name": path})
    # A console file holding several runs: only its last run is the one the other files describe.
    runs = sorted(runs, key=_authority)
    base = runs[0]
    series: dict[str, Series] = dict(base.series)
    conflicts: list[Conflict] = list(base.conflicts)
    notes: list[str] = list(base.notes)
    for other in runs[1:]:
        for key, s in other.series.items():
            if key not in series:
                series[key] = s
                continue
            if s.step_origin in (StepOrigin.estimated, StepOrigin.index) or \
                    series[key].step_origin in (StepOrigin.estimated, StepOrigin.index):
                # Steps that are only estimated cannot be matched point by point.
                notes.append(f"{key} from {Path(s.source).name or 'a second source'} not merged: its steps are "
                             f"{s.step_origin.value}, not comparable with {series[key].step_origin.value} steps")
                continue
            merged, cs = _merge_series(series[key], s)
            series[key] = merged
            conflicts.extend(cs)
        notes.extend(n for n in other.notes if n not in notes)
    summary = _merge_model(base.summary, [r.summary for r in runs[1:]], runs, conflicts, "summary", tolerance=0.01)
    config = _merge_model(base.config, [r.config for r in runs[1:]], runs, None, "config", tolerance=0.0)
    cps = sorted({c for r in runs for c in r.config.checkpoints})
    config = config.model_copy(update={"checkpoints": tuple(cps)})
    events = tuple(e for r in runs for e in r.events)
    # The console sees crashes and interrupts; a state file may be a mid-run checkpoint.
    ending_run = next((r for r in sorted(runs, key=lambda r: -_authority(r)) if r.ending != Ending.unknown), base)
    sources = tuple(s for r in runs for s in r.sources)
    notes.append("merged " + ", ".join(f"{Path(s.path).name} ({s.parser})" for s in sources))
    return Run(
        path=path or base.path,
        format=base.format,
        name=path or base.name,
        sources=sources,
        series=series,
        summary=summary,
        config=config,
        events=events,
        events_dropped=sum(r.events_dropped for r in runs),
        ending=ending_run.ending,
        ending_line=ending_run.ending_line,
        ending_reason=ending_run.ending_reason,
        notes=tuple(notes),
        conflicts=tuple(conflicts),
    )


def _merge_series(a: Series, b: Series, max_conflicts: int = 5) -> tuple[Series, list[Conflict]]:
    """Union of two series of one metric by step; ``a`` (more authoritative) wins on shared steps."""
    conflicts: list[Conflict] = []
    common, ia, ib = np.intersect1d(a.step, b.step, assume_unique=False, return_indices=True)
    if len(common):
        va, vb = a.value[ia], b.value[ib]
        both_finite = np.isfinite(va) & np.isfinite(vb)
        # A console prints rounded values (Lightning 3 significant digits, transformers 5 '.4g'):
        # two readings agree when they differ by no more than the coarser one's rounding.
        tol = np.maximum(_rounding_of(va), _rounding_of(vb))
        tol = np.maximum(tol * 1.001, 1e-9 * np.maximum(np.abs(va), np.abs(vb)))
        bad = both_finite & (np.abs(va - vb) > tol)
        bad |= np.isfinite(va) != np.isfinite(vb)
        idx = np.nonzero(bad)[0]
        for j in idx[:max_conflicts]:
            conflicts.append(Conflict(
                what=f"{a.split.value}/{a.name} at step {_fmt_step(common[j])}",
                values={a.source or "a": _plain(va[j]), b.source or "b": _plain(vb[j])},
                step=float(common[j]),
            ))
        if len(idx) > max_conflicts:
            conflicts.append(Conflict(
                what=f"{a.split.value}/{a.name}: {len(idx) - max_conflicts} more steps disagree",
                values={a.source or "a": None, b.source or "b": None},
            ))
    if len(common) and not a.line.any() and b.line[ib].all() and b.source:
        # A JSON source has no line numbers; the console log's lines are the provenance to cite.
        lines = a.line.copy()
        lines[ia] = b.line[ib]
        a = a.model_copy(update={"line": lines, "source": b.source})
    only_b = ~np.isin(b.step, a.step)
    if not only_b.any():
        return a, conflicts
    step = np.concatenate([a.step, b.step[only_b]])
    order = np.argsort(step, kind="stable")
    origin = a.step_origin if a.step_origin == b.step_origin else StepOrigin.reconstructed
    merged = a.model_copy(update={
        "step": step[order],
        "value": np.concatenate([a.value, b.value[only_b]])[order],
        "epoch": np.concatenate([a.epoch, b.epoch[only_b]])[order],
        "line": np.concatenate([a.line, np.zeros(int(only_b.sum()), dtype=np.int64)])[order],
        "step_origin": origin,
    })
    return merged, conflicts


def _rounding_of(x: np.ndarray) -> np.ndarray:
    """Half a unit in the last printed decimal of each value: 4.07 -> 0.005, 4.9e-05 -> 5e-08.

    The fewest decimals that reproduce the value (vectorised: one pass per decimal count,
    not a repr per point, so a million shared points cost milliseconds).
    """
    out = np.zeros(x.shape, dtype=np.float64)
    todo = np.isfinite(x)
    for k in range(0, 13):
        if not todo.any():
            break
        hit = todo & np.isclose(np.round(x, k), x, rtol=1e-12, atol=0.0)
        out[hit] = 0.5 * 10.0 ** (-k)
        todo &= ~hit
    out[todo] = 0.0  # more than 12 decimals: full precision
    return out


def _merge_model(base: Any, others: list[Any], runs: list[Run], conflicts: Optional[list[Conflict]],
                 what: str, tolerance: float) -> Any:
    update: dict[str, Any] = {}
    for field in type(base).model_fields:
        if field in ("extra", "line", "checkpoints"):
            continue
        values = [getattr(base, field)] + [getattr(o, field) for o in others]
        known = [(runs[i].sources[0].path if runs[i].sources else str(i), v)
                 for i, v in enumerate(values) if v is not None]
        if not known:
            continue
        if getattr(base, field) is None:
            update[field] = known[0][1]
        if conflicts is not None and len(known) > 1:
            v0 = known[0][1]
            for src, v in known[1:]:
                if isinstance(v0, (int, float)) and isinstance(v, (int, float)):
                    if not (math.isclose(v0, v, rel_tol=tolerance, abs_tol=1e-9)):
                        conflicts.append(Conflict(what=f"{what}.{field}", values={known[0][0]: v0, src: v}))
    extra = dict(getattr(base, "extra", {}))
    for o in others:
        for k, v in getattr(o, "extra", {}).items():
            extra.setdefault(k, v)
    update["extra"] = extra
    return base.model_copy(update=update)


def _plain(x: Any) -> Any:
    x = float(x)
    return x if math.isfinite(x) else str(x)


def _fmt_step(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


# Logged numbers can be anything a float holds (1e308, inf and -inf side by side): checks and reports
# compute with them and look at the NaN/inf they give; numpy's floating-point warnings would only
# print noise to stderr of a CI job.
_QUIET_FP = {"over": "ignore", "invalid": "ignore", "divide": "ignore", "under": "ignore"}


def check_run(run: Run, settings: Settings, pm: PluginManager) -> RunReport:
    with np.errstate(**_QUIET_FP):
        return _check_run(run, settings, pm)


def _check_run(run: Run, settings: Settings, pm: PluginManager) -> RunReport:
    results: list[CheckResult] = []
    for plugin, res in pm.call_isolated("logcheck_check", "check", run=run, settings=settings):
        if res is None:
            continue
        items = res if isinstance(res, list) else [res]
        for r in items:
            if not isinstance(r, CheckResult):
                pm.fail(plugin, "check", f"returned {type(r).__name__}, not a CheckResult")
                continue
            results.append(_finish_result(r, run, settings, pm, plugin))
    for plugin, _ in pm.call_isolated("logcheck_modify_findings", "modify_findings",
                                      run=run, results=results, settings=settings):
        pass
    for r in results:  # a modify hook may have added findings without severity
        for f in r.findings:
            if f.severity is None:
                f.severity = settings.severity_of(f.code)
            f.path = f.path or run.path
    return RunReport(run=run, results=results)


def _file_of_line(run: Run, line: Optional[int]) -> Optional[str]:
    """The file a cited line number belongs to, when a run was read from several files."""
    if not line:
        return None
    if len(run.sources) == 1:
        return run.sources[0].path
    for s in run.series.values():
        if s.source and len(s) and line in s.line:
            return s.source
    for e in run.events:
        if e.line == line and e.source:
            return e.source
    return None


def _finish_result(r: CheckResult, run: Run, settings: Settings, pm: PluginManager, plugin: str) -> CheckResult:
    kept: list[Finding] = []
    for f in r.findings:
        rule = pm.rules.get(f.code)
        if rule is None:
            pm.fail(plugin, f"check:{r.check}", f"finding with unregistered rule code {f.code!r}")
            continue
        if not settings.rule_enabled(f.code):
            continue
        f.check = f.check or rule.check
        f.severity = settings.severity_of(f.code) if f.code in settings.severity or f.severity is None else f.severity
        f.path = f.path or _file_of_line(run, f.line) or run.path
        kept.append(f)
    r.findings = kept
    if r.status != Status.skip:
        # The status follows the findings that survived selection and severity overrides.
        worst = max((f.severity.rank for f in kept if f.severity), default=-1)
        declared = r.status
        r.status = Status.fail if worst >= 2 else Status.warn if worst == 1 else Status.pass_
        if declared == Status.fail and worst < 2 and not kept:
            r.status = Status.pass_
    return r


# ---------------------------------------------------------------------------
# Entry points used by the CLI and the backend
# ---------------------------------------------------------------------------


def prepare(settings: Optional[Settings] = None, pm: Optional[PluginManager] = None,
            load_entrypoints: bool = True) -> tuple[Settings, PluginManager]:
    settings = settings or Settings()
    if pm is None:
        pm = make_plugin_manager(settings.plugins, load_entrypoints=load_entrypoints)
    settings.bind_rules(pm.rules)
    pm.call_isolated("logcheck_configure", "configure", settings=settings)
    return settings, pm


def load_baseline(ref: str, settings: Settings, pm: PluginManager) -> dict[str, Any]:
    """The reference run's curves and figures: from a JSON report logcheck wrote, or by parsing REF."""
    from .report import run_curves

    p = Path(ref)
    if p.is_file() and p.suffix.lower() == ".json":
        try:
            import json

            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            doc = None
        if isinstance(doc, dict) and "schema_version" in doc:
            runs = doc.get("runs") or []
            if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict) \
                    or not isinstance(runs[0].get("curves"), dict) or not runs[0]["curves"]:
                raise UsageError(f"--baseline {ref}: the report holds no run with curves")
            return {"name": p.name, **_report_curves(runs[0]["curves"], ref)}
    runs, failures = load_paths([ref], settings, pm)
    if not runs:
        why = failures[0].error if failures else "no run found"
        raise UsageError(f"--baseline {ref}: {why}")
    return {"name": Path(ref).name, **run_curves(runs[0])}


def _report_curves(curves: dict[str, Any], ref: str) -> dict[str, Any]:
    """The curves and rates of a JSON report's run, checked: a hand-edited or damaged report is a
    usage error naming what is wrong, not a crash in the regression check."""
    from .parsing import parse_number

    out: dict[str, Any] = {}
    for key in ("train_loss", "eval_loss"):
        c = curves.get(key)
        if c is None:
            continue
        steps, values = (c.get("step"), c.get("value")) if isinstance(c, dict) else (None, None)
        if not (isinstance(steps, list) and isinstance(values, list) and len(steps) == len(values)):
            raise UsageError(f"--baseline {ref}: curves.{key} must hold 'step' and 'value' lists of one length")
        pts = [(parse_number(st), parse_number(v)) for st, v in zip(steps, values)]
        pts = [(st, math.nan if v is None else v) for st, v in pts if st is not None and math.isfinite(st)]
        if pts:
            pts.sort(key=lambda sv: sv[0])  # np.interp needs increasing steps
            out[key] = {"step": [st for st, _ in pts], "value": [v for _, v in pts]}
    for key in ("train_samples_per_second", "train_steps_per_second"):
        v = parse_number(curves.get(key))
        out[key] = v if v is not None and math.isfinite(v) and v > 0 else None
    return out


KNOWN_FINDINGS_VERSION = 1


def _known_key(path: str, code: str) -> str:
    return f"{Path(path).name}::{code}"


def write_known_findings(report: Report, dest: str) -> int:
    """Record today's findings so that only new ones fail CI (``--write-baseline``)."""
    import json

    counts: dict[str, int] = defaultdict(int)
    for rr in report.runs:
        for f in rr.findings:
            counts[_known_key(f.path or rr.run.path, f.code)] += 1
    doc = {"logcheck_known_findings": KNOWN_FINDINGS_VERSION,
           "findings": [{"key": k, "count": n} for k, n in sorted(counts.items())]}
    try:
        Path(dest).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--write-baseline {dest}: cannot write: {e.strerror or e}") from None
    return sum(counts.values())


def apply_known_findings(report: Report, src: str) -> None:
    """Drop findings recorded in a known-findings file (up to the recorded count per rule and log)."""
    import json

    try:
        if not Path(src).is_file():  # missing, a folder, or a pipe or device that would block
            raise ValueError("not a regular file")
        doc = json.loads(Path(src).read_text(encoding="utf-8"))
        budget = {str(e["key"]): int(e["count"]) for e in doc["findings"]}
        if doc.get("logcheck_known_findings") != KNOWN_FINDINGS_VERSION:
            raise ValueError("not a logcheck known-findings file")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise UsageError(f"known findings {src}: cannot use it: {e}") from None
    for rr in report.runs:
        for r in rr.results:
            kept = []
            for f in r.findings:
                k = _known_key(f.path or rr.run.path, f.code)
                if budget.get(k, 0) > 0:
                    budget[k] -= 1
                    continue
                kept.append(f)
            r.findings = kept


def analyze_paths(paths: Iterable[str], settings: Optional[Settings] = None,
                  pm: Optional[PluginManager] = None) -> Report:
    if pm is None or settings is None:
        settings, pm = prepare(settings, pm)
    if settings.baseline and "baseline" not in settings.plugin_options:
        settings.plugin_options["baseline"] = load_baseline(settings.baseline, settings, pm)
    runs, failures = load_paths(list(paths), settings, pm)
    report = Report(fail_on=settings.fail_on, input_failures=failures)
    for run in runs:
        report.runs.append(check_run(run, settings, pm))
    if settings.known_findings:
        apply_known_findings(report, settings.known_findings)
    report.plugin_failures = list(pm.failures)
    report.exit_code = report.compute_exit_code()
    return report


def render(report: Report, fmt: str = "text", settings: Optional[Settings] = None,
           pm: Optional[PluginManager] = None) -> str:
    settings, pm = (settings, pm) if (settings is not None and pm is not None) else prepare(settings, pm)
    renderer = pm.formats.get(fmt)
    if renderer is None:
        raise UsageError(f"--format {fmt!r}: unknown format; known: {', '.join(sorted(pm.formats))}")
    with np.errstate(**_QUIET_FP):
        return renderer.render(report, settings)


def check_and_report(paths: Iterable[str], fmt: str = "text", stream: Optional[IO[str]] = None,
                     settings: Optional[Settings] = None) -> int:
    """Analyse ``paths``, print the report in ``fmt`` and return the exit code."""
    import sys

    settings, pm = prepare(settings)
    report = analyze_paths(paths, settings, pm)
    out = render(report, fmt, settings, pm)
    (stream or sys.stdout).write(out if out.endswith("\n") else out + "\n")
    return report.exit_code
