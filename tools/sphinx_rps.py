"""The book's own Sphinx extension: what ``jupyter-book build .`` does here beyond Jupyter Book.

Jupyter Book runs every chapter itself, once, top to bottom in a fresh kernel
(``execute_notebooks: cache`` in ``_config.yml``: outputs are kept in
``_build/.jupyter_cache``, and a chapter runs again only when its code changed). This
extension, loaded through ``sphinx: local_extensions`` in ``_config.yml``, adds:

1. **Chapter links in the API reference.** "Introduced in chapter N." in a docstring links to
   chapter N's page; a tag that names no chapter is a warning (so an error with ``-W``).
2. **Chapter links to the API reference.** A chapter's plain Markdown link to the published
   API page (``tools/api_links.py``, so that it works on Colab) becomes a cross-reference
   within the site as the chapter is read; one to a name the reference lacks is a warning.
3. **One final line per progress bar.** The chapters' kernels inherit
   ``RPSLIB_PROGRESS=final`` (``rpslib.progress``): myst-nb 1.4 shows every redraw of a bar
   on a line of its own.
4. **A cache that follows the code.** jupyter-cache knows a chapter by its code cells only.
   When what the chapters import changes (``rpslib/``, ``requirements.txt``, the dataset the
   chapters find), the cache is emptied and every chapter runs again; so does a chapter whose
   last run failed.
5. **Budgets.** ``budgets.yml`` gives each chapter a run time; a chapter past twice its budget
   is a warning (so ``-W`` fails the build), one over its budget is reported on the status
   page: the ``{nb-exec-table}`` there gets a budget and a verdict column.
6. **The status page's and the instructor's guide's tables.** ``{rps-build-info}`` (the
   dataset every chapter ran on, the library versions, the date) and ``{rps-chapter-guide}``
   (each chapter's run time, exercises and Colab link).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import platform
import posixpath
import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import yaml
from docutils import nodes
from myst_nb.ext.execution_tables import ExecutionStatsNode, make_stat_table
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from tools import book
from tools.api_links import to_sphinx
from tools.chapter_cache import code_key, empty_if_stale

logger = logging.getLogger(__name__)

GATE = 2.0  # a chapter fails the build only past this multiple of its budget
LIBRARIES = ("torch", "torchvision", "numpy", "matplotlib", "pillow", "jupyter-book",
             "myst-nb")
DATASET = "rps_dataset"  # per chapter, in myst-nb's document data: the setup cell's line


@lru_cache(maxsize=8)  # read once per build, not once per page or reference
def chapter_docs(srcdir: Path) -> tuple[str, ...]:
    """The chapters' document names (``book/03_dropout``), in the order of ``_toc.yml``."""
    return tuple(path.relative_to(srcdir).with_suffix("").as_posix()
                 for path in book.chapters(srcdir))


# --- 1. "Introduced in chapter N" -----------------------------------------------------------

# the sentence may break between "in" and "chapter": keep that whitespace, line breaks included
TAG = re.compile(r"Introduced in(\s+)chapter (\d+)\b")


@lru_cache(maxsize=4)  # once per build, not once per docstring
def chapter_pages(srcdir: Path) -> dict[int, str]:
    """Chapter number -> the chapter's document name (``book/03_dropout``)."""
    pages: dict[int, str] = {}
    for doc in chapter_docs(srcdir):
        number = Path(doc).name[:2]
        if number.isdigit():
            pages.setdefault(int(number), doc)
    return pages


def link_chapters(text: str, pages: dict[int, str], where: str = "") -> str:
    """``text`` with every "Introduced in chapter N" turned into a link to chapter N's page."""

    def link(match: re.Match[str]) -> str:
        number = int(match.group(2))
        page = pages.get(number)
        if page is None:
            logger.warning("%s says 'Introduced in chapter %d', but _toc.yml has no chapter "
                           "%02d_*", where or "a docstring", number, number,
                           type="rps", subtype="chapter")
            return match.group(0)
        return f"Introduced in{match.group(1)}:doc:`chapter {number} </{page}>`"

    return TAG.sub(link, text)


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    """The ``autodoc-process-docstring`` handler: rewrites ``lines`` in place."""
    pages = chapter_pages(Path(app.srcdir))
    text = "\n".join(lines)
    linked = link_chapters(text, pages, where=name)
    if linked != text:
        lines[:] = linked.split("\n")


# --- 2. the chapters' links to the API reference --------------------------------------------


def site_links(notebook_json: str) -> str:
    """A chapter's ``.ipynb`` text with its Markdown cells' API links made cross-references."""
    nb = json.loads(notebook_json)
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        linked = to_sphinx(source)
        if linked != source:
            cell["source"], changed = linked, True
    return json.dumps(nb, ensure_ascii=False) if changed else notebook_json


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """The ``source-read`` handler: a chapter's API links stay on the site."""
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = site_links(source[0])


def missing_reference(app: Sphinx, env: Any, node: Any, contnode: Any) -> None:
    """The ``missing-reference`` handler: a chapter names an rpslib object the API page lacks."""
    target = node.get("reftarget", "")
    document = node.get("refdoc", "")
    if node.get("refdomain") == "py" and target.split(".")[0] == "rpslib" and \
            document in chapter_docs(Path(app.srcdir)):
        logger.warning("%s links to %s, which the API reference does not document", document,
                       target, type="rps", subtype="api", location=node)
    return None


# --- 3. progress bars -----------------------------------------------------------------------


def final_progress_lines(app: Sphinx) -> None:
    """The kernels this build starts print each progress bar once (unless bars are off)."""
    from rpslib.progress import FINAL, progress_enabled

    if progress_enabled():
        os.environ["RPSLIB_PROGRESS"] = FINAL


# --- 4. the cache follows the code ----------------------------------------------------------


def cache_folder(app: Sphinx) -> Path:
    return Path(app.env.mystnb_config.execution_cache_path)  # type: ignore[attr-defined]


def check_cache(app: Sphinx) -> None:
    """``builder-inited``: empty the cache if it was filled by other code or data."""
    app.rps_code_key = code_key(Path(app.srcdir))  # type: ignore[attr-defined]
    if empty_if_stale(cache_folder(app), app.rps_code_key):  # type: ignore[attr-defined]
        logger.info("rpslib, requirements.txt or the dataset changed since the chapters "
                    "ran: emptied %s, every chapter runs again", cache_folder(app))


def outdated(app: Sphinx, env: Any, added: set[str], changed: set[str],
             removed: set[str]) -> list[str]:
    """``env-get-outdated``: the chapters to read (so run, or take from the cache) again
    although their file did not change: all of them if the pages were made with other code,
    else those whose last run failed."""
    chapters = [doc for doc in chapter_docs(Path(app.srcdir)) if doc in env.all_docs]
    if getattr(env, "rps_code_key", None) != getattr(app, "rps_code_key", None):
        return chapters
    return [doc for doc in chapters
            if not (NbMetadataCollector.get_exec_data(env, doc) or {}).get("succeeded", True)]


def remember_key(app: Sphinx, env: Any) -> None:
    """``env-updated``: the pages now in the environment were made with this code (saved
    with the environment, so a build killed before that reads them again)."""
    env.rps_code_key = getattr(app, "rps_code_key", None)


# --- 5. budgets -----------------------------------------------------------------------------


def budgets(srcdir: Path) -> dict[str, float]:
    """Each chapter's budget in seconds (``budgets.yml``; the default where none is given).

    A chapter ``budgets.yml`` names that ``_toc.yml`` lacks (renamed?) is an error: it would
    otherwise fall back to the default without a word."""
    config = yaml.safe_load((srcdir / "budgets.yml").read_text(encoding="utf-8"))
    given = config.get("chapters") or {}
    unknown = sorted(set(given) - {f"{doc}.ipynb" for doc in chapter_docs(srcdir)})
    if unknown:
        raise ValueError(f"budgets.yml names chapters that _toc.yml lacks: {unknown}")
    return {doc: float(given.get(f"{doc}.ipynb", config["default"]))
            for doc in chapter_docs(srcdir)}


def verdict(runtime: float | None, budget: float, succeeded: bool = True) -> str:
    """What the status page says of a chapter's run."""
    if not succeeded:
        return "failed"
    if runtime is None:
        return "not measured"
    if runtime > GATE * budget:
        return f"past {GATE:g}x its budget"
    if runtime > budget:
        return "over budget"
    return "within budget"


def check_budgets(app: Sphinx, env: Any) -> list[str]:
    """``env-updated``: warn of each chapter past twice its budget (also on a cached build,
    with the time of the run that filled the cache); the pages with our tables are rewritten.
    """
    for doc, budget in budgets(Path(app.srcdir)).items():
        data = NbMetadataCollector.get_exec_data(env, doc) or {}
        runtime = data.get("runtime")
        said = verdict(runtime, budget, data.get("succeeded", True))
        if said.startswith("past"):
            logger.warning("%s ran %.1f s, past %g times its budget of %g s (budgets.yml)",
                           doc, runtime, GATE, budget, type="rps", subtype="budget")
        elif said == "over budget":
            logger.info("%s ran %.1f s, over its budget of %g s", doc, runtime, budget)
    return [doc for doc, data in NbMetadataCollector.get_doc_data(env).items()
            if data.get("rps_tables")]


# --- 6. the tables ----------------------------------------------------------------------------


class BuildInfoNode(nodes.General, nodes.Element):
    """Where ``{rps-build-info}`` stands, until every chapter has run."""


class ChapterGuideNode(nodes.General, nodes.Element):
    """Where ``{rps-chapter-guide}`` stands, until every chapter has run."""


class _TableDirective(SphinxDirective):
    node_class: type[nodes.Element] = nodes.Element

    def run(self) -> list[nodes.Node]:
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, "rps_tables", True)
        return [self.node_class()]


class BuildInfo(_TableDirective):
    node_class = BuildInfoNode


class ChapterGuide(_TableDirective):
    node_class = ChapterGuideNode


def find_dataset(app: Sphinx, doctree: nodes.document) -> None:
    """``doctree-read``: keep the line a chapter's setup cell printed ("Using ...")."""
    docname = app.env.docname
    if docname not in chapter_docs(Path(app.srcdir)):
        return
    for block in doctree.findall(nodes.literal_block):
        if "output" not in block.get("classes", []):
            continue
        for line in block.astext().splitlines():
            if line.startswith("Using "):
                text = re.sub(r"\s+", " ", line.removeprefix("Using ")).rstrip(".") + "."
                NbMetadataCollector.set_doc_data(app.env, docname, DATASET, text)
                return


def _paragraph(*parts: nodes.Node | str) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    for part in parts:
        paragraph += nodes.Text(part) if isinstance(part, str) else part
    return paragraph


def _with_code(text: str) -> list[nodes.Node]:
    """Text with `backticks` as inline code."""
    return [nodes.literal(piece, piece) if i % 2 else nodes.Text(piece)
            for i, piece in enumerate(text.split("`")) if piece]


def _doc_link(parent: str, doc: str, text: str) -> pending_xref:
    link = pending_xref(refdoc=parent, reftarget=posixpath.relpath(doc, posixpath.dirname(
        parent)), reftype="doc", refdomain="std", refexplicit=True, refwarn=True,
        classes=["xref", "doc"])
    link += nodes.inline(text=text)
    return link


def _table(header: list[str], rows: list[list[list[nodes.Node]]]) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    head += nodes.row("", *[nodes.entry("", _paragraph(name)) for name in header])
    for cells in rows:
        body += nodes.row("", *[nodes.entry("", *cell) for cell in cells])
    return table


def _title(env: Any, doc: str) -> str:
    return env.titles[doc].astext() if doc in env.titles else doc


def _runtime(env: Any, doc: str) -> float | None:
    runtime = (NbMetadataCollector.get_exec_data(env, doc) or {}).get("runtime")
    return None if runtime is None else float(runtime)


def budget_columns(env: Any, docname: str, srcdir: Path) -> nodes.table:
    """myst-nb's execution table, with each chapter's budget and verdict added."""
    data = NbMetadataCollector.get_doc_data(env)
    table = make_stat_table(docname, data)
    given = budgets(srcdir)
    group = next(iter(table.findall(nodes.tgroup)))
    group["cols"] += 2
    group.insert(len(group.children) - 2, nodes.colspec(colwidth=1))
    group.insert(len(group.children) - 2, nodes.colspec(colwidth=1))
    head = next(iter(group.findall(nodes.thead)))
    next(iter(head.findall(nodes.Text))).parent.replace_self(_paragraph("Chapter"))
    head.children[0] += [nodes.entry("", _paragraph("Budget (s)")),
                         nodes.entry("", _paragraph("Verdict"))]
    body = next(iter(group.findall(nodes.tbody)))
    documents = [doc for doc in sorted(data) if data[doc].get("exec_data")]
    for row, doc in zip(body.children, documents, strict=True):
        for inline in row.findall(nodes.inline):  # the chapter's title, not its file name
            inline.replace_self(nodes.inline(text=_title(env, doc)))
            break
        exec_data = data[doc]["exec_data"]
        budget = given.get(doc)
        said = "-" if budget is None else verdict(exec_data.get("runtime"), budget,
                                                  exec_data.get("succeeded", True))
        row += [nodes.entry("", _paragraph("-" if budget is None else f"{budget:g}")),
                nodes.entry("", _paragraph(said))]
    return table


def build_info(env: Any, srcdir: Path) -> list[nodes.Node]:
    """The dataset every chapter ran on, the library versions, the date of the build."""
    found = NbMetadataCollector.get_doc_data(env)
    datasets = sorted({found[doc].get(DATASET, "unknown") for doc in chapter_docs(srcdir)})
    libraries = ", ".join(f"{name} {_version(name)}" for name in LIBRARIES)
    built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [_paragraph(nodes.strong(text="Dataset:"), " " + "; ".join(datasets)),
            _paragraph(nodes.strong(text="Libraries:"),
                       f" Python {platform.python_version()}, {libraries}."),
            _paragraph(nodes.strong(text="Built on:"), f" {built}.")]


def chapter_guide(env: Any, docname: str, srcdir: Path) -> nodes.table:
    """Each chapter's run time, exercises (what each check verifies) and Colab link."""
    import rpslib.exercises
    from tools.student_notebooks import exercise_names

    rows = []
    for doc in chapter_docs(srcdir):
        exercises: list[nodes.Node] = []
        for name in exercise_names(nbformat.read(srcdir / f"{doc}.ipynb", as_version=4)):
            check = getattr(rpslib.exercises, f"check_{name}")
            summary = " ".join((inspect.getdoc(check) or "").split("\n\n")[0].split())
            exercises.append(_paragraph(*_with_code(
                summary.replace("``", "`").removeprefix("Check "))))
        runtime = _runtime(env, doc)
        stem = Path(doc).name
        colab = nodes.reference("", "open", refuri=book.colab_url(stem, srcdir))
        rows.append([[_paragraph(_doc_link(docname, doc, _title(env, doc)))],
                     [_paragraph("not measured" if runtime is None else f"{runtime:.0f} s")],
                     exercises, [_paragraph(colab)]])
    return _table(["chapter", "run time", "exercises: what the check verifies", "Colab"], rows)


class FillTables(SphinxPostTransform):
    """Fill the tables once every chapter has run (before references are resolved)."""

    default_priority = 7  # before myst-nb's own execution table (8) and references (10)

    def run(self, **kwargs: Any) -> None:
        srcdir = Path(self.app.srcdir)
        docname = self.env.docname
        for node in list(self.document.findall(ExecutionStatsNode)):
            node.replace_self(budget_columns(self.env, docname, srcdir))
        for node in list(self.document.findall(BuildInfoNode)):
            node.replace_self(build_info(self.env, srcdir))
        for node in list(self.document.findall(ChapterGuideNode)):
            node.replace_self(chapter_guide(self.env, docname, srcdir))


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("myst_nb")
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("source-read", source_read)
    app.connect("missing-reference", missing_reference)
    app.connect("builder-inited", final_progress_lines)
    app.connect("builder-inited", check_cache, priority=900)  # after myst-nb's configuration
    app.connect("env-get-outdated", outdated)
    app.connect("env-updated", remember_key)
    app.connect("doctree-read", find_dataset)
    app.connect("env-updated", check_budgets)
    app.add_node(BuildInfoNode)
    app.add_node(ChapterGuideNode)
    app.add_directive("rps-build-info", BuildInfo)
    app.add_directive("rps-chapter-guide", ChapterGuide)
    app.add_post_transform(FillTables)
    return {"version": "2.0", "parallel_read_safe": True, "parallel_write_safe": True}
