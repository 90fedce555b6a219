"""Check that an environment holds exactly the versions a requirements file pins.

    python -m tools.check_versions requirements-oldest.txt

``make test-oldest`` runs it after installing rpslib with ``--no-deps``: had anything pulled in
a newer torch or numpy, the oldest-versions run would prove nothing. Exits 1 and names every
package whose installed version differs.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.version import Version


def pins(requirements: Path) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line (comments ignored)."""
    found = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            found[name.strip()] = version.strip()
    return found


def mismatches(requirements: Path) -> list[str]:
    problems = []
    for name, version in pins(requirements).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (pinned {version})")
            continue
        if Version(installed.split("+")[0]) != Version(version):
            problems.append(f"{name} {installed} is installed, {version} is pinned")
    return problems


def main(argv: list[str]) -> int:
    requirements = Path(argv[0])
    problems = mismatches(requirements)
    for problem in problems:
        print(f"check_versions: {problem}", file=sys.stderr)
    installed = ", ".join(f"{n} {metadata.version(n)}" for n in pins(requirements)
                          if not any(p.startswith(f"{n} ") for p in problems))
    print(f"check_versions: {requirements.name}: {installed}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
