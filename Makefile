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
SCENARIOS ?= default fast
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
	# every plugin's documentation must render
	for m in vip_status compose_state; do ansible-doc netsocs.failover.$$m > /dev/null; done
	ansible-doc -t filter netsocs.failover.in_network > /dev/null
	ansible-doc -t test netsocs.failover.ipv4 > /dev/null
	ansible-doc -t role netsocs.failover.keepalived > /dev/null

unit: $(VENV)/.installed
	pytest tests/unit

molecule: setup
	rm -f reports/failover-*.txt
	for s in $(SCENARIOS); do \
	  NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule test --scenario-name $$s; \
	done
	@echo; echo "== Measured failover times (reports/) =="; cat reports/failover-*.txt
	@# reached only when every scenario passed (the loop stops at the first failure)
	@echo "molecule scenarios: $(words $(SCENARIOS)) passed, 0 failed"

clean:
	-for s in $(SCENARIOS); do molecule destroy --scenario-name $$s; done
	rm -rf $(VENV) .node-image
