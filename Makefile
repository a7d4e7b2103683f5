# Two commands: `make book` (build the book at the quick profile) and `make test` (what CI runs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick
DEVICE ?= auto
NOTEBOOKS ?=

.PHONY: book run build test lint unit notebooks nbval book-smoke browser bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Chapters run WORKERS at a time with THREADS torch threads each (the quick book: 8.4 min on 2 cores
# with 2 × 1; more threads per process on shared cores were many times slower, not faster).
WORKERS ?= 2
THREADS ?= 1

book: $(STAMP)                      ## execute every chapter at $(PROFILE) and build the HTML book
	OMP_NUM_THREADS=$(THREADS) $(BIN)/kdbook run $(NOTEBOOKS) --profile $(PROFILE) --device $(DEVICE) --workers $(WORKERS)
	$(BIN)/kdbook build

run: $(STAMP)
	OMP_NUM_THREADS=$(THREADS) $(BIN)/kdbook run $(NOTEBOOKS) --profile $(PROFILE) --device $(DEVICE) --workers $(WORKERS)

build: $(STAMP)
	$(BIN)/kdbook build

lint: $(STAMP)
	$(BIN)/ruff check kdlib tests benchmarks notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not notebooks and not browser"

# `make test` builds its own book in $(TEST_OUT) (KDBOOK_OUT, relative to the repository): the smoke
# executions go to $(TEST_OUT)/book/generated and their site to $(TEST_OUT)/_build/html, so the book
# that `make book` built (book/generated, _build/html) is never replaced by a test build.
TEST_OUT := _build/test

# Two chapters at a time, one thread each: on a 2-core machine that is 115 s instead of 185 s
# (torch's own threads on shared cores were many times slower than one thread each).
TEST_WORKERS ?= 2

notebooks: $(STAMP)                 ## the smoke book: every chapter executed at the smoke profile, into $(TEST_OUT)
	OMP_NUM_THREADS=1 KDBOOK_OUT=$(TEST_OUT) $(BIN)/kdbook run --profile smoke --device cpu --workers $(TEST_WORKERS)

nbval: notebooks                    ## re-execute the executed smoke notebooks with nbval (not part of `make test`)
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider $(TEST_OUT)/book/generated/*.ipynb

book-smoke: notebooks               ## the smoke book's site, in $(TEST_OUT)/_build/html
	KDBOOK_OUT=$(TEST_OUT) $(BIN)/kdbook build

browser: book-smoke                 ## open every page of the smoke book in headless Chromium
	KDBOOK_OUT=$(TEST_OUT) $(BIN)/python -m pytest -m browser
	@echo "screenshots of every page: $(TEST_OUT)/screenshots/"

# Each chapter is executed once (`notebooks`); the checks after it read that execution.
test: lint unit book-smoke          ## everything CI checks
	KDBOOK_OUT=$(TEST_OUT) $(BIN)/python -m pytest -m "notebooks or browser"

bench: $(STAMP)                     ## every benchmark, each printing its ratios side by side
	$(BIN)/python benchmarks/bench_logits.py
	$(BIN)/python benchmarks/bench_kernels.py
	$(BIN)/python benchmarks/bench_student.py
	$(BIN)/python benchmarks/bench_efficiency.py
	$(BIN)/python benchmarks/bench_risk.py
	$(BIN)/python benchmarks/bench_teachers.py
	$(BIN)/python benchmarks/bench_resnet.py
	$(BIN)/python benchmarks/bench_sweep.py --book

clean:
	rm -rf _build book/generated .kdcache
