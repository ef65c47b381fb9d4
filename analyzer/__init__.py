"""logcheck: a linter for training logs.

Plugins import only from here::

    from logcheck import hookimpl, Run, Series, Split, Finding, Severity, Status, CheckResult, Rule, Param
"""
from __future__ import annotations

from .errors import (
    ConfigError,
    InputError,
    LogcheckError,
    MissingExtraError,
    ParseError,
    PluginError,
    UsageError,
)
from .findings import CheckResult, Finding, Param, PluginFailure, Rule, Severity, Status, rule_doc
from .parsing import OutputFormat, ParseContext, Parser
from .pluginmanager import hookimpl
from .records import (
    Conflict,
    Ending,
    Event,
    Run,
    RunBuilder,
    RunConfig,
    Series,
    Source,
    Split,
    StepOrigin,
    Summary,
    make_series,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "ConfigError",
    "Conflict",
    "Ending",
    "Event",
    "Finding",
    "InputError",
    "LogcheckError",
    "MissingExtraError",
    "OutputFormat",
    "Param",
    "ParseContext",
    "ParseError",
    "Parser",
    "PluginError",
    "PluginFailure",
    "Rule",
    "Run",
    "RunBuilder",
    "RunConfig",
    "Series",
    "Settings",
    "Severity",
    "Source",
    "Split",
    "Status",
    "StepOrigin",
    "Summary",
    "UsageError",
    "__version__",
    "hookimpl",
    "make_series",
    "rule_doc",
]
