"""A Weights & Biases run folder (``wandb/run-*/`` or ``wandb/offline-run-*/``) (``wandb_run`` parser).

* ``files/output.log`` is W&B's copy of the console: it is handed to the other parsers
  (``ctx.parse_file``), so a Hugging Face or Lightning console inside is read as such;
* ``files/wandb-summary.json`` holds the final value of every logged key: kept as summary figures, and
  where the run logged ``train/global_step`` (Hugging Face) its ``train/*``/``eval/*`` values become the
  points at that step, so that merging cross-checks them against the console;
* ``files/config.yaml`` (``key: {value: ...}``) gives the configuration;
* the binary ``run-*.wandb`` (the full history, protobuf records) is not decoded: a note says so.

wandb 0.31 in offline mode writes only ``files/output.log``, ``files/requirements.txt``, ``logs/`` and
the ``.wandb`` file; the summary and config files appear with online runs (or after ``wandb sync``).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

from logcheck import ParseContext, ParseError, Parser, Run, RunBuilder, Source, StepOrigin, hookimpl
from logcheck.parsing import loads_json, parse_number
from logcheck.plugins.parse_mlflow import metric_key

_RUN_DIR = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-\w+$")
_CONFIG = {"learning_rate": ("learning_rate", float), "lr": ("learning_rate", float),
           "per_device_train_batch_size": ("train_batch_size", int), "num_train_epochs": ("num_train_epochs", float),
           "max_steps": ("max_steps", int), "logging_steps": ("logging_steps", float),
           "eval_steps": ("eval_steps", float), "save_steps": ("save_steps", float),
           "gradient_accumulation_steps": ("gradient_accumulation_steps", int)}


def is_wandb_run_dir(p: Path) -> bool:
    files = p / "files"
    if _RUN_DIR.match(p.name) and (files.is_dir() or any(p.glob("*.wandb"))):
        return True
    return (files / "wandb-summary.json").is_file() or (files / "wandb-metadata.json").is_file()


def _config_yaml(path: Path) -> dict[str, Any]:
    """``key:\\n  value: X`` pairs of W&B's config.yaml (top-level scalars only; no yaml dependency)."""
    out: dict[str, Any] = {}
    key: Optional[str] = None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for line in lines[:20000]:
        if line and not line[0].isspace() and line.endswith(":"):
            key = line[:-1].strip()
            continue
        s = line.strip()
        if key and s.startswith("value:"):
            raw = s[6:].strip()
            if raw and raw[0] not in "{[|>":
                num = parse_number(raw)
                out[key] = num if num is not None else raw.strip("'\"")
            key = None
    return out


class WandbRunParser(Parser):
    name = "wandb_run"
    format = "wandb"
    framework = "wandb"
    description = "a W&B run folder: files/output.log (the console), wandb-summary.json, config.yaml"
    reads_directories = True

    def sniff(self, path: Path, head: bytes) -> float:
        try:
            return 0.95 if is_wandb_run_dir(Path(path)) else 0.0
        except OSError:
            return 0.0

    def parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":
        path = Path(path)
        try:
            return self._parse(path, ctx)
        except ParseError:
            raise
        except (OSError, ValueError, TypeError, OverflowError, MemoryError) as e:
            raise ParseError(f"{path}: unreadable as a W&B run folder ({type(e).__name__}: {e})") from None

    def _parse(self, path: Path, ctx: ParseContext) -> "Run | list[Run]":
        files = path / "files"
        console: list[Run] = []
        out_log = files / "output.log"
        notes: list[str] = []
        if out_log.is_file() and out_log.stat().st_size > 0:
            if ctx.parse_file is None:
                notes.append("files/output.log (the console) was not read: no parser callback in this context")
            else:
                try:
                    console = ctx.parse_file(out_log)
                except ParseError:
                    raise
                except Exception as e:  # an InputError from the core: no parser claims the console
                    notes.append(f"files/output.log could not be read: {e}")
        b = RunBuilder(str(path), "wandb", name=path.name)
        summary_path = files / "wandb-summary.json"
        if summary_path.is_file():
            try:
                summ = loads_json(summary_path.read_bytes())
            except (ValueError, OSError) as e:
                summ = None
                notes.append(f"wandb-summary.json could not be read: {e}")
            if isinstance(summ, dict):
                self._summary(b, summ, str(summary_path))
                b.sources.append(Source(path=str(summary_path), parser=self.name, format="wandb", framework="wandb",
                                        bytes=summary_path.stat().st_size))
        cfg = files / "config.yaml"
        if cfg.is_file():
            for k, v in _config_yaml(cfg).items():
                if k.startswith("_"):
                    continue
                target = _CONFIG.get(k)
                if target and isinstance(v, float) and math.isfinite(v):
                    b.config[target[0]] = target[1](v)
                elif isinstance(v, (int, float, str)):
                    b.config_extra[k] = v
        binaries = sorted(path.glob("*.wandb"))
        for w in binaries:
            notes.append(f"{w.name} ({w.stat().st_size:,} bytes, W&B's binary history) is not decoded; "
                         "the points come from the console copy (files/output.log) and wandb-summary.json")
        own = b.build()
        if not console and not own.has_metrics():
            raise ParseError(f"{path}: a W&B run folder without a readable console (files/output.log) or summary")
        own = own.model_copy(update={"notes": tuple(list(own.notes) + notes)})
        if not console:
            return own
        from logcheck.pipeline import merge_runs  # the core's merge: cross-checks shared figures

        main = console[-1]  # a console holding several runs: the last is the one W&B describes
        merged = merge_runs([main, own], path=str(path)) if own.sources else \
            main.model_copy(update={"path": str(path), "name": path.name, "notes": tuple(list(main.notes) + notes)})
        return console[:-1] + [merged]

    def _summary(self, b: RunBuilder, summ: dict[str, Any], source: str) -> None:
        gstep = parse_number(summ.get("train/global_step")) if "train/global_step" in summ else None
        points: dict[tuple[str, str], float] = {}
        for k, v in summ.items():
            if k.startswith("_") or isinstance(v, (dict, list, bool)):
                continue
            val = parse_number(v)
            if val is None:
                continue
            b.summary_extra[f"wandb/{k}"] = val
            if k in ("train/train_runtime", "train_runtime"):
                b.summary["train_runtime_s"] = val
            elif k in ("train/train_loss", "train_loss") and gstep is not None:
                b.summary["mean_train_loss"] = val
            elif gstep is not None and k.startswith(("train/", "eval/")) and k != "train/global_step" \
                    and k[6:] not in ("epoch",) and not k.startswith("train/train_"):
                points[metric_key(k)] = val
        if gstep is not None:
            b.summary["global_step"] = int(gstep)
            for (split, name), val in points.items():
                b.add(split, name, float(gstep), val, math.nan, 0, f"{split}/{name}")
            b.set_step_origin(StepOrigin.logged)
            b.note("wandb-summary.json values (the last logged) placed at train/global_step "
                   f"{int(gstep)} for cross-checking")


@hookimpl
def logcheck_register_parsers(register):
    register(WandbRunParser())
