"""Installing rpslib (as a Colab setup cell does) must not touch the installed torch or numpy,
and must bring every module of the package."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_imports import importable_modules

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


# Imports each module named on the command line; prints where each came from.
IMPORT_ALL = r"""
import importlib, json, sys, sysconfig
files = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
print(json.dumps({"site-packages": sysconfig.get_path("purelib"), "files": files}))
"""


@pytest.mark.slow  # builds the wheel, then imports every module from it: about 10 s
def test_the_wheel_pip_builds_has_every_module_and_nothing_else(tmp_path: Path) -> None:
    # `pip install "rpslib[book] @ git+..."` (a chapter's setup cell on Colab) builds a wheel
    # from the repository's files: here from a copy of the files git tracks or would track
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git repository, to know which files a clone would have")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    source = tmp_path / "source"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not one deleted since
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("rpslib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {"rpslib"}, f"the wheel installs more than rpslib: {sorted(top)}"
    in_source = {path.relative_to(source).as_posix() for path in (source / "rpslib").rglob("*.py")}
    assert in_source <= set(names), f"missing from the wheel: {sorted(in_source - set(names))}"

    # installed into a fresh environment that borrows this one's packages (torch, ...) through
    # a .pth file, written after the install so that pip does not see this checkout's rpslib
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300)
    (site_packages,) = (env / "lib").glob("python*/site-packages")
    (site_packages / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    elsewhere = tmp_path / "elsewhere"  # not the repository: its rpslib/ must not be found
    elsewhere.mkdir()
    modules = importable_modules()  # the source tree's: a module left out fails here
    result = subprocess.run([str(python), "-I", "-c", IMPORT_ALL, *modules], cwd=elsewhere,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    installed = Path(found["site-packages"]).resolve()
    assert installed == site_packages.resolve()
    not_installed = {name: file for name, file in found["files"].items()
                     if not Path(file).resolve().is_relative_to(installed)}
    assert not not_installed, f"imported from outside the installed wheel: {not_installed}"
