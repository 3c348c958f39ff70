# Ruvon developer entry points. Every target works on a fresh clone: the virtualenv is created on demand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

DEMO_DB := sqlite:///examples/saga_payment/ruvon_demo.db

# The tutorial's saga on the embedded SQLite store: success, then a rollback; then every
# workflow the demo database holds (earlier runs included).
demo: $(STAMP)
	cd examples/saga_payment && ../../$(PY) demo.py
	cd examples/saga_payment && SIMULATE_FAILURE=shipment ../../$(PY) demo.py
	$(VENV)/bin/ruvon list --db $(DEMO_DB) --limit 20

test: $(STAMP) chromium
	$(PY) -m pytest -q

# The dashboard's browser tests drive Debian's Chromium (Playwright downloads no browser here):
# installed when missing, as root (CI); otherwise those tests are skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: the browser tests are skipped (apt-get install chromium)"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

# The tutorial saga on our engine, ruvon-sdk 0.1.5 and DBOS (each peer in its own venv under
# bench/.venvs, installed once), with the floors; regenerates docs/benchmarks.md. A few minutes.
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
