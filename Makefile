# netsocs.failover - two commands:
#
#   make lab      virtualenv + Docker engine + offline node image, two local
#                 nodes, site.yml deployed onto them through inventories/lab
#   make test     the same set-up, then ansible-lint (production), pytest unit
#                 tests, the publisher's checks (ansible-test sanity and units,
#                 galaxy-importer), molecule test, and the lab with every
#                 failover drill and the installed collection
#
# Other targets: make setup | lint | unit | collection | sanity | import |
#                molecule | lab-test | infra | installed | drill | status | switchover |
#                forwarding-test | balancer-test | cloud-test | upgrade-test (UPGRADE_FROM=v2.1.0) | adopt-test |
#                rollback-test | rollback-protocol-test |
#                migrate | bench (BENCH_REPS=5) |
#                mutations (ONLY="vip-bound ...") | repeat (REPEAT=5) |
#                wholestack (WHOLESTACK_REPS=5) |
#                soak (SOAK_MINUTES=30) | sweep (SWEEP="0.1 0.2 ...") |
#                lab-destroy | image | clean
SHELL := /bin/bash
empty :=
space := $(empty) $(empty)
comma := ,
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
SCENARIOS ?= default reference
DRILLS ?= stop_keepalived link_down stack_down freeze
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/collections
# The built collection: a copy of what git tracks at .../ansible_collections/
# netsocs/failover (ansible-test's layout), outside this work tree (ansible-test
# would follow this repository's .gitignore), and the tarball built from it.
# One per checkout, so that two checkouts on one machine never share it.
PUBLISH := $(or $(TMPDIR),/tmp)/netsocs-failover-publish-$(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
COLLECTION := $(PUBLISH)/ansible_collections/netsocs/failover
# ansible-test caches its pip bootstrap under $$HOME: give it one of its own.
TEST_HOME := $(CURDIR)/.cache/ansible-test-home

.PHONY: test static host-tools setup docker image lint unit collection sanity import molecule lab lab-test infra installed drill status switchover forwarding-test replica replica-test hardmount hardmount-test balancer-test cloud-test uninstall-test upgrade-test migrate bench rerun mutations repeat wholestack soak sweep lab-destroy clean

test: setup static molecule lab-test

# The static checks, two at a time (each mostly holds one core; nothing else
# runs yet), each one's output kept together.
static: setup host-tools
	$(MAKE) -j2 --output-sync=target lint unit sanity import

# The Debian packages lint (promtool) and sanity (shellcheck) call, installed
# first: two apt-get runs side by side would fight over dpkg's lock.
host-tools:
	command -v promtool > /dev/null && command -v shellcheck > /dev/null || { apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus shellcheck > /dev/null; }

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
	NODE_SUITE=bookworm tests/testbed/build-image.sh > .node-image-bookworm

lint: $(VENV)/.installed
	ansible-lint --offline --profile production
	# every plugin's documentation must render
	for m in vip_status compose_state node_files installed_packages warn; do ansible-doc netsocs.failover.$$m > /dev/null; done
	ansible-doc -t filter netsocs.failover.in_network > /dev/null
	ansible-doc -t test netsocs.failover.ipv4 > /dev/null
	ansible-doc -t filter netsocs.failover.node_address > /dev/null
	ansible-doc -t filter netsocs.failover.unit_states > /dev/null
	ansible-doc -t test netsocs.failover.ipv4_net > /dev/null
	ansible-doc netsocs.failover.warn > /dev/null
	for r in keepalived docker_stack nfs_server nfs_client storage_replica firewall observability; do ansible-doc -t role netsocs.failover.$$r > /dev/null; done
	# docs/variables.md and the role READMEs render the argument specs
	python3 tests/tools/render_docs.py --check
	# the alert rules, each firing and silent, and the metrics' exposition format (promtool, from
	# Debian's prometheus package)
	command -v promtool > /dev/null || { apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus > /dev/null; }
	promtool check rules prometheus/netsocs-failover.rules.yml
	promtool test rules tests/prometheus/netsocs-failover.rules.test.yml
	python3 tests/tools/metrics_sample.py | promtool check metrics
	# changelog fragments valid, CHANGELOG.md rendered from changelogs/changelog.yaml
	antsibull-changelog lint
	mkdir -p $(PUBLISH) && antsibull-changelog generate --is-collection --output $(PUBLISH)/CHANGELOG.md
	cmp $(PUBLISH)/CHANGELOG.md CHANGELOG.md || { echo "CHANGELOG.md is stale: antsibull-changelog generate"; exit 1; }

unit: $(VENV)/.installed
	pytest tests/unit tests/controller

# The collection as a publisher ships it: tree and tarball under $(PUBLISH).
collection: $(VENV)/.installed
	python3 tests/tools/collection_tree.py $(PUBLISH) > /dev/null
	rm -rf $(PUBLISH)/dist
	ansible-galaxy collection build $(COLLECTION) --output-path $(PUBLISH)/dist

# ansible-test sanity (all tests, no ignore file) and units, offline.
sanity: collection
	command -v shellcheck > /dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck > /dev/null; }
	python3 tests/tools/ansible-test/get_pip.py --install $(TEST_HOME) > /dev/null
	cd $(COLLECTION) && HOME=$(TEST_HOME) ansible-test sanity --python 3.11 --local --color no
	cd $(COLLECTION) && HOME=$(TEST_HOME) ansible-test units --python 3.11 --local --color no

# galaxy-importer, offline (tests/tools/galaxy-importer/): no error, no warning.
import: collection
	cd $(PUBLISH) && GALAXY_IMPORTER_CONFIG=$(CURDIR)/tests/tools/galaxy-importer/galaxy-importer.cfg \
	  python3 -m galaxy_importer.main dist/netsocs-failover-*.tar.gz 2>&1 | tee importer.log
	@if grep -E '^(WARNING|ERROR)' $(PUBLISH)/importer.log; then echo "galaxy-importer: warnings or errors above"; exit 1; fi
	@# The execution environment: its definition renders a build context (no
	@# registry needed), and the collection's own requirements are read from it.
	rm -rf .cache/ee && ansible-builder create -f ee/execution-environment.yml -c .cache/ee > /dev/null
	@# (to a file first: grep -q stops reading at the first match, and under
	@# pipefail the writer's broken pipe failed the step - CI on 5ba1fc6)
	ansible-builder introspect collections > .cache/ee/introspect.txt
	grep -q 'from collection netsocs.failover' .cache/ee/introspect.txt

molecule: setup
	rm -f reports/failover-*.txt reports/partitions.txt
	@# each scenario's output also goes to reports/molecule-<scenario>.log, timed;
	@# on a failure the failed tasks are printed last, where CI's tail shows them
	mkdir -p reports
	for s in $(SCENARIOS); do \
	  PYTHONUNBUFFERED=1 NETSOCS_NODE_IMAGE=$$(cat .node-image) molecule test --scenario-name $$s 2>&1 \
	    | python3 tests/tools/runlog.py tee reports/molecule-$$s.log \
	    || { python3 tests/tools/runlog.py failures reports/molecule-$$s.log; exit 1; }; \
	done
	@echo; echo "== Measured failover times (reports/) =="; cat reports/failover-*.txt
	@if [ -f reports/partitions.txt ]; then echo; cat reports/partitions.txt; fi
	@# reached only when every scenario passed (the loop stops at the first failure)
	@echo "molecule scenarios: $(words $(SCENARIOS)) passed, 0 failed"

# The lab: two local nodes (the test bed's containers), deployed like real
# machines with `ansible-playbook site.yml -i inventories/lab`, with booleans
# and numbers typed on the command line as operators do (strings to Ansible;
# the same values as the inventory's, so tests/infra checks their meaning).
LAB_CLI_VALUES := -e keepalived_unicast=false -e keepalived_preempt=true -e keepalived_vrrp_version=3 -e keepalived_advert_int=0.2 \
  -e failover_guard=true -e failover_min_containers=3 -e docker_stack_grace_seconds=15 \
  -e nfs_client_mount=false -e nfs_server_root_squash=false \
  -e nfs_server_ganesha_graceless=true -e nfs_server_ganesha_allow_io_flusher_fail=true
LAB_DEPLOY = ansible-playbook site.yml -i inventories/lab/hosts.yml $(LAB_CLI_VALUES)
lab: setup
	@# Molecule's record of a lab whose containers are gone (removed by hand,
	@# a reboot, an interrupted run) would skip creating them: forget it.
	docker inspect node-a node-b > /dev/null 2>&1 || molecule reset --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule create --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule prepare --scenario-name lab
	$(LAB_DEPLOY)
	@echo
	@echo "Lab ready: node-a 172.30.99.11 (MASTER, NFS server), node-b 172.30.99.12, VIP 172.30.99.100"
	@echo "  curl http://172.30.99.100/                              the node serving answers with its name"
	@echo "  . .venv/bin/activate                                     then, from this directory:"
	@echo "  ansible-playbook status.yml                              both nodes in one table"
	@echo "  ansible-playbook failover-drill.yml                      fail node-a over and back, measured"
	@echo "  ansible-playbook failover-drill.yml -e drill_method=link_down   (or stack_down, freeze)"
	@echo "  ansible-playbook switchover.yml -e switchover_phase=away         planned maintenance (then =back)"
	@echo "  make lab-destroy                                         remove the lab"

# The collection as users get it, against the lab: the tarball installed into
# a fresh collections path, site and status run by name from a directory
# outside this checkout (no ansible.cfg, no link farm), then the drill as its
# schedule runs it: drill_schedule (by name) writes the timer's service and
# timer into a directory of their own (systemd is not PID 1 on the CI
# machines, so no timer fires here), a second run changes nothing, and the
# service's own command line runs as systemd would (tests/tools/run_unit.py).
# The drill must pass, its report land in that directory (not in the
# collection), a report past the retention go, its result reach both nodes'
# metrics, and status show it.
INSTALLED := $(PUBLISH)/installed
OPERATOR := $(PUBLISH)/operator
AS_OPERATOR := cd $(OPERATOR) && env -u PYTHONPATH ANSIBLE_COLLECTIONS_PATH=$(INSTALLED)
SCHEDULE_PLAY := ansible-playbook netsocs.failover.drill_schedule -e drill_schedule_inventory=$(CURDIR)/inventories/lab/hosts.yml \
  -e drill_schedule_dir=$(OPERATOR) -e drill_schedule_unit_dir=$(OPERATOR)/units -e drill_schedule_activate=false \
  -e 'drill_schedule_calendar="*-*-* 04:00"' -e drill_schedule_keep_days=30
installed: collection
	rm -rf $(INSTALLED) $(OPERATOR) && mkdir -p $(OPERATOR)/units
	env -u PYTHONPATH ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) ansible-galaxy collection install --offline \
	  -p $(INSTALLED) $(PUBLISH)/dist/netsocs-failover-*.tar.gz
	$(AS_OPERATOR) ansible-playbook -i $(CURDIR)/inventories/lab/hosts.yml netsocs.failover.site
	$(AS_OPERATOR) $(SCHEDULE_PLAY)
	$(AS_OPERATOR) $(SCHEDULE_PLAY) | tee $(OPERATOR)/schedule-rerun.log
	grep -Eq 'localhost +: .* changed=0 ' $(OPERATOR)/schedule-rerun.log || { echo "drill_schedule changed something on its second run"; exit 1; }
	touch -d '40 days ago' $(OPERATOR)/reports/drill-stop_keepalived-old.json
	$(AS_OPERATOR) python3 $(CURDIR)/tests/tools/run_unit.py $(OPERATOR)/units/netsocs-failover-drill.service
	test ! -e $(OPERATOR)/reports/drill-stop_keepalived-old.json || { echo "the report past its retention is still there"; exit 1; }
	python3 playbooks/files/drill.py summary $(OPERATOR)/reports/drill-stop_keepalived-*.json
	@# the drill's result reached both nodes' metrics (rewritten every second)
	for n in node-a node-b; do timeout 15 sh -c "until docker exec $$n grep -qx 'netsocs_failover_last_drill_success 1' \
	  /var/lib/prometheus/node-exporter/netsocs_failover.prom; do sleep 1; done" \
	  || { echo "$$n: its metrics show no passed drill"; exit 1; }; done
	@if find $(INSTALLED) -path '*reports*' | grep .; then echo "the drill wrote into the installed collection"; exit 1; fi
	$(AS_OPERATOR) ansible-playbook -i $(CURDIR)/inventories/lab/hosts.yml netsocs.failover.status | tee $(OPERATOR)/status.log
	grep -q 'Last drill: passed (stop_keepalived), 0.0 days ago' $(OPERATOR)/status.log || { echo "status does not show the drill"; exit 1; }
	@echo "installed collection: site, status and the scheduled drill ran by name from $(OPERATOR)"

# The static state of both lab nodes (packages, services, secrets' modes,
# ports, ufw order, exports, fstab, boot guard, logrotate), with testinfra.
infra:
	pytest tests/infra --hosts=docker://node-a,docker://node-b --inventory=inventories/lab/hosts.yml

drill:
	for m in $(DRILLS); do ansible-playbook failover-drill.yml -i inventories/lab/hosts.yml -e drill_method=$$m; done
	@echo; echo "== Failover drills (reports/drill-*.md) =="
	@python3 playbooks/files/drill.py summary $$(for m in $(DRILLS); do ls -t reports/drill-$$m-*.json | head -1; done)

status:
	ansible-playbook status.yml -i inventories/lab/hosts.yml

switchover:
	ansible-playbook switchover.yml -i inventories/lab/hosts.yml

# The logs forwarded through a receiver outage: the outsider's rsyslog
# receiver stopped 30 s while node-a fails over and back; every line written
# must arrive once, with its own time (reports/forwarding.md).
forwarding-test:
	ansible-playbook molecule/resources/forwarding.yml -i inventories/lab/hosts.yml
	cat reports/forwarding.md

# An existing install adopted (make lab-test's first step: it builds the lab):
# fresh lab nodes run the stack by hand, then site.yml, first with --check
# --diff, then for real with clients probing node-a's own address; no request
# may fail and node-a's stack is never restarted (reports/adopt.md). The lab
# is then as `make lab` leaves it.
adopt-test: setup
	-molecule destroy --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule create --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule prepare --scenario-name lab
	ansible-playbook molecule/resources/adopt.yml -i inventories/lab/hosts.yml -e '{"adopt_args": "$(LAB_CLI_VALUES)"}'
	cat reports/adopt.md

# A changed compose file and Keepalived setting deployed on the lab (v2),
# then rollback.yml with clients watching: v1 runs again, one VIP holder
# throughout, the outage within the promise `rollback` (reports/rollback.md).
rollback-test:
	ansible-playbook molecule/resources/rollback.yml -i inventories/lab/hosts.yml -e '{"rollback_args": "$(LAB_CLI_VALUES)"}'
	cat reports/rollback.md

# The same with the reference profile as v2 (not in make test: about 4
# minutes): VRRPv2 with a password, so the rolled-back BACKUP and the MASTER do
# not hear each other and rollback.yml starts the BACKUP only after the MASTER
# stopped (reports/rollback-protocol.md).
rollback-protocol-test:
	ansible-playbook molecule/resources/rollback.yml -i inventories/lab/hosts.yml -e '{"rollback_args": "$(LAB_CLI_VALUES)"}' \
	  -e rollback_trial=rollback-protocol -e '{"rollback_v2_vrrp": ["-e", "keepalived_vrrp_version=2", "-e", "keepalived_advert_int=1"]}'
	cat reports/rollback-protocol.md

# The upgrade from the last release (not in make test: about 6 minutes): the
# lab rebuilt and deployed from UPGRADE_FROM's tree (git archive), then this
# tree's site.yml applied with both nodes watched and clients probing: nothing
# may move or fail, and a second run changes nothing (reports/upgrade.md).
UPGRADE_FROM ?= v2.1.0
UPGRADE := $(PUBLISH)/upgrade
upgrade-test: setup
	rm -rf $(UPGRADE) && mkdir -p $(UPGRADE)/tree
	git archive $(UPGRADE_FROM) | tar -x -C $(UPGRADE)/tree
	-$(MAKE) lab-destroy
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule create --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule prepare --scenario-name lab
	cd $(UPGRADE)/tree && ANSIBLE_COLLECTIONS_PATH=$(UPGRADE)/tree/collections PYTHONPATH=$(UPGRADE)/tree/collections \
	  ansible-playbook site.yml -i inventories/lab/hosts.yml $(LAB_CLI_VALUES)
	UPGRADE_WORK=$(UPGRADE)/work UPGRADE_FROM=$(UPGRADE_FROM) ansible-playbook molecule/resources/upgrade.yml \
	  -i inventories/lab/hosts.yml -e '{"upgrade_args": "$(LAB_CLI_VALUES)"}'
	cat reports/upgrade.md

# Replicated shares (failover_storage: replicated, inventories/lab-replicated):
# fresh lab nodes deployed with each node's own copy of the shares; node-a
# frozen and thawed with clients reading and writing through the VIP, then
# destroyed, node-b rebooted alone, node-a rebuilt with site.yml and checked
# for every write node-b acknowledged (molecule/resources/replica.yml,
# reports/replica.md). The lab is removed afterwards.
REPLICA_DEPLOY = ansible-playbook site.yml -i inventories/lab-replicated/hosts.yml
REPLICA_PLAY = ansible-playbook molecule/resources/replica.yml -i inventories/lab-replicated/hosts.yml
replica-test: setup
	rm -f reports/replica.md
	-molecule destroy --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule create --scenario-name lab
	NETSOCS_NODE_IMAGE=$$(cat .node-image-bookworm) molecule prepare --scenario-name lab
	if $(REPLICA_DEPLOY) && ansible-playbook status.yml -i inventories/lab-replicated/hosts.yml > reports/replica-status.txt \
	  && grep -A3 'Replicated shares' reports/replica-status.txt \
	  && $(REPLICA_PLAY) -e replica_phase=trials && $(REPLICA_PLAY) -e replica_phase=lost \
	  && $(REPLICA_PLAY) -e replica_phase=rebuild \
	  && ansible-playbook molecule/resources/prepare.yml -i inventories/lab-replicated/hosts.yml --limit node-a \
	    -e ansible_user=root -e ansible_become=false -e '{"netsocs_test_stack": true}' \
	  && $(REPLICA_DEPLOY) && $(REPLICA_PLAY) -e replica_phase=rejoined; then rc=0; else rc=1; fi; \
	  molecule destroy --scenario-name lab; cat reports/replica.md; exit $$rc

# The reference layout's weak point, measured (make lab-test runs it on its
# lab; about 75 s): node B's shares mounted from node A with sshfs (blocking,
# as hard NFS mounts are), node A frozen with clients watching; asserted:
# node B takes the VIP within the freeze's bound, no health check or guard
# run outlives its timeout, and once node A is thawed and the mounts removed,
# node A serves alone again (molecule/resources/hardmount.yml,
# reports/hardmount.md). hardmount-test: the same on a lab of its own, removed
# afterwards.
# The replicated layout on make lab-test's lab after its uninstall (about 2
# minutes): site.yml with inventories/lab-replicated over it, then node A,
# the MASTER, frozen and thawed with clients reading and writing through the
# VIP: node-b serves its copy, no write it acknowledged is lost, node-a comes
# back without divergence (replica.yml's trials; make replica-test runs them
# with the split brain and node A lost for good, on a lab of its own).
replica:
	rm -f reports/replica.md
	if $(REPLICA_DEPLOY) && $(REPLICA_PLAY) -e replica_phase=trials -e replica_split=false; then rc=0; else rc=1; fi; \
	  cat reports/replica.md; exit $$rc

hardmount:
	rm -f reports/hardmount.md
	if ansible-playbook molecule/resources/hardmount.yml -i inventories/lab/hosts.yml; then rc=0; else rc=1; fi; \
	  cat reports/hardmount.md; exit $$rc

hardmount-test: lab
	if $(MAKE) hardmount; then rc=0; else rc=1; fi; $(MAKE) lab-destroy; exit $$rc

# Load-balancer mode (not in make test: about 4 minutes): the lab deployed
# with failover_balancer, HAProxy from Debian on the outsider in front of both
# nodes, node A frozen and thawed with clients going through HAProxy;
# asserted: only the MASTER's endpoint says serve, only the balancer's network
# reaches it, the client outage and the time HAProxy counts both nodes UP
# within tests/promises.yml (molecule/resources/balancer.yml,
# reports/balancer.md). The lab is removed afterwards.
BALANCER_VALUES := -e failover_balancer=true -e '{"failover_balancer_networks": ["172.30.99.13/32"]}' \
  -e '{"firewall_client_networks": ["172.30.99.1/32", "172.30.99.13/32"]}'
balancer-test: lab
	rm -f reports/balancer.md
	if $(LAB_DEPLOY) $(BALANCER_VALUES) && ansible-playbook molecule/resources/balancer.yml -i inventories/lab/hosts.yml $(BALANCER_VALUES); \
	  then rc=0; else rc=1; fi; $(MAKE) lab-destroy; cat reports/balancer.md; exit $$rc

# AWS (not in make test: about 4 minutes with the lab's build): moto's EC2
# server and an IMDSv2 stand-in per node on the controller's lab address
# (tests/tools/aws_standin.py), the lab deployed with failover_cloud: aws
# against them; node A frozen and thawed, then Keepalived stopped and started,
# the Elastic IP watched through the EC2 API (molecule/resources/cloud.yml,
# reports/cloud.md). The lab is removed afterwards.
CLOUD_DIR := $(CURDIR)/.cache/cloud
cloud-test: lab
	rm -rf reports/cloud.md $(CLOUD_DIR) && mkdir -p $(CLOUD_DIR)
	python3 tests/tools/aws_standin.py serve --address 172.30.99.1 --nodes node-a,node-b --out $(CLOUD_DIR) & \
	  echo $$! > $(CLOUD_DIR)/pid; \
	  for i in $$(seq 1 120); do if [ -f $(CLOUD_DIR)/aws.json ]; then break; fi; sleep 0.5; done; \
	  if $(LAB_DEPLOY) -i $(CLOUD_DIR)/cloud-inventory.yml && CLOUD_STANDIN_DIR=$(CLOUD_DIR) ansible-playbook \
	    molecule/resources/cloud.yml -i inventories/lab/hosts.yml -i $(CLOUD_DIR)/cloud-inventory.yml; \
	  then rc=0; else rc=1; fi; kill $$(cat $(CLOUD_DIR)/pid); $(MAKE) lab-destroy; cat reports/cloud.md; exit $$rc

# uninstall.yml on the lab with clients watching (reports/uninstall.txt); the
# lab keeps only node-b's stack afterwards: make lab-destroy, then make lab.
uninstall-test:
	ansible-playbook molecule/resources/uninstall.yml -i inventories/lab/hosts.yml

# The tests against deliberately broken builds, on the lab (not in make test:
# about 35 minutes): each check passes on the lab, then must fail at its task
# on the broken one (reports/mutations.md). Rebuild the lab afterwards.
mutations:
	python3 tests/tools/mutations.py $(if $(ONLY),$(foreach m,$(ONLY),--only=$(m)))

# The default scenario's trials REPEAT times in a row on the lab (not in make
# test: about 5 minutes a run): how stable they are here (reports/repeat.md).
REPEAT ?= 5
repeat:
	python3 tests/tools/mutations.py --repeat $(REPEAT)

# The whole stack on the lab's MASTER: the Docker daemon killed, then every
# container, then a service that cannot start (WHOLESTACK_CASES: daemon
# containers service), WHOLESTACK_REPS times (reports/wholestack.md: every
# service and clients back, in seconds). make lab-test runs the daemon's once:
# the default scenario's verify runs the other two.
WHOLESTACK_REPS ?= 5
WHOLESTACK_CASES ?= daemon containers service
wholestack:
	rm -f reports/wholestack.md
	for i in $$(seq $(WHOLESTACK_REPS)); do \
	  ansible-playbook molecule/resources/wholestack.yml -i inventories/lab/hosts.yml \
	    -e '{"wholestack_cases": [$(subst $(space),$(comma),$(foreach c,$(WHOLESTACK_CASES),"$(c)"))]}' > reports/wholestack-run.log 2>&1 \
	    || { tail -40 reports/wholestack-run.log; exit 1; }; \
	  tail -n +2 reports/failover-lab-wholestack.txt | sed "s/^/run $$i: /" >> reports/wholestack.md; \
	done
	cat reports/wholestack.md

lab-destroy:
	molecule destroy --scenario-name lab

# Under load (not in make test): every core busy (a burner per core here and
# one in each node) and SOAK_RATE requests a second through the VIP. The soak
# runs the lab on VRRPv3 with SOAK_ADVERT-second adverts for SOAK_MINUTES and
# must see 0 transitions and 0 failed requests; the sweep runs each interval of
# SWEEP for SWEEP_MINUTES and records what it sees (reports/soak*.md).
SOAK_MINUTES ?= 30
SOAK_RATE ?= 20
SOAK_ADVERT ?= 0.2
SWEEP ?= 0.1 0.2 0.3 0.5 1.0
SWEEP_MINUTES ?= 5
soak: lab
	$(LAB_DEPLOY) -e keepalived_advert_int=$(SOAK_ADVERT)
	rm -f reports/soak.json reports/soak.md
	@# the table is written whatever the verdict; the verdict is the exit status
	rc=0; python3 tests/tools/soak.py run --label soak --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE) \
	  --out reports/soak.json || rc=$$?; \
	  python3 tests/tools/soak.py table reports/soak.json > reports/soak.md; exit $$rc

sweep: lab
	rm -f reports/soak-sweep-*.json
	for i in $(SWEEP); do \
	  $(LAB_DEPLOY) -e keepalived_advert_int=$$i \
	    && python3 tests/tools/soak.py run --record-only --label sweep-$$i --minutes $(SWEEP_MINUTES) \
	         --rate $(SOAK_RATE) --out reports/soak-sweep-$$i.json || exit 1; \
	done
	python3 tests/tools/soak.py table $(foreach i,$(SWEEP),reports/soak-sweep-$(i).json) | tee reports/soak-sweep.md

# The side-by-side benchmark (not in make test: about 15 minutes): the lab on
# the reference profile, then on the default one, each through the same
# faults BENCH_REPS times (tests/tools/bench.py; reports/bench.md).
BENCH_REPS ?= 5
bench: lab
	rm -f reports/bench-*.json
	for p in "reference 2 1" "default 3 0.2"; do set -- $$p; \
	  $(LAB_DEPLOY) -e keepalived_vrrp_version=$$2 -e keepalived_advert_int=$$3 \
	    && python3 tests/tools/bench.py run --label $$1 --reps $(BENCH_REPS) --out reports/bench-$$1.json || exit 1; \
	done
	python3 tests/tools/bench.py table reports/bench-reference.json reports/bench-default.json | tee reports/bench.md

# The idempotent re-run of site.yml on the lab (not in make test), timed
# RERUN_REPS times: each must change nothing on either node (reports/rerun.md).
RERUN_REPS ?= 3
rerun: lab
	rm -f reports/rerun-*.log reports/rerun.md
	for i in $$(seq $(RERUN_REPS)); do \
	  start=$$(date +%s%N); $(LAB_DEPLOY) > reports/rerun-$$i.log 2>&1 || { tail -30 reports/rerun-$$i.log; exit 1; }; \
	  ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
	  recap=$$(grep -E '^node-[ab] +:' reports/rerun-$$i.log); \
	  if [ "$$(echo "$$recap" | grep -c ' changed=0 ')" != 2 ]; then \
	    echo "re-run $$i changed the lab (reports/rerun-$$i.log):"; echo "$$recap"; exit 1; fi; \
	  printf 're-run %d: %d.%02d s, changed=0 on both nodes (load %s)\n' $$i $$((ms / 1000)) $$((ms % 1000 / 10)) \
	    "$$(cut -d' ' -f1 /proc/loadavg)" | tee -a reports/rerun.md; \
	done

# The profile changed on the running lab, both ways, as an operator would
# (site.yml with the new keepalived_vrrp_version), each run watched: the VIP
# must not move, no request fail, the MASTER log no transition and the BACKUP
# never become MASTER (reports/migration.md); each watch starts once neither
# node has logged a transition for 10 s (the promises' time to stable; the
# soak's own default, 30 s, is for its long runs). After each deploy node-a's link
# is cut and brought back under that profile, three times (tests/tools/ratio.py,
# the same stack, the same prober): each within its promises, and the default
# profile's median client outage at least 3x shorter than the reference
# timing's (reports/ratio.md).
migrate:
	rm -f reports/migration-*.json reports/ratio-*.json
	rc=0; for step in "to-reference 2 1 reference" "to-default 3 0.2 default"; do set -- $$step; \
	  python3 tests/tools/soak.py run --label $$1 --no-burn --settle 10 --rate 20 --minutes 10 --out reports/migration-$$1.json \
	    --during $(LAB_DEPLOY) -e keepalived_vrrp_version=$$2 -e keepalived_advert_int=$$3 || rc=1; \
	  python3 tests/tools/ratio.py measure $$4 || rc=1; \
	done; python3 tests/tools/soak.py table reports/migration-to-reference.json reports/migration-to-default.json | tee reports/migration.md; \
	python3 tests/tools/ratio.py check || rc=1; exit $$rc

# CI: the lab from scratch over a stack run by hand (adopt-test), its static
# state (testinfra), the installed collection on it (site, status, and the
# stop_keepalived drill as its schedule runs it), the Docker daemon killed on
# its MASTER, the other drills, a switchover, a rollback, the profile changed
# both ways, the logs forwarded through a receiver outage, node A (the storage
# server) frozen under node B's blocking mounts, the failover layer
# uninstalled with clients watching and, last, the replicated layout deployed
# over it, node A frozen and thawed (make replica); the lab is removed
# whatever the outcome.
lab-test: setup
	rm -f reports/drill-*
	if $(MAKE) adopt-test && $(MAKE) infra && $(MAKE) installed && $(MAKE) wholestack WHOLESTACK_REPS=1 WHOLESTACK_CASES=daemon \
	  && $(MAKE) drill DRILLS="$(filter-out stop_keepalived,$(DRILLS))" && $(MAKE) switchover && $(MAKE) rollback-test \
	  && $(MAKE) migrate \
	  && $(MAKE) forwarding-test && $(MAKE) hardmount && $(MAKE) uninstall-test && $(MAKE) replica; then rc=0; else rc=1; fi; \
	  $(MAKE) lab-destroy; exit $$rc

clean:
	-for s in $(SCENARIOS) lab; do molecule destroy --scenario-name $$s; done
	rm -rf $(VENV) .node-image .node-image-bookworm
