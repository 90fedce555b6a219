"""Installing rpslib (as a Colab setup cell does) must not touch the installed torch or numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # builds the package's metadata with pip: a few seconds
def test_installing_rpslib_keeps_torch_and_numpy(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    # with the extra the chapters' setup cells install (rpslib[book])
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                    "--disable-pip-version-check", "--report", str(report), f"{ROOT}[book]"],
                   check=True, timeout=300)
    installs = {item["metadata"]["name"].lower()
                for item in json.loads(report.read_text())["install"]}
    assert "rpslib" in installs
    assert not installs & {"torch", "numpy", "torchvision", "pillow"}, installs


def test_the_oldest_environment_pins_exactly_the_declared_lower_bounds() -> None:
    # make test-oldest proves rpslib on requirements-oldest.txt: it must be what we promise
    import tomllib
    from packaging.version import Version

    from tools import check_versions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["book"]
    bounds = {}
    for requirement in declared:
        name, _, version = requirement.partition(">=")
        assert version, f"{requirement}: rpslib declares lower bounds only"
        bounds[name.strip().lower()] = version.strip()
    oldest = check_versions.pins(ROOT / "requirements-oldest.txt")
    pins = {name.lower(): version for name, version in oldest.items()}
    for name, version in bounds.items():
        assert name in pins, f"requirements-oldest.txt lacks {name}"
        assert Version(pins[name]) == Version(version), (
            f"{name}: pyproject.toml promises >={version}, requirements-oldest.txt tests "
            f"{pins[name]}")
