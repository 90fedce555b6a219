# The course's two commands (see README.md):
#   make book   sets everything up and builds the website
#   make test   sets everything up and runs the tests of every change (this is what CI runs
#               first: .ci/run, then make test-oldest and make test-lessons)
# Both work on a fresh clone: the first run makes .venv from requirements.txt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Jupyter Book runs every chapter, top to bottom in a fresh kernel, and builds the website,
# warnings as errors (a failing check, a chapter past twice its budget, a broken link). A
# chapter whose code did not change since the last build is not run again: its outputs come
# from _build/.jupyter_cache (tools/sphinx_rps.py empties it when rpslib/ changes). When the
# build fails, the tracebacks of the chapters that failed in it are printed.
BUILD_BOOK = mkdir -p _build && touch _build/.build-started && \
	{ $(BIN)/jupyter-book build . -W --keep-going || { \
	  find _build/html/reports -name '*.err.log' -newer _build/.build-started \
	    -exec sh -c 'printf "\n=== %s\n" "$$1"; cat "$$1"' _ {} \; 2>/dev/null; exit 1; }; }
PYTEST := $(BIN)/python -m pytest

.PHONY: setup browser data book test test-fast test-oldest test-lessons lint bench clean \
        clean-notebooks student-notebooks linkcheck

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# no --no-compile: where PYTHONDONTWRITEBYTECODE is set (as on our machines), every process
	# would then compile every module it imports, every time (measured: pytest 119 s -> 324 s)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# Debian's chromium for the website tests (tests/test_website.py): installed where we may
# (root with apt-get, as in CI); elsewhere those tests skip, with the command to install it.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium chromium-driver >/dev/null; \
	else echo "no chromium: the website tests will skip" \
	  "(sudo apt-get install chromium chromium-driver)"; fi

lint: $(STAMP)
	$(BIN)/ruff check rpslib tests tools book
	$(BIN)/mypy

# the dataset every chapter reads: the real one where it can be downloaded, else the stand-in
data: $(STAMP)
	$(BIN)/python -m rpslib.data

book: data
	$(BUILD_BOOK)
	@echo "The website is in $(CURDIR)/_build/html (open _build/html/index.html)"

# About a minute: no chapter runs, no model trains longer than a test's second.
test-fast: lint
	$(BIN)/python -m tools.clean_notebooks --check
	$(PYTEST) -m "not slow and not website and not lessons"

# The README's test command: the fast tier, every chapter once (run two at a time into the
# build's cache, faster than one at a time on 2 cores, then the website's build reads them
# from it), the website in a browser, the built API page, and the short slow tests (the
# grader, the packaging, a fresh interpreter, a toy book built as this one is).
test: test-fast browser data
	$(BIN)/python -m tools.chapter_cache
	$(BUILD_BOOK)
	$(PYTEST) -m "website or (slow and not lessons)"

# rpslib on the oldest versions pyproject.toml declares (requirements-oldest.txt), in a second
# environment: rpslib installed there without changing them, then the unit tests, and every
# chapter and every chapter's student version under nbval (each check of a student version
# must say "not solved yet"). Colab and students' laptops run whatever versions they have.
OLD       := .venv-oldest
OLD_STAMP := $(OLD)/.installed
STUDENT   := _build/student-nbval

$(OLD_STAMP): requirements-oldest.txt requirements-test.txt pyproject.toml
	test -x $(OLD)/bin/python || $(PYTHON) -m venv $(OLD)
	$(OLD)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-oldest.txt
	$(OLD)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(OLD)/bin/python -m tools.check_versions requirements-oldest.txt
	touch $(OLD_STAMP)

test-oldest: $(OLD_STAMP)
	$(OLD)/bin/python -m rpslib.data
	$(OLD)/bin/python -m pytest -p no:cacheprovider -m "not slow and not website and not lessons"
	rm -rf $(STUDENT)
	$(OLD)/bin/python -m tools.student_notebooks --expect-unsolved $(STUDENT)
	$(OLD)/bin/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
	  book/ $(STUDENT)/

# The stand-in still teaches the chapters' lessons (six trainings, over several seeds): run it
# when the stand-in, the recipe or a pin changes (MAINTAINING.md); CI runs it every time.
test-lessons: data
	$(PYTEST) -m lessons

# Sphinx's link checker over the book's pages: it follows every external link, so it needs
# the internet and is not part of make test
linkcheck: $(STAMP)
	$(BIN)/jupyter-book build . --builder linkcheck

bench: $(STAMP)
	$(BIN)/python -m tools.bench

clean-notebooks: $(STAMP)
	$(BIN)/python -m tools.clean_notebooks

# the chapters without their solutions, for students (tools/student_notebooks.py)
student-notebooks: $(STAMP)
	$(BIN)/python -m tools.student_notebooks _build/student

clean:
	rm -rf _build .pytest_cache .mypy_cache .ruff_cache
