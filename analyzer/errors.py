"""Exceptions raised by logcheck.

One root, so a caller can catch everything logcheck raises on purpose::

    LogcheckError
    ├── UsageError          bad arguments or configuration            (exit 2)
    │   └── ConfigError     a configuration key with a wrong value    (exit 2)
    ├── InputError          a path that cannot be read as a log       (exit 2)
    │   └── ParseError      the bytes were read but are not a log the parser understands
    ├── PluginError         a third-party plugin failed to load or raised
    └── MissingExtraError   an optional extra (e.g. ``train``) is not installed

The CLI turns each into one line on stderr and an exit code; ``--traceback``
shows the Python traceback instead.
"""
from __future__ import annotations


class LogcheckError(Exception):
    """Root of every error logcheck raises on purpose."""

    exit_code = 2


class UsageError(LogcheckError):
    """Bad command-line arguments."""


class ConfigError(UsageError):
    """A configuration value is wrong; the message names the key."""


class InputError(LogcheckError):
    """A path cannot be read as a training log (missing, unreadable, binary, empty)."""


class ParseError(InputError):
    """A parser read the bytes but could not make a run of them."""


class PluginError(LogcheckError):
    """A plugin failed to import, raised, or registered a duplicate."""

    exit_code = 4


class MissingExtraError(LogcheckError):
    """An optional dependency is missing; the message says which pip install fixes it."""

    def __init__(self, what: str, extra: str, package: str | None = None):
        pkg = package or what
        super().__init__(
            f"{what} is not installed; install it with: pip install 'logcheck[{extra}]' "
            f"(or pip install {pkg})"
        )
        self.what = what
        self.extra = extra
