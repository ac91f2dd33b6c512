# Everything a fresh Debian machine with Python 3.11 needs goes through these targets.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PREFECT_HOME ?= $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test bench install lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	mkdir -p var/prefect
	touch $(STAMP)

install: $(STAMP)

## Migrate the state database (the demo date counts its entered rates), seed the embedded demo
## accounting database, run tonight's flow
## (as of today, or the last day config/legal_fr.yaml covers when its tables are behind).
demo: $(STAMP)
	@mkdir -p var/prefect
	@$(BIN)/dunning db upgrade && \
	  as_of=$$($(BIN)/dunning demo date) && \
	  $(BIN)/dunning demo seed --today $$as_of && \
	  $(BIN)/dunning run --as-of $$as_of

## The whole test suite (PostgreSQL at 127.0.0.1:5432 is required, never skipped).
test: $(STAMP)
	@mkdir -p var/prefect
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## How the nightly stages scale on this machine (PostgreSQL at 127.0.0.1:5432): one table of
## seconds per stage, against the COPY floor, and peak memory. Reported, never asserted.
## Then a mid-size night end to end (dunning run, sends to a SendGrid test server on 127.0.0.1).
BENCH_SIZES ?= 10000,200000
BENCH_NIGHT ?= --night
bench: $(STAMP)
	$(BIN)/python tests/bench.py --sizes $(BENCH_SIZES) $(BENCH_NIGHT)

## Re-resolve exact versions after a change of range in pyproject.toml.
lock:
	rm -rf /tmp/dunning-lock && $(PYTHON) -m venv /tmp/dunning-lock
	/tmp/dunning-lock/bin/pip install --quiet '.[test]'
	@echo "Compare with constraints.txt:"; /tmp/dunning-lock/bin/pip freeze --exclude-editable | grep -v '^dunning'

clean:
	rm -rf $(VENV) var
