# SPDX-License-Identifier: AGPL-3.0-or-later
# Shortcuts for contributors. The README's two commands work without make.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test check bench vendor

$(PY):
	python3 -m venv $(VENV)

install: $(PY)  ## install socialdesk with its test dependencies into .venv
	$(PY) -m pip install -e '.[test]'

run: $(PY)  ## run socialdesk on SQLite with an embedded worker
	$(PY) -m pip install -q -e .
	$(VENV)/bin/socialdesk serve

test:  ## install what tests need, then lint, type-check and run every test
	./scripts/test

check: install  ## lint and type-check only
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/mypy

bench: install  ## run every benchmark under bench/ (each prints one JSON line)
	@set -e; for b in bench/*.py; do [ -e "$$b" ] || { echo "no benchmarks yet"; break; }; $(PY) "$$b"; done

vendor: $(PY)  ## re-fetch the pinned front-end assets from npm and rewrite their lock
	$(PY) scripts/vendor_assets.py
