"""The hooks a logcheck plugin can implement, in the order they run.

Every hook is named ``logcheck_*``. Arguments may be added over time; a hook is
never renamed or removed. An implementation may accept any subset of a hook's
arguments (pluggy passes only the ones it names).

Run order for ``logcheck PATH``::

    logcheck_register_parsers   once, at start-up
    logcheck_register_rules     once, at start-up
    logcheck_register_formats   once, at start-up
    logcheck_configure          once, with the settings
    logcheck_detect_format      per file, first non-None result wins
    logcheck_check              per run, every implementation (each isolated)
    logcheck_modify_findings    per run, after all checks
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .findings import CheckResult, Rule
    from .parsing import OutputFormat, Parser
    from .records import Run
    from .settings import Settings

hookspec = pluggy.HookspecMarker("logcheck")


@hookspec
def logcheck_register_parsers(register: "Callable[[Parser], None]") -> None:
    """Register parsers by calling ``register(parser)`` once for each.

    A parser has a unique ``name``, a ``format`` family (``"hf"``,
    ``"lightning"``, ``"raw"`` or your own), ``sniff(path, head) -> float``
    (confidence 0..1 that it reads this file) and ``parse(path, ctx)``
    returning a :class:`~logcheck.Run` or a list of runs. Called once at start-up.
    A name registered twice is reported as a plugin error and the second is ignored.
    """


@hookspec
def logcheck_register_rules(register: "Callable[[Rule], None]") -> None:
    """Register rules by calling ``register(rule)`` once for each.

    Codes must be unique across all plugins; a duplicate code is reported as a
    plugin error and the second registration is ignored. Called once at start-up.
    """


@hookspec
def logcheck_register_formats(register: "Callable[[OutputFormat], None]") -> None:
    """Register output formats (``--format NAME``) by calling ``register(fmt)``.

    ``fmt.render(report, settings) -> str`` turns a :class:`~logcheck.Report`
    into the text printed on stdout. Called once at start-up.
    """


@hookspec
def logcheck_configure(settings: "Settings") -> None:
    """Called once after the settings (file + command line) are final.

    Plugins may read their own options from ``settings.plugin_options``.
    """


@hookspec(firstresult=True)
def logcheck_detect_format(path: "Path", head: bytes, parsers: "dict[str, Parser]") -> Optional[str]:
    """Return the name of the parser for ``path``, or None to let others decide.

    ``head`` is the first 256 KiB of the file (empty for a directory). The first
    non-None result wins; the built-in implementation runs last and picks the
    registered parser whose ``sniff`` is most confident. ``--parser NAME``
    skips this hook.
    """


@hookspec
def logcheck_check(run: "Run", settings: "Settings") -> "Optional[CheckResult | list[CheckResult]]":
    """Evaluate one run; return a CheckResult (or a list, or None).

    Findings name their rule ``code``; the core fills in the check name and
    the configured severity, drops findings of deselected rules, and sets
    each finding's ``path``. Each implementation is called on its own: one
    that raises is reported as a plugin error and the other checks still run.
    """


@hookspec
def logcheck_modify_findings(run: "Run", results: "list[CheckResult]", settings: "Settings") -> None:
    """Called per run after every check; may change, add or drop findings in place."""


# Documented in docs/hooks.md; tests/test_docs.py fails when a hook is not.
ALL_HOOKS: tuple[str, ...] = (
    "logcheck_register_parsers",
    "logcheck_register_rules",
    "logcheck_register_formats",
    "logcheck_configure",
    "logcheck_detect_format",
    "logcheck_check",
    "logcheck_modify_findings",
)
