# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv from constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test lint fmt bench-real bench-dashboard bench-generation screenshots lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/synthsign demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check synthsign_tui tests benchmarks
	$(BIN)/ruff format --check synthsign_tui tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format synthsign_tui tests benchmarks
	$(BIN)/ruff check --fix synthsign_tui tests benchmarks

bench-real: $(STAMP)
	$(BIN)/python benchmarks/real_transfer.py

# SynthSign beside W&B LEET in tmux -> benchmarks/results/dashboard.md (LEET from /work/leet-venv when present);
# benchmarks/dashboard.py holds the longer in-process measures (live latency, memory growth, training overhead)
bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/side_by_side.py

bench-generation: $(STAMP)
	$(BIN)/python benchmarks/generation_throughput.py

screenshots: $(STAMP)
	$(BIN)/python benchmarks/screenshots.py

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed '1i # Exact pins used by `make` (pip install -c constraints.txt). Regenerate with `make lock`.' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
