# Quick start: `make demo` and `make test` each set up .venv and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench docs clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[torch,test,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sklearn_corenet demo

# numpy's AVX-512 code paths, disabled for a second run of the golden tests:
# stored results must not depend on the CPU they were computed on
NO_AVX512 := NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests sklearn_corenet
	$(NO_AVX512) $(BIN)/python -m pytest -q tests/test_golden.py

lint: $(STAMP)
	$(BIN)/ruff check sklearn_corenet tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python -m benchmarks.speed

# the documentation site in docs/_build/html; warnings are errors, and every
# example of the gallery runs (needs the torch extra, which install has)
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
