"""The ``logcheck`` command.

``logcheck PATH...`` checks logs (the default command); ``logcheck rule CODE``
prints a rule's doc; ``logcheck rules`` and ``logcheck plugins`` list what is
loaded; ``logcheck train`` / ``logcheck generate`` come from the bundled
backend (optional extra ``train``).

Exit codes: 0 nothing at or above ``--fail-on``; 1 a finding at or above it;
2 usage error or unreadable input; 3 nothing that could be judged (no metrics);
4 a plugin failed (the other results are still reported).
"""
from __future__ import annotations

import math
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

import click

from . import __version__
from .errors import ConfigError, LogcheckError, UsageError
from .settings import load_config_file, make_settings

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_NOTHING, EXIT_PLUGIN = 0, 1, 2, 3, 4


class DefaultGroup(click.Group):
    """A group whose unknown first argument is a path for the default ``check`` command."""

    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        elif not args:
            args = [self.default_command]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logcheck")
def cli() -> None:
    """logcheck: a linter for training logs.

    \b
    logcheck run.log                 check a log (Hugging Face, Lightning, nanoGPT, ...)
    logcheck output_dir/             check every run in a folder (logs + trainer_state.json + metrics.csv)
    logcheck run.log --format json   machine-readable report
    logcheck rule OVF001             explain a rule
    """


def _settings_from(opts: dict[str, Any], config_path: Optional[str]) -> Any:
    if config_path:
        from .settings import _read_toml, pyproject_section

        data = _read_toml(Path(config_path))
        if Path(config_path).name == "pyproject.toml":
            data = pyproject_section(data, Path(config_path))
        source = config_path
    else:
        data, found = load_config_file(Path.cwd())
        source = str(found) if found else "configuration"
    settings = make_settings(data, source=source)
    updates: dict[str, Any] = {}
    for key in ("select", "ignore", "extend_select"):
        if opts.get(key):
            updates[key] = [c.strip() for v in opts[key] for c in v.split(",") if c.strip()]
    for key in ("fail_on", "seq_len", "min_samples_per_second", "peak_flops", "parser", "baseline",
                "known_findings"):
        if opts.get(key) is not None:
            updates[key] = opts[key]
    if opts.get("plugins"):
        updates["plugins"] = list(settings.plugins) + list(opts["plugins"])
    merged = settings.model_dump()
    merged.update(updates)
    return make_settings(merged, source="command line")


@cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "-f", "fmt", default="text", show_default=True, help="output format (`logcheck plugins` lists them)")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="write the report here")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), help="lowest severity that fails (default error)")
@click.option("--select", multiple=True, help="rule codes or prefixes to run (comma-separated)")
@click.option("--ignore", multiple=True, help="rule codes or prefixes to skip")
@click.option("--extend-select", multiple=True, help="add to the selection")
@click.option("--seq-len", type=int, help="tokens per sample, to report tokens/s")
@click.option("--min-samples-per-second", type=float, help="fail below this throughput")
@click.option("--peak-flops", type=float, help="hardware peak FLOP/s, for utilization")
@click.option("--baseline", help="reference run of the same job (log, folder, or a JSON report) to compare with")
@click.option("--known-findings", help="ignore findings recorded with --write-baseline FILE")
@click.option("--write-baseline", "write_baseline", type=click.Path(dir_okay=False),
              help="record today's findings in FILE so only new ones fail later")
@click.option("--parser", help="skip detection and use this parser (`logcheck plugins` lists them)")
@click.option("-p", "plugins", multiple=True, help="load a plugin module, or block one with no:NAME")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="configuration file")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="also draw the loss curves with the findings to PATH (.png/.svg/.pdf; extra: plot)")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="also write a self-contained HTML report to PATH")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="parse and check in N processes (0: all cores); one combined report")
@click.option("--follow", is_flag=True, help="keep re-checking a log that is being written; exit at the first failure")
@click.option("--stall-timeout", type=float, help="with --follow: fail when the log stops growing this many seconds")
@click.option("--poll-interval", type=float, default=2.0, show_default=True, help="with --follow: seconds between checks")
@click.option("--traceback", "show_traceback", is_flag=True, help="show Python tracebacks of internal errors")
def check_command(paths: tuple[str, ...], fmt: str, output: Optional[str], show_traceback: bool,
                  config_path: Optional[str], write_baseline: Optional[str], follow: bool,
                  stall_timeout: Optional[float], poll_interval: float, plot_path: Optional[str],
                  html_path: Optional[str], jobs: int, **opts: Any) -> None:
    """Check training logs and print a report; the exit code says whether the run is bad."""
    if not paths:
        raise UsageError("no log given; try `logcheck run.log` or `logcheck --help`")
    from .pipeline import analyze_paths, prepare, render

    settings = _settings_from(opts, config_path)
    settings, pm = prepare(settings)
    if fmt not in pm.formats:
        raise UsageError(f"--format {fmt!r}: unknown format; known: {', '.join(sorted(pm.formats))}")
    if plot_path:
        from .plot import SUFFIXES

        if Path(plot_path).suffix.lower() not in SUFFIXES:
            raise UsageError(f"--plot {plot_path}: the file name must end in {', '.join(sorted(SUFFIXES))}")
    if follow:
        if not (poll_interval > 0 and math.isfinite(poll_interval)):
            raise UsageError(f"--poll-interval {poll_interval}: must be a positive number of seconds")
        if stall_timeout is not None and not stall_timeout > 0:  # NaN fails too; inf is "never"
            raise UsageError(f"--stall-timeout {stall_timeout}: must be a positive number of seconds")
        if plot_path or html_path:
            raise UsageError("--plot and --html cannot be combined with --follow")
        if len(paths) != 1 or Path(paths[0]).is_dir():
            raise UsageError("--follow takes exactly one log file")
        from .follow import follow as follow_log

        def emit(rep: Any, why: str) -> None:
            _write_stdout(render(rep, fmt, settings, pm) + "\n")

        report = follow_log(paths[0], settings, pm, emit, interval=poll_interval, stall_timeout=stall_timeout,
                            log=lambda s: click.echo(s, err=True))
        sys.exit(report.exit_code)
    if jobs != 1:
        from .parallel import analyze_paths_parallel

        report = analyze_paths_parallel(paths, settings, pm, jobs=jobs)
    else:
        report = analyze_paths(paths, settings, pm)
    if plot_path:
        from .plot import plot_report

        settings.plugin_options["plot_path"] = plot_path  # the markdown report embeds it
        plot_report(report, plot_path, settings)
    if html_path:
        from .html_report import write_html

        write_html(report, html_path, settings)
    if write_baseline:
        from .pipeline import write_known_findings

        n = write_known_findings(report, write_baseline)
        click.echo(f"logcheck: recorded {n} known finding(s) in {write_baseline}", err=True)
    text = render(report, fmt, settings, pm)
    if text and not text.endswith("\n"):
        text += "\n"
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"--output {output}: cannot write: {e.strerror or e}") from None
    else:
        _write_stdout(text)
    # Errors always go to stderr, one line each, whatever the report format.
    for f in report.input_failures:
        click.echo(f"logcheck: error: {f.error}", err=True)
    for pf in report.plugin_failures:
        click.echo(f"logcheck: plugin error: {pf.plugin} ({pf.where}): {pf.error}", err=True)
    sys.exit(report.exit_code)


def _write_stdout(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except UnicodeEncodeError:
        sys.stdout.buffer.write(text.encode("utf-8", "replace"))
        sys.stdout.flush()
    except BrokenPipeError:  # `logcheck run.log | head`
        pass


@cli.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Print a rule's documentation."""
    from .pipeline import prepare

    _, pm = prepare()
    rule = pm.rules.get(code.upper())
    if rule is None:
        matches = sorted(c for c in pm.rules if c.startswith(code.upper()))
        hint = f"; did you mean {', '.join(matches[:8])}?" if matches else "; `logcheck rules` lists them"
        raise UsageError(f"unknown rule code {code!r}{hint}")
    click.echo(f"# {rule.code} {rule.name}  ({rule.check}, default severity: {rule.severity.value})\n")
    click.echo(rule.summary + "\n")
    click.echo(rule.doc.strip() + "\n")
    if rule.params:
        click.echo("## Parameters")
        for name, p in rule.params.items():
            click.echo(f"- `{name}` (default {p.default!r}): {p.doc}")


@cli.command("rules")
def rules_command() -> None:
    """List every rule: code, check, default severity, summary."""
    from .pipeline import prepare

    _, pm = prepare()
    for code in sorted(pm.rules):
        r = pm.rules[code]
        click.echo(f"{code:<8} {r.check:<12} {r.severity.value:<8} {r.name}: {r.summary}")


@cli.command("plugins")
@click.option("-p", "plugins", multiple=True, help="load a plugin module, or block one with no:NAME")
def plugins_command(plugins: tuple[str, ...]) -> None:
    """List loaded plugins, where they come from, and which hooks they implement."""
    from .pluginmanager import make_plugin_manager

    pm = make_plugin_manager(plugins)
    for name, info in pm.info.items():
        origin = "built-in" if info.builtin else (
            f"{info.distribution} {info.version}" if info.distribution else "-p")
        click.echo(f"{name:<22} {origin:<24} {', '.join(h.replace('logcheck_', '') for h in info.hooks)}")
    click.echo(f"\nparsers: {', '.join(sorted(pm.parsers))}")
    click.echo(f"formats: {', '.join(sorted(pm.formats))}")
    click.echo(f"rules:   {len(pm.rules)}")
    for f in pm.failures:
        click.echo(f"plugin error: {f.plugin} ({f.where}): {f.error}", err=True)
    sys.exit(EXIT_PLUGIN if pm.failures else EXIT_OK)


BACKEND_COMMANDS = ("train", "generate")


def _needs_backend(args: list[str]) -> bool:
    """Only ``logcheck train|generate ...`` and the top-level help use the backend's commands; checking
    a log does not pay for importing them (~10 ms)."""
    return bool(args) and args[0] in (*BACKEND_COMMANDS, "--help", "-h")


def _attach_backend() -> None:
    """``logcheck train`` and ``logcheck generate``: the backend's CLI imports only click at module level."""
    try:
        from logcheck.backends import cli as backend_cli
    except Exception:  # the backend package is optional at run time
        return
    for name, attr in zip(BACKEND_COMMANDS, ("train_command", "generate_command")):
        cmd = getattr(backend_cli, attr, None)
        if cmd is not None and name not in cli.commands:
            cli.add_command(cmd, name)


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point: every error becomes one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _needs_backend(args):
        _attach_backend()
    show_tb = "--traceback" in args
    try:
        cli.main(args=args, prog_name="logcheck", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"logcheck: error: {e.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("logcheck: aborted", err=True)
        sys.exit(130)
    except ConfigError as e:
        for line in str(e).splitlines():
            click.echo(f"logcheck: config error: {line}", err=True)
        sys.exit(EXIT_USAGE)
    except LogcheckError as e:
        click.echo(f"logcheck: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("logcheck: interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:
        if show_tb:
            traceback.print_exc()
        else:
            click.echo(f"logcheck: internal error: {type(e).__name__}: {e} (run with --traceback for details)",
                       err=True)
        sys.exit(EXIT_PLUGIN)
