# One venv, made on first use; every target installs what it needs into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast check bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) demo/demo.py $(ARGS)

check: $(STAMP)
	$(VENV)/bin/ruff check one_drivers tests bench demo
	$(VENV)/bin/ruff format --check one_drivers tests bench demo
	$(VENV)/bin/mypy

test: check
	$(VENV)/bin/pytest -q

# The unit tier: no moto server, simulator, econe/OCCI server or process (see tests/conftest.py).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

# Minutes of faults, kills, fuzzing and concurrency (tests/soak); short versions run in `make test`.
soak: $(STAMP)
	$(PY) -m tests.soak $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
