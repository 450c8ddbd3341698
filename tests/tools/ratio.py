"""The same-run ratio: the default profile's hard-loss client outage against
the reference profile's, measured on the lab in one run (make migrate deploys
each profile in turn; this measures after each deploy).

  ratio.py measure PROFILE   REPS times: cut node-a's link and bring it back
                             (failover_trial.py, the promises of PROFILE; the
                             repeats watch 2 s after, not 10); save
                             reports/ratio-PROFILE.json
  ratio.py check             every trial within its promise and the default's
                             median outage at least MIN_RATIO times shorter than
                             the reference's; write reports/ratio.md; exit 1 if not

The comparison is fair: both profiles run the same stand-in stack on the same
nodes, the same number of times, and the outage is the same measurement (the
longest run of failed requests through the VIP, a fresh GET every 0.1 s). The
median of three, for both: one cut's outage on the default profile varies by
a few tenths of a second (1.1-1.6 s on the lab), a quarter of its size.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / 'reports'
VIP = '172.30.99.100'
# Issue 26's 3x. After its transition the taker spends 0.3-0.45 s before the
# front door serves, in both profiles' outages: its sync (~0.1 s: the
# notify, systemd-run) and the door's container started alone (0.2-0.3 s:
# lifecycle.act, compose.start_batches). The door's container started with
# the other critical one side by side (0.45 s), CI run 21 measured 2.94x
# inside make lab-test (1.30 s against 3.82 s) and runs 22-25 3.81-4.34x;
# alone, the lab's cuts cost 0.80-1.10 s (18, 16 at most 0.91 s), 4.12x.
MIN_RATIO = 3.0
REPS = 3
# (trial, action, expected holder): the hard loss, then the return.
TRIALS = [('link-down', 'link-down', 'node-b'), ('link-up', 'link-up', 'node-a')]


# The repeats watch for this long after the holder is reached (the first
# round holds the promises' stable_s, 10 s): they are there for the outage.
REPEAT_SETTLE_S = 2.0


def trial_argv(profile, promise, action, expect, settle=None):
    # The cut follows one of node-a's adverts (--after-advert): node-b then
    # waits its whole master-down interval in both profiles, and the ratio
    # does not depend on where in a 1 s advert cycle the reference's cut fell
    # (that alone moved its median outage between 3.2 and 4.0 s).
    return [sys.executable, str(ROOT / 'tests' / 'tools' / 'failover_trial.py'), '--vip=%s' % VIP,
            '--nodes=node-a,node-b', '--action=%s' % action, '--target=node-a', '--expect=%s' % expect,
            '--stack', '--profile=%s' % profile, '--promise=%s' % promise, '--timeout=60'] + (
                ['--settle=%s' % settle] if settle is not None else []) + (
                ['--after-advert'] if action == 'link-down' else [])


def measure(profile, reps=REPS, run=subprocess.run):
    """{trial: [report, ...]}, one report per repetition."""
    reports = {promise: [] for promise, _action, _expect in TRIALS}
    for rep in range(reps):
        for promise, action, expect in TRIALS:
            argv = trial_argv(profile, promise, action, expect, settle=REPEAT_SETTLE_S if rep else None)
            res = run(argv, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise RuntimeError('%s trial failed to run: %s' % (promise, res.stderr[-800:]))
            reports[promise].append(json.loads(res.stdout))
    (REPORTS / ('ratio-%s.json' % profile)).write_text(json.dumps(reports, indent=2, sort_keys=True))
    return reports


def median_outage(reports):
    return statistics.median(report['client_outage_s'] for report in reports['link-down'])


def judge(default, reference, min_ratio=MIN_RATIO):
    """(ratio, problems): the hard-loss median outage ratio, and what fails."""
    problems = []
    for name, reports in (('default', default), ('reference', reference)):
        for promise, runs in reports.items():
            for number, report in enumerate(runs, 1):
                if not report.get('reached'):
                    problems.append('%s %s #%d: never reached' % (name, promise, number))
                if report.get('over_bounds'):
                    problems.append('%s %s #%d: past its promise: %s' % (name, promise, number, report['over_bounds']))
    fast, slow = median_outage(default), median_outage(reference)
    ratio = round(slow / fast, 2) if fast else None
    if ratio is None or ratio < min_ratio:
        problems.append('the default profile\'s hard-loss outage %.2f s (median) is not %.1fx shorter than the '
                        'reference\'s %.2f s (%sx)' % (fast, min_ratio, slow, ratio))
    return ratio, problems


def table(default, reference, ratio, problems):
    lines = ['# Same-run ratio, hard loss (node-a\'s link cut), lab', '',
             '| profile | trial | VIP moved (s) | client outage (s) | failed requests |', '|---|---|---|---|---|']
    for name, reports in (('default', default), ('reference', reference)):
        for promise, runs in reports.items():
            for number, report in enumerate(runs, 1):
                lines.append('| %s | %s #%d | %s | %s | %s/%s |' % (
                    name, promise, number, report['vip_moved_s'], report['client_outage_s'],
                    report['failed_requests'], report['requests']))
    lines += ['', 'Median hard-loss outage: default %.2f s, reference %.2f s.' % (
        median_outage(default), median_outage(reference))]
    lines += ['Outage ratio reference / default: **%sx** (at least %.1fx required).' % (ratio, MIN_RATIO)]
    lines += [''] + ['FAILED: ' + problem for problem in problems] if problems else []
    return '\n'.join(lines) + '\n'


def main(argv):
    if len(argv) == 3 and argv[1] == 'measure':
        measure(argv[2])
        return 0
    if len(argv) == 2 and argv[1] == 'check':
        default = json.loads((REPORTS / 'ratio-default.json').read_text())
        reference = json.loads((REPORTS / 'ratio-reference.json').read_text())
        ratio, problems = judge(default, reference)
        text = table(default, reference, ratio, problems)
        (REPORTS / 'ratio.md').write_text(text)
        sys.stdout.write(text)
        return 1 if problems else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
