"""Settings: ``[tool.logcheck]`` in pyproject.toml (or logcheck.toml), then flags.

Validated by pydantic; a bad key or value becomes a :class:`ConfigError` whose
message names the key and what was expected, one line per problem.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .errors import ConfigError
from .findings import Rule, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]


class Settings(BaseModel):
    """Everything that changes what logcheck reports. Field names are the config keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    select: list[str] = Field(default_factory=lambda: ["ALL"], description="rule codes or prefixes to run")
    ignore: list[str] = Field(default_factory=list, description="rule codes or prefixes to skip")
    extend_select: list[str] = Field(default_factory=list, description="added to select")
    fail_on: Severity = Field(Severity.error, description="lowest severity that makes the exit code 1")
    severity: dict[str, Severity] = Field(default_factory=dict, description="per-rule severity overrides")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-rule parameters")
    seq_len: Optional[int] = Field(None, ge=1, description="tokens per sample, for tokens/s")
    min_samples_per_second: Optional[float] = Field(None, gt=0, description="throughput floor")
    peak_flops: Optional[float] = Field(None, gt=0, description="hardware peak FLOP/s, for utilization")
    parser: Optional[str] = Field(None, description="force this parser instead of detection")
    baseline: Optional[str] = Field(None, description="reference run (log, folder or JSON report) to compare with")
    known_findings: Optional[str] = Field(None, description="file of known findings (--write-baseline) to ignore")
    plugins: list[str] = Field(default_factory=list, description="-p modules to load / no:NAME to block")
    plugin_options: dict[str, Any] = Field(default_factory=dict)

    _rules: dict[str, Rule] = PrivateAttr(default_factory=dict)

    # -- rules --------------------------------------------------------------
    def bind_rules(self, rules: dict[str, Rule]) -> None:
        self._rules = rules
        for key in ("select", "ignore", "extend_select"):
            for pattern in getattr(self, key):
                if pattern != "ALL" and not any(code.startswith(pattern) for code in rules):
                    raise ConfigError(
                        f"{key}: unknown rule code or prefix {pattern!r}; `logcheck rules` lists them")
        for code in list(self.params) + list(self.severity):
            if code not in rules:
                raise ConfigError(f"unknown rule code {code!r} in params/severity; `logcheck rules` lists them")
        for code, params in self.params.items():
            known = rules[code].params
            for p, value in params.items():
                if p not in known:
                    raise ConfigError(
                        f"params.{code}.{p}: unknown parameter; {code} takes: {', '.join(known) or 'none'}"
                    )
                problem = _param_value_problem(value, known[p].default)
                if problem:
                    raise ConfigError(f"params.{code}.{p}: {problem}")

    def rule_enabled(self, code: str) -> bool:
        sel = list(self.select) + list(self.extend_select)
        selected = any(_matches(code, s) for s in sel)
        ignored = any(_matches(code, s) for s in self.ignore)
        if not (selected and ignored):
            return selected and not ignored
        # Like ruff: the more specific of the two wins.
        best_sel = max(len(s) for s in sel if _matches(code, s))
        best_ign = max(len(s) for s in self.ignore if _matches(code, s))
        return best_sel > best_ign

    def param(self, code: str, name: str) -> Any:
        """The value of a rule parameter: configured, else the rule's default."""
        over = self.params.get(code, {})
        if name in over:
            return over[name]
        rule = self._rules.get(code)
        if rule is None or name not in rule.params:
            raise KeyError(f"{code} has no parameter {name!r}")
        return rule.params[name].default

    def severity_of(self, code: str) -> Severity:
        if code in self.severity:
            return self.severity[code]
        rule = self._rules.get(code)
        return rule.severity if rule else Severity.warning

    @property
    def rules(self) -> dict[str, Rule]:
        return self._rules


def _param_value_problem(value: Any, default: Any) -> Optional[str]:
    """Why ``value`` cannot stand in for a parameter whose default is ``default`` (None when it can):
    a check given a string where it computes with a number would fail as a plugin error instead."""
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
        want = "a number"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a string"
    else:
        return None
    return None if ok else f"expected {want} (the default is {default!r}), got {value!r}"


def _matches(code: str, pattern: str) -> bool:
    return pattern == "ALL" or code.startswith(pattern)


def load_config_file(start: Path) -> tuple[dict[str, Any], Optional[Path]]:
    """Find ``logcheck.toml`` or a ``pyproject.toml`` with ``[tool.logcheck]`` from ``start`` upwards."""
    here = start.resolve()
    for d in [here, *here.parents]:
        lc = d / "logcheck.toml"
        if lc.is_file():
            return _read_toml(lc), lc
        pp = d / "pyproject.toml"
        if pp.is_file():
            data = _read_toml(pp)
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "logcheck" in tool:
                return pyproject_section(data, pp), pp
    return {}, None


def pyproject_section(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``[tool.logcheck]`` of a parsed pyproject.toml (empty when absent)."""
    tool = data.get("tool", {})
    section = tool.get("logcheck", {}) if isinstance(tool, dict) else {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.logcheck] must be a table")
    return section


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():  # a pipe or device (--config /dev/zero) would block or never end
            raise ConfigError(f"{path}: cannot read configuration: not a regular file")
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read configuration: {e}") from None
    except UnicodeDecodeError:  # tomllib decodes before parsing; a binary file is not TOML
        raise ConfigError(f"{path}: cannot read configuration: not UTF-8 text") from None


def make_settings(data: dict[str, Any], source: str = "configuration") -> Settings:
    """Validate a dict of settings; raise ConfigError with one line per problem."""
    norm = {k.replace("-", "_"): v for k, v in data.items()}
    try:
        return Settings(**norm)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key; expected one of: " + ", ".join(sorted(Settings.model_fields))
            lines.append(f"{source}: {loc}: {msg}")
        raise ConfigError("\n".join(lines)) from None
