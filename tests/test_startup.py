"""Start-up cost of ``logcheck FILE`` (issue 4): what a plain check imports and compiles, and the lazy
forms (patterns, format dependencies) that must answer exactly as the eager ones did."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from logcheck.plugins import check_warnings as cw
from logcheck.plugins import warning_kb as kb
from logcheck.report import downsample

REPO = Path(__file__).resolve().parents[1]
TINY_LOG = REPO / "tests" / "fixtures" / "hf_tiny" / "run.log"

# Never on the path of checking a log: seconds of import each (scipy.stats ~1 s), or a format's own
# dependency that only that format needs, or the training backend's CLI.
HEAVY = ("scipy", "matplotlib", "pandas", "torch", "transformers", "lightning", "tensorflow")
ONLY_ON_USE = ("xml.etree", "logcheck.backends")

_DUMP_MODULES = textwrap.dedent("""
    import json, sys
    from logcheck.cli import main
    code = 0
    try:
        main(sys.argv[2:])
    except SystemExit as e:
        code = e.code
    with open(sys.argv[1], "w") as fh:
        json.dump({"exit": code, "modules": sorted(sys.modules)}, fh)
""")


def _run_logcheck(tmp_path: Path, *args: str, env: dict | None = None) -> dict:
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", _DUMP_MODULES, str(out), *args], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.is_file(), proc.stderr
    return {**json.loads(out.read_text()), "stdout": proc.stdout, "stderr": proc.stderr}


def _under(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_checking_a_log_imports_nothing_heavy(tmp_path):
    res = _run_logcheck(tmp_path, "--format", "json", str(TINY_LOG))
    assert res["exit"] in (0, 1), res["stderr"]
    assert json.loads(res["stdout"])["runs"], "the check ran"
    assert _under(res["modules"], HEAVY) == []
    assert _under(res["modules"], ONLY_ON_USE) == []


def test_importtime_of_a_check_lists_no_heavy_module(tmp_path):
    """The figure benchmarks/run_bench.py reports, as a test: ``-X importtime`` names no heavy module."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "logcheck", "--format", "json", str(TINY_LOG)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    imported = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", proc.stderr, re.MULTILINE)
    assert "logcheck.cli" in imported and "numpy" in imported  # the listing is what we think it is
    assert _under(imported, HEAVY) == []


def test_backend_commands_attach_when_asked_for(tmp_path):
    res = _run_logcheck(tmp_path, "--help")
    assert res["exit"] == 0
    assert re.search(r"^\s+train\s", res["stdout"], re.MULTILINE)
    assert re.search(r"^\s+generate\s", res["stdout"], re.MULTILINE)
    assert "logcheck.backends.cli" in res["modules"]
    res = _run_logcheck(tmp_path, "train", "--help")
    assert res["exit"] == 0, res["stderr"]
    assert res["stdout"].startswith("Usage: logcheck train")


def test_formats_with_lazy_dependencies_still_render(tmp_path):
    for fmt, marker in (("junit", "<testsuites"), ("gitlab", '"fingerprint"')):
        res = _run_logcheck(tmp_path, "--format", fmt, str(TINY_LOG))
        assert res["exit"] in (0, 1), res["stderr"]
        assert marker in res["stdout"]


# ---------------------------------------------------------------------------
# Entry points: the fast scan answers what importlib.metadata answers
# ---------------------------------------------------------------------------


def test_kb_patterns_compile_only_when_used():
    code = textwrap.dedent("""
        from logcheck.plugins import warning_kb as kb, check_warnings as cw
        assert all(e.pattern._compiled is None for e in kb.KNOWN_MESSAGES)
        assert all(rx._compiled is None for _, rx, _ in kb.MODEL_FAMILIES)
        entry, m = cw.classify("RuntimeError: DataLoader worker (pid 4242) is killed by signal: Killed.")
        assert entry.id == "dataloader-worker-killed"
        compiled = [e.id for e in kb.KNOWN_MESSAGES if e.pattern._compiled is not None]
        assert compiled == ["dataloader-worker-killed"], compiled
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_lazy_pattern_behaves_as_the_compiled_regex():
    text = "Some weights of the model checkpoint at gpt2 were not used when initializing GPT2Model: ['a', 'b']"
    for entry in kb.KNOWN_MESSAGES:
        rx = re.compile(entry.pattern.pattern, entry.pattern.flags)
        assert entry.pattern.flags == rx.flags and entry.pattern.groupindex == rx.groupindex
        got, want = entry.pattern.search(text), rx.search(text)
        assert (got and got.span()) == (want and want.span())
        assert [m.span() for m in entry.pattern.finditer(text)] == [m.span() for m in rx.finditer(text)]
    assert kb.LazyPattern("a+", re.I) == kb.LazyPattern("a+", re.I) != kb.LazyPattern("a+")
    assert cw.parse_key_list("['x.weight', \"y.bias\"]") == (["x.weight", "y.bias"], False)


# ---------------------------------------------------------------------------
# The JSON report's downsampled curves: the same numbers as per-bin mean / nanmean
# ---------------------------------------------------------------------------


def _downsample_by_bins(step: np.ndarray, value: np.ndarray, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The definition: per bin, the mean step and the NaN-skipping mean value (NaN if no finite value)."""
    if len(step) <= n:
        return step, value
    edges = np.linspace(0, len(step), n + 1).astype(int)
    s = np.array([step[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    v = np.array([np.nanmean(value[a:b]) if np.isfinite(value[a:b]).any() else np.nan
                  for a, b in zip(edges[:-1], edges[1:])])
    return s, v


@pytest.mark.parametrize("size", [10, 400, 401, 803, 31_645, 204_081])
def test_downsample_is_bit_identical_to_per_bin_means(size):
    rng = np.random.default_rng(size)
    step = np.cumsum(rng.integers(1, 5, size)).astype(np.float64) * 0.5
    value = rng.lognormal(size=size) * 10.0 ** rng.integers(-3, 3)
    value[rng.random(size) < 0.05] = np.nan
    value[rng.random(size) < 0.002] = np.inf
    value[: size // 3] = np.nan  # whole bins without a finite value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in a bin, in both
        got, want = downsample(step, value), _downsample_by_bins(step, value)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1], equal_nan=True)
    if size > 400:
        assert np.isnan(got[1][0]) and np.isfinite(got[1][-1])  # the test covers both kinds of bin



def test_downsample_of_inf_and_minus_inf_in_one_bin_is_nan_without_a_warning():
    value = np.array([np.inf, -np.inf, 1.0, np.nan] * 500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI would print a RuntimeWarning to stderr
        step, down = downsample(np.arange(value.size, dtype=np.float64), value)
        _, down_ints = downsample(np.arange(value.size), value)  # the general path
    assert len(down) == 400 and np.isnan(down).all() and np.isnan(down_ints).all()
