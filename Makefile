# The course's two commands (see README.md):
#   make book   sets everything up and builds the website
#   make test   sets everything up and runs every test (this is what CI runs: .ci/run)
# Both work on a fresh clone: the first run makes .venv from requirements.txt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# run every chapter once, top to bottom in a fresh kernel, failing on any error or failed
# check, and keep its outputs and run time (tools/nbval_record.py) ...
RUN_CHAPTERS := $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p tools.nbval_record book/
# ... then build the website from that run, warnings as errors (tools/build_site.py)
BUILD_BOOK := $(BIN)/python tools/build_site.py

.PHONY: setup browser book test test-fast test-oldest lint bench clean clean-notebooks \
        student-notebooks linkcheck

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
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
	$(BIN)/ruff check rpslib tests tools
	$(BIN)/mypy

test: lint browser
	$(BIN)/python tools/clean_notebooks.py --check
	$(BIN)/python -m pytest
	$(BIN)/python -m rpslib.data
	$(RUN_CHAPTERS)
	$(BIN)/python tools/chapter_times.py
	$(BUILD_BOOK)
	$(BIN)/python tools/check_site.py _build/html
	$(BIN)/python -m pytest -m website tests/test_website.py tests/test_api_reference.py
	$(MAKE) test-oldest

# rpslib on the oldest versions pyproject.toml declares (requirements-oldest.txt), in a second
# environment: rpslib installed there without changing them, then the unit tests and every
# chapter. Colab and students' laptops run whatever versions they have.
OLD       := .venv-oldest
OLD_STAMP := $(OLD)/.installed

$(OLD_STAMP): requirements-oldest.txt pyproject.toml
	test -x $(OLD)/bin/python || $(PYTHON) -m venv $(OLD)
	$(OLD)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-oldest.txt
	$(OLD)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(OLD)/bin/python tools/check_versions.py requirements-oldest.txt
	touch $(OLD_STAMP)

test-oldest: $(OLD_STAMP)
	$(OLD)/bin/python -m pytest -p no:cacheprovider
	$(OLD)/bin/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env book/

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not website"

book: $(STAMP)
	$(BIN)/python -m rpslib.data
	$(RUN_CHAPTERS)
	$(BUILD_BOOK)
	@echo "The website is in $(CURDIR)/_build/html (open _build/html/index.html)"

# Sphinx's link checker over the pages make book staged: it follows every external link, so
# it needs the internet and is not part of make test
linkcheck: $(STAMP)
	test -d _build/stage || $(MAKE) book
	$(BIN)/jupyter-book build _build/stage --path-output . --builder linkcheck

bench: $(STAMP)
	$(BIN)/python -m rpslib.bench

clean-notebooks: $(STAMP)
	$(BIN)/python tools/clean_notebooks.py

# the chapters without their solutions, for students (tools/student_notebooks.py)
student-notebooks: $(STAMP)
	$(BIN)/python tools/student_notebooks.py _build/student

clean:
	rm -rf _build .pytest_cache .mypy_cache .ruff_cache
