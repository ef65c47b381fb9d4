"""The package layout: one import name, every subpackage listed, wheel contents right."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIRS = {"logcheck": "analyzer", "logcheck.plugins": "plugins", "logcheck.backends": "backends"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _subpackages() -> set[str]:
    found = set()
    for pkg, d in DIRS.items():
        for init in (REPO / d).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / d)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    return found


def test_every_subpackage_is_listed():
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    missing = _subpackages() - listed
    assert not missing, f"subpackages missing from [tool.setuptools] packages: {sorted(missing)}"
    for pkg, d in DIRS.items():
        assert tool["package-dir"][pkg] == d


def test_console_script_points_at_main():
    assert _pyproject()["project"]["scripts"]["logcheck"] == "logcheck.cli:main"


def test_core_dependencies_exclude_torch():
    deps = " ".join(_pyproject()["project"]["dependencies"])
    assert "torch" not in deps and "transformers" not in deps
    for name in ("pluggy", "pydantic", "numpy", "scipy", "click"):
        assert name in deps


@pytest.mark.slow
def test_wheel_contains_every_module_under_one_name(tmp_path):
    """`pip install .` builds this wheel: every module is in it, and nothing generic is top-level."""
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next(tmp_path.glob("logcheck-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"logcheck"}, tops
    for pkg, d in DIRS.items():
        for py in (REPO / d).rglob("*.py"):
            rel = py.relative_to(REPO / d)
            expected = "/".join([*pkg.split("."), *rel.parts])
            assert expected in names, f"{expected} missing from the wheel"
    # the optional C scanner (setup.py) is in the wheel wherever a compiler built it
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if shutil.which(cc) is not None and headers.is_file() and sys.platform.startswith("linux"):
        assert any(n.startswith("logcheck/_speedups.") and n.endswith(".so") for n in names), names
