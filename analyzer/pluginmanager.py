"""Finding, loading and calling plugins.

Built-ins are ordinary plugins loaded from :data:`BUILTIN_PLUGINS`; then the
entry-point group ``logcheck``; then ``-p module`` from the command line.
``-p no:NAME`` blocks a plugin by name (a built-in's name is its module's last
part, e.g. ``no:check_throughput``). A plugin that fails to import, raises, or
registers a duplicate becomes one :class:`PluginFailure` line; the rest runs.

Set ``LOGCHECK_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (the tests do).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Optional

import pluggy

from . import hookspecs
from .findings import PluginFailure, Rule
from .parsing import OutputFormat, Parser

hookimpl = pluggy.HookimplMarker("logcheck")

BUILTIN_PLUGINS: tuple[str, ...] = (
    "logcheck.plugins.detect",
    "logcheck.plugins.parse_hf",
    "logcheck.plugins.parse_lightning",
    "logcheck.plugins.parse_raw",
    "logcheck.plugins.parse_structured",
    "logcheck.plugins.parse_keras",
    "logcheck.plugins.parse_tensorboard",
    "logcheck.plugins.parse_mlflow",
    "logcheck.plugins.parse_dvclive",
    "logcheck.plugins.parse_wandb",
    "logcheck.plugins.check_convergence",
    "logcheck.plugins.check_overfitting",
    "logcheck.plugins.check_stability",
    "logcheck.plugins.check_throughput",
    "logcheck.plugins.check_warnings",
    "logcheck.plugins.check_config",
    "logcheck.plugins.check_regression",
    "logcheck.plugins.check_liveness",
    "logcheck.plugins.format_text",
    "logcheck.plugins.format_json",
    "logcheck.plugins.format_markdown",
    "logcheck.plugins.format_github",
    "logcheck.plugins.format_junit",
    "logcheck.plugins.format_sarif",
    "logcheck.plugins.format_gitlab",
    "logcheck.plugins.format_html",
)

ENTRY_POINT_GROUP = "logcheck"


@dataclass
class PluginInfo:
    name: str
    module: str
    distribution: Optional[str]  # None for built-ins
    version: Optional[str]
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False


class PluginManager:
    """A pluggy manager plus the registries the ``register`` hooks fill."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("logcheck")
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.info: dict[str, PluginInfo] = {}
        self.parsers: dict[str, Parser] = {}
        self.rules: dict[str, Rule] = {}
        self.formats: dict[str, OutputFormat] = {}
        self.parser_owner: dict[str, str] = {}
        self._blocked: set[str] = set()
        self._collected = False

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- loading ------------------------------------------------------------
    def fail(self, plugin: str, where: str, error: BaseException | str) -> None:
        msg = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.failures.append(PluginFailure(plugin=plugin, where=where, error=msg.splitlines()[0] if msg else ""))

    def block(self, name: str) -> None:
        self._blocked.add(name)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
            self.info.pop(name, None)

    def register(self, obj: Any, name: str, distribution: Optional[str] = None,
                 version: Optional[str] = None, builtin: bool = False) -> bool:
        if name in self._blocked:
            return False
        if self.pm.get_plugin(name) is not None or self.pm.is_registered(obj):
            self.fail(name, "load", f"a plugin named {name!r} is already registered")
            return False
        try:
            self.pm.register(obj, name=name)
        except Exception as e:  # pluggy validation errors, bad hook signatures
            self.fail(name, "load", e)
            return False
        hooks = sorted(h.name for h in (self.pm.get_hookcallers(obj) or []))
        self.info[name] = PluginInfo(
            name=name, module=getattr(obj, "__name__", type(obj).__name__),
            distribution=distribution, version=version, hooks=hooks, builtin=builtin,
        )
        return True

    def load_builtins(self) -> None:
        for mod in BUILTIN_PLUGINS:
            short = mod.rsplit(".", 1)[-1]
            if short in self._blocked:
                continue
            try:
                obj = importlib.import_module(mod)
            except Exception as e:  # a broken built-in must not take the tool down
                self.fail(short, "load", e)
                continue
            self.register(obj, name=short, builtin=True)

    def load_entrypoints(self) -> None:
        if os.environ.get("LOGCHECK_DISABLE_PLUGIN_AUTOLOAD"):
            return
        try:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        except Exception as e:  # pragma: no cover - broken metadata
            self.fail("entry-points", "load", e)
            return
        for ep in eps:
            if ep.name in self._blocked:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = getattr(dist, "name", None) if dist else None
            version = getattr(dist, "version", None) if dist else None
            try:
                obj = ep.load()
            except Exception as e:
                who = f"{ep.name} (from {dist_name} {version})" if dist_name else ep.name
                self.fail(who, "load", e)
                continue
            self.register(obj, name=ep.name, distribution=dist_name, version=version)

    def load_module(self, spec: str) -> None:
        """``-p module`` or ``-p no:NAME``."""
        if spec.startswith("no:"):
            self.block(spec[3:])
            return
        try:
            obj = importlib.import_module(spec)
        except Exception as e:
            self.fail(spec, "load", e)
            return
        self.register(obj, name=spec)

    # -- registries -----------------------------------------------------------
    def collect(self) -> None:
        """Call the register hooks, each plugin on its own so one failure stays local."""
        self._check_pending()
        self._call_each("logcheck_register_parsers", self._register_parser)
        self._call_each("logcheck_register_rules", self._register_rule)
        self._call_each("logcheck_register_formats", self._register_format)
        self._collected = True

    def _check_pending(self) -> None:
        """Like pluggy's check_pending, but a misspelled hook drops only its plugin."""
        for hook_name in [h for h in dir(self.pm.hook) if h.startswith("logcheck_")]:
            caller = getattr(self.pm.hook, hook_name)
            if caller.has_spec():
                continue
            for impl in list(caller.get_hookimpls()):
                if impl.optionalhook:
                    continue
                self.fail(impl.plugin_name, "load",
                          f"implements unknown hook {hook_name!r} (see docs/hooks.md)")
                if self.pm.get_plugin(impl.plugin_name) is not None:
                    self.pm.unregister(name=impl.plugin_name)
                    self.info.pop(impl.plugin_name, None)

    def _call_each(self, hook_name: str, register_fn: Callable[[str, Any], None]) -> None:
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # registration order
            pname = impl.plugin_name
            try:
                impl.function(register=lambda obj, _p=pname: register_fn(_p, obj))
            except Exception as e:
                self.fail(pname, hook_name.replace("logcheck_", ""), e)

    def _register_parser(self, plugin: str, parser: Any) -> None:
        name = getattr(parser, "name", "")
        if not name or not callable(getattr(parser, "parse", None)) or not callable(getattr(parser, "sniff", None)):
            self.fail(plugin, "register_parsers", f"{parser!r} is not a parser (needs name, sniff, parse)")
            return
        if name in self.parsers:
            self.fail(plugin, "register_parsers",
                      f"parser {name!r} is already registered by {self.parser_owner[name]}")
            return
        self.parsers[name] = parser
        self.parser_owner[name] = plugin

    def _register_rule(self, plugin: str, rule: Any) -> None:
        if not isinstance(rule, Rule):
            self.fail(plugin, "register_rules", f"{rule!r} is not a logcheck.Rule")
            return
        if rule.code in self.rules:
            self.fail(plugin, "register_rules",
                      f"rule code {rule.code} is already registered by {self.rules[rule.code].plugin}")
            return
        self.rules[rule.code] = rule.model_copy(update={"plugin": plugin})

    def _register_format(self, plugin: str, fmt: Any) -> None:
        name = getattr(fmt, "name", "")
        if not name or not callable(getattr(fmt, "render", None)):
            self.fail(plugin, "register_formats", f"{fmt!r} is not an output format (needs name, render)")
            return
        if name in self.formats:
            self.fail(plugin, "register_formats", f"output format {name!r} is already registered")
            return
        self.formats[name] = fmt

    def call_isolated(self, hook_name: str, where: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a hook on its own; failures are recorded, not raised."""
        caller = getattr(self.pm.hook, hook_name)
        out = []
        for impl in reversed(caller.get_hookimpls()):
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            try:
                out.append((impl.plugin_name, impl.function(**args)))
            except Exception as e:
                self.fail(impl.plugin_name, where, e)
        return out


def make_plugin_manager(plugins: list[str] | tuple[str, ...] = (), load_entrypoints: bool = True) -> PluginManager:
    """The host, in pluggy's eggsample shape: specs, built-ins, entry points, -p."""
    pm = PluginManager()
    for spec in plugins:
        if spec.startswith("no:"):
            pm.block(spec[3:])
    pm.load_builtins()
    if load_entrypoints:
        pm.load_entrypoints()
    for spec in plugins:
        if not spec.startswith("no:"):
            pm.load_module(spec)
    pm.collect()
    return pm
