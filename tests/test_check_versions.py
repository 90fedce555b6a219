"""tools/check_versions.py: the pins of a requirements file, the files it includes too."""

from __future__ import annotations

from pathlib import Path

from tools.book import ROOT
from tools.check_versions import main, mismatches, pins


def test_the_pins_of_an_included_file_count_from_the_including_files_folder(
        tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "test.txt").write_text("pytest==9.2.0  # the runner\n")
    (tmp_path / "oldest.txt").write_text("# comment\ntorch==2.1.0\n-r shared/test.txt\n-e .\n")
    assert pins(tmp_path / "oldest.txt") == {"torch": "2.1.0", "pytest": "9.2.0"}


def test_a_package_pinned_in_an_included_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / "test.txt").write_text("rpslib-no-such-package==1.0\n")
    (tmp_path / "oldest.txt").write_text("--requirement test.txt\n")
    assert mismatches(pins(tmp_path / "oldest.txt")) == {
        "rpslib-no-such-package": "rpslib-no-such-package is not installed (pinned 1.0)"}
    assert main([str(tmp_path / "oldest.txt")]) == 1


def test_both_environments_pin_the_test_tools_from_one_file() -> None:
    shared = pins(ROOT / "requirements-test.txt")
    assert "pytest" in shared
    for requirements in ("requirements.txt", "requirements-oldest.txt"):
        assert pins(ROOT / requirements).items() >= shared.items(), requirements
