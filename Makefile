# Each target sets up its own virtual environment (.venv) on first use.
# TORCH pins a CPU build of PyTorch where one is on the local disk or index; on a GPU
# machine use `make TORCH=torch ...` to let pip pick a CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup check test test-triton36 compile-check gpu nightly bench lint

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,bench,lint]"
	touch $@

setup: $(BIN)/.installed

# Triton 3.6, the GPU machine's, in its own environment: its interpreter needs NumPy < 2.4.
VENV36 ?= .venv-triton36
$(VENV36)/bin/.installed: pyproject.toml
	$(PY) -m venv $(VENV36)
	$(VENV36)/bin/python -m pip install -q --upgrade pip
	$(VENV36)/bin/python -m pip install -q "$(TORCH)" "triton==3.6.0" "numpy<2.4"
	$(VENV36)/bin/python -m pip install -q -e ".[test]"
	touch $@

check: setup        ## the main job: differential check of every op, one table
	$(BIN)/python -m harness check

# The tests that compile for sm_90 offline (tests/test_compile_offline.py, marked
# `compiles`: a minute of CPU each run) run with compile-check, on both Tritons.
test: setup         ## the test suite, in parallel (interpret mode on a CPU machine)
	$(BIN)/python -m pytest -n auto -m "not compiles"

test-triton36: $(VENV36)/bin/.installed  ## the suite on Triton 3.6's interpreter (code must run on 3.6 and 3.9)
	$(VENV36)/bin/python -m pytest -n auto -m "not compiles"

# What the interpreter never does: compile. Every op's GPU configs for sm_90 (the H200's)
# on the GPU machine's Triton, each on the first example it is launched on, float16 and
# float32; fails where one does not compile, needs more shared memory than sm_90 has, or
# spills more than the baseline says. After a change that spills less:
# make compile-check COMPILE_BASELINE_SAVE=1 (and commit the file).
COMPILE_BASELINE ?= benchmarks/baselines/compile-sm90-triton3.6.json
COMPILE_FLAGS = --first --dtype float16 --dtype float32
compile-check: setup $(VENV36)/bin/.installed  ## GPU configs compiled offline (benchmarks/compile_offline.py)
	PYTHONPATH=. $(VENV36)/bin/python benchmarks/compile_offline.py $(COMPILE_FLAGS) \
		$(if $(COMPILE_BASELINE_SAVE),--save,--baseline) $(COMPILE_BASELINE)
	$(BIN)/python -m pytest -n auto -m compiles
	$(VENV36)/bin/python -m pytest -n auto -m compiles

gpu: setup          ## the test suite compiled on the GPU
	$(BIN)/python -m pytest -n auto --triton-mode=gpu

nightly: setup      ## GPU night run: 200 cases per op and dtype, drawn 16x larger (up to ~64M elements)
	$(BIN)/python -m pytest -n auto --dist worksteal --triton-mode=gpu --triton-budget=16 --triton-shards=4 \
		--triton-autotune=first --hypothesis-profile=thorough tests/test_ops.py -k differential

bench: setup        ## GPU benchmarks and the regression gate (no xdist)
	$(BIN)/python -m harness bench --gate

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
