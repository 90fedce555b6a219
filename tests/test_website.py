"""The website as a reader's browser shows it: headless Chromium on the built site, offline.

    python -m pytest -m website tests/test_website.py      # after make book (or make test)

First, without a browser, the built pages themselves: every chapter has its page, with
executed output, no traceback, its Colab button, no embedded widget, API links that stay on
the site, no Markdown table left as raw text, and no page shows a path of the machine that
built it.

It serves ``_build/html`` on 127.0.0.1 and visits every page of the table of contents in
Debian's ``chromium`` (driven by Python ``playwright`` with ``executable_path``: never
``playwright install``), and checks what a reader would see: no JavaScript error (save the
theme's own known messages, each allowed with its reason), no request to any other host,
every figure loaded and described, formulas typeset (no raw ``$``), a menu that reaches every
chapter, each chapter's Colab button, no dead widget or empty output, no broken internal link.
A screenshot of every page goes to ``_build/screenshots/``.

Without a browser these tests skip, unless ``RPS_REQUIRE_BROWSER=1`` (CI sets it), which
turns the skip into a failure: CI can never pass by skipping.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import pytest

from tools.book import api_page, chapters, colab_url, pages

pytestmark = pytest.mark.website

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("RPS_SITE", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]

# JavaScript errors of the theme itself, harmless to a reader; each with why it is allowed.
KNOWN_CONSOLE = {
    r"(SyntaxError: )?Identifier 'THEBE_JS_URL' has already been declared":
        "sphinx-book-theme declares it in two scripts; the launch buttons still work",
    r"Got invalid theme mode: \. Resetting to auto\.":
        "pydata-sphinx-theme on a first visit, with no light/dark choice stored yet",
    r"Failed to load resource: the server responded with a status of 404.*":
        "checked separately: only the allowed missing files of KNOWN_MISSING may 404",
}
# Files the theme asks for that the build does not make (a 404 on the local server).
KNOWN_MISSING = {
    "favicon.ico": "Chromium asks every site for one; the book has no favicon",
}


def browser_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_site() -> None:
    """Skip (fail where CI requires the browser tests) when the website is not built."""
    if not (SITE / "index.html").exists():
        message = f"the website is not built ({SITE}): run make book first"
        if os.environ.get("RPS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


# --- the built pages, read as files ---------------------------------------------------------


@pytest.fixture(params=[p.stem for p in chapters()])
def chapter_page(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(chapter stem, its built page's HTML)."""
    require_site()
    page = SITE / "book" / f"{request.param}.html"
    assert page.exists(), f"{page} is missing: the chapter has no page"
    return request.param, page.read_text(encoding="utf-8")


def test_each_chapter_page_shows_the_outputs_of_its_run(chapter_page: tuple[str, str]) -> None:
    stem, text = chapter_page
    assert text.count('class="cell_output') >= 3, f"{stem} has fewer than 3 outputs: did it run?"
    assert "Traceback" not in text and 'class="output traceback' not in text, (
        f"{stem} shows a traceback")


def test_each_chapter_page_is_the_websites_own(chapter_page: tuple[str, str]) -> None:
    from bs4 import BeautifulSoup

    stem, text = chapter_page
    assert colab_url(stem) in text, f"{stem} has no 'Open in Colab' button"
    assert "widget-view" not in text and "jupyter-widgets" not in text, (
        f"{stem} embeds a widget, which shows as an empty box offline")
    assert f'href="{api_page()}#' not in text, (
        f"{stem} sends its readers to the published API page, not to this site's "
        f"(tools/sphinx_rps.py: site_links)")
    outputs = BeautifulSoup(text, "html.parser").select("div.cell_output")
    assert not any("|---" in output.get_text() for output in outputs), (
        f"{stem} shows a Markdown table as raw text")


# what a cell shows when its last line's value is a matplotlib object (instead of nothing)
STRAY = re.compile(r"Text\(-?[\d.]+, -?[\d.]+, |<Figure size |\[<matplotlib\.|<Axes[: ]|"
                   r"<matplotlib\.")


def test_each_chapter_page_shows_no_stray_value_and_no_figure_twice(
        chapter_page: tuple[str, str]) -> None:
    from bs4 import BeautifulSoup

    stem, text = chapter_page
    soup = BeautifulSoup(text, "html.parser")
    stray = [o.get_text(" ", strip=True)[:80] for o in soup.select("div.cell_output")
             if STRAY.search(o.get_text(" ", strip=True))]
    assert stray == [], f"{stem} shows the value of a plotting call: {stray}"
    images = [img["src"] for img in soup.select("main img") if "_images/" in img["src"]]
    twice = sorted({src for src in images if images.count(src) > 1})
    assert twice == [], f"{stem} shows the same figure twice: {twice}"


def test_no_page_shows_a_path_of_the_machine_that_built_it() -> None:
    require_site()
    paths = sorted(p for p in {str(ROOT), str(Path.home())} if len(p) > 1)
    for page in sorted(SITE.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        shown = [path for path in paths if path in text]
        assert shown == [], f"{page.relative_to(SITE)} shows {shown}"


# --- the website in a browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The built site served on 127.0.0.1; yields its base address."""
    require_site()
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class Visit:
    """What the browser saw on one page."""

    page: str
    url: str
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


FACTS_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const imgs = [...main.querySelectorAll('img')].map(i => ({
      src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth,
      alt: i.getAttribute('alt') || ''}));
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .MathJax').forEach(
      e => e.remove());
  const outputs = [...main.querySelectorAll('div.cell_output')].map(o => ({
      text: o.innerText.trim().length, media: o.querySelectorAll('img, svg, table').length,
      bars: (o.innerText.match(/Epochs:/g) || []).length}));
  return {
    imgs,
    text: clone.innerText,
    math: main.querySelectorAll('mjx-container').length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    nav: [...document.querySelectorAll('nav a[href], .bd-sidebar a[href]')].map(
        a => a.href),
    outputs,
    widgets: document.querySelectorAll('.jupyter-widgets, .widget-area').length,
    // code blocks of the cells' input that scroll sideways (wider than the page shows)
    wide: [...main.querySelectorAll('div.cell_input pre')].filter(
        p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.split('\\n').reduce(
        (a, b) => a.length >= b.length ? a : b).slice(0, 60)),
  };
}"""


@pytest.fixture(scope="module")
def visits(server: str) -> dict[str, Visit]:
    """Every page of the book, visited once in headless Chromium."""
    executable = browser_path()
    if executable is None:
        message = ("no chromium: install Debian's chromium and chromium-driver "
                   "(see README.md) to test the website in a browser")
        if os.environ.get("RPS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    host = urlsplit(server).netloc
    seen: dict[str, Visit] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=LAUNCH_ARGS,
                                    headless=True, timeout=60_000)
        try:
            # 1440 px: a laptop's window, where a code line of 79 characters (PEP 8) fits
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            for page_name in pages():
                url = urljoin(server, f"{page_name}.html")
                visit = Visit(page_name, url)
                page = context.new_page()
                page.on("console", lambda m, v=visit: v.console.append(m.text)
                        if m.type == "error" else None)
                page.on("pageerror", lambda e, v=visit: v.page_errors.append(str(e)))
                page.on("request", lambda r, v=visit: v.requests.append(r.url))
                page.on("response", lambda r, v=visit: v.missing.append(r.url)
                        if r.status >= 400 else None)
                page.goto(url, wait_until="load", timeout=60_000)
                # MathJax typesets after loading: wait until it says it is done
                page.wait_for_function(
                    "() => !window.MathJax || !MathJax.startup || "
                    "MathJax.startup.promise.then(() => true)", timeout=30_000)
                page.wait_for_timeout(500)  # late requests (fonts, scripts) are caught too
                visit.facts = page.evaluate(FACTS_JS)
                page.screenshot(path=str(SCREENSHOTS / f"{Path(page_name).name}.png"),
                                full_page=False)
                page.close()
                visit.requests = [r for r in visit.requests
                                  if urlsplit(r).netloc != host and not r.startswith("data:")]
                seen[page_name] = visit
        finally:
            browser.close()
    return seen


def test_no_javascript_error(visits: dict[str, Visit]) -> None:
    for visit in visits.values():
        unknown = [m for m in visit.page_errors + visit.console
                   if not any(re.fullmatch(known, m) for known in KNOWN_CONSOLE)]
        assert unknown == [], f"{visit.page}: JavaScript errors {unknown}"


def test_no_request_leaves_the_site(visits: dict[str, Visit]) -> None:
    for visit in visits.values():
        assert visit.requests == [], f"{visit.page} asked other hosts for {visit.requests}"


def test_nothing_the_pages_ask_for_is_missing(visits: dict[str, Visit]) -> None:
    for visit in visits.values():
        missing = [u for u in visit.missing if Path(urlsplit(u).path).name not in KNOWN_MISSING]
        assert missing == [], f"{visit.page}: not found {missing}"


def test_every_figure_loads_and_has_alt_text(visits: dict[str, Visit]) -> None:
    for visit in visits.values():
        for img in visit.facts["imgs"]:
            assert img["complete"] and img["width"] > 0, f"{visit.page}: {img['src']} not loaded"
            alt = img["alt"].strip()
            assert alt and not alt.endswith((".png", ".svg", ".jpg")), (
                f"{visit.page}: {img['src']} has no alt text (alt={alt!r})")


def test_formulas_render_as_math(visits: dict[str, Visit]) -> None:
    for name, visit in visits.items():
        source = ROOT / f"{name}.ipynb"
        has_math = source.exists() and any(
            "$" in c.source for c in nbformat.read(source, as_version=4).cells
            if c.cell_type == "markdown")
        raw = re.findall(r"\$[^$\n]{1,80}\$", visit.facts["text"])
        assert raw == [], f"{name} shows raw TeX: {raw[:3]}"
        if has_math:
            assert visit.facts["math"] > 0, f"{name} has formulas, but none was typeset"


def test_the_menu_reaches_every_chapter(visits: dict[str, Visit]) -> None:
    root = visits[pages()[0]]
    reached = {urlsplit(href).path.removesuffix(".html").lstrip("/")
               for href in root.facts["nav"]}
    for page_name in pages()[1:]:
        assert page_name in reached, f"the menu does not link to {page_name}"


def test_each_chapter_has_its_colab_button(visits: dict[str, Visit]) -> None:
    for name, visit in visits.items():
        if (ROOT / f"{name}.ipynb").exists():
            assert colab_url(Path(name).name) in visit.facts["links"], (
                f"{name}: no Colab button for {Path(name).name}.ipynb in the configured "
                f"repository")


def test_no_dead_widget_or_empty_output(visits: dict[str, Visit]) -> None:
    for name, visit in visits.items():
        assert visit.facts["widgets"] == 0, f"{name} shows a widget that needs a kernel"
        empty = [o for o in visit.facts["outputs"] if o["text"] == 0 and o["media"] == 0]
        assert empty == [], f"{name} has {len(empty)} empty output boxes"


def test_no_code_block_scrolls_sideways(visits: dict[str, Visit]) -> None:
    for name, visit in visits.items():
        assert visit.facts["wide"] == [], (
            f"{name}: code wider than the page at 1440 px (ruff keeps chapter code to 79 "
            f"characters, book/ruff.toml): {visit.facts['wide']}")


def test_a_progress_bar_shows_as_one_final_line(visits: dict[str, Visit]) -> None:
    # In Jupyter and Colab the bar redraws in place; on a page every redraw would be a line
    for name, visit in visits.items():
        redrawn = [o["bars"] for o in visit.facts["outputs"] if o["bars"] > 1]
        assert redrawn == [], f"{name}: a progress bar printed {redrawn} times in one output"


def test_every_internal_link_resolves(visits: dict[str, Visit]) -> None:
    from bs4 import BeautifulSoup

    ids: dict[Path, set[str]] = {}
    for name, visit in visits.items():
        for href in visit.facts["links"]:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            page = SITE / f"{name}.html"
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            assert target.exists(), f"{name}: the link {href} leads nowhere"
            if parts.fragment and target.suffix == ".html":
                if target not in ids:
                    soup = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
                    ids[target] = {str(t["id"]) for t in soup.select("[id]")}
                assert parts.fragment in ids[target], f"{name}: no #{parts.fragment} for {href}"
