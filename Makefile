# netsocs.failover - two commands:
#
#   make lab      virtualenv + Docker engine + offline node image, two local
#                 nodes, site.yml deployed onto them through inventories/lab
#   make test     the same set-up, then ansible-lint (production), pytest unit
#                 tests, molecule test, and the lab with every failover drill
#
# Other targets: make setup | lint | unit | molecule | lab-test | drill |
#                status | switchover | lab-destroy | image | clean
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
SCENARIOS ?= default fast
DRILLS ?= stop_keepalived link_down stack_down freeze
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/collections

.PHONY: test setup docker image lint unit molecule lab lab-test drill status switchover lab-destroy clean

test: setup lint unit molecule lab-test

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
	ansible-doc -t filter netsocs.failover.node_address > /dev/null
	ansible-doc -t test netsocs.failover.ipv4_net > /dev/null
	ansible-doc netsocs.failover.warn > /dev/null
	for r in keepalived docker_stack nfs_server nfs_client firewall; do ansible-doc -t role netsocs.failover.$$r > /dev/null; done
	# README.md lists every role variable as the argument specs define it
	python3 tests/tools/render_variables.py --check docs/variables.md

unit: $(VENV)/.installed
	pytest tests/unit

molecule: setup
	rm -f reports/failover-*.txt reports/partitions.txt
	for s in $(SCENARIOS); do \
	  NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule test --scenario-name $$s; \
	done
	@echo; echo "== Measured failover times (reports/) =="; cat reports/failover-*.txt
	@if [ -f reports/partitions.txt ]; then echo; cat reports/partitions.txt; fi
	@# reached only when every scenario passed (the loop stops at the first failure)
	@echo "molecule scenarios: $(words $(SCENARIOS)) passed, 0 failed"

# The lab: two local nodes (the test bed's containers), deployed like real
# machines with `ansible-playbook site.yml -i inventories/lab`.
lab: setup
	NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule create --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule prepare --scenario-name lab
	ansible-playbook site.yml -i inventories/lab/hosts.yml
	@echo
	@echo "Lab ready: node-a 172.30.99.11 (MASTER, NFS server), node-b 172.30.99.12, VIP 172.30.99.100"
	@echo "  curl http://172.30.99.100/                              the node serving answers with its name"
	@echo "  . .venv/bin/activate                                     then, from this directory:"
	@echo "  ansible-playbook status.yml                              both nodes in one table"
	@echo "  ansible-playbook failover-drill.yml                      fail node-a over and back, measured"
	@echo "  ansible-playbook failover-drill.yml -e drill_method=link_down   (or stack_down, freeze)"
	@echo "  ansible-playbook switchover.yml -e switchover_phase=away         planned maintenance (then =back)"
	@echo "  make lab-destroy                                         remove the lab"

drill:
	for m in $(DRILLS); do ansible-playbook failover-drill.yml -i inventories/lab/hosts.yml -e drill_method=$$m; done
	@echo; echo "== Failover drills (reports/drill-*.md) =="
	@python3 playbooks/operations/files/drill.py summary $$(for m in $(DRILLS); do ls -t reports/drill-$$m-*.json | head -1; done)

status:
	ansible-playbook status.yml -i inventories/lab/hosts.yml

switchover:
	ansible-playbook switchover.yml -i inventories/lab/hosts.yml

lab-destroy:
	molecule destroy --scenario-name lab

# CI: the lab from scratch, its status, every drill and a switchover; the lab
# is removed whatever the outcome.
lab-test: setup
	rm -f reports/drill-*
	if $(MAKE) lab && $(MAKE) status && $(MAKE) drill && $(MAKE) switchover; then rc=0; else rc=1; fi; \
	  $(MAKE) lab-destroy; exit $$rc

clean:
	-for s in $(SCENARIOS) lab; do molecule destroy --scenario-name $$s; done
	rm -rf $(VENV) .node-image
