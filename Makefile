# Quick start: `make demo` and `make test` each set up .venv and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[torch,test,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sklearn_corenet demo

test: $(STAMP)
	$(BIN)/python -m pytest tests sklearn_corenet

lint: $(STAMP)
	$(BIN)/ruff check sklearn_corenet tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python -m benchmarks.speed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
