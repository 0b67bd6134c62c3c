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

# RECOMPUTE=1 (or yes/true/on) trains every run; RECOMPUTE=0 (or no/false/off, or unset) reuses the
# shipped records; any other value is an error (RECOMPUTE=0 once meant "recompute").
RECOMPUTE_ON := $(filter 1 yes true on YES TRUE ON Yes True On,$(strip $(RECOMPUTE)))
RECOMPUTE_OFF := $(filter 0 no false off NO FALSE OFF No False Off,$(strip $(RECOMPUTE)))

book: venv
	$(if $(strip $(RECOMPUTE)),$(if $(RECOMPUTE_ON)$(RECOMPUTE_OFF),,$(error RECOMPUTE=$(RECOMPUTE) is not understood: use RECOMPUTE=1 to train every run here (about 4 CPU hours) or RECOMPUTE=0 (the default) to reuse the shipped records)))
	$(if $(RECOMPUTE_ON),COCOOP_SHIPPED_RUNS=0 )$(PY) scripts/run_book.py

test: venv
	$(PY) -m pytest -q

test-all: venv
	$(PY) -m pytest -q -m ""

clean:
	rm -rf _build outputs/records outputs/checkpoints outputs/features outputs/fewshot  # keeps outputs/mini_world (pretraining checkpoints)
