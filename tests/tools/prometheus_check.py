"""What a real Prometheus saw of the pair, read through its HTTP API: the
test bed's Prometheus (on the outsider, molecule/resources/files/prometheus.yml)
scrapes both nodes' node_exporter and evaluates prometheus/netsocs-failover.rules.yml.

    prometheus_check.py up     --url URL --nodes node-a,node-b [--timeout S]
        both targets up, the VIP held by exactly one of them, the same
        runtime version and stack definition on both (netsocs_failover_build_info)
    prometheus_check.py moved  --url URL --to node-b --from-node node-a --at EPOCH --within S
        node-b's netsocs_failover_vip_held sample went to 1 (and node-a's to 0)
        within S seconds of EPOCH (when the VIP moved, as the trial saw it)
    prometheus_check.py alerts --url URL --start EPOCH --end EPOCH --alert NAME... --expect silent|firing
        the named alerts never fired in [start, end] (silent), or each fired (firing)

Each prints its findings as JSON and exits 1 when the expectation fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request


def query(url, expr, at=None):
    params = {'query': expr}
    if at is not None:
        params['time'] = '%.3f' % at
    with urllib.request.urlopen('%s/api/v1/query?%s' % (url, urllib.parse.urlencode(params)), timeout=10) as reply:
        body = json.load(reply)
    if body.get('status') != 'success':
        raise RuntimeError('%s: %s' % (expr, body))
    return body['data']['result']


def by_node(result):
    """{node: [(ts, value)]} from a range selector's matrix."""
    return {series['metric'].get('node', series['metric'].get('instance')):
            [(float(ts), float(v)) for ts, v in series.get('values', [])] for series in result}


def first_at(samples, value, after):
    """The first sample's time at or after `after` whose value is `value`, or None."""
    return next((ts for ts, v in samples if ts >= after and v == value), None)


def moved(samples, to_node, from_node, at, within, lead=1.0):
    """Judge a VIP move in the scraped samples: node `to_node` reads 1 and
    `from_node` 0 within `within` s of `at`. A sample up to `lead` s before
    `at` counts (the trial samples the VIP every 100 ms, a scrape may land
    between); `to_node` must have read 0 before that."""
    to, away = samples.get(to_node, []), samples.get(from_node, [])
    held = first_at(to, 1.0, at - lead)
    released = first_at(away, 0.0, at - lead)
    before = [v for ts, v in to if ts < at - lead]
    report = {
        'at': at, 'within_s': within,
        'held_after_s': round(held - at, 3) if held is not None else None,
        'released_after_s': round(released - at, 3) if released is not None else None,
        'held_before': any(v == 1.0 for v in before[-3:]),
        'samples': {n: len(s) for n, s in samples.items()},
    }
    report['ok'] = (held is not None and held - at <= within and released is not None and released - at <= within
                    and bool(before) and not report['held_before'])
    return report


def alert_states(result):
    """{alertname: {'firing': [ts...], 'pending': [ts...]}} from ALERTS[range]."""
    states = {}
    for series in result:
        labels = series['metric']
        entry = states.setdefault(labels['alertname'], {'firing': [], 'pending': []})
        entry.setdefault(labels.get('alertstate', 'firing'), []).extend(float(ts) for ts, _v in series.get('values', []))
    return states


def judge_alerts(states, names, expect):
    fired = {n: len(states.get(n, {}).get('firing', [])) for n in names}
    pending = {n: len(states.get(n, {}).get('pending', [])) for n in names}
    ok = all(fired[n] == 0 for n in names) if expect == 'silent' else all(fired[n] > 0 for n in names)
    return {'expect': expect, 'firing_samples': fired, 'pending_samples': pending, 'ok': ok}


def cmd_up(args):
    deadline = time.monotonic() + args.timeout
    while True:
        up = {series['metric'].get('node'): series['value'][1]
              for series in query(args.url, 'up{job="netsocs-failover"}')}
        held = {series['metric'].get('node'): series['value'][1]
                for series in query(args.url, 'netsocs_failover_vip_held')}
        builds = {series['metric'].get('node'): '%s/%s' % (series['metric'].get('version'), series['metric'].get('stack'))
                  for series in query(args.url, 'netsocs_failover_build_info')}
        report = {'up': up, 'vip_held': held, 'build': builds,
                  'ok': all(up.get(n) == '1' for n in args.nodes) and sorted(held.values()) == ['0'] * (len(args.nodes) - 1) + ['1']
                  and set(held) == set(args.nodes) and set(builds) == set(args.nodes) and len(set(builds.values())) == 1}
        if report['ok'] or time.monotonic() > deadline:
            return report
        time.sleep(1)


def cmd_moved(args):
    span = args.window
    result = query(args.url, 'netsocs_failover_vip_held[%ds]' % (2 * span), at=args.at + span)
    return moved(by_node(result), args.to, args.from_node, args.at, args.within)


def cmd_alerts(args):
    span = max(1, int(args.end - args.start + 0.999))
    expr = 'ALERTS{alertname=~"%s"}[%ds]' % ('|'.join(args.alert), span)
    report = judge_alerts(alert_states(query(args.url, expr, at=args.end)), args.alert, args.expect)
    report.update({'start': args.start, 'end': args.end})
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', default='http://172.30.99.13:9090')
    sub = parser.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up')
    up.add_argument('--nodes', type=lambda s: s.split(','), default=['node-a', 'node-b'])
    up.add_argument('--timeout', type=float, default=60.0)
    mv = sub.add_parser('moved')
    mv.add_argument('--to', required=True)
    mv.add_argument('--from-node', required=True)
    mv.add_argument('--at', type=float, required=True)
    mv.add_argument('--within', type=float, required=True)
    mv.add_argument('--window', type=int, default=30, help='seconds of samples read on each side of --at')
    al = sub.add_parser('alerts')
    al.add_argument('--start', type=float, required=True)
    al.add_argument('--end', type=float, required=True)
    al.add_argument('--alert', nargs='+', required=True)
    al.add_argument('--expect', choices=['silent', 'firing'], required=True)
    args = parser.parse_args(argv)
    report = {'up': cmd_up, 'moved': cmd_moved, 'alerts': cmd_alerts}[args.command](args)
    print(json.dumps(report, sort_keys=True))
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
