# Each target sets up its own virtual environment (.venv) on first use.
# TORCH pins a CPU build of PyTorch where one is on the local disk or index; on a GPU
# machine use `make TORCH=torch ...` to let pip pick a CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup check test gpu nightly bench lint

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,bench,lint]"
	touch $@

setup: $(BIN)/.installed

check: setup        ## the main job: differential check of every op, one table
	$(BIN)/python -m harness check

test: setup         ## the test suite, in parallel (interpret mode on a CPU machine)
	$(BIN)/python -m pytest -n auto

gpu: setup          ## the test suite compiled on the GPU
	$(BIN)/python -m pytest -n auto --triton-mode=gpu

nightly: setup      ## GPU night run: 200 cases per op and dtype, drawn 16x larger (up to ~64M elements)
	$(BIN)/python -m pytest -n auto --dist worksteal --triton-mode=gpu --triton-budget=16 \
		--hypothesis-profile=thorough tests/test_ops.py -k differential

bench: setup        ## GPU benchmarks and the regression gate (no xdist)
	$(BIN)/python -m harness bench --gate

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
