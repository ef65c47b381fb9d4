"""Meta-tests: every hook is documented, every rule has a doc with the four sections."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from logcheck import hookspecs
from logcheck.pluginmanager import make_plugin_manager

REPO = Path(__file__).resolve().parents[1]


def test_every_hook_is_declared_listed_and_documented():
    declared = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("logcheck_")}
    assert declared == set(hookspecs.ALL_HOOKS)
    doc = (REPO / "docs" / "hooks.md").read_text()
    headings = set(re.findall(r"^## `(logcheck_\w+)\(", doc, flags=re.M))
    assert headings == declared, f"undocumented: {declared - headings}, stale: {headings - declared}"
    for name in declared:
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"


def test_every_rule_has_the_four_sections_and_documented_params():
    pm = make_plugin_manager(load_entrypoints=False)
    assert not pm.failures, pm.failures
    for code, rule in pm.rules.items():
        assert re.fullmatch(r"[A-Z]{2,5}\d{3}", code), code
        for section in ("What it does", "Why is this bad", "Example", "How to fix"):
            assert section in rule.doc, f"{code} doc lacks '{section}'"
        for name, p in rule.params.items():
            assert p.doc.strip(), f"{code}.{name} has no doc"
