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
