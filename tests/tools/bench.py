"""The side-by-side benchmark: the same faults, the same lab, one profile after the other.

    bench.py run --label reference --reps 5 --out reports/bench-reference.json
    bench.py table reports/bench-reference.json reports/bench-default.json > reports/bench.md

`run` measures the profile the lab runs now (make bench deploys each in turn):
each repetition fails node A in every way below and brings it back, every
step measured from the controller by failover_trial.py (the Molecule trials'
engine: the VIP holder and the stack sampled every 100 ms, an HTTP GET through
the VIP every 100 ms):

    graceful stop       systemctl stop keepalived on node A     -> node B
    preempt             systemctl start keepalived on node A    -> node A
    hard failure        node A frozen whole (drill.freeze)      -> node B
                        (node A unfrozen                        -> node A, not reported)
    stack failure       docker kill netsocs-caddy on node A     -> node A (started again in place)
    again, moved        the same within the restart window      -> node B
                        (hold-off and restart count lifted:
                         node A takes back                      -> node A, not reported)
    planned switchover  switchover away from node A             -> node B
                        (and back                               -> node A, not reported)

Every step must reach its node with a stable stack, or the run fails. `table`
prints, per fault, the median and max VIP move and client outage of each
profile, and the ratio of the medians (the first report / the last).
Standard library only; runs as root on the Docker host, as the trials do.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
import failover_trial  # noqa: E402  (the published profile)

# (fault reported, action, target, expect); the steps without a fault name put
# node A back and are checked, not reported.
STEPS = [
    ('graceful stop', 'stop-keepalived', 'node-a', 'node-b'),
    ('preempt', 'start-keepalived', 'node-a', 'node-a'),
    ('hard failure, node frozen', 'freeze', 'node-a', 'node-b'),
    (None, 'unfreeze', 'node-a', 'node-a'),
    ('hard failure, link down', 'link-down', 'node-a', 'node-b'),
    (None, 'link-up', 'node-a', 'node-a'),
    ('stack failure, restarted in place', 'kill-caddy', 'node-a', 'node-a'),
    ('stack failure again, moved', 'kill-caddy', 'node-a', 'node-b'),
    (None, 'clear-holdoff', 'node-a', 'node-a'),
    ('planned switchover', 'switchover', 'node-a', 'node-b'),
    (None, 'switchover-back', 'node-a', 'node-a'),
]
FAULTS = [step[0] for step in STEPS if step[0]]
METRICS = ('vip_moved_s', 'client_outage_s', 'dual_stack_longest_s')


def summarise(samples):
    """{fault: {metric: {'median', 'max', 'n'}}} over the repetitions."""
    out = {}
    for fault in FAULTS:
        reports = [s for s in samples if s['fault'] == fault]
        out[fault] = {}
        for metric in METRICS:
            values = [r[metric] for r in reports if r.get(metric) is not None]
            out[fault][metric] = ({'median': round(statistics.median(values), 3), 'max': round(max(values), 3),
                                   'n': len(values)} if values else None)
    return out


def ratio(first, last):
    """first / last, or None when either is missing or last is 0."""
    if first is None or last is None or not last:
        return None
    return round(first / last, 1)


def _cell(stat):
    return '%.2f / %.2f' % (stat['median'], stat['max']) if stat else '-'


def table(reports):
    """One row per fault: each report's VIP move and client outage (median / max),
    its longest dual stack, and the ratio of the first report's median outage to
    the last's."""
    head = ['fault']
    for report in reports:
        head += ['%s: VIP (s)' % report['label'], '%s: client outage (s)' % report['label'],
                 '%s: two stacks, max (s)' % report['label']]
    head.append('outage ratio %s / %s' % (reports[0]['label'], reports[-1]['label']))
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for fault in FAULTS:
        cells = [fault]
        for report in reports:
            stats = report['summary'][fault]
            dual = stats['dual_stack_longest_s']
            cells += [_cell(stats['vip_moved_s']), _cell(stats['client_outage_s']),
                      '%.2f' % dual['max'] if dual else '-']
        first = reports[0]['summary'][fault]['client_outage_s']
        last = reports[-1]['summary'][fault]['client_outage_s']
        value = ratio(first and first['median'], last and last['median'])
        cells.append('%.1fx' % value if value is not None else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    profiles = ', '.join('%s = VRRPv%s %g s%s' % (r['label'], r['profile']['version'], r['profile']['advert_int'],
                                                  ' unicast' if r['profile']['unicast'] else '') for r in reports)
    notes = ['', 'Median / max over %s repetitions (%s). VIP: from the fault to node B holding the VIP '
             'alone; client outage: the longest run of failed '
             'GETs through the VIP, one every 100 ms.' % ('/'.join(str(r['reps']) for r in reports), profiles)]
    for report in reports:
        unstable = ['rep %d %s' % (s['rep'], s['action']) for s in report['samples'] if s.get('stable') is False]
        if unstable:
            notes.append('%s: %d step(s) not stable after reaching their node (a failed request or a holder '
                         'change in the 2 s after): %s.' % (report['label'], len(unstable), ', '.join(unstable)))
    return '\n'.join(lines + notes) + '\n'


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.pids = {node: int(self.docker('inspect', '-f', '{{.State.Pid}}', node)) for node in args.nodes}

    @staticmethod
    def docker(*argv):
        return subprocess.run(('docker',) + argv, capture_output=True, text=True, check=True).stdout.strip()

    def step(self, action, target, expect):
        argv = [sys.executable, str(TOOLS / 'failover_trial.py'), '--vip', self.args.vip,
                '--nodes', ','.join(self.args.nodes), '--action', action, '--target', target,
                '--expect', expect, '--stack', '--timeout', str(self.args.timeout)]
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise SystemExit('bench: %s on %s failed: %s' % (action, target, (res.stderr or res.stdout)[-2000:]))
        report = json.loads(res.stdout)
        if not report['reached'] or report.get('action_error'):
            raise SystemExit('bench: %s on %s: %s did not take over: %s'
                             % (action, target, expect, json.dumps(report)[:2000]))
        # Reached, but a request failed or the holder changed in the settle
        # time after: counted and shown, not hidden, and the run goes on.
        return report

    def run(self):
        samples = []
        profile = failover_trial.published_profile(self.pids[self.args.nodes[0]])
        started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        for rep in range(1, self.args.reps + 1):
            for fault, action, target, expect in STEPS:
                report = self.step(action, target, expect)
                line = {'rep': rep, 'fault': fault, 'action': action, 'expect': expect}
                line.update({key: report.get(key) for key in METRICS + ('client_switched_s', 'failed_requests', 'stable')})
                samples.append(line)
                sys.stderr.write('bench %s rep %d: %s -> %s: VIP %s s, outage %s s\n' % (
                    self.args.label, rep, action, expect, line['vip_moved_s'], line['client_outage_s']))
        return {'label': self.args.label, 'started': started, 'reps': self.args.reps,
                'profile': {key: profile[key] for key in ('version', 'advert_int', 'unicast')},
                'samples': samples, 'summary': summarise(samples)}


def arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='run every fault --reps times on the profile the lab runs now')
    run.add_argument('--label', required=True)
    run.add_argument('--reps', type=int, default=5)
    run.add_argument('--vip', default='172.30.99.100')
    run.add_argument('--nodes', nargs=2, default=['node-a', 'node-b'])
    run.add_argument('--timeout', type=float, default=60.0, help='seconds each step may take')
    run.add_argument('--out', required=True)
    render = sub.add_parser('table', help='Markdown table of reports, side by side')
    render.add_argument('reports', nargs='+')
    return parser.parse_args(argv)


def main(argv=None):
    args = arguments(argv)
    if args.command == 'table':
        sys.stdout.write(table([json.loads(Path(p).read_text()) for p in args.reports]))
        return 0
    report = Bench(args).run()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + '\n')
    sys.stdout.write(table([report]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
