# cursus-local developer entry points. Every target is idempotent and cheap when
# already done (stamp file for the venv; ensure-engine.sh / build.sh check first).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.cursus-local-installed
DAG    ?= scenarios/demo/dag.yaml
STEP   ?=

.PHONY: venv tools engine images runner-image test test-fast run-pipeline run-step bench bench-detection clean

venv: $(STAMP)

# Re-installs only when pyproject.toml changes (editable install: code edits need nothing).
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $@

# Debian's graphviz (generate-report draws each run's DAG with `dot`) and chromium (the tests open
# the reports in it, through Playwright); shellcheck (actionlint checks the CI templates' scripts
# with it) and docker-compose 1.29 (tests/test_compose.py builds docker-compose.yml with it too).
tools:
	@command -v dot >/dev/null && command -v chromium >/dev/null && command -v shellcheck >/dev/null && \
	  test -x /usr/bin/docker-compose || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz chromium shellcheck docker-compose >/dev/null; \
	  else echo "ERROR: install Graphviz, Chromium, ShellCheck and docker-compose 1.29 (Debian: sudo apt-get install graphviz chromium shellcheck docker-compose)" >&2; exit 1; fi; }

engine:
	@images/ensure-engine.sh

images: engine
	@images/build.sh

# Only for docker-compose.yml (laptops); rebuilt when runner/ or pyproject.toml change.
runner-image: engine
	@images/build.sh runner

# pytest exit 5 = "no tests collected": a failure for us, with a clear message.
test: venv tools images
	@rc=0; $(VENV)/bin/python -m pytest -q tests || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

# The tests that need no Docker engine (no `docker` mark): no engine is started, no image built.
test-fast: venv tools
	@rc=0; $(VENV)/bin/python -m pytest -q -m "not docker" tests || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

run-pipeline: venv images
	$(VENV)/bin/cursus-local run-pipeline $(DAG)

run-step: venv images
	@test -n "$(STEP)" || { echo "usage: make run-step STEP=<step name>" >&2; exit 2; }
	cd scenarios/demo && $(CURDIR)/$(VENV)/bin/cursus-local run-step $(STEP)

bench: venv images
	$(VENV)/bin/python bench/bench.py

# Injected breaks and benign changes on the demo pipeline: caught / harmful, false alarms / benign.
bench-detection: venv images
	$(VENV)/bin/python bench/detection.py

# S3 row samples: bytes on the wire (counting proxy before a moto server) for 1 GiB objects,
# 2,000 small files, a cached rerun and a changed object. GB=0.1 for a quick run.
bench-s3: venv
	$(VENV)/bin/python bench/s3.py --gb $(or $(GB),1)

# Removes the venv and caches; images are kept (FORCE=1 make images rebuilds them).
clean:
	rm -rf $(VENV) .pytest_cache
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} + 
	find . -path ./.git -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +
