"""The real fixtures made by tests/fixtures/generate.py are present, non-empty, small and documented."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
README = FIXTURES / "README.md"
# The fixtures this file's owner generates (gen_hf.py, gen_lightning.py, gen_loops.py).
EXPECTED = {
    "hf_tiny": ["run.log", "trainer_state.json", "config.json", "checkpoint-16/trainer_state.json"],
    "hf4_tiny": ["run.log", "trainer_state.json", "config.json"],
    "hf_overfit": ["run.log", "trainer_state.json"],
    "hf_high_lr": ["run.log", "trainer_state.json"],
    "hf_lr_zero": ["run.log", "trainer_state.json"],
    "hf_untied_head": ["run.log", "trainer_state.json", "config.json"],
    "hf_every_step": ["run.log", "trainer_state.json", "config.json"],
    "hf4_every_step": ["run.log", "trainer_state.json", "config.json"],
    "lightning_tqdm": ["run.log", "lightning_logs/version_0/metrics.csv",
                       "lightning_logs/version_0/hparams.yaml"],
    "lightning_rich": ["run.log", "lightning_logs/version_0/metrics.csv"],
    "lightning_overfit": ["run.log", "lightning_logs/version_0/metrics.csv"],
    "nanogpt_loop": ["run.log"],
    "kv_loop": ["run.log"],
}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def fixture_dirs() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_fixture_files_exist_and_are_not_empty(name):
    for rel in EXPECTED[name]:
        path = FIXTURES / name / rel
        assert path.is_file(), f"missing {path}; run python tests/fixtures/generate.py --only {name}"
        assert path.stat().st_size > 0, f"{path} is empty"


# Only this generator set's fixtures: other generators (gen_keras.py, gen_sources.py) own their limits.
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_small_has_no_weights_and_no_empty_files(name):
    fixture = FIXTURES / name
    files = [p for p in fixture.rglob("*") if p.is_file()]
    assert files, f"{fixture} is empty"
    assert [p for p in files if p.stat().st_size == 0] == []
    assert [p for p in files if p.name.endswith(WEIGHT_SUFFIXES)] == []
    assert sum(p.stat().st_size for p in files) < 300_000


def test_readme_lists_every_fixture_folder():
    text = README.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\|\s*`?([a-z0-9_]+)/?`?\s*\|", text, flags=re.M))
    missing = [p.name for p in fixture_dirs() if p.name not in listed]
    assert missing == [], f"fixtures/README.md does not list {missing}"


def test_generator_lists_every_expected_fixture():
    out = subprocess.run([sys.executable, str(FIXTURES / "generate.py"), "--list"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    names = set(out.replace(":", " ").split())
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("name", ["hf_tiny", "hf4_tiny", "lightning_tqdm"])
def test_progress_bars_were_captured_with_carriage_returns(name):
    # tqdm frames are what the parsers must cope with: several \r frames on one \n line.
    data = (FIXTURES / name / "run.log").read_bytes()
    assert data.count(b"\r") > 10
    assert b"it/s]" in data or b"s/it]" in data
