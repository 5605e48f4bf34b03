# Two commands for a newcomer: `make run` and `make test`. Every target sets up
# what is missing first and does no repeated work on a second run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
Q ?= بأي حجة تواصل روسيا التصعيد؟

.PHONY: install model setup run test lint pytest ask bench eval clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

model: install
	$(BIN)/isnad model fetch

setup: install
	$(BIN)/isnad setup

run: setup
	$(BIN)/isnad run

lint: install
	$(BIN)/ruff check bot retrieval tests
	$(BIN)/ruff format --check bot retrieval tests
	$(BIN)/mypy bot retrieval tests

pytest: model
	$(BIN)/pytest -q

test: lint pytest

ask: setup
	$(BIN)/isnad ask "$(Q)"

bench: setup
	$(BIN)/isnad bench --eval-file ../shared/eval/arcd-train.json

clean:
	rm -rf data
