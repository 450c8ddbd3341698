# netsocs.failover - one command for the whole test suite:
#
#   make test     virtualenv + Docker engine + offline node image, then
#                 ansible-lint (production), pytest unit tests, molecule test
#
# Other targets: make setup | lint | unit | molecule | image | clean
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
SCENARIOS ?= default
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/collections

.PHONY: test setup docker image lint unit molecule clean

test: setup lint unit molecule

setup: $(VENV)/.installed docker image

$(VENV)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

docker:
	tests/testbed/ensure-docker.sh

image: docker
	tests/testbed/build-image.sh > .node-image

lint: $(VENV)/.installed
	ansible-lint --offline --profile production

unit: $(VENV)/.installed
	pytest tests/unit

molecule: setup
	for s in $(SCENARIOS); do \
	  NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule test --scenario-name $$s; \
	done

clean:
	-for s in $(SCENARIOS); do molecule destroy --scenario-name $$s; done
	rm -rf $(VENV) .node-image
