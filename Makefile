# The project's two commands (see README):
#   make book   executes every notebook on the offline mini world and builds the HTML book
#               (runs whose records ship in cocoop_lib/assets/mini_runs are reused, not trained;
#               make book RECOMPUTE=1 trains every run: about 4 CPU hours)
#   make test   runs the test suite
# Both create the virtual environment .venv on first use (pip, from requirements.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: book test test-all venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

book: venv
	$(if $(RECOMPUTE),COCOOP_SHIPPED_RUNS=0 )$(PY) scripts/run_book.py

test: venv
	$(PY) -m pytest -q

test-all: venv
	$(PY) -m pytest -q -m ""

clean:
	rm -rf _build outputs/records outputs/checkpoints outputs/features outputs/fewshot  # keeps outputs/mini_world (pretraining checkpoints)
