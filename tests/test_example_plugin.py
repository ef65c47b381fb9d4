"""The example third-party plugin, installed with pip the way an outsider would (.ci/run does it).

Skipped when examples/logcheck-perplexity is not installed in this environment.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parent / "fixtures"

try:
    metadata.distribution("logcheck-perplexity")
    INSTALLED = True
except metadata.PackageNotFoundError:
    INSTALLED = False

pytestmark = pytest.mark.skipif(not INSTALLED, reason="pip install ./examples/logcheck-perplexity first")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("LOGCHECK_DISABLE_PLUGIN_AUTOLOAD", None)  # behave like a user's shell
    return subprocess.run([sys.executable, "-m", "logcheck", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_installed_plugin_is_listed_with_its_distribution_and_hooks():
    res = _cli("plugins")
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("perplexity ")), "")
    assert "logcheck-perplexity 0.1.0" in line and "check" in line and "register_rules" in line
    assert "perplexity" in res.stdout.split("formats:")[1]


def test_installed_plugin_rule_appears_in_a_report():
    log = FIX / "hf_tiny" / "run.log"
    if not log.exists():
        pytest.skip("fixture hf_tiny not generated")
    res = _cli(str(log), "--format", "json")
    doc = json.loads(res.stdout)
    check = doc["runs"][0]["checks"]["perplexity"]
    assert check["status"] in ("pass", "warn") and "perplexity" in check["reason"]
    rule = _cli("rule", "PPL001")
    assert rule.returncode == 0 and "max_perplexity" in rule.stdout


def test_blocking_the_plugin_with_p_no():
    res = _cli("plugins", "-p", "no:perplexity")
    assert not any(ln.startswith("perplexity ") for ln in res.stdout.splitlines())
