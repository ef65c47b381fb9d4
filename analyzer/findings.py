"""What checks produce: findings, per-check results, and the rules behind them.

A *rule* is a stable code (``OVF001``) with a default severity, documented
parameters and a doc in ruff's four sections. A *check* (``overfitting``) is a
plugin that evaluates a run, reports a :class:`Status` for itself and zero or
more :class:`Finding` objects, each naming the rule that fired.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"

    @property
    def rank(self) -> int:
        return _SEV_RANK[self.value]


_SEV_RANK = {"info": 0, "warning": 1, "error": 2}


class Status(str, Enum):
    pass_ = "pass"
    warn = "warn"
    fail = "fail"
    skip = "skip"


class Finding(BaseModel):
    """One fact about a run, with numbers and provenance; the fix is in ``hint``."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    hint: str = ""
    check: str = ""  # filled by the core from the rule registry when empty
    severity: Optional[Severity] = None  # None: the rule's (configured) severity
    step: Optional[float] = None
    line: Optional[int] = None
    path: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> str:
        """Identity for known-findings baselines: code + run + message shape."""
        return f"{self.code}:{self.path}:{self.step}"


class CheckResult(BaseModel):
    """A check's verdict on one run."""

    model_config = ConfigDict(extra="forbid")

    check: str
    status: Status
    reason: str = ""
    findings: list[Finding] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)  # measured figures for reports


def rule_doc(what: str, why: str, example: str, fix: str) -> str:
    """A rule's doc in ruff's four sections; ``example`` is shown as a code block."""
    return (f"## What it does\n{what}\n\n## Why is this bad\n{why}\n\n"
            f"## Example\n```\n{example}\n```\n\n## How to fix\n{fix}\n")


class Param(BaseModel):
    """A rule parameter with its default and what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Any
    doc: str


class Rule(BaseModel):
    """A rule: stable code, the check it belongs to, default severity, parameters, doc."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str  # kebab-case, e.g. "eval-loss-rising"
    check: str
    severity: Severity
    summary: str
    doc: str  # markdown with What it does / Why is this bad / Example / How to fix
    params: dict[str, Param] = Field(default_factory=dict)
    plugin: str = ""  # filled by the registry


class PluginFailure(BaseModel):
    """A plugin that could not load or raised; reported in one line, the rest still runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plugin: str
    where: str  # "load", "parse", "check:overfitting", "render"
    error: str
