# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test clean

install: $(STAMP)

# Re-installs only when requirements.txt changes.
$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

run: install
	$(PY) run_experiment.py $(ARGS)

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV)
