"""Soak the lab pair under load and count what must never happen.

    soak.py run --label soak --minutes 30 --rate 20 --out reports/soak-soak.json
    soak.py table reports/soak-*.json > reports/soak.md

    soak.py run --label migration --no-burn --out reports/migration.json \
        --during ansible-playbook site.yml ... -e keepalived_vrrp_version=2

`run` loads the machine for --minutes (or while the --during command runs)
and watches the pair meanwhile:

* CPU: one busy loop per core on the controller and one inside each node
  (all on the same cores here), each under `timeout`, so it stops by itself;
* HTTP: --rate GETs a second through the VIP (never more than --max-requests,
  never to an address outside --network), each one counted as served or not,
  with the node that answered;
* VRRP: every advert on the lab network's bridge (a packet socket, promiscuous,
  so unicast adverts between the nodes are seen too): the gaps between one
  router's adverts, against the configured interval (the jitter), and every
  change of the advertising router (a VIP move);
* transitions: the count of each state the notify hook recorded in each
  node's VRRP state file (read through /proc/PID/root, no `docker exec`).

A soak passes with 0 transitions and 0 failed requests; a --during run (a
protocol change rolled on the running pair) passes when the VIP never moved,
no request failed, the MASTER logged no transition and the BACKUP never
became MASTER. The report (JSON) also
carries the profile the nodes run, as the keepalived role published it
(/etc/netsocs-failover/vrrp.json).
`table` renders reports as one Markdown table (the sweep: one row per interval).
Standard library only, plus the drill's prober and the node runtime's reader. Runs as
root on the Docker host (the packet socket and /proc/PID/root need it).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / 'tests' / 'tools'), str(ROOT / 'playbooks' / 'files'), str(ROOT / 'plugins' / 'module_utils')]
import failover_trial  # noqa: E402  (the published profile, the transition counts)
import vrrp_advert  # noqa: E402
import drill  # noqa: E402  (the one prober)


ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
BURN_MARK = 'netsocs-soak-burn'


# ---------------------------------------------------------------- analysis

def parse_advert(frame):
    """(source, vrid, priority, version) of an Ethernet frame carrying a VRRP advert, else None."""
    advert = vrrp_advert.read_advert(frame)
    return (advert['source'], advert['vrid'], advert['priority'], advert['version']) if advert else None


def gap_stats(times, advert_int):
    """The gaps between one router's adverts: count, median, p99, max (s), the
    jitter (the largest distance from the configured interval, s), and the late
    ones (over twice the interval: one advert missed; three missed is the
    master-down interval, a takeover)."""
    gaps = [b - a for a, b in zip(times, times[1:])]
    if not gaps:
        return {'adverts': len(times), 'gaps': 0}
    ordered = sorted(gaps)
    return {
        'adverts': len(times),
        'gaps': len(gaps),
        'median_s': round(statistics.median(ordered), 4),
        'p99_s': round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        'max_s': round(ordered[-1], 4),
        'jitter_s': round(max(abs(g - advert_int) for g in gaps), 4),
        'late': sum(1 for g in gaps if g > 2 * advert_int),
    }


def advert_report(adverts, advert_int):
    """adverts: [(t, source, vrid, priority, version)] in time order. Per source,
    the gap statistics over its runs as the advertising router and the VRRP
    versions it sent; and the moves: each time the advertising router changes
    (the MASTER sends; a BACKUP is silent)."""
    runs = {}
    versions = {}
    moves = []
    current = None
    last = {}
    for t, source, _vrid, priority, *version in adverts:
        versions.setdefault(source, set()).update(version)
        last[source] = version[0] if version else None
        if priority == 0:  # a MASTER giving up (priority 0): a move follows
            continue
        if source != current:
            if current is not None:
                moves.append({'t': round(t, 3), 'from': current, 'to': source})
            current = source
            runs.setdefault(source, []).append([])
        runs[source][-1].append(t)
    per_source = {}
    for source, source_runs in runs.items():
        gaps = [b - a for run in source_runs for a, b in zip(run, run[1:])]
        times = [0.0]
        for gap in gaps:  # the runs joined end to end, so no move counts as a gap
            times.append(times[-1] + gap)
        per_source[source] = gap_stats(times, advert_int)
        per_source[source]['adverts'] = sum(len(run) for run in source_runs)
        per_source[source]['versions'] = sorted(versions[source])
        per_source[source]['last_version'] = last[source]
    return {'sources': per_source, 'moves': moves}


def transitions_between(before, after):
    """{state: how many more} between two of a node's transition counts (the
    VRRP state file's); a count that went down (the node rebooted) counts whole."""
    if any(after.get(state, 0) < count for state, count in before.items()):
        before = {}
    return {state: count - before.get(state, 0) for state, count in after.items() if count > before.get(state, 0)}


def request_report(results):
    """results: [{'t', 'ok', 'ms', 'node' or 'error'}]. Totals, failures (the
    first ten kept), the served ones that took over a second, their latency,
    and which nodes answered."""
    served = [r for r in results if r['ok']]
    failed = [r for r in results if not r['ok']]
    latency = sorted(r['ms'] for r in served)
    nodes = {}
    for r in served:
        nodes[r.get('node', '?')] = nodes.get(r.get('node', '?'), 0) + 1
    return {
        'sent': len(results),
        'served': len(served),
        'failed': len(failed),
        'failures': failed[:10],
        'slow': sum(1 for r in served if r['ms'] > 1000),
        'answered_by': nodes,
        'latency_ms': {'median': latency[len(latency) // 2], 'p99': latency[int(len(latency) * 0.99)],
                       'max': latency[-1]} if latency else {},
    }


def verdict(report):
    """Passed: no transition, no failed request, no VIP move, at least one request."""
    reasons = []
    if report['transitions']['total']:
        reasons.append('%d VRRP transition(s)' % report['transitions']['total'])
    if report['requests']['failed']:
        reasons.append('%d failed request(s)' % report['requests']['failed'])
    if report['adverts']['moves']:
        reasons.append('%d move(s) of the advertising router' % len(report['adverts']['moves']))
    if not report['requests']['sent']:
        reasons.append('no request was sent')
    return {'passed': not reasons, 'reasons': reasons}


def migration_verdict(report, nodes):
    """A protocol change rolled on a running pair passes when the command
    succeeded, the VIP never moved, no request failed, the MASTER (the first
    node) logged no transition and no other node became MASTER (the BACKUP
    leaving and rejoining the election, STOP then BACKUP, is the plan)."""
    reasons = []
    if report['command']['rc'] != 0:
        reasons.append('the command failed (rc=%s)' % report['command']['rc'])
    if report['requests']['failed']:
        reasons.append('%d failed request(s)' % report['requests']['failed'])
    if report['adverts']['moves']:
        reasons.append('%d move(s) of the advertising router' % len(report['adverts']['moves']))
    per_node = report['transitions']['per_node']
    after = report['profile_after']
    if len({after[node]['version'] for node in nodes}) != 1:
        reasons.append('the nodes run different VRRP versions: %s' % ', '.join(
            '%s v%s' % (node, after[node]['version']) for node in nodes))
    elif any(source.get('last_version') not in (None, after[nodes[0]]['version'])
             for source in report['adverts']['sources'].values()):
        reasons.append('the last adverts are not VRRPv%s' % after[nodes[0]]['version'])
    if per_node.get(nodes[0]):
        reasons.append('%s (the MASTER) reported %s' % (nodes[0], ', '.join(
            '%s x%d' % (state, count) for state, count in sorted(per_node[nodes[0]].items()))))
    for node in nodes[1:]:
        if per_node.get(node, {}).get('MASTER'):
            reasons.append('%s became MASTER' % node)
    if not report['requests']['sent']:
        reasons.append('no request was sent')
    return {'passed': not reasons, 'reasons': reasons}


def check_target(vip, network):
    """The load goes only to the lab: the VIP must be inside the lab's network."""
    if ipaddress.ip_address(vip) not in ipaddress.ip_network(network, strict=False):
        raise SystemExit('soak: refusing to load %s: it is outside the lab network %s' % (vip, network))


def master_down_s(advert_int, priority):
    """How long a BACKUP of this priority waits without an advert before it takes
    over (RFC 5798: three intervals plus the skew time)."""
    return 3 * advert_int + (256 - priority) * advert_int / 256


def headroom_s(report):
    """The master-down interval of the lowest-priority node less the longest gap
    between adverts seen: how much later the worst advert could have been
    without a takeover. None without adverts or priorities."""
    profile = report['profile']
    gaps = [s['max_s'] for s in report['adverts']['sources'].values() if 'max_s' in s]
    if not gaps or not profile.get('priorities'):
        return None
    return round(master_down_s(profile['advert_int'], min(profile['priorities'].values())) - max(gaps), 3)


def row(report):
    """One report as a table row; the advert figures are the worst router's."""
    sources = report['adverts']['sources'].values()
    worst = max(sources, key=lambda s: s.get('max_s', 0)) if sources else {}
    requests = report['requests']
    name = 'VRRPv%(version)s %(advert_int)g s'
    profile = name % report['profile'] + (' unicast' if report['profile']['unicast'] else '')
    timing = [_num(worst.get('median_s')), _num(worst.get('p99_s')), _num(worst.get('max_s')),
              str(sum(s.get('late', 0) for s in sources)), _num(headroom_s(report))]
    if 'profile_after' in report:
        # a protocol change: the gaps mix two intervals, so they are not shown
        profile += ' -> ' + name % next(iter(report['profile_after'].values()))
        timing = ['-'] * len(timing)
    cells = [
        report['label'], profile,
        _num(report['minutes']), 'yes' if report['burn'] else 'no', str(report['transitions']['total']),
        '%d / %d' % (requests['failed'], requests['sent']), str(requests['slow'])] + timing + [
        'passed' if report['verdict']['passed'] else 'FAILED: ' + '; '.join(report['verdict']['reasons']),
    ]
    return '| ' + ' | '.join(cells) + ' |'


def _num(value):
    return ('%g' % value) if value is not None else '-'


def table(reports):
    lines = ['| run | profile | minutes | CPU burners | transitions | failed / sent requests | served in > 1 s '
             '| advert gap median (s) | p99 (s) | max (s) | late adverts (gap > 2 intervals) '
             '| headroom to a takeover (s) | verdict |',
             '|' + '---|' * 13]
    lines += [row(report) for report in reports]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- the run

def vip_serves(vip, timeout=2.0):
    return drill.probe_once('http://%s/' % vip, timeout)['ok']


class Soak(object):
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.adverts = []
        self.results = []
        self.pids = {node: int(self.docker('inspect', '-f', '{{.State.Pid}}', node)) for node in args.nodes}

    @staticmethod
    def docker(*argv):
        return subprocess.run(('docker',) + argv, capture_output=True, text=True, check=True).stdout.strip()

    def node_file(self, node, path):
        return '/proc/%d/root%s' % (self.pids[node], path)

    def bridge(self):
        return vrrp_advert.bridge_of(json.loads(self.docker('network', 'inspect', self.args.docker_network))[0])

    def capture(self, sock):
        while not self.stop.is_set():
            try:
                frame = sock.recv(2048)
            except socket.timeout:
                continue
            advert = parse_advert(frame)
            if advert:
                with self.lock:
                    self.adverts.append((time.monotonic() - self.t0,) + advert)

    def client(self, worker, workers):
        url = 'http://%s/' % self.args.vip
        spacing = workers / self.args.rate
        slot = worker * (1.0 / self.args.rate)
        while not self.stop.is_set():
            delay = self.t0 + slot - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                return
            with self.lock:
                if len(self.results) >= self.args.max_requests:
                    return
            answer = drill.probe_once(url, self.args.timeout, marker=self.args.marker, nodes=self.args.nodes)
            result = {'t': round(answer['t'] - self.t0_wall, 3), 'ok': answer['ok'], 'ms': answer['ms'],
                      'node': answer['node'] or '?'}
            if 'error' in answer:
                result['error'] = answer['error']
            with self.lock:
                self.results.append(result)
            slot += spacing

    def burn(self, seconds):
        """One busy loop per core here and one in each node, each stopping by itself."""
        loop = ': %s; while :; do :; done' % BURN_MARK
        procs = [subprocess.Popen(['timeout', str(seconds), 'sh', '-c', loop])
                 for _core in range(os.cpu_count() or 1)]
        for node in self.args.nodes:
            self.docker('exec', '-d', node, 'timeout', str(seconds), 'sh', '-c', loop)
        return procs

    def unburn(self, procs):
        for proc in procs:
            proc.terminate()
            proc.wait()
        for node in self.args.nodes:
            subprocess.run(['docker', 'exec', node, 'pkill', '-f', BURN_MARK], capture_output=True, check=False)

    def profile(self, node):
        """The VRRP profile the node runs, as the keepalived role published it."""
        return failover_trial.published_profile(self.pids[node])

    def counts(self):
        """Each node's transition counts (its VRRP state file's)."""
        return failover_trial.transition_counts(self.pids)

    def settle(self, quiet_s, limit_s=300):
        """Wait until no node has logged a transition for quiet_s seconds and the
        VIP serves (a redeploy restarts Keepalived on both nodes, and the VIP
        may move and come back): the soak measures the steady state."""
        deadline = time.monotonic() + limit_s
        counts, quiet_since = self.counts(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1)
            now_counts = self.counts()
            if now_counts != counts:
                counts, quiet_since = now_counts, time.monotonic()
                continue
            if time.monotonic() - quiet_since >= quiet_s and vip_serves(self.args.vip):
                return
        raise SystemExit('soak: the pair did not settle within %d s (transitions kept coming, '
                         'or the VIP did not serve)' % limit_s)

    def run(self):
        args = self.args
        check_target(args.vip, args.network)
        self.settle(args.settle)
        profiles = {node: self.profile(node) for node in args.nodes}
        profile = profiles[args.nodes[0]]
        counts_before = self.counts()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        bridge = self.bridge()
        sock.bind((bridge, 0))
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                        struct.pack('iHH8s', socket.if_nametoindex(bridge), PACKET_MR_PROMISC, 0, b''))
        sock.settimeout(0.5)
        seconds = int(args.minutes * 60)
        self.t0, self.t0_wall = time.monotonic(), time.time()
        threads = [threading.Thread(target=self.capture, args=(sock,), daemon=True)]
        workers = max(1, min(32, int(args.rate)))
        threads += [threading.Thread(target=self.client, args=(w, workers), daemon=True) for w in range(workers)]
        procs = self.burn(seconds + 5) if args.burn else []
        started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        command = None
        try:
            for thread in threads:
                thread.start()
            if args.during:
                command = self.run_during(args.during, seconds)
            else:
                self.stop.wait(seconds)
        finally:
            self.stop.set()
            self.unburn(procs)
            for thread in threads:
                thread.join(timeout=args.timeout + 2)
            sock.close()
        counts_after = self.counts()
        transitions = {node: transitions_between(counts_before[node], counts_after[node]) for node in args.nodes}
        with self.lock:
            adverts, results = list(self.adverts), list(self.results)
        report = {
            'label': args.label, 'started': started, 'minutes': args.minutes, 'rate': args.rate,
            'burn': args.burn, 'cores': os.cpu_count(), 'vip': args.vip, 'bridge': bridge,
            'profile': dict({key: profile[key] for key in ('version', 'advert_int', 'unicast', 'startup_delay')},
                            priorities={node: profiles[node]['priority'] for node in args.nodes}),
            'transitions': {'total': sum(sum(t.values()) for t in transitions.values()), 'per_node': transitions},
            'requests': request_report(results),
            'adverts': advert_report(adverts, profile['advert_int']),
            'loadavg': os.getloadavg(),
        }
        if command is not None:
            report['command'] = command
            after = {node: self.profile(node) for node in args.nodes}
            report['profile_after'] = {node: {key: after[node][key] for key in ('version', 'advert_int', 'priority')}
                                       for node in args.nodes}
            report['minutes'] = round(command['seconds'] / 60, 2)
            report['verdict'] = migration_verdict(report, args.nodes)
        else:
            report['verdict'] = verdict(report)
        return report

    def run_during(self, argv, limit_s):
        """Run argv under watch (at most limit_s), then watch `--after` seconds more."""
        start = time.monotonic()
        proc = subprocess.Popen(argv)
        try:
            rc = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = 'killed after %d s' % limit_s
        seconds = time.monotonic() - start
        self.stop.wait(self.args.after)
        return {'argv': argv, 'rc': rc, 'seconds': round(seconds, 1)}


def arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='load the lab and watch the pair')
    run.add_argument('--label', default='soak')
    run.add_argument('--minutes', type=float, default=30.0)
    run.add_argument('--rate', type=float, default=20.0, help='HTTP requests a second through the VIP')
    run.add_argument('--max-requests', type=int, default=100000)
    run.add_argument('--timeout', type=float, default=3.0, help='seconds a request may take to count as served')
    run.add_argument('--no-burn', dest='burn', action='store_false', help='no CPU burners')
    run.add_argument('--vip', default='172.30.99.100')
    run.add_argument('--network', default='172.30.99.0/24', help='the lab network: the only target allowed')
    run.add_argument('--docker-network', default='netsocs-failover-test')
    run.add_argument('--nodes', nargs='+', default=['node-a', 'node-b'])
    run.add_argument('--marker', default='', help='text every served page carries')
    run.add_argument('--settle', type=float, default=30.0,
                     help='seconds without a transition before the soak starts')
    run.add_argument('--record-only', action='store_true',
                     help='exit 0 whatever the verdict (the sweep records, it does not judge)')
    run.add_argument('--out', required=True)
    run.add_argument('--after', type=float, default=5.0,
                     help='with --during: seconds watched after the command ends')
    run.add_argument('--during', nargs=argparse.REMAINDER,
                     help='watch while this command runs (the rest of the line; --minutes caps it) and '
                          'judge it as a protocol change on the running pair')
    render = sub.add_parser('table', help='Markdown table of reports')
    render.add_argument('reports', nargs='+')
    return parser.parse_args(argv)


def main(argv=None):
    args = arguments(argv)
    if args.command == 'table':
        reports = []
        for path in args.reports:
            with open(path, encoding='utf-8') as handle:
                reports.append(json.load(handle))
        sys.stdout.write(table(reports))
        return 0
    report = Soak(args).run()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + '\n', encoding='utf-8')
    sys.stdout.write(table([report]))
    return 0 if report['verdict']['passed'] or args.record_only else 1


if __name__ == '__main__':
    sys.exit(main())
