"""`logcheck train` and `logcheck generate`.

Module level imports only click and the standard library (plus logcheck's errors and the stdlib-only
backend config), so attaching these commands to the main CLI costs nothing and needs no torch.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from logcheck.errors import LogcheckError, UsageError

from .config import build_config, require_training_extras, resolve_inputs, train_options

WORKER_MODULE = "logcheck.backends.shakespeare"


def _fail(exc: LogcheckError) -> None:
    click.echo(f"logcheck: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def worker_argv(flags: dict[str, Any], preset: str) -> list[str]:
    """The worker's command line: the resolved settings as flags (so a user can rerun it by hand)."""
    argv = ["--preset", preset, "--resolved"]
    for name, value in flags.items():
        if value is None or name == "nproc_per_node":
            continue
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if name == "bf16":
                if value:
                    argv.append("--bf16")
                continue
            argv.append(option if value else "--no-" + name.replace("_", "-"))
        else:
            argv += [option, str(value)]
    return argv


def launcher(nproc_per_node: int) -> list[str]:
    if nproc_per_node > 1:
        # torchrun as a module, so it is the torch of this interpreter; data parallel via the Trainer
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc_per_node}", "-m", WORKER_MODULE]
    return [sys.executable, "-m", WORKER_MODULE]


def run_and_tee(command: list[str], log_path: Path, terminal: BinaryIO) -> int:
    """Run command with stdout+stderr on one pipe; copy the bytes unchanged to log_path and terminal."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # keeps stdout and stderr in the order written
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert process.stdout is not None
        try:
            while True:
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                log.write(chunk)
                log.flush()
                terminal.write(chunk)
                terminal.flush()
        except KeyboardInterrupt:
            process.terminate()
            raise
        finally:
            process.stdout.close()
        return process.wait()


def analyze_output_dir(out_dir: Path) -> tuple[int, str]:
    """Analyse the run like `logcheck OUT_DIR`, write report.txt / report.json; (exit code, text)."""
    try:
        from logcheck.pipeline import analyze_paths, render  # written by the lead; may not exist yet
    except ImportError:
        analyze_paths = None
    if analyze_paths is not None:
        report = analyze_paths([str(out_dir)])
        text = render(report, "text")
        (out_dir / "report.txt").write_text(text)
        (out_dir / "report.json").write_text(render(report, "json"))
        return int(report.exit_code), text
    # Fallback until logcheck.pipeline exists: the CLI in a subprocess.
    result = subprocess.run([sys.executable, "-m", "logcheck", str(out_dir)],
                            capture_output=True, text=True)
    text = result.stdout + result.stderr
    (out_dir / "report.txt").write_text(text)
    as_json = subprocess.run([sys.executable, "-m", "logcheck", "--format", "json", str(out_dir)],
                             capture_output=True, text=True)
    if as_json.stdout.strip():
        (out_dir / "report.json").write_text(as_json.stdout)
    return result.returncode, text


@click.command(name="train", context_settings={"help_option_names": ["-h", "--help"]})
@train_options
@click.option("--analyze/--no-analyze", default=True, show_default=True,
              help="Run logcheck on the output directory at the end and exit with its code.")
def train_command(preset: str, analyze: bool, **flags: Any) -> None:
    """Train the reference run (distilgpt2 on tiny Shakespeare) and check its log.

    Writes run.log (all the Trainer printed), trainer_state.json, checkpoints, the model,
    run_config.json and report.txt / report.json into --output-dir.
    """
    try:
        require_training_extras()
        config = build_config(preset, **{k: v for k, v in flags.items()})
        resolve_inputs(config)
    except LogcheckError as exc:
        _fail(exc)
        return
    out_dir = Path(config.output_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    flags = dict(flags, output_dir=str(out_dir), data=config.data, tokenizer=config.tokenizer,
                 model=config.model)
    command = launcher(config.nproc_per_node) + worker_argv(flags, preset)
    terminal = getattr(sys.stdout, "buffer", None) or sys.stdout
    rc = run_and_tee(command, out_dir / "run.log", terminal)  # type: ignore[arg-type]
    if rc != 0:
        click.echo(f"logcheck train: the training process exited with code {rc}", err=True)
    if not analyze:
        sys.exit(rc)
    click.echo(f"\nlogcheck {out_dir}")
    try:
        code, text = analyze_output_dir(out_dir)
    except LogcheckError as exc:
        _fail(exc)
        return
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(code if code != 0 else rc)


def decode_prompt(prompt: str) -> str:
    """`\\n` and `\\t` typed on a command line become a newline and a tab (the seed's "ROMEO:\\n")."""
    return prompt.replace("\\n", "\n").replace("\\t", "\t")


@click.command(name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--prompt", default="ROMEO:\\n", show_default=True, help="Text to continue; \\n is a newline.")
@click.option("--max-new-tokens", type=int, default=200, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--top-p", type=float, default=0.95, show_default=True)
@click.option("--seed", type=int, default=None, help="Seed for sampling (reproducible text).")
@click.option("--tokenizer", default=None, help="Tokenizer, when MODEL_DIR has none.")
@click.option("--perplexity", is_flag=True,
              help="Instead of sampling, report eval loss and perplexity on the preset's eval split.")
@click.option("--data", default=None, help="Text for --perplexity [default: run_config.json's].")
def generate_command(model_dir: str, prompt: str, max_new_tokens: int, temperature: float, top_p: float,
                     seed: int | None, tokenizer: str | None, perplexity: bool, data: str | None) -> None:
    """Sample from a trained model (MODEL_DIR is a `logcheck train` output directory)."""
    try:
        require_training_extras()
        if not Path(model_dir, "config.json").is_file():
            raise UsageError(f"{model_dir}: not a model directory (no config.json)")
        from . import generate as backend_generate

        if perplexity:
            result = backend_generate.eval_perplexity(model_dir, tokenizer=tokenizer, data=data)
            click.echo(f"eval blocks: {result['n_blocks']}  eval loss: {result['eval_loss']:.4f}  "
                       f"perplexity: {result['perplexity']:.2f}")
            return
        text = backend_generate.sample(model_dir, decode_prompt(prompt), max_new_tokens=max_new_tokens,
                                       temperature=temperature, top_p=top_p, seed=seed,
                                       tokenizer=tokenizer)
        click.echo(text)
    except LogcheckError as exc:
        _fail(exc)
