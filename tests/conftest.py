"""Shared test setup: no auto-loaded third-party plugins, paths to fixtures and the shared corpus."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never pick up plugins that happen to be installed (see docs/plugins.md).
os.environ.setdefault("LOGCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS
