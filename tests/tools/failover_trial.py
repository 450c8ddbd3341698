"""Fail one node of the Molecule pair for real and measure what clients see.

Runs on the controller (the Docker host). It starts two probes, then acts:

* a client probe that sends a fresh HTTP GET to the VIP every --interval
  seconds and records which node answered (each node's page names it);
* a holder probe that reads every node's addresses from inside its network
  namespace (`nsenter --net=/proc/PID/ns/net ip -j addr`), so two holders at
  once are caught. It never calls `docker exec`: an exec racing a
  `docker pause` wedges the Docker daemon. A frozen node's kernel still
  carries (and ARP-answers) the VIP; those samples are counted apart;
* the failure (or recovery) itself: stop/start keepalived, freeze/unfreeze the
  container, kill a container of the stack, ...

It stops when the expected node holds the VIP alone and answers through it,
then keeps watching for --settle seconds to prove the state is stable.
Prints one JSON report; the verify playbook asserts on it.

With --partition CASE it cuts the network between the nodes for --hold
seconds instead (iptables inside the nodes: VRRP both ways, VRRP one way, or
one node cut off from everything but its loopback), heals it, and also samples
where the stack runs (each node's nested Docker engine, through its socket),
to measure dual holders, dual stacks, the client outage and the time the pair
takes to converge after healing.

What counts as a migration, an outage and a dual holder is defined once, in
the drill's measurement engine (playbooks/files/drill.py), and
used here on this tool's samples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Parse addresses exactly as the vip_status module does, and measure exactly
# as the failover drill does.
sys.path.insert(0, str(ROOT / 'plugins' / 'module_utils'))
sys.path.insert(0, str(ROOT / 'playbooks' / 'files'))
import drill  # noqa: E402
import vrrp_advert  # noqa: E402  (VRRP adverts read off the wire)
from runtime import vip as _vip  # noqa: E402  (the node runtime's parser)
from runtime import vrrp as _vrrp  # noqa: E402  (the VRRP state file's one reader)

# The hooks' transition log on the nodes (the docker_stack role's default).
LOG_FILE = '/var/log/keepalived-failover.log'
STACK_HOOK = '/usr/local/libexec/netsocs-failover/stack-hook'
# The VRRP profile each node runs, as the keepalived role publishes it
# (pair.yml's pair_vrrp_profile_file): tools read it, never keepalived.conf.
PROFILE_FILE = '/etc/netsocs-failover/vrrp.json'
STACK_JSON = '/etc/netsocs-failover/stack.json'

# A sample stands for at most this long (the drill's default): a node whose
# namespace could not be read is no evidence of holding.
STALE_S = 1.0

# The trial's actions: a failure of the drill's table (drill.NODE_COMMANDS,
# run in the target node), the lab's own levers, or what only the controller
# can do to a lab node (freeze it, cut its link, flap it).
ACTIONS = {
    'stop-keepalived': ('node', 'stop_keepalived'),
    'start-keepalived': ('node', 'start_keepalived'),
    'freeze-keepalived': ('node', 'freeze_keepalived'),
    'resume-keepalived': ('node', 'resume_keepalived'),
    'freeze-dockerd': ('node', 'freeze_dockerd'),
    'resume-dockerd': ('node', 'resume_dockerd'),
    'kill-caddy': ('node', 'kill_caddy'),
    'kill-dockerd': ('node', 'kill_dockerd'),
    'kill-stack': ('node', 'kill_stack'),
    'clear-holdoff': ('node', 'clear_holdoff'),
    # The lab's stand-ins (molecule/resources/prepare.yml): a health
    # condition the test controls, and shared storage that is a bind mount
    # (read-only breaks it).
    'break-health': ('lab', ['rm', '-f', '/run/netsocs-test-healthy']),
    'fix-health': ('lab', ['touch', '/run/netsocs-test-healthy']),
    'break-storage': ('lab', ['mount', '-o', 'remount,ro,bind', '/mnt/netsocs-nfs/media']),
    'fix-storage': ('lab', ['mount', '-o', 'remount,rw,bind', '/mnt/netsocs-nfs/media']),
    # The planned switchover (switchover.yml): the holder stops Keepalived,
    # whose unit hands the stack over (stop_first: one writer); back: the
    # returning node starts its Keepalived and preempts. With the handover
    # order overlap, the node taking over starts its stack ahead first.
    'switchover': ('switchover', 'stop_keepalived'),
    'switchover-back': ('switchover', 'start_keepalived'),
    'flap': ('flap', None),
    'freeze': ('pause', None),
    'unfreeze': ('unpause', None),
    # The node's interface down (a cut cable: no VRRP, no ARP, no client),
    # then up with the routes that going down deleted.
    'link-down': ('link', 'down'),
    'link-up': ('link', 'up'),
    'none': ('none', None),
    'watch': ('none', None),
}


# Failures the target may recover from in place (the health check starts a
# dead container again): seconds to wait for the outage they cause.
IN_PLACE = {'kill-caddy': 3.0, 'kill-dockerd': 5.0, 'kill-stack': 3.0}


# ---------------------------------------------------------------- time bounds

PROMISES = ROOT / 'tests' / 'promises.yml'
# What each bound holds, in the report's terms (analyse, analyse_partition).
MEASURED = {
    'vip_s': 'vip_moved_s', 'vip_away_s': 'vip_away_longest_s', 'outage_s': 'client_outage_s',
    'whole_s': 'recovered_s',
    'dual_vip_s': 'dual_vip_longest_s', 'dual_stack_s': 'dual_stack_longest_s',
    'off_holder_s': 'stack_off_holder_longest_s', 'dual_writer_s': 'dual_writer_longest_s',
    'heal_s': 'converged_after_heal_s', 'isolated_vip_s': 'isolated_held_vip_s',
    'isolated_stack_s': 'isolated_ran_stack_s', 'rpo_s': 'writes_lost_window_s',
    'dual_balanced_s': 'balancer_dual_up_longest_s',
    # measured by molecule/resources/cloud.yml through the EC2 API, not here
    'eip_s': 'eip_moved_s',
}


def balancer_up(csv_text, backend, nodes):
    """{node: True when HAProxy's stats (CSV, `show stat`) list it UP in
    `backend`} for each of `nodes` it lists."""
    lines = csv_text.lstrip('# ').splitlines()
    if not lines:
        return {}
    fields = lines[0].split(',')
    up = {}
    for line in lines[1:]:
        row = dict(zip(fields, line.split(',')))
        if row.get('pxname') == backend and row.get('svname') in nodes:
            up[row['svname']] = row.get('status', '').startswith('UP')
    return up


def balancer_report(samples, nodes):
    """From [{'t', 'up': {node: bool}}]: the longest time the balancer had
    two nodes UP at once (it could send a client to either) and none UP."""
    spans = {n: drill.intervals([{'t': s['t'], 'up': s['up'].get(n)} for s in samples], 'up', STALE_S) for n in nodes}
    dual = max([drill.longest_overlap(spans[a], spans[b]) for i, a in enumerate(nodes) for b in nodes[i + 1:]] or [0.0])
    none = [{'t': s['t'], 'none': not any(s['up'].values())} for s in samples if s['up']]
    return {'balancer_dual_up_longest_s': round(dual, 2),
            'balancer_none_up_longest_s': round(max([end - start for start, end in
                                                     drill.intervals(none, 'none', STALE_S)] or [0.0]), 2),
            'balancer_samples': len(samples)}


def load_promises(path=PROMISES):
    import yaml  # PyYAML comes with ansible-core
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def promise_bounds(table, profile, trial, after_s=0.0):
    """The bounds a trial is held to: each promised figure of `trial` (and
    its profile's overlaps) times the table's margin; the VIP's bound also
    gets the wait the trial builds in (`after_s`, a hold-off). Never from
    what the roles deployed. KeyError for an unknown profile or trial."""
    entry = table['profiles'][profile]
    promise = dict(entry.get('overlaps') or {})
    promise.update(entry['trials'][trial])
    margin = float(table['margin'])
    bounds = {key: round(float(value) * margin + (after_s if key == 'vip_s' else 0.0), 2)
              for key, value in promise.items() if key in MEASURED}
    bounds.update({'profile': profile, 'trial': trial, 'margin': margin, 'after_s': after_s,
                   'promise': {key: value for key, value in promise.items() if key in MEASURED},
                   'why': promise.get('why')})
    return bounds


def over_bounds(report, bounds):
    """The figures of `report` past their bound: {figure: [measured, bound]}
    (a figure never measured, None, is past any bound)."""
    over = {}
    for key, limit in bounds.items():
        if key not in MEASURED or MEASURED[key] not in report:
            continue
        value = report[MEASURED[key]]
        if value is None or value > limit:
            over[MEASURED[key]] = [value, limit]
    return over


def parse_holders(ip_json, vip):
    """True when `ip -j -4 addr` output lists the VIP, None when it is unreadable."""
    try:
        return _vip.find_vip(_vip.parse_ip_addr_json(ip_json), vip) is not None
    except _vip.VipError:
        return None


def frozen_file(node):
    """Where drill.freeze keeps the ids of a frozen node's nested containers."""
    return '/tmp/netsocs-trial-frozen-%s.json' % node


def mask_frozen(holders, frozen):
    """A frozen node is no active holder: its kernel keeps the address (and
    answers ARP for it), but it sends no adverts and serves no client. Returns
    the sample with frozen nodes as None and, apart, the frozen ones that still
    carry the VIP."""
    return {'holders': {n: (None if n in frozen else h) for n, h in holders.items()},
            'frozen_holders': sorted(n for n in frozen if holders.get(n))}


# iptables rules (inside the nodes) for each partition case: node -> rules.
# A rule is inserted first in its chain and deleted again on healing.
PARTITIONS = {
    'vrrp-both': {'node-a': [['INPUT', '-p', '112', '-j', 'DROP']],
                  'node-b': [['INPUT', '-p', '112', '-j', 'DROP']]},
    'vrrp-a-to-b': {'node-b': [['INPUT', '-p', '112', '-s', '{node-a}', '-j', 'DROP']]},
    'isolate-b': {'node-b': [['INPUT', '!', '-i', 'lo', '-j', 'DROP'], ['OUTPUT', '!', '-o', 'lo', '-j', 'DROP']]},
    'isolate-a': {'node-a': [['INPUT', '!', '-i', 'lo', '-j', 'DROP'], ['OUTPUT', '!', '-o', 'lo', '-j', 'DROP']]},
    # Not a partition: every witness of the guard (the gateway, the peer's
    # address) goes silent, as behind a network that drops ICMP; the nodes
    # still hear each other (VRRP, the guard's second path).
    'witness-silent': {'node-a': [['OUTPUT', '-p', 'icmp', '-j', 'DROP']],
                       'node-b': [['OUTPUT', '-p', 'icmp', '-j', 'DROP']]},
    # The gateway (the default witness) drops ICMP, and node-a (the MASTER)
    # is frozen whole for the hold: node-b hears no advert and no answer on
    # the second path, but the peer's address, its other witness, still
    # answers ICMP from node-a's kernel: node-b is connected, and takes over.
    'gateway-silent-freeze': {'node-a': [['OUTPUT', '-p', 'icmp', '-d', '{gateway}', '-j', 'DROP']],
                              'node-b': [['OUTPUT', '-p', 'icmp', '-d', '{gateway}', '-j', 'DROP']]},
}
# Cases that also freeze a node for the hold (thawed first when healing).
PARTITION_FREEZES = {'gateway-silent-freeze': 'node-a'}
# The node each case cuts off (its VIP and stack during the cut are reported).
PARTITION_ISOLATES = {'isolate-a': 'node-a', 'isolate-b': 'node-b'}


# Seconds a node's nested engine may take to list the stack before the
# samples read it from its records instead (a hung daemon).
ENGINE_TIMEOUT_S = 1


def running_without_engine(root, project):
    """How many containers of `project` run in the node whose file system is
    `root`, without asking its engine (a hung daemon): the engine's records
    (config.v2.json) that say running, whose first process is alive in the
    node and in that container's cgroup. None when the records cannot be read."""
    base = '%s/var/lib/docker/containers' % root
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    count = 0
    for entry in entries:
        try:
            with open('%s/%s/config.v2.json' % (base, entry), encoding='utf-8') as handle:
                record = json.load(handle)
            labels = (record.get('Config') or {}).get('Labels') or {}
            state = record.get('State') or {}
            if labels.get('com.docker.compose.project') != project or not state.get('Running'):
                continue
            with open('%s/proc/%d/cgroup' % (root, int(state.get('Pid') or 0)), encoding='utf-8') as handle:
                count += record.get('ID', '-') in handle.read()
        except (OSError, ValueError):
            continue
    return count


def handover_order(container):
    """The handover order the node's stack hook runs (its stack.json), as switchover.yml reads it."""
    res = container.exec_run(['cat', STACK_JSON])
    if res.exit_code != 0:
        raise RuntimeError('%s on %s: %s' % (STACK_JSON, container.name, res.output.decode()))
    return (json.loads(res.output.decode()).get('handover') or {}).get('order', 'stop_first')


def published_profile(pid):
    """The VRRP profile the node (its process `pid`) runs, as its keepalived
    role published it, read through /proc (a frozen node too)."""
    with open('/proc/%d/root%s' % (pid, PROFILE_FILE), encoding='utf-8') as handle:
        return json.load(handle)


def transition_counts(pids):
    """{node: {state: count}}: the VRRP transitions each node's notify hook
    counted in its state file (found through its published profile); pids:
    {node: pid}. OSError when a node's profile cannot be read."""
    return {name: _vrrp.transitions('/proc/%d/root%s' % (pid, published_profile(pid)['state_file']))
            for name, pid in pids.items()}


def partition_rules(case, addresses):
    """{node: [iptables rule]} for a case, node addresses filled in."""
    return {node: [[part.format(**addresses) for part in rule] for rule in rules]
            for node, rules in PARTITIONS[case].items()}


def converged_at(samples, requests, expect, nodes, since):
    """The first time from `since` after which, to the end of the records, the
    expected node alone holds the VIP and runs the stack and every request is
    answered by it; None when that never holds."""
    others = [n for n in nodes if n != expect]

    def good_sample(s):
        return (s['holders'].get(expect) and not any(s['holders'].get(o) for o in others)
                and (s['stacks'].get(expect) or 0) > 0 and not any(s['stacks'].get(o) for o in others))

    bad = [s['t'] for s in samples if s['t'] >= since and not good_sample(s)]
    bad += [r['t'] for r in requests if r['t'] >= since and not (r['ok'] and r['node'] == expect)]
    later = [s['t'] for s in samples if s['t'] >= since and (not bad or s['t'] > max(bad))]
    return min(later) if later else None


def analyse_partition(samples, requests, expect, nodes, cut, healed, isolated=None):
    """Dual VIP and dual stack (the drill's engine), the client outage, the
    convergence after healing, and what an isolated node did."""
    source = {'vip': 'holders', 'stack': 'stacks'}
    per = {key: {n: [{'t': s['t'], key: s[field].get(n)} for s in samples] for n in nodes}
           for key, field in source.items()}
    a, b = nodes
    dual = {key: drill.longest_overlap(drill.intervals(per[key][a], key, STALE_S),
                                       drill.intervals(per[key][b], key, STALE_S))
            for key in source}
    clients = drill.outage(sorted(requests, key=lambda r: r['t']), cut)
    converged = converged_at(samples, requests, expect, nodes, healed)
    # After healing: how often the VIP changed hands (0 when the pair was
    # already whole; 1 when node A preempts back after it was cut off),
    # counted over the samples with one holder. A sample reads the nodes one
    # after the other, so one taken during a move can show both or neither:
    # those are the dual-VIP and outage figures' to judge, not a move.
    owners = [held[0] for held in ([n for n in nodes if s['holders'].get(n)] for s in samples if s['t'] >= healed)
              if len(held) == 1]
    changes = sum(1 for before, after in zip(owners, owners[1:]) if before != after)
    # The holders after healing as [seconds after healing, holders] at every change (to read a failure).
    after_heal, last = [], None
    for s in samples:
        held = sorted(n for n in nodes if s['holders'].get(n))
        if s['t'] >= healed and held != last:
            after_heal.append([round(s['t'] - healed, 2), held])
            last = held
    report = {
        'dual_vip_longest_s': round(dual['vip'], 2),
        'dual_stack_longest_s': round(dual['stack'], 2),
        'client_outage_s': clients['longest_outage_s'],
        'failed_requests': clients['failed'],
        'requests': clients['requests'],
        'converged_after_heal_s': round(converged - healed, 2) if converged is not None else None,
        'holder_changes_after_heal': changes,
        'holders_after_heal': after_heal[:20],
        'final_holders': sorted(n for n in nodes if samples and samples[-1]['holders'].get(n)),
        'final_stacks': sorted(n for n in nodes if samples and samples[-1]['stacks'].get(n)),
    }
    # A node that could not be read is no evidence either way: the check counts them.
    blind = unreadable(samples, nodes, stack=True)
    report.update(unreadable_samples=len(blind), unreadable=blind[:10])
    if isolated:
        window = [s for s in samples if cut <= s['t'] <= healed]
        held = drill.intervals([{'t': s['t'], 'vip': s['holders'].get(isolated)} for s in window], 'vip', STALE_S)
        ran = drill.intervals([{'t': s['t'], 'stack': s['stacks'].get(isolated)} for s in window], 'stack', STALE_S)
        report['isolated_held_vip_s'] = round(sum(end - start for start, end in held), 2)
        report['isolated_ran_stack_s'] = round(sum(end - start for start, end in ran), 2)
    return report


def read_tokens(text):
    """The recorder's lines "<node> <uptime seconds>" as [{'node', 't'}];
    a line cut short by the stack going down is skipped."""
    tokens = []
    for line in (text or '').splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                tokens.append({'node': parts[0], 't': float(parts[1])})
            except ValueError:
                continue
    return tokens


# A write waits this long for its acknowledgement (the writer syncs the file first).
WRITE_TIMEOUT_S = 1.0


def stored_writes(text):
    """{seq: node} of the writer's lines "<seq> <node>" (a line cut short is skipped)."""
    stored = {}
    for line in (text or '').splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            stored[int(parts[0])] = parts[1]
    return stored


def check_writes(acked, stored, failed_at=None):
    """Every acknowledged write ({'seq', 'node', 't'}) stored, by the node
    that acknowledged it. With the failure's time: the recovery point, how
    long before the failure the oldest lost write was acknowledged
    (lost_window_s, 0 when none is lost), and how many lost writes were
    acknowledged after it (lost_after_failure)."""
    lost = [a for a in acked if stored.get(a['seq']) != a['node']]
    by_node = {}
    for write in acked:
        by_node[write['node']] = by_node.get(write['node'], 0) + 1
    lost_by_node = {}
    for write in lost:
        lost_by_node[write['node']] = lost_by_node.get(write['node'], 0) + 1
    report = {'acked': len(acked), 'by_node': by_node, 'lost_count': len(lost), 'lost': [a['seq'] for a in lost][:10],
              'lost_by_node': lost_by_node}
    if failed_at is not None:
        before = [failed_at - a['t'] for a in lost if a.get('t') is not None and a['t'] <= failed_at]
        report['lost_window_s'] = round(max(before), 3) if before else 0.0
        report['lost_after_failure'] = sum(1 for a in lost if a.get('t') is None or a['t'] > failed_at)
    return report


def uptime():
    """The host's uptime, the clock the recorder's tokens carry (the nodes share the host's kernel)."""
    with open('/proc/uptime', encoding='ascii') as handle:
        return float(handle.read().split()[0])


def trial_tokens(path, start, end):
    """The recorder's tokens written between two uptimes, or None when the recording cannot be read."""
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return [tok for tok in read_tokens(handle.read()) if start <= tok['t'] <= end]
    except OSError:
        return None


# The stand-in recorder writes every 200 ms: a token stands for twice that.
TOKEN_STALE_S = 0.4


def dual_writers(tokens, nodes):
    """The longest time two nodes both wrote to the shared recording (each
    token stands until the next, at most TOKEN_STALE_S), by the drill's overlap."""
    per = {n: sorted(({'t': tok['t'], 'w': True} for tok in tokens if tok['node'] == n), key=lambda r: r['t'])
           for n in nodes}
    a, b = nodes
    return round(drill.longest_overlap(drill.intervals(per[a], 'w', TOKEN_STALE_S),
                                       drill.intervals(per[b], 'w', TOKEN_STALE_S)), 2)


def first_time(events, predicate, since=0.0):
    """Time of the first event at or after `since` that satisfies predicate."""
    for event in events:
        if event['t'] >= since and predicate(event):
            return event['t']
    return None


def per_node(holder_samples, node):
    """One node's samples in the drill engine's shape: [{'t', 'vip'}]."""
    return [{'t': s['t'], 'vip': s['holders'].get(node)} for s in holder_samples]


def longest_span(spans):
    return max([end - start for start, end in spans] or [0.0])


def stack_overlaps(holder_samples, nodes):
    """(longest time two nodes both ran the stack, longest time a node ran it
    without holding the VIP), by the drill's intervals. A node that could not
    be read (None) is no evidence either way."""
    ran = {n: [{'t': s['t'], 'run': stacks_of(s).get(n)} for s in holder_samples] for n in nodes}
    dual = max([drill.longest_overlap(drill.intervals(ran[a], 'run', STALE_S), drill.intervals(ran[b], 'run', STALE_S))
                for i, a in enumerate(nodes) for b in nodes[i + 1:]] or [0.0])
    off = max(longest_span(drill.intervals(
        [{'t': s['t'], 'off': bool(stacks_of(s).get(n)) and s['holders'].get(n) is False} for s in holder_samples],
        'off', STALE_S)) for n in nodes)
    return round(dual, 2), round(off, 2)


def unreadable(holder_samples, nodes, stack):
    """[(t, node, what)] for every read of a node that is not frozen and
    could not be read: no evidence, so the trial cannot judge that moment."""
    out = []
    for s in holder_samples:
        for n in nodes:
            if n in s.get('frozen', ()):
                continue
            if s['holders'].get(n) is None:
                out.append((round(s['t'], 2), n, 'vip'))
            if stack and stacks_of(s).get(n) is None:
                out.append((round(s['t'], 2), n, 'stack'))
    return out


def stacks_of(sample):
    return sample.get('stacks') or {}


def watched(holder_samples, nodes, stack):
    """Seconds each node held the VIP and ran the stack over the whole watch,
    and the longest time two nodes held it at once."""
    def total(node, field):
        spans = drill.intervals([{'t': s['t'], 'on': (s.get(field) or {}).get(node)} for s in holder_samples],
                                'on', STALE_S)
        return round(sum(end - start for start, end in spans), 2)

    blind = unreadable(holder_samples, nodes, stack)
    spans = {n: drill.intervals([{'t': s['t'], 'on': (s.get('holders') or {}).get(n)} for s in holder_samples],
                                'on', STALE_S) for n in nodes}
    dual = max([drill.longest_overlap(spans[a], spans[b]) for i, a in enumerate(nodes) for b in nodes[i + 1:]] or [0.0])
    return {'held_vip_s': {n: total(n, 'holders') for n in nodes}, 'dual_vip_longest_s': round(dual, 2),
            'ran_stack_s': {n: total(n, 'stacks') for n in nodes} if stack else None,
            'unreadable_samples': len(blind), 'unreadable': blind[:10]}


def away_longest(holder_samples, node, since=0.0):
    """The longest time from `since` that `node` was seen not holding the VIP
    (from its first sample without it to its next with it, or the last
    sample); unreadable samples (None) count for neither."""
    longest, away = 0.0, None
    seen = [(s['t'], s['holders'].get(node)) for s in holder_samples if s['t'] >= since]
    for t, held in seen:
        if held is False and away is None:
            away = t
        elif held and away is not None:
            longest, away = max(longest, t - away), None
    if away is not None:
        longest = max(longest, seen[-1][0] - away, 0.1)
    return round(longest, 3)


def analyse(holder_samples, requests, expect, nodes, reached_at, settle_end, since=0.0, stack=False):
    """Turn the probes' records into the report's numbers, with the drill's
    definitions (drill.sole_holder_since, drill.outage, drill.intervals and
    drill.longest_overlap).

    holder_samples: [{'t', 'holders': {node: True/False/None}, 'frozen_holders': [node],
                      'frozen': [node], 'stacks': {node: running containers or None}}]
                    (see mask_frozen)
    requests:       [{'t' (answered), 'sent', 'ok', 'node'}]
    stack:          the pair runs the stack: measure where (and count unreadable engines)
    since:          count the move only from here: the end of the action, when the
                    expected node already served before it (a flap ends where it began)
    """
    others = [n for n in nodes if n != expect]
    requests = sorted(requests, key=lambda r: r['t'])  # answered in any order (the prober does not wait)
    samples = {n: per_node(holder_samples, n) for n in nodes}
    # Migration: the expected node holds the VIP and no other node does.
    moved = None
    for other in others:
        moment = drill.sole_holder_since(samples[expect], samples[other], since)
        moved = moment if moved is None or (moment is not None and moment > moved) else moved
    served = first_time(requests, lambda r: r['ok'] and r['node'] == expect, since)
    # Dual holder: the longest time two nodes' holding intervals overlap.
    dual_s = max([drill.longest_overlap(drill.intervals(samples[a], 'vip', STALE_S),
                                        drill.intervals(samples[b], 'vip', STALE_S))
                  for i, a in enumerate(nodes) for b in nodes[i + 1:]] or [0.0])
    # Stable: every request sent once the node was reached got through (one
    # sent before may still fail late: the prober does not wait for answers).
    after = [r for r in requests if reached_at is not None and reached_at <= r.get('sent', r['t']) <= settle_end]
    stable = (reached_at is not None
              and all(r['ok'] and r['node'] == expect for r in after)
              and all(s['holders'].get(expect) and not any(s['holders'].get(o) for o in others)
                      for s in holder_samples if s['t'] >= reached_at))
    wrong = [r for r in requests if r['ok'] and reached_at is not None and r['t'] > reached_at
             and r['node'] != expect]
    # What broke the stability, if anything: the requests after the node was reached that failed.
    unsettled = [{'sent': round(r.get('sent', r['t']), 2), 'node': r.get('node'), 'error': r.get('error')}
                 for r in after if not (r['ok'] and r['node'] == expect)][:5]
    # An outage runs from the first failed request's sending to the next good
    # one's, as the drill's prober records them.
    clients = drill.outage(sorted((dict(r, t=r.get('sent', r['t'])) for r in requests), key=lambda r: r['t']), 0.0)
    dual_stack, off_holder = stack_overlaps(holder_samples, nodes) if stack else (0.0, 0.0)
    blind = unreadable(holder_samples, nodes, stack)
    return {
        'vip_moved_s': round(moved, 3) if moved is not None else None,
        'failed_after_reached': unsettled,
        'vip_away_longest_s': away_longest(holder_samples, expect, since),
        'client_switched_s': round(served, 3) if served is not None else None,
        'client_outage_s': clients['longest_outage_s'],
        'requests': clients['requests'],
        'failed_requests': clients['failed'],
        'wrong_node_after_switch': len(wrong),
        'holder_samples': len(holder_samples),
        'dual_vip_longest_s': round(dual_s, 3),
        'dual_holder_samples': sum(1 for s in holder_samples if sum(1 for n in nodes if s['holders'].get(n)) > 1),
        'frozen_holder_samples': sum(1 for s in holder_samples if s.get('frozen_holders')),
        'dual_stack_longest_s': dual_stack,
        'stack_off_holder_longest_s': off_holder,
        'unreadable_samples': len(blind),
        'unreadable': blind[:10],
        'stable': stable,
    }


class Trial(object):
    def __init__(self, client, args):
        self.client = client
        self.args = args
        self.nodes = args.nodes
        self.advert_wait_s = 0.0  # --after-advert: how long the cut waited for the target's advert
        self.pids = {name: client.containers.get(name).attrs['State']['Pid'] for name in self.nodes}
        self.frozen = set(name for name in self.nodes
                          if client.containers.get(name).attrs['State'].get('Paused'))
        self.lock = threading.Lock()
        self.holder_samples = []
        self.requests = []
        self.acked = []
        self.stop = threading.Event()
        self.t0 = None
        self.action_error = None
        self.engines = {}
        self.hung_engines = set()
        self.balancer_samples = []  # nodes whose engine did not answer: read from records until it does
        table = load_promises(args.promises) if args.promise else None
        self.bound = promise_bounds(table, args.profile, args.promise, args.after) if table else None
        if args.settle is None:
            args.settle = float(table['stable_s']) if table else 2.0
        import docker as sdk  # the Docker SDK ships with molecule-plugins[docker]
        self.sdk = sdk

    def now(self):
        return time.monotonic() - self.t0

    def judge(self, report):
        """With --promise: the report's bounds and the figures past them."""
        if self.bound:
            report['bounds'] = self.bound
            report['over_bounds'] = over_bounds(report, self.bound)

    def holders(self):
        """Read whether every node carries the VIP: True, False, or None
        when its namespace cannot be read."""
        result = {}
        for name, pid in self.pids.items():
            try:
                out = subprocess.run(
                    ['nsenter', '--net=/proc/%d/ns/net' % pid, 'ip', '-j', '-4', 'addr', 'show',
                     'dev', self.args.interface],
                    capture_output=True, text=True, timeout=2, check=True).stdout
                result[name] = parse_holders(out, self.args.vip)
            except (subprocess.SubprocessError, OSError):
                result[name] = None
        return result

    def log_marks(self):
        """Where each node's transition log ends now (read through /proc, so a frozen node too)."""
        marks = {}
        for name, pid in self.pids.items():
            try:
                marks[name] = os.path.getsize('/proc/%d/root%s' % (pid, LOG_FILE))
            except OSError:
                marks[name] = 0
        return marks

    def logs_since(self, marks, limit=60):
        """The lines each node's transition log gained since `marks` (the last `limit`), or None."""
        result = {}
        for name, pid in self.pids.items():
            try:
                with open('/proc/%d/root%s' % (pid, LOG_FILE), 'rb') as handle:
                    handle.seek(marks.get(name, 0))
                    result[name] = handle.read().decode(errors='replace').splitlines()[-limit:]
            except OSError:
                result[name] = None
        return result

    def stacks(self):
        """Running containers of the stack on each node, read from its nested
        Docker engine through the socket in its file system (no exec); None
        when it cannot be read, or the node is frozen. An engine that does
        not answer within ENGINE_TIMEOUT_S is read from its records (and
        /proc) until a watcher finds it answering again: a hung engine
        never slows the 100 ms samples, so the VIP's move is timed to them."""
        result = {}
        for name, pid in self.pids.items():
            if name in self.frozen or not (self.args.partition or self.args.stack):
                result[name] = None
                continue
            with self.lock:
                hung = name in self.hung_engines
            if not hung:
                try:
                    # The low-level list: containers.list() inspects each one
                    # it lists, and fails when one is removed in between.
                    result[name] = len(self.engine(name, pid).api.containers(
                        filters={'label': 'com.docker.compose.project=%s' % self.args.project}))
                    continue
                except Exception:  # pylint: disable=broad-exception-caught  # any failure of the engine's API
                    self.watch_engine(name, pid)
            result[name] = running_without_engine('/proc/%d/root' % pid, self.args.project)
        return result

    def engine(self, name, pid):
        return self.engines.setdefault(name, self.sdk.DockerClient(
            base_url='unix:///proc/%d/root/run/docker.sock' % pid, timeout=ENGINE_TIMEOUT_S))

    def watch_engine(self, name, pid):
        """Mark the engine of `name` hung, and ping it apart until it answers."""
        with self.lock:
            if name in self.hung_engines:
                return
            self.hung_engines.add(name)

        def watch():
            while not self.stop.is_set():
                try:
                    self.engine(name, pid).ping()
                    break
                except Exception:  # pylint: disable=broad-exception-caught
                    self.stop.wait(self.args.interval)
            with self.lock:
                self.hung_engines.discard(name)
        threading.Thread(target=watch, daemon=True).start()

    def probe_holders(self):
        while not self.stop.is_set():
            with self.lock:
                frozen = set(self.frozen)
            sample = mask_frozen(self.holders(), frozen)
            sample['stacks'] = self.stacks()
            sample['t'] = self.now()
            with self.lock:  # frozen for the whole sample (an unpause in between: unknown)
                sample['frozen'] = sorted(frozen | self.frozen)
            with self.lock:
                self.holder_samples.append(sample)
            time.sleep(self.args.interval)

    def probe_balancer(self):
        """Sample which nodes the load balancer counts UP (its stats CSV), every interval."""
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.args.balancer_stats, timeout=1) as answer:
                    up = balancer_up(answer.read().decode(), self.args.balancer_backend, self.nodes)
            except OSError:
                up = {}
            with self.lock:
                self.balancer_samples.append({'t': self.now(), 'up': up})
            self.stop.wait(self.args.interval)

    def client_base(self):
        """Where clients send their requests: the VIP, or the load balancer (--via)."""
        return 'http://%s' % (self.args.via or '%s:%d' % (self.args.vip, self.args.port))

    def request(self):
        """One fresh HTTP GET through the VIP (the drill's prober): {'ok', 'node'[, 'error']}."""
        record = drill.probe_once('%s/' % self.client_base(), self.args.request_timeout,
                                  nodes=self.nodes)
        return {key: record[key] for key in ('ok', 'node', 'error') if key in record}

    def probe_client(self):
        """A fresh GET every interval, each in its own thread: one that hangs
        (a frozen node, a SYN waiting for ARP) does not hold back the next, so
        an outage is measured to the interval, not to the request timeout."""
        in_flight = []
        while not self.stop.is_set():
            started = self.now()
            thread = threading.Thread(target=self.probe_once, args=(started,), daemon=True)
            thread.start()
            in_flight = [t for t in in_flight if t.is_alive()] + [thread]
            time.sleep(max(0.0, self.args.interval - (self.now() - started)))
        for thread in in_flight:
            thread.join(self.args.request_timeout + 1)

    def probe_once(self, started):
        record = self.request()
        record['sent'] = started
        record['t'] = self.now()  # what the client sees, it sees when the answer arrives
        with self.lock:
            self.requests.append(record)

    def act(self):
        kind, command = ACTIONS[self.args.action]
        container = self.client.containers.get(self.args.target) if kind != 'none' else None
        if kind in ('node', 'lab'):
            steps = [command] if kind == 'lab' else drill.node_commands(command, stack_hook=STACK_HOOK,
                                                                        project=self.args.project)
            self.run_in(container, steps)
        elif kind == 'switchover':
            if handover_order(container) == 'overlap':  # the node that takes the VIP starts its stack first
                self.run_in(self.client.containers.get(self.args.expect), [[STACK_HOOK, 'prestart']])
            self.run_in(container, drill.node_commands(command))
        elif kind == 'link':
            self.link(container, command)
        elif kind == 'flap':
            self.flap(container)
        elif kind == 'pause':
            with self.lock:
                self.frozen.add(self.args.target)
            drill.freeze(self.args.target, frozen_file(self.args.target))
        elif kind == 'unpause':
            drill.thaw(self.args.target, frozen_file(self.args.target))
            with self.lock:
                self.frozen.discard(self.args.target)

    @staticmethod
    def run_in(container, steps):
        """Run each command in the node, in turn; RuntimeError at the first that fails."""
        for step in steps:
            res = container.exec_run(step)
            if res.exit_code != 0:
                raise RuntimeError('%s in %s failed: %s' % (' '.join(step), container.name, res.output.decode()))

    def link(self, container, state):
        """The target's interface down or up. Down deletes its routes: they
        are kept on the controller and put back once the link is up."""
        iface = self.args.interface
        saved = Path('/tmp/netsocs-trial-routes-%s.json' % self.args.target)
        if state == 'down':
            res = container.exec_run(['ip', '-j', 'route', 'show', 'dev', iface])
            if res.exit_code != 0:
                raise RuntimeError('ip route show failed: %s' % res.output.decode())
            saved.write_text(res.output.decode())
        commands = [['ip', 'link', 'set', 'dev', iface, state]]
        if state == 'up' and saved.exists():
            commands += drill.route_commands(saved.read_text(), iface)
        if state == 'down' and self.args.after_advert:
            waiting = time.monotonic()
            self.advert_sent(container)
            self.advert_wait_s = time.monotonic() - waiting
        for command in commands:
            res = container.exec_run(command)
            if res.exit_code != 0:
                raise RuntimeError('%s failed: %s' % (' '.join(command), res.output.decode()))
        if state == 'up':
            saved.unlink(missing_ok=True)

    def advert_sent(self, container, timeout=5.0):
        """Return as the target's Keepalived sends a VRRP advert, read on its
        Docker network's bridge (a packet socket: before any firewall), so a
        cut that follows comes at the same point of its advert cycle in every
        profile: the peer then waits its whole master-down interval, not a
        part of it that depends on where the cut fell. RuntimeError when no
        advert arrives within `timeout`."""
        settings = container.attrs['NetworkSettings']['Networks'][self.args.network]
        bridge = vrrp_advert.bridge_of(self.client.networks.get(settings['NetworkID']).attrs)

        def sent(advert):
            return advert['source'] == settings['IPAddress'] and advert['priority'] > 0
        heard = vrrp_advert.listen(bridge, timeout, until=sent)
        if not (heard and sent(heard[-1][1])):
            raise RuntimeError('no VRRP advert from %s on %s within %ss' % (settings['IPAddress'], bridge, timeout))

    def first_failure(self, after, deadline):
        """When the first request sent after `after` failed (or `after`, if none
        failed by the deadline)."""
        while self.now() < deadline:
            with self.lock:
                failed = [r['sent'] for r in self.requests if r['sent'] >= after and not r['ok']]
            if failed:
                return min(failed)
            time.sleep(0.02)
        return after

    def stack_settled(self, samples, others):
        """The expected node runs the stack and no other node that can be read runs any of it."""
        if not samples:
            return False
        stacks = stacks_of(samples[-1])
        return ((stacks.get(self.args.expect) or 0) >= self.args.min_containers
                and all(stacks.get(o) == 0 for o in others if o not in samples[-1].get('frozen', ())))

    def wait_holder(self, node, deadline):
        """True once `node` holds the VIP, False at the monotonic deadline."""
        while time.monotonic() < deadline:
            if self.holders().get(node):
                return True
            time.sleep(0.05)
        return False

    def flap(self, container):
        """Quick fail/recover cycles: stop keepalived on the target, start it
        again as soon as the peer has the VIP, and again as soon as the target
        has it back, without waiting for any stack to follow. The cycles share
        the flap's VIP bound (one slow cycle is no failure while the whole
        stays within it); past it, the flap stops and the report says where,
        with the end of the target's transition log."""
        peer = next(n for n in self.nodes if n != self.args.target)
        limit = self.bound['vip_s'] if self.bound else 30.0 * self.args.cycles
        deadline = time.monotonic() + limit
        for cycle in range(1, self.args.cycles + 1):
            for command, holder in (('stop', peer), ('start', self.args.target)):
                container.exec_run(['systemctl', command, 'keepalived'])
                if not self.wait_holder(holder, deadline):
                    log = container.exec_run(['tail', '-n', '30', LOG_FILE]).output.decode(errors='replace')
                    self.action_error = {
                        'error': 'flap cycle %d: %s did not hold the VIP within the flap\'s bound (%.1f s) '
                                 'after keepalived %s on %s' % (cycle, holder, limit, command, self.args.target),
                        'log_tail': log.splitlines()}
                    return

    def write_once(self, seq):
        """One acknowledged write through the VIP: the stand-in's writer
        answers `ok SEQ NODE` only once the line is on the shared storage."""
        url = '%s/cgi-bin/write?seq=%d' % (self.client_base(), seq)
        request = urllib.request.Request(url, data=b'', method='POST')
        try:
            with urllib.request.urlopen(request, timeout=WRITE_TIMEOUT_S) as answer:
                words = answer.read(256).decode('utf-8', 'replace').split()
        except (OSError, ValueError, http.client.HTTPException):
            return
        if len(words) == 3 and words[0] == 'ok' and words[1] == str(seq):
            with self.lock:
                self.acked.append({'seq': seq, 'node': words[2], 't': self.now()})

    def probe_writes(self):
        """A write every interval, each in its own thread (as the GETs)."""
        seq = int(time.time() * 1000)  # unique and rising across trials
        in_flight = []
        while not self.stop.is_set():
            started = self.now()
            seq += 1
            thread = threading.Thread(target=self.write_once, args=(seq,), daemon=True)
            thread.start()
            in_flight = [t for t in in_flight if t.is_alive()] + [thread]
            time.sleep(max(0.0, self.args.interval - (self.now() - started)))
        for thread in in_flight:
            thread.join(WRITE_TIMEOUT_S + 1)

    def writes_report(self, failed_at=None):
        """Every acknowledged write must be on the shared storage: the report's
        `writes`. --writes NODE:PATH reads the file on that node (a copy of
        replicated shares), else on this machine (the test bed's shared directory)."""
        node, _sep, path = self.args.writes.rpartition(':') if not self.args.writes.startswith('/') else ('', '', '')
        try:
            if node:
                res = self.client.containers.get(node).exec_run(['cat', path])
                if res.exit_code != 0:
                    raise OSError('cat %s on %s: %s' % (path, node, res.output.decode()[:80]))
                text = res.output.decode('utf-8', 'replace')
            else:
                with open(self.args.writes, encoding='utf-8', errors='replace') as handle:
                    text = handle.read()
        except OSError as exc:
            return {'acked': len(self.acked), 'lost_count': None, 'error': str(exc)[:120]}
        return check_writes(self.acked, stored_writes(text), failed_at)

    def start_probes(self):
        """Start the clock, read where things stand, start the probes: (before, threads)."""
        self.t0 = time.monotonic()
        # The same moment on the wall clock: other records (Prometheus' samples) line up with the trial's times.
        self.epoch0 = time.time()
        before = {'served_by': self.request()['node'], 'holders': self.holders()}
        threads = [threading.Thread(target=self.probe_holders, daemon=True),
                   threading.Thread(target=self.probe_client, daemon=True)]
        if self.args.writes:
            threads.append(threading.Thread(target=self.probe_writes, daemon=True))
        if self.args.balancer_stats:
            threads.append(threading.Thread(target=self.probe_balancer, daemon=True))
        for thread in threads:
            thread.start()
        return before, threads

    def stop_probes(self, threads):
        self.stop.set()
        for thread in threads:
            thread.join(timeout=5)

    def iptables(self, rules, op):
        for node, node_rules in rules.items():
            for rule in node_rules:
                args = ['iptables', op, rule[0]] + (['1'] if op == '-I' else []) + rule[1:]
                res = self.client.containers.get(node).exec_run(args)
                if res.exit_code != 0:
                    raise RuntimeError('%s on %s failed: %s' % (' '.join(args), node, res.output.decode()))

    def run_partition(self):
        """Cut, hold, heal, wait for convergence, measure."""
        networks = {n: self.client.containers.get(n).attrs['NetworkSettings']['Networks'][self.args.network]
                    for n in self.nodes}
        addresses = dict({n: network['IPAddress'] for n, network in networks.items()},
                         gateway=networks[self.nodes[0]]['Gateway'])
        rules = partition_rules(self.args.partition, addresses)
        counts = transition_counts(self.pids)
        before, threads = self.start_probes()
        time.sleep(1.0)  # a baseline before the cut
        cut = self.now()
        self.iptables(rules, '-I')
        frozen = PARTITION_FREEZES.get(self.args.partition)
        try:
            if frozen:
                with self.lock:
                    self.frozen.add(frozen)
                drill.freeze(frozen, frozen_file(frozen))
            time.sleep(self.args.hold)
        finally:
            healed = self.now()
            if frozen:
                drill.thaw(frozen, frozen_file(frozen))
                with self.lock:
                    self.frozen.discard(frozen)
            self.iptables(rules, '-D')
        deadline = healed + self.args.timeout
        while self.now() < deadline:
            with self.lock:
                samples, requests = list(self.holder_samples), list(self.requests)
            at = converged_at(samples, requests, self.args.expect, self.nodes, healed)
            if at is not None and self.now() - at >= self.args.settle:
                break
            time.sleep(0.2)
        self.stop_probes(threads)
        isolated = PARTITION_ISOLATES.get(self.args.partition)
        report = analyse_partition(self.holder_samples, self.requests, self.args.expect, self.nodes,
                                   cut, healed, isolated)
        # VRRP transitions each node's notify hook counted during the case.
        after = transition_counts(self.pids)
        report['transitions'] = {n: sum(after[n].values()) - sum(counts[n].values()) for n in self.nodes}
        if self.args.tokens:
            with open(self.args.tokens) as handle:
                tokens = read_tokens(handle.read())
            report['dual_writer_longest_s'] = dual_writers(tokens, self.nodes)
            report['tokens'] = {n: sum(1 for tok in tokens if tok['node'] == n) for n in self.nodes}
        if self.args.writes:
            report['writes'] = self.writes_report()
        self.judge(report)
        report.update({'before': before, 'partition': self.args.partition, 'hold_s': self.args.hold,
                       'epoch_t0': round(self.epoch0, 3),
                       'expect': self.args.expect, 'cut_s': round(cut, 2), 'healed_s': round(healed, 2),
                       'samples': len(self.holder_samples), 'timeout_s': self.args.timeout})
        return report

    def run_watch(self):
        """Act on nothing; record for --hold seconds how long each node held
        the VIP and ran the stack, every sample counted (not only the last)."""
        before, threads = self.start_probes()
        deadline = time.monotonic() + self.args.hold
        while time.monotonic() < deadline and not (self.args.stop_file and Path(self.args.stop_file).exists()):
            time.sleep(0.1)
        watched_s = self.now()
        self.stop_probes(threads)
        report = watched(self.holder_samples, self.nodes, self.args.stack)
        report.update({'before': before, 'watched_s': round(watched_s, 2), 'samples': len(self.holder_samples)})
        return report

    def run(self):
        if self.args.partition:
            return self.run_partition()
        if self.args.action == 'watch':
            return self.run_watch()
        marks = self.log_marks()
        before, threads = self.start_probes()
        started = self.now()
        written_from = uptime()
        self.act()
        acted = self.now()
        since = acted if before['served_by'] == self.args.expect else 0.0
        if since and self.args.action in IN_PLACE:
            # The node that failed is expected to serve again itself: count
            # from the first request the failure broke (not one that got in
            # before it took effect).
            since = self.first_failure(acted, deadline=acted + IN_PLACE[self.args.action])
        others = [n for n in self.nodes if n != self.args.expect]
        reached_at = None
        while self.now() < self.args.timeout:
            with self.lock:
                samples = [s for s in self.holder_samples if s['t'] >= since]
                requests = [r for r in self.requests if r['t'] >= since]
            moved = any(s['holders'].get(self.args.expect) and not any(s['holders'].get(o) for o in others)
                        for s in samples)
            served = any(r['ok'] and r['node'] == self.args.expect for r in requests)
            if moved and served and (not self.args.stack or self.stack_settled(samples[-1:], others)):
                reached_at = self.now()
                break
            time.sleep(0.02)
        settle_end = (reached_at or self.now()) + self.args.settle
        while self.now() < settle_end:
            time.sleep(0.05)
        self.stop_probes(threads)
        report = analyse(self.holder_samples, self.requests, self.args.expect, self.nodes,
                         reached_at, settle_end, since, self.args.stack)
        if self.args.tokens:
            # What the stacks wrote to the shared recording during the trial: two writers at once?
            written = trial_tokens(self.args.tokens, written_from, uptime())
            report['dual_writer_longest_s'] = dual_writers(written, self.nodes) if written is not None else None
            report['tokens'] = {n: sum(1 for tok in written or [] if tok['node'] == n) for n in self.nodes}
        if self.args.balancer_stats:
            report.update(balancer_report(self.balancer_samples, self.nodes))
        if self.args.writes:
            report['writes'] = self.writes_report(failed_at=acted)
            report['writes_lost_window_s'] = report['writes'].get('lost_window_s')
        logs = self.logs_since(marks)
        report.update({
            'before': before,
            'action': self.args.action, 'target': self.args.target, 'expect': self.args.expect,
            'epoch_t0': round(self.epoch0, 3),
            'action_started_s': round(started, 3), 'action_took_s': round(acted, 3),
            'action_error': self.action_error,
            'reached': reached_at is not None,
            'reached_s': round(reached_at, 3) if reached_at is not None else None,
            # from the failure to the expected node holding, serving and
            # running --min-containers: a recovery in place's time
            'recovered_s': round(reached_at - started, 3) if reached_at is not None else None,
            'timeout_s': self.args.timeout, 'interval_s': self.args.interval, 'settle_s': self.args.settle,
            'log': logs,
        })
        if self.advert_wait_s:
            # The VIP's time counts from the cut's command, not from before the wait for the advert.
            report['vip_moved_s'] = round(report['vip_moved_s'] - self.advert_wait_s, 3) \
                if report['vip_moved_s'] is not None else None
            report['advert_wait_s'] = round(self.advert_wait_s, 3)
        self.judge(report)
        return report


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--vip', required=True)
    parser.add_argument('--port', type=int, default=80)
    parser.add_argument('--via', metavar='HOST:PORT',
                        help='send the clients through this load balancer instead of the VIP (load-balancer mode); '
                             'the VIP is still sampled on the nodes')
    parser.add_argument('--balancer-stats', metavar='URL',
                        help="the load balancer's stats as CSV (HAProxy: stats uri ...;csv): report how long it "
                             'counted both nodes UP')
    parser.add_argument('--balancer-backend', default='pair', help='the backend of the nodes in those stats')
    parser.add_argument('--interface', default='eth0')
    parser.add_argument('--nodes', required=True, type=lambda s: s.split(','))
    parser.add_argument('--action', choices=sorted(ACTIONS))
    parser.add_argument('--target', default=None)
    parser.add_argument('--expect', required=True)
    parser.add_argument('--timeout', type=float, default=30.0)
    parser.add_argument('--settle', type=float, default=None,
                        help='seconds the reached state must hold, no request failing (default: the promises\' '
                             'stable_s with --promise, else 2)')
    parser.add_argument('--interval', type=float, default=0.1)
    parser.add_argument('--request-timeout', type=float, default=0.3)
    parser.add_argument('--cycles', type=int, default=5, help='fail/recover cycles of --action flap')
    parser.add_argument('--stack', action='store_true', help='the pair runs the stack: sample where, wait for it')
    parser.add_argument('--min-containers', type=int, default=3)
    parser.add_argument('--profile', default='default', help="the profile the pair runs (tests/promises.yml)")
    parser.add_argument('--promise', metavar='TRIAL',
                        help='the trial\'s promises (tests/promises.yml): the report gets its bounds and what is past them')
    parser.add_argument('--promises', default=str(PROMISES), help=argparse.SUPPRESS)
    parser.add_argument('--after', type=float, default=0.0, help='a wait built into the trial (a hold-off), added to its VIP bound')
    parser.add_argument('--partition', choices=sorted(PARTITIONS), help='cut the network instead of --action')
    parser.add_argument('--after-advert', action='store_true',
                        help='link-down: cut the link as the target sends a VRRP advert (the same point of every profile\'s cycle)')
    parser.add_argument('--hold', type=float, default=20.0, help='seconds the partition (or the watch) lasts')
    parser.add_argument('--stop-file', help='a watch ends early once this file exists')
    parser.add_argument('--network', default='netsocs-failover-test', help='the nodes\' Docker network')
    parser.add_argument('--project', default='netsocs', help='the stack\'s Compose project')
    parser.add_argument('--tokens', help='the shared recording the stand-in recorder appends to')
    parser.add_argument('--writes', help="the shared file the stand-in's writer appends acknowledged writes to: "
                                         'a write through the VIP every interval, each acknowledged one checked there')
    return parser


def main(argv=None):
    parser = arguments()
    args = parser.parse_args(argv)
    if not args.action and not args.partition:
        parser.error('--action or --partition is required')
    if args.action and args.action not in ('none', 'watch') and not args.target:
        parser.error('--target is required with --action %s' % args.action)
    import docker  # the Docker SDK ships with molecule-plugins[docker]
    report = Trial(docker.from_env(), args).run()
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
