# The two commands of the quick start: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest services bench fuzz soak clean

$(BIN)/python:
	scripts/ensure-venv.sh $(PYTHON) $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/silentgw demo

services:
	scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check silentgw tests bench
	$(BIN)/ruff format --check silentgw tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) services
	$(BIN)/pytest

test: $(STAMP) services lint typecheck pytest

bench: $(STAMP) services
	$(BIN)/python bench/epc_decode.py
	$(BIN)/python bench/ingest_mqtt.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/member_scoring.py

# Every wire parser fed 100,000 generated inputs or more (tests/fuzz/), randomised each run; the last lines count
# the inputs fed per parser. `make test` runs the same tests with a short count.
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP)
	SILENTGW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -q

# An hour: `make soak MINUTES=60`.
MINUTES ?= 10
soak: $(STAMP) services
	$(BIN)/python bench/soak.py --minutes $(MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
