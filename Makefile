# ax0n — every install step lives here. `make demo` runs the devnet demo, `make test` the tests.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SERVICES := router executor prover validator settler
PIP := flock /tmp/ax0n-pip.lock $(BIN)/pip install --quiet --progress-bar off
PROTOS := $(wildcard proto/ax0n/v1/*.proto)

# Area fragments (mk/*.mk) append prerequisites: SETUP_EXTRA (after the venv), TEST_EXTRA (extra test steps).
SETUP_EXTRA :=
TEST_EXTRA :=
include $(sort $(wildcard mk/*.mk))

.PHONY: setup system proto test test-slow lint demo clean
.DEFAULT_GOAL := help

help:  ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

setup: system $(VENV)/.installed proto $(SETUP_EXTRA)  ## create .venv, install all distributions (editable), generate code

system:  ## check system tools; install redis-server with apt when missing and running as root
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } \
	  || { echo "redis-server is required (Debian/Ubuntu: sudo apt-get install redis-server)"; exit 1; }
	@command -v npm >/dev/null || { echo "Node.js and npm are required (https://nodejs.org)"; exit 1; }
	@command -v $(PY) >/dev/null || { echo "$(PY) is required"; exit 1; }

$(VENV)/.installed: pyproject.toml tools/pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -e '.[dev]' $(foreach s,$(SERVICES),-e services/$(s)) -e ./tools 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

proto: ax0n/v1/.generated  ## generate Python code from proto/ with grpcio-tools

ax0n/v1/.generated: $(PROTOS) $(VENV)/.installed
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $@

test: setup  ## run the test suite (slow tests excluded)
	$(BIN)/pytest -q $(PYTEST_ARGS)
	$(TEST_EXTRA)

test-slow: setup  ## run only the slow tests
	$(BIN)/pytest -q -m slow $(PYTEST_ARGS)

lint: setup  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup  ## start the local devnet and run a real inference
	$(BIN)/ax0n demo

clean:  ## remove the venv and generated files
	rm -rf $(VENV) ax0n/v1/*_pb2*.py ax0n/v1/*_pb2*.pyi ax0n/v1/.generated
