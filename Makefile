# KDFM — every set-up step lives here; the README's quick start is `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests and the demo start for real.
DEBS := mosquitto mosquitto-clients postgresql openssh-server iproute2 snmp snmpd psmisc procps tinyproxy
# What the benchmarks run beside us (peers and measuring tools); not needed by the tests.
BENCH_DEBS := prometheus-snmp-exporter time bc curl nmap
KDFM_RECORDINGS ?= $(abspath ../shared/printers/snmprec)
export KDFM_RECORDINGS
PYTEST_ARGS ?=

.PHONY: help install debs protos lint typecheck test test-quick demo demo-down bench clean

help:
	@echo "make demo       start the local stack and a simulated printer site, show the fleet"
	@echo "make demo-down  stop what make demo started"
	@echo "make test       lint, type-check and run every test against real components"
	@echo "make protos     regenerate kdfm_proto from protos/kdfm/v1"

$(VENV)/.installed: pyproject.toml
	$(MAKE) debs
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade 'pip>=25'
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

debs:
	@missing=""; for p in $(DEBS) $(EXTRA_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

protos: install
	$(BIN)/python scripts/gen_protos.py

lint: install
	$(BIN)/ruff check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint -q --profile production roles playbooks
	$(BIN)/python scripts/gen_protos.py --check

typecheck: install
	$(BIN)/mypy agent/kdfm_agent cloud/kdfm_cloud operator/kdfm_operator
	MYPYPATH=tests $(BIN)/mypy tests/harness tests/conftest.py tests/harness_checks tests/roles

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Without the slow world: unit tests and pure plans only.
test-quick: install
	$(BIN)/python -m pytest -m "not sites and not postgres and not faults and not slow" $(PYTEST_ARGS)

demo: install
	$(BIN)/python scripts/demo.py up

demo-down: install
	$(BIN)/python scripts/demo.py down

bench: install
	$(MAKE) debs EXTRA_DEBS="$(BENCH_DEBS)"
	bash bench/run.sh

clean:
	rm -rf $(VENV) .kdfm .mypy_cache .ruff_cache .pytest_cache
