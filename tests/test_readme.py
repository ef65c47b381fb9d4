"""The README opens with the two commands, and .ci/run runs exactly the README's test command."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_opens_with_run_and_test_commands():
    blocks = _blocks()
    assert len(blocks) >= 2
    run_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "logcheck " in run_cmd and "examples/" in run_cmd
    example = re.search(r"logcheck (\S+)", run_cmd).group(1)
    assert (REPO / example).exists(), f"the README's example {example} is not in the repo"
    assert "pytest" in test_cmd


def test_ci_runs_the_readme_test_command():
    test_cmd = _blocks()[1].strip()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_cmd in [line.strip() for line in ci], "the README's test command is not a line of .ci/run"


def test_pre_commit_hook_runs_logcheck_on_log_files():
    yaml = __import__("pytest").importorskip("yaml")
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "logcheck")
    assert hook["entry"] == "logcheck" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    for path in ("run.log", "outputs/train.out", "out/trainer_state.json", "lightning_logs/version_0/metrics.csv"):
        assert pattern.search(path), path
    for path in ("src/model.py", "README.md", "config.json"):
        assert not pattern.search(path), path
