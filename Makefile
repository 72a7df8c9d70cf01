# The two commands: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The service alone, and the service with test, lint and type tools plus Ray (rescans' tests).
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
# The benchmarks' baselines (FAISS); install-dev includes them.
BENCH_STAMP := $(VENV)/.installed-bench-stamp

.PHONY: install install-dev install-bench run test lint typecheck proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(DEV_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

install-bench: $(BENCH_STAMP)

run: install
	$(BIN)/hashwatch lists import demo/list --list demo --format images --source "hashwatch demo images (CC0)"
	@echo
	@echo "hashwatch is starting on 127.0.0.1:50051 with the demo list (Ctrl-C stops it)."
	@echo "In another terminal, scan a listed and an unlisted image:"
	@echo "    $(BIN)/hashwatch scan demo/list/skimage_rocket.jpg demo/unlisted/skimage_camera.png"
	@echo "and see what was recorded:"
	@echo "    $(BIN)/hashwatch matches list"
	@echo
	HASHWATCH_LOG_JSON=false $(BIN)/hashwatch serve --host 127.0.0.1 --port 50051

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# The index benchmark's quick check (100 000 entries, against FAISS flat and multi-hash); the
# full runs and the other benchmarks' commands are in bench/RESULTS.md.
bench: install-bench
	$(BIN)/python bench/bench_index.py --sizes 1e5

proto: install-dev
	$(BIN)/python -m scanner.api.generate

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
