"""Strip outputs and execution counts from the chapters, as they must be committed.

    python -m tools.clean_notebooks            # cleans every chapter of _toc.yml
    python -m tools.clean_notebooks --check    # exits 1 if one is not clean (CI uses this)
"""

from __future__ import annotations

import sys

import nbformat

from tools.book import ROOT, chapters

VOLATILE_METADATA = ("execution", "collapsed", "scrolled")


def is_clean(nb: nbformat.NotebookNode) -> bool:
    """No outputs, no execution counts, no per-run metadata in any code cell."""
    return all(not cell.get("outputs") and cell.get("execution_count") is None
               and not any(k in cell.metadata for k in VOLATILE_METADATA)
               for cell in nb.cells if cell.cell_type == "code")


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            for key in VOLATILE_METADATA:
                cell.metadata.pop(key, None)
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    dirty = []
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        if is_clean(nb) and "widgets" not in nb.metadata:
            continue
        dirty.append(path)
        if not check:
            nbformat.write(clean(nb), path)
    for path in dirty:
        print(f"{'not clean' if check else 'cleaned'}: {path.relative_to(ROOT)}")
    return 1 if check and dirty else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
