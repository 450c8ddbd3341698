"""Break the lab on purpose and prove that the tests catch it (make mutations).

Each mutation is a deliberately broken build of one thing a check guards: the
check first runs on the unbroken lab and must pass, then runs on the broken
one and must fail at the named task; the break is undone and the pair brought
back to node-a holding the VIP and running the stack. The checks are the
Molecule scenario's own playbooks and the drill, run against the lab
(inventories/lab plus the outsider), so what fails here is what would fail in
`make test`.

Prints a table and writes reports/mutations.md and reports/mutations.json;
exits 1 when a check fails on the unbroken lab or misses its mutation.
Needs the lab (`make lab`); it changes the lab's history (logs), so run it on
a lab you can rebuild.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import failover_trial  # noqa: E402  (the trials' engine: how a node is frozen and thawed)

RESOURCES = ROOT / 'molecule' / 'resources'
LAB = ROOT / 'inventories' / 'lab' / 'hosts.yml'
VIP = '172.30.99.100'
OUTSIDER = '172.30.99.13'
STACK_HOOK_LOG = '/var/log/keepalived-failover.log'
STACK_HOOK = '/usr/local/libexec/netsocs-failover/stack-hook'
DROP_IN = '/etc/systemd/system/keepalived.service.d/zz-mutation.conf'
STORAGE_CHECK = '/usr/local/libexec/netsocs-failover/storage-check'
NOTIFY = '/usr/local/libexec/netsocs-failover/vrrp-notify'
STACK_JSON = '/etc/netsocs-failover/stack.json'
# Where a mutation keeps the file it replaced ({ORIG} in the scripts): root's,
# and readable by Keepalived's script user.
ORIG = '/usr/local/libexec/netsocs-failover-mutation'


def scenario_trials():
    """The default scenario's trials, as failover.yml runs them: its base
    trials, then verify.yml's extra ones. {name: trial}, in order."""
    import yaml  # PyYAML comes with ansible-core
    base = yaml.safe_load((RESOURCES / 'failover.yml').read_text())[0]['vars']['_verify_base_trials']
    verify = yaml.safe_load((RESOURCES / 'verify.yml').read_text())
    extra = next(play['vars']['verify_extra_trials'] for play in verify
                 if play.get('ansible.builtin.import_playbook') == 'failover.yml')
    return {trial['name']: trial for trial in base + extra}, extra


def partition_case(kind):
    """The partition matrix's case of this kind, as partitions.yml defines it."""
    import yaml  # PyYAML comes with ansible-core
    cases = yaml.safe_load((RESOURCES / 'partitions.yml').read_text())[0]['vars']['partition_cases']
    return next(case for case in cases if case['partition'] == kind)


TRIALS, EXTRA_TRIALS = scenario_trials()
GRACEFUL = TRIALS['graceful stop (systemctl stop keepalived)']
PREEMPT = TRIALS['preempt-back (systemctl start keepalived)']
HARD = TRIALS['hard failure (docker pause node-a)']
UNFREEZE = TRIALS['return after the freeze (docker unpause)']
STORAGE = TRIALS["node-b's storage repaired, node-a's stack dead: take-over"]
FAILBACK = TRIALS["failback after the hold-off (2), node-b's stack 1 s slow to stop"]
FLAP = TRIALS['five quick fail/recover cycles']
KEEPALIVED_HUNG = TRIALS['Keepalived hung on the MASTER (systemctl kill --signal=SIGSTOP keepalived)']
KEEPALIVED_BACK = TRIALS['Keepalived resumed and the hold-off cleared (stack-hook clear-holdoff)']
IN_PLACE = TRIALS['stack failure on the MASTER restarted in place (docker kill netsocs-caddy)']
HANDED_OVER = TRIALS['stack failure again within the window (docker kill netsocs-caddy)']
DOCKERD_HUNG = TRIALS['the Docker daemon hung on the MASTER (SIGSTOP to dockerd)']
DOCKERD_BACK = TRIALS['the Docker daemon resumed and the hold-off cleared']
PROFILE = {'name': 'default', 'version': 3, 'advert_int': 0.2, 'unicast': False}


def refusal_case(name):
    """The refusal case of this name, as refusals.yml defines it."""
    import yaml  # PyYAML comes with ansible-core
    cases = yaml.safe_load((RESOURCES / 'refusals.yml').read_text())[1]['vars']['refusal_cases']
    return next(case for case in cases if case['name'] == name)


REFUSAL_ROUTER_ID = refusal_case('virtual_router_id above 255')
KEEPALIVED_CHECKS = 'roles/keepalived/tasks/checks.yml'


def trials(*items):
    return [['failover.yml', {'verify_trials': list(items), 'verify_profile': PROFILE, 'netsocs_test_stack': True}]]


# A wrapper in front of the nested engine's CLI (first on the hooks' PATH)
# that delays `docker compose VERB`: the stack starts (or stops) late. A
# start delays `docker start` too, which the hook runs first for the critical
# containers.
def slow_compose(verb, seconds):
    pattern = '*" compose "*" %s "*' % verb + ('|" start "*' if verb == 'up' else '')
    return ("printf '#!/bin/sh\\ncase \" $* \" in %s) sleep %d;; esac\\n"
            "exec /usr/bin/docker \"$@\"\\n' > /usr/local/bin/docker && chmod 755 /usr/local/bin/docker"
            % (pattern, seconds))


NO_SLOW_COMPOSE = 'rm -f /usr/local/bin/docker'


def unit_drop_in(*lines):
    """A drop-in for keepalived.service with these [Service] lines."""
    return ("mkdir -p %s && printf '[Service]\\n%s\\n' > %s && systemctl daemon-reload"
            % (os.path.dirname(DROP_IN), '\\n'.join(lines), DROP_IN))


NO_DROP_IN = 'rm -f %s && systemctl daemon-reload' % DROP_IN


# Keepalived runs a copy of its configuration with 1 s adverts (the
# reference's timing) while /etc/keepalived/keepalived.conf and the
# published profile still say 0.2 s: only the wire and the times can tell.
SLOW_ADVERTS = ("cp -p /etc/keepalived/keepalived.conf {ORIG}/keepalived-slow.conf && "
                "sed -i 's/^\\(\\s*advert_int\\) 0.2$/\\1 1/' {ORIG}/keepalived-slow.conf && "
                "grep -q '^\\s*advert_int 1$' {ORIG}/keepalived-slow.conf && "
                + unit_drop_in('ExecStart=', 'ExecStart=/usr/sbin/keepalived --dont-fork -f {ORIG}/keepalived-slow.conf')
                + ' && systemctl restart keepalived')
# node-a holds the VIP and serves again before the check starts (it
# preempts node-b after its restart).
WAIT_SERVING = ("for i in $(seq 150); do ip -4 -o addr show | grep -q ' %s/' && "
                "curl -sf -o /dev/null http://127.0.0.1/ && exit 0; sleep 0.2; done; exit 1" % VIP)
# The split-brain guard's check always passes (Keepalived's track script).
NO_GUARD = ('cp -p {0} {ORIG}/stack-hook && printf \'#!/bin/sh\\ncase "$1" in guard) exit 0;; esac\\n'
            'exec {ORIG}/stack-hook "$@"\\n\' > {0} && chmod 755 {0}'.format(STACK_HOOK, ORIG='{ORIG}'))
# The guard's old rule: isolated as soon as no witness answers, whatever it
# hears from the peer.
RUNTIME_GUARD = '/usr/local/libexec/netsocs-failover/runtime/guard.py'
RUNTIME_LIFECYCLE = '/usr/local/libexec/netsocs-failover/runtime/lifecycle.py'
# A demotion whose Docker daemon does not answer kills nothing (the rule before 2026-12-03).
# The guard never re-announces the VIP (its gratuitous ARP after a split brain).
NO_ANNOUNCE = ("cp -p {0} {ORIG}/guard.py && sed -i 's/^        node.announce()$/        pass/' {0} && "
               "! grep -q '^        node.announce()$' {0}").format(RUNTIME_GUARD, ORIG='{ORIG}')
# The stand-in stack's writer (molecule/resources/prepare.yml).
WRITER = '/srv/whoami/cgi-bin/write'
NO_KILL = ("cp -p {0} {ORIG}/lifecycle.py && sed -i 's/killed = node.kill_without_docker()/killed = []/' {0} && "
           "grep -q 'killed = \\[\\]' {0}").format(RUNTIME_LIFECYCLE, ORIG='{ORIG}')
WITNESS_ONLY = ("cp -p {0} {ORIG}/guard.py && "
                "sed -i \"s/if connectivity\\['witnesses'\\] or connectivity\\['peer'\\]:/if connectivity['witnesses']:/\" {0} && "
                "grep -q \"if connectivity\\['witnesses'\\]:$\" {0}").format(RUNTIME_GUARD, ORIG='{ORIG}')
KEEPALIVED_DROP_IN = '/etc/systemd/system/keepalived.service.d/netsocs.conf'
MAINTENANCE_FILE = '/var/lib/netsocs-failover/maintenance'
# The promotion hook (notify_master) sleeps 2 s before it does its work.
SLOW_PROMOTION = ('cp -p {0} {ORIG}/stack-hook && printf \'#!/bin/sh\\ncase "$1 $2" in "trigger MASTER") sleep 2;; esac\\n'
                  'exec {ORIG}/stack-hook "$@"\\n\' > {0} && chmod 755 {0}'.format(STACK_HOOK, ORIG='{ORIG}'))

CHECKS = {
    'graceful stop trial': trials(GRACEFUL, PREEMPT),
    'hard failure trial': trials(HARD, UNFREEZE),
    # The same, the profile on the wire left unchecked: do the times alone tell?
    'hard failure trial, timing alone': [['failover.yml', dict(trials(HARD, UNFREEZE)[0][1], verify_wire_claim=False)]],
    'profile claim': trials(),
    'firewall': [['firewall.yml', {'verify_profile': PROFILE}]],
    # The restart in place first: clear-holdoff (restore) gives node-a its budget back.
    'storage take-over trial': trials(IN_PLACE, STORAGE, FAILBACK),
    'flap trial': trials(FLAP),
    'hung Keepalived trial': trials(KEEPALIVED_HUNG, KEEPALIVED_BACK),
    'hung Docker daemon trial': trials(DOCKERD_HUNG, DOCKERD_BACK),
    'hand-over and failback trials': trials(IN_PLACE, HANDED_OVER, TRIALS['failback after the hold-off']),
    'whole stack': [['wholestack.yml', {}]],
    # The four guarded cases (the control case redeploys, and is left out).
    'partition matrix': [['partitions.yml', {'partition_control': False, 'verify_profile': PROFILE}]],
    'silent witnesses': [['partitions.yml', {'partition_control': False, 'partition_log_check': False,
                                             'verify_profile': PROFILE,
                                             'partition_cases': [partition_case('witness-silent')]}]],
    'reboot in maintenance': [['reboot.yml', {}]],
    # One bad input, the refusal's plays alone (the broken environments left out).
    'refusal': [['refusals.yml', {'refusal_cases': [REFUSAL_ROUTER_ID]}, 'refusal-input']],
    'drill (stop_keepalived)': [['drill', {}]],
    'transition logs': trials(GRACEFUL, PREEMPT) + [['logs.yml', {'netsocs_test_stack': True}, 'journal']],
    # All of them, in the scenario's order (--repeat).
    'default trials': [['failover.yml', {'verify_extra_trials': EXTRA_TRIALS, 'verify_profile': PROFILE,
                                         'netsocs_test_stack': True}]],
}

MUTATIONS = [
    {'id': 'vip-bound', 'check': 'graceful stop trial',
     'broke': "node-b's stack starts 12 s late (docker start, then compose up, 6 s each): node-a's handover "
              "waits for it, the VIP moves late",
     'break': {'node-b': slow_compose('up', 6)}, 'fix': {'node-b': NO_SLOW_COMPOSE},
     'caught': r"'vip_moved_s' not in _report\.over_bounds"},
    {'id': 'handover', 'check': 'graceful stop trial',
     'broke': "node-b's guard responder is stopped: node-a's graceful stop cannot hand over, clients wait for "
              "node-b's start",
     'break': {'node-b': 'systemctl stop netsocs-guard-responder'},
     'fix': {'node-b': 'systemctl start netsocs-guard-responder'},
     'caught': r'is search\(verify_trial\.log\.search\)'},
    {'id': 'client-bound', 'check': 'hard failure trial',
     'broke': "node-b's stack starts 12 s late (docker compose up delayed): node-a frozen, the VIP moves, "
              "clients wait",
     'break': {'node-b': slow_compose('up', 12)}, 'fix': {'node-b': NO_SLOW_COMPOSE},
     'caught': r"'client_outage_s' not in _report\.over_bounds"},
    {'id': 'one-stack', 'check': 'graceful stop trial',
     'broke': "node-a hands over in the order overlap (stack.json): node-b's stack starts before node-a's stops",
     'break': {'node-a': "cp -p {0} {ORIG}/stack.json && sed -i 's/\"order\": \"stop_first\"/\"order\": \"overlap\"/' {0}"
                         " && grep -q '\"order\": \"overlap\"' {0}".format(STACK_JSON, ORIG='{ORIG}')},
     'fix': {'node-a': 'mv {ORIG}/stack.json %s' % STACK_JSON},
     'caught': r"'dual_stack_longest_s' not in _report\.over_bounds"},
    {'id': 'slow-stop', 'check': 'graceful stop trial',
     'broke': "node-a's stack stops 8 s late (docker compose stop delayed, the warm standby's): the handover waits "
              "for it, clients with it",
     'break': {'node-a': slow_compose('stop', 8)}, 'fix': {'node-a': NO_SLOW_COMPOSE},
     'caught': r"'(client_outage_s|vip_moved_s)' not in _report\.over_bounds"},
    {'id': 'profile', 'check': 'profile claim',
     'broke': "node-a's Keepalived runs 1 s adverts (a copy of keepalived.conf; the file and the published "
              "profile still say 0.2 s)",
     'break': {'node-a': SLOW_ADVERTS + ' && ' + WAIT_SERVING},
     'fix': {'node-a': NO_DROP_IN + ' && systemctl restart keepalived'},
     'caught': r'are not the claimed profile'},
    {'id': 'drop-counter', 'check': 'firewall',
     'broke': "node-a accepts the outsider on NFS 2049 (an iptables rule outside ufw, which the rule listing "
              "checks do not see); the outsider's own OUTPUT drops the packets (a timeout that is not node-a's firewall)",
     'break': {'node-a': 'iptables -I INPUT -s %s -p tcp --dport 2049 -j ACCEPT' % OUTSIDER,
               'outsider-netns': 'iptables -I OUTPUT -p tcp --dport 2049 -j DROP'},
     'fix': {'node-a': 'iptables -D INPUT -s %s -p tcp --dport 2049 -j ACCEPT' % OUTSIDER,
             'outsider-netns': 'iptables -D OUTPUT -p tcp --dport 2049 -j DROP'},
     'caught': r"Check that node-a's firewall dropped it - NFS 2049"},
    {'id': 'storage-watch', 'check': 'storage take-over trial',
     'broke': "node-b's storage check passes for 4 s, 14 s after it first fails (a check that recovers for a "
              "moment): node-b takes the VIP after the checks that look once have looked, and gives it back",
     'break': {'node-b': 'cp -p {0} {ORIG}/storage-check && cat > {0} <<"EOF"\n'
                         '#!/bin/sh\n'
                         'out=$({ORIG}/storage-check 2>&1) && {{ echo "$out"; exit 0; }}\n'
                         'first=/run/mutation-storage-first\n'
                         '[ -f $first ] || date +%s > $first\n'
                         'age=$(( $(date +%s) - $(cat $first) ))\n'
                         '[ $age -ge 14 ] && [ $age -lt 18 ] && exit 0\n'
                         'echo "$out"; exit 1\n'
                         'EOF'.format(STORAGE_CHECK, ORIG='{ORIG}')},
     'fix': {'node-b': 'mv {ORIG}/storage-check %s; rm -f /run/mutation-storage-first' % STORAGE_CHECK},
     'caught': r'node-b never took the VIP'},
    {'id': 'flap-bound', 'check': 'flap trial',
     'broke': "node-a's Keepalived takes 6 s more to start (ExecStartPre sleep): five cycles overrun the bound",
     'break': {'node-a': unit_drop_in('ExecStartPre=/bin/sleep 6')},
     'fix': {'node-a': NO_DROP_IN},
     'caught': r"_report\.action_error is none|'vip_moved_s' not in _report\.over_bounds"},
    {'id': 'drill-migration', 'check': 'drill (stop_keepalived)',
     'broke': "node-b's stack starts 12 s late (docker start and compose up delayed): node-a's handover waits "
              "for it, the VIP moves late",
     'break': {'node-b': slow_compose('up', 12)}, 'fix': {'node-b': NO_SLOW_COMPOSE},
     'caught': r'VIP migration [0-9.]+ s > '},
    {'id': 'whole-stack', 'check': 'whole stack',
     'broke': "node-a's health check no longer brings back the services that are not critical "
              "(reconcile.max 0 in its stack.json): after the Docker daemon crash MediaMTX and the recorder stay down",
     'break': {'node-a': 'cp -p %s {ORIG}/stack.json && python3 -c \'import json, sys; c = json.load(open(sys.argv[1])); '
                         'c["reconcile"]["max"] = 0; json.dump(c, open(sys.argv[1], "w"))\' %s' % (STACK_JSON, STACK_JSON)},
     'fix': {'node-a': 'mv {ORIG}/stack.json %s' % STACK_JSON},
     'caught': r'_report\.reached'},
    {'id': 'slow-adverts', 'check': 'hard failure trial, timing alone',
     'broke': "both nodes' Keepalived run 1 s adverts (a copy of keepalived.conf, the file itself unchanged): "
              "the reference profile's timing behind the default's configuration",
     'break': {'node-b': SLOW_ADVERTS, 'node-a': SLOW_ADVERTS + ' && ' + WAIT_SERVING},
     'fix': {'node-b': NO_DROP_IN + ' && systemctl restart keepalived',
             'node-a': NO_DROP_IN + ' && systemctl restart keepalived'},
     'caught': r"'vip_moved_s' not in _report\.over_bounds"},
    {'id': 'slow-promotion', 'check': 'hard failure trial',
     'broke': "node-b's promotion hook (notify_master) sleeps 2 s before it starts the stack",
     'break': {'node-b': SLOW_PROMOTION},
     'fix': {'node-b': 'mv {ORIG}/stack-hook %s' % STACK_HOOK},
     # (the first of the two that fails: the outage, or the VIP, whose first
     # sample as node-b's alone may come only after the hook's sleep)
     'caught': r"'(client_outage_s|vip_moved_s)' not in _report\.over_bounds"},
    {'id': 'guard-off', 'check': 'partition matrix',
     'broke': "both nodes' split-brain guard check always passes (the stack hook's `guard` exits 0): a VRRP "
              "partition leaves two MASTERs",
     'break': {'node-a': NO_GUARD, 'node-b': NO_GUARD},
     'fix': {'node-a': 'mv {ORIG}/stack-hook %s' % STACK_HOOK, 'node-b': 'mv {ORIG}/stack-hook %s' % STACK_HOOK},
     'caught': r"'dual_(vip|stack|writer)_longest_s' not in _report\.over_bounds"},
    {'id': 'witness-rule', 'check': 'silent witnesses',
     'broke': "both nodes' guard counts the node isolated as soon as no witness answers, whatever it hears from "
              "the peer (the rule before 2026-12-03)",
     'break': {'node-a': WITNESS_ONLY, 'node-b': WITNESS_ONLY},
     'fix': {'node-a': 'mv {ORIG}/guard.py %s' % RUNTIME_GUARD, 'node-b': 'mv {ORIG}/guard.py %s' % RUNTIME_GUARD},
     'caught': r"'(dual_\w+|client_outage_s)' not in _report\.over_bounds|_report\.transitions\.values"},
    {'id': 'maintenance-reboot', 'check': 'reboot in maintenance',
     'broke': "node-b's Keepalived unit no longer has the maintenance condition (ConditionPathExists): a reboot "
              "brings it back into the election",
     'break': {'node-b': "cp -p {0} {ORIG}/netsocs.conf && sed -i '/^ConditionPathExists=/d' {0} && "
                         "systemctl daemon-reload".format(KEEPALIVED_DROP_IN, ORIG='{ORIG}')},
     'fix': {'node-b': 'mv {ORIG}/netsocs.conf %s && systemctl daemon-reload' % KEEPALIVED_DROP_IN},
     'caught': r'Check that Keepalived stayed down'},
    {'id': 'watchdog', 'check': 'hung Keepalived trial',
     'broke': "node-a's Keepalived watchdog is off (stack.json): its responder claims the VIP while Keepalived "
              "is hung, and it never fences it",
     'break': {'node-a': "cp -p {0} {ORIG}/stack.json && sed -i 's/\"watchdog\": true/\"watchdog\": false/' {0} && "
                         "grep -q '\"watchdog\": false' {0} && systemctl restart netsocs-guard-responder"
                         .format(STACK_JSON, ORIG='{ORIG}')},
     # The trial stops at its first failed check: Keepalived stays stopped.
     'fix': {'node-a': 'mv {ORIG}/stack.json %s && systemctl restart netsocs-guard-responder && '
                       'systemctl kill --signal=SIGCONT keepalived && %s clear-holdoff' % (STACK_JSON, STACK_HOOK)},
     'caught': r"'(client_outage_s|vip_moved_s)' not in _report\.over_bounds|_report\.reached|_report\.stable"
               r"|_report\.log"},
    # Keepalived's own GARP refresh (garp_master_refresh 1) re-announces the
    # VIP every second as well: the guard's re-announce alone removed is not
    # caught (2026-12-03), so the mutation removes both.
    {'id': 're-announce', 'check': 'partition matrix',
     'broke': "node-a re-announces the VIP neither from its guard nor by Keepalived's GARP refresh "
              "(garp_master_refresh 0): after a split brain the clients stay with node-b's gratuitous ARP, on a "
              "node that yielded",
     'break': {'node-a': NO_ANNOUNCE + " && cp -p /etc/keepalived/keepalived.conf {ORIG}/keepalived.conf && "
                                       "sed -i 's/garp_master_refresh 1$/garp_master_refresh 0/' "
                                       "/etc/keepalived/keepalived.conf && grep -q 'garp_master_refresh 0$' "
                                       "/etc/keepalived/keepalived.conf && systemctl reload keepalived"},
     'fix': {'node-a': 'mv {ORIG}/guard.py %s && mv {ORIG}/keepalived.conf /etc/keepalived/keepalived.conf && '
                       'systemctl reload keepalived' % RUNTIME_GUARD},
     'caught': r"'client_outage_s' not in _report\.over_bounds|_report\.final_holders"},
    {'id': 'hold-off', 'check': 'hand-over and failback trials',
     'broke': "node-a holds failback off for 0 s (stack.json): a node whose stack failed twice takes the VIP "
              "straight back",
     'break': {'node-a': "cp -p {0} {ORIG}/stack.json && sed -i 's/\"failback_holdoff_seconds\": [0-9]*/"
                         "\"failback_holdoff_seconds\": 0/' {0} && grep -q '\"failback_holdoff_seconds\": 0' {0}"
                         .format(STACK_JSON, ORIG='{ORIG}')},
     'fix': {'node-a': 'mv {ORIG}/stack.json %s && %s clear-holdoff' % (STACK_JSON, STACK_HOOK)},
     'caught': r"_report\.stable|_report\.reached|over_bounds"},
    {'id': 'dropped-write', 'check': 'graceful stop trial',
     'broke': "node-b's writer acknowledges a write without storing it: once node-b serves, acknowledged writes "
              "are lost",
     'break': {'node-b': "cp -p {0} {ORIG}/write && sed -i 's#>> /recordings/writes.log#>> /dev/null#' {0} && "
                         "grep -q '>> /dev/null' {0}".format(WRITER, ORIG='{ORIG}')},
     'fix': {'node-b': 'mv {ORIG}/write %s' % WRITER},
     'caught': r'_report\.writes\.lost_count == 0'},
    {'id': 'docker-kill', 'check': 'hung Docker daemon trial',
     'broke': "node-a's demotion no longer stops the stack without the Docker daemon: a hung dockerd leaves its "
              "containers serving beside node-b's",
     'break': {'node-a': NO_KILL},
     # The trial stops at its first failed check: dockerd stays stopped.
     'fix': {'node-a': 'mv {ORIG}/lifecycle.py %s && systemctl kill --kill-whom=main --signal=SIGCONT docker.service'
                       ' && %s clear-holdoff' % (RUNTIME_LIFECYCLE, STACK_HOOK)},
     'caught': r"'(dual_stack_longest_s|stack_off_holder_longest_s)' not in _report\.over_bounds|_report\.reached"
               r"|_report\.stable|_report\.log"},
    {'id': 'refusal', 'check': 'refusal',
     'broke': "the keepalived role no longer checks that virtual_router_id is at most 255 (its assert, on the "
              "controller)",
     'break': {'controller': "sed -i 's/^      - keepalived_virtual_router_id | int <= 255$/      - true/' {0} && "
                             "grep -q '^      - true$' {0}".format(KEEPALIVED_CHECKS)},
     'fix': {'controller': 'git checkout -- %s' % KEEPALIVED_CHECKS},
     'caught': r'Run converge with the bad input'},
    {'id': 'taker-waits', 'check': 'storage take-over trial',
     'broke': "node-a's promotion no longer waits for node-b's stack to stop (confirm_wait 0 in stack.json): "
              "on the failback, both run while node-b's slow stop goes on",
     'break': {'node-a': "cp -p {0} {ORIG}/stack.json && sed -i 's/\"confirm_wait\": [0-9.]*/\"confirm_wait\": 0/' {0}"
                         " && grep -q '\"confirm_wait\": 0,' {0}".format(STACK_JSON, ORIG='{ORIG}')},
     # The trial stops at its first failed check: the slow stop stays on node-b.
     'fix': {'node-a': 'mv {ORIG}/stack.json %s' % STACK_JSON, 'node-b': NO_SLOW_COMPOSE},
     'caught': r"'(dual_stack_longest_s|dual_writer_longest_s)' not in _report\.over_bounds|_report\.log"},
    {'id': 'hung-mark', 'check': 'hung Docker daemon trial',
     'broke': "node-a's demotion ignores the health check's finding that the Docker daemon hangs: it asks the "
              "daemon again (3 s) before it kills, and node-b's start waits for that",
     'break': {'node-a': "cp -p {0} {ORIG}/lifecycle.py && sed -i 's/if at and 0 <= now - at </if False and at </' {0}"
                         " && grep -q 'if False and at <' {0}".format(RUNTIME_LIFECYCLE, ORIG='{ORIG}')},
     'fix': {'node-a': 'mv {ORIG}/lifecycle.py %s && systemctl kill --kill-whom=main --signal=SIGCONT docker.service'
                       ' && %s clear-holdoff' % (RUNTIME_LIFECYCLE, STACK_HOOK)},
     'caught': r"'(client_outage_s|dual_stack_longest_s|dual_writer_longest_s)' not in _report\.over_bounds"
               r"|_report\.reached|_report\.stable|_report\.log"},
    # Last: node-b's log stays short of the lines this mutation dropped.
    {'id': 'journal', 'check': 'transition logs',
     'broke': "node-b's notify hook records the state but no longer logs the transition",
     'break': {'node-b': "mv {0} {ORIG}/vrrp-notify && printf '#!/bin/sh\\nshift\\n"
                         "exec {ORIG}/vrrp-notify --log-file=/dev/null \"$@\"\\n' > {0} && chmod 755 {0}"
                         .format(NOTIFY, ORIG='{ORIG}')},
     'fix': {'node-b': 'mv {ORIG}/vrrp-notify %s' % NOTIFY},
     'caught': r'_log_counts|journal'},
]


def sh(node, script, check=True):
    """Run a script inside a node; 'NAME-netns': in NAME's network namespace
    from the host (the outsider has no NET_ADMIN of its own); 'controller':
    on the controller, in the work tree (the collection the checks run)."""
    if node == 'controller':
        argv = ['sh', '-c', script]
    elif node.endswith('-netns'):
        pid = subprocess.run(['docker', 'inspect', '--format', '{{.State.Pid}}', node[:-len('-netns')]],
                             capture_output=True, text=True, check=True).stdout.strip()
        argv = ['nsenter', '--net=/proc/%s/ns/net' % pid, 'sh', '-c', script]
    else:
        argv = ['docker', 'exec', node, 'sh', '-c', 'mkdir -p %s && %s' % (ORIG, script.replace('{ORIG}', ORIG))]
    res = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if check and res.returncode != 0:
        raise RuntimeError('%s: %s failed: %s' % (node, script, res.stdout + res.stderr))


def failure(output):
    """(task, detail) of the first failure in an ansible-playbook run's output
    (its result as JSON, on one line or, ansible.cfg's pretty format, several)."""
    task = None
    lines = output.splitlines()
    for number, line in enumerate(lines):
        header = re.match(r'^TASK \[(.*)\] \*+', line)
        if header:
            task = header.group(1)
        elif re.match(r'^(fatal|failed): ', line):
            text = line.split(' => ', 1)[1] if ' => ' in line else ''
            if text.strip() == '{':
                end = next((i for i in range(number + 1, len(lines)) if lines[i] == '}'), len(lines) - 1)
                text = '\n'.join(['{'] + lines[number + 1:end + 1])
            try:
                result = json.loads(text)
            except ValueError:
                return task, line[:300]
            return task, ' / '.join(str(result[key]) for key in ('assertion', 'msg') if result.get(key))
    return None, None


def lab_ephemeral_dir():
    """The lab's Molecule directory, whose shared/ the nodes bind-mount
    (the partition matrix reads the stand-in recorder's tokens there)."""
    res = subprocess.run(['docker', 'inspect', '--format',
                          '{{range .Mounts}}{{if eq .Destination "/mnt/netsocs-nfs/recordings"}}{{.Source}}{{end}}{{end}}',
                          'node-a'], capture_output=True, text=True, check=False)
    source = res.stdout.strip()
    return os.path.dirname(os.path.dirname(source)) if source else ''


def run_check(name, workdir, log):
    """(passed, task, detail) of one check."""
    for step in CHECKS[name]:
        playbook, extra = step[0], step[1]
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_FORCE_COLOR='0',
                   MOLECULE_SCENARIO_NAME='mutations', ANSIBLE_NOCOLOR='1',
                   MOLECULE_EPHEMERAL_DIRECTORY=lab_ephemeral_dir())
        if playbook == 'drill':
            argv = ['ansible-playbook', str(ROOT / 'failover-drill.yml'), '-i', str(LAB), '-e',
                    'drill_method=stop_keepalived', '-e', 'failover_report_dir=%s' % workdir]
        else:
            vars_file = Path(workdir) / 'vars.json'
            vars_file.write_text(json.dumps(extra))
            argv = ['ansible-playbook', str(RESOURCES / playbook), '-i', str(LAB), '-i', str(Path(workdir) / 'outsider.yml'),
                    '-e', '@%s' % vars_file]
            if len(step) > 2:
                argv += ['--tags', step[2]]
        res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        log.write('$ %s\n%s\n%s\n' % (' '.join(argv), res.stdout, res.stderr))
        if res.returncode != 0:
            task, detail = failure(res.stdout)
            return False, task, detail
    return True, None, None


def thaw():
    """A check that failed during the hard failure trial left node-a frozen:
    thaw it (before anything is run inside it)."""
    for node in ('node-a', 'node-b'):
        if os.path.exists(failover_trial.frozen_file(node)):
            failover_trial.drill.thaw(node, failover_trial.frozen_file(node))  # its nested containers too
        subprocess.run(['docker', 'unpause', node], capture_output=True, check=False)


def restore(log):
    """node-a MASTER with the stack, node-b BACKUP without: both nodes thawed,
    both Keepalived up, node-b's media share writable again, then wait (the
    trial tool)."""
    thaw()
    sh('node-b', 'mount -o remount,rw,bind /mnt/netsocs-nfs/media')
    for node in ('node-a', 'node-b'):
        # out of maintenance (a check that failed half way through it)
        sh(node, 'rm -f %s' % MAINTENANCE_FILE)
        sh(node, 'systemctl start keepalived')
        # As Molecule's single run has them: no failback hold-off, no restart
        # in place spent (a run 5 minutes after the last would find node-a's
        # spent, and hand over where the trial expects a restart in place).
        sh(node, '%s clear-holdoff' % STACK_HOOK)
    res = subprocess.run([sys.executable, str(ROOT / 'tests' / 'tools' / 'failover_trial.py'), '--vip=%s' % VIP,
                          '--nodes=node-a,node-b', '--action=none', '--expect=node-a', '--stack', '--timeout=150'],
                         capture_output=True, text=True, check=False)
    log.write('restore: %s\n' % res.stdout[-2000:])
    report = json.loads(res.stdout) if res.returncode == 0 else {}
    if not report.get('reached'):
        raise RuntimeError('the lab did not come back to node-a with the stack: %s' % res.stderr[-500:])


def repeat(times, report_dir):
    """The scenario's trials `times` times in a row on the unbroken lab: how
    stable they are here. reports/repeat.md gets each run's table."""
    report_dir.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='repeat-')
    (Path(workdir) / 'outsider.yml').write_text('all:\n  hosts: {}\n')
    lines, passed = ['# The default scenario\'s trials, %d runs in a row on the lab (make repeat)' % times, ''], 0
    with open(report_dir / 'repeat.log', 'w', encoding='utf-8') as log:
        for run in range(1, times + 1):
            restore(log)
            ok, task, detail = run_check('default trials', workdir, log)
            passed += ok
            table = ROOT / 'reports' / 'failover-mutations.txt'  # failover.yml writes it there
            lines += ['## Run %d: %s' % (run, 'passed' if ok else 'FAILED at %s: %s' % (task, (detail or '')[:300])), '',
                      '```', table.read_text().strip() if ok and table.exists() else '(no table)', '```', '']
            print('run %d: %s' % (run, 'passed' if ok else 'FAILED at %s' % task), flush=True)
            if table.exists():
                table.unlink()
    lines.append('%d of %d runs passed.' % (passed, times))
    (report_dir / 'repeat.md').write_text('\n'.join(lines) + '\n')
    print(lines[-1])
    return 0 if passed == times else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--only', action='append', help='run only these mutation ids')
    parser.add_argument('--report-dir', default=str(ROOT / 'reports'))
    parser.add_argument('--repeat', type=int, metavar='N',
                        help='instead of the mutations: the default scenario\'s trials N times in a row, unbroken')
    args = parser.parse_args(argv)
    if args.repeat:
        return repeat(args.repeat, Path(args.report_dir))
    chosen = [m for m in MUTATIONS if not args.only or m['id'] in args.only]
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='mutations-')
    (Path(workdir) / 'outsider.yml').write_text(
        'all:\n  hosts:\n    outsider:\n      ansible_connection: community.docker.docker\n'
        '      ansible_python_interpreter: /usr/bin/python3\n')
    results, baselines = [], {}
    with open(report_dir / 'mutations.log', 'w', encoding='utf-8') as log:
        restore(log)
        for mutation in chosen:
            check = mutation['check']
            if check not in baselines:
                started = time.monotonic()
                baselines[check] = run_check(check, workdir, log) + (round(time.monotonic() - started),)
                print('baseline %-26s %s' % (check, 'passed' if baselines[check][0] else
                                             'FAILED at %s: %s' % baselines[check][1:3]), flush=True)
                restore(log)
            try:
                for node, script in mutation['break'].items():
                    sh(node, script)
                passed, task, detail = run_check(check, workdir, log)
            finally:
                # Undo whatever part of the break was made (in a thawed node).
                thaw()
                for node, script in mutation['fix'].items():
                    sh(node, script, check=False)
                restore(log)
            caught = not passed and bool(re.search(mutation['caught'], '%s %s' % (task, detail)))
            results.append(dict(mutation, baseline_passed=baselines[check][0], caught=caught, task=task,
                                detail=(detail or '')[:400]))
            print('%-14s %-8s %s' % (mutation['id'], 'caught' if caught else 'MISSED', task or '(the check passed)'),
                  flush=True)
    lines = ['# Mutations: the checks against deliberately broken builds (make mutations)', '',
             'Each check passed on the unbroken lab first (baseline), then ran on the broken one.', '',
             '| mutation | what was broken | check | caught by | baseline |', '|---|---|---|---|---|']
    for r in results:
        lines.append('| %s | %s | %s | %s | %s |' % (
            r['id'], r['broke'], r['check'], ('`%s`: %s' % (r['task'], r['detail'][:160].replace('|', '\\|')))
            if r['caught'] else 'MISSED (%s)' % r['task'], 'passed' if r['baseline_passed'] else 'FAILED'))
    (report_dir / 'mutations.md').write_text('\n'.join(lines) + '\n')
    (report_dir / 'mutations.json').write_text(json.dumps(results, indent=2) + '\n')
    print('\n'.join(lines))
    ok = all(r['caught'] and r['baseline_passed'] for r in results)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
