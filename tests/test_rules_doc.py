"""docs/rules.md must match what scripts/gen_rules_doc.py renders from the rule registry."""
from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gen_rules_doc.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_rules_doc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_md_is_up_to_date():
    gen = _generator()
    expected = gen.render(gen.load_rules())
    path = REPO / "docs" / "rules.md"
    assert path.exists(), f"docs/rules.md is missing; run `{gen.REGENERATE}`"
    current = path.read_text(encoding="utf-8")
    if current != expected:
        diff = "".join(list(difflib.unified_diff(
            current.splitlines(True), expected.splitlines(True), "docs/rules.md", "generated", n=1))[:40])
        raise AssertionError(f"docs/rules.md is out of date; run `{gen.REGENERATE}`\n{diff}")


def test_every_rule_has_a_section_an_index_row_and_its_params():
    gen = _generator()
    rules = gen.load_rules()
    text = gen.render(rules)
    headings = re.findall(r"^## ([A-Z]{2,5}\d{3}) ", text, flags=re.M)
    assert sorted(headings) == sorted(rules), "one section per rule"
    for code, rule in rules.items():
        assert f"[{code}](#{gen._anchor(code, rule.name)})" in text
        section = text.split(f"## {code} {rule.name}\n", 1)[1].split("\n## ", 1)[0]
        for name in rule.params:
            assert f"| `{name}` |" in section, f"{code}.{name} missing from its parameter table"
        # the rule's own headings are nested under the rule's heading, never at its level
        assert "\n## What it does" not in section


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys):
    gen = _generator()
    stale = tmp_path / "rules.md"
    stale.write_text("# Rules\n\nold\n", encoding="utf-8")
    monkeypatch.setattr(gen, "RULES_MD", stale)
    monkeypatch.setattr(gen, "REPO", tmp_path)
    assert gen.main(["--check"]) == 1
    assert gen.REGENERATE in capsys.readouterr().err
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
