"""Check that an environment holds exactly the versions a requirements file pins.

    python -m tools.check_versions requirements-oldest.txt

``make test-oldest`` runs it after installing rpslib with ``--no-deps``: had anything pulled in
a newer torch or numpy, the oldest-versions run would prove nothing. The pins of the files a
requirements file includes (``-r requirements-test.txt``) are checked too. Exits 1 and names
every package whose installed version differs.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.version import Version


def requirement_files(requirements: Path) -> list[Path]:
    """``requirements`` and, in order, the files it includes (``-r other.txt``, a path from its
    folder, as pip reads it), and theirs."""
    files = [requirements]
    if not requirements.is_file():
        return files
    for line in requirements.read_text(encoding="utf-8").splitlines():
        words = line.split("#")[0].split()
        if len(words) == 2 and words[0] in ("-r", "--requirement"):
            files += requirement_files(requirements.parent / words[1])
    return files


def pins(requirements: Path) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line of ``requirements`` and the files
    it includes (comments ignored)."""
    found = {}
    for path in requirement_files(requirements):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                name, _, version = line.partition("==")
                found[name.strip()] = version.strip()
    return found


def mismatches(pinned: dict[str, str]) -> dict[str, str]:
    """``{name: what is wrong}`` for each pinned package not installed at its version."""
    problems = {}
    for name, version in pinned.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems[name] = f"{name} is not installed (pinned {version})"
            continue
        if Version(installed.split("+")[0]) != Version(version):
            problems[name] = f"{name} {installed} is installed, {version} is pinned"
    return problems


def main(argv: list[str]) -> int:
    requirements = Path(argv[0])
    pinned = pins(requirements)
    problems = mismatches(pinned)
    for problem in problems.values():
        print(f"check_versions: {problem}", file=sys.stderr)
    installed = ", ".join(f"{n} {metadata.version(n)}" for n in pinned if n not in problems)
    print(f"check_versions: {requirements.name}: {installed}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
