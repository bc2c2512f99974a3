# make run  : install tui-orch into .venv and open the console
# make test : install everything (lab packages included) and run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lab-start lab-stop bench clean

run: install
	$(BIN)/tui-orch

test: install-test
	sh tests/lab/install-packages.sh
	$(BIN)/python -m pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PY) -m venv $(VENV) || { sh tests/lab/install-python.sh && $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

lab-start:
	$(PY) tests/lab/lab.py start

lab-stop:
	$(PY) tests/lab/lab.py stop

bench: install-test
	$(BIN)/python -m pip install -q -e '.[bench]'
	@status=0; for b in store placement monitoring controller console files volume_move traffic etcd_floor; do \
		echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py $$(test $$b = store && echo --etcd yes) || status=1; \
		done; \
	echo "== benchmarks/console.py --scale 10000"; $(BIN)/python benchmarks/console.py --scale 10000 || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) build *.egg-info
