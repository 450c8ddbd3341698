"""Failover measurement engine (netsocs.failover): the drill's recorders and the
one analysis of migration, outage and dual holders, shared by
playbooks/failover_drill.yml and the Molecule trials
(tests/tools/failover_trial.py).

    drill.py probe  --url URL --out FILE --stop-file FILE   (controller: HTTP to the VIP)
    drill.py sample --vip IP --out FILE --stop-file FILE     (each node: VIP, stack, VRRP state)
    drill.py act ACTION --events FILE [--interface IF]       (node A: fail or recover it)
    drill.py report --config FILE                            (controller: measure, judge, write)
    drill.py summary REPORT.json...                          (one line per drill)

The probe sends a fresh HTTP GET to the VIP every --interval seconds; each
node samples whether it holds the VIP and how many containers of the stack
run. Every record carries a wall-clock time (UTC epoch; the nodes and the
controller must be NTP-synchronised, as they are in production and in the
lab, which shares one kernel clock). `report` turns the records into the
measured times, a timeline and a verdict. Standard library only: the same
file runs on the controller and on the nodes.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

# ---------------------------------------------------------------- recording


def _loop(out, stop_file, interval, max_seconds, take):
    """Append take() as JSON lines to `out` every `interval` s until the stop
    file appears or `max_seconds` pass."""
    deadline = time.time() + max_seconds
    with open(out, 'a') as handle:
        while time.time() < deadline and not os.path.exists(stop_file):
            start = time.time()
            record = take()
            record.setdefault('t', start)
            handle.write(json.dumps(record) + '\n')
            handle.flush()
            time.sleep(max(0.0, interval - (time.time() - start)))


def served(status, body, expect_status=200, marker=''):
    """A request counts as service only with the expected status and, when one
    is configured, the page's marker in its first 64 KiB: an error page, a
    proxy's 404 or another site's page on the VIP is an outage."""
    return status == expect_status and marker in body


def answered_by(body, nodes):
    """The node whose name the page carries (each node's page names it), or None."""
    return next((node for node in nodes if node in body), None)


def probe_once(url, timeout, expect_status=200, marker='', nodes=()):
    """One fresh GET (the one prober: the drill, the Molecule trials and the
    soak send every request through it): {'t', 'ok', 'status', 'body', 'ms',
    'node'[, 'error']}; 'node' is which of `nodes` the page names."""
    start = time.time()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = answer.read(65536).decode('utf-8', 'replace')
            return {'t': start, 'ok': served(answer.status, body, expect_status, marker), 'status': answer.status,
                    'body': body.strip()[:64], 'ms': round((time.time() - start) * 1000, 1),
                    'node': answered_by(body, nodes)}
    except urllib.error.HTTPError as exc:
        return {'t': start, 'ok': served(exc.code, '', expect_status, marker), 'status': exc.code, 'body': '',
                'ms': round((time.time() - start) * 1000, 1), 'node': None}
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, no route, cut short
        return {'t': start, 'ok': False, 'status': None, 'error': str(exc)[:80],
                'ms': round((time.time() - start) * 1000, 1), 'node': None}


def load_runtime(runtime_dir):
    """The node runtime installed in runtime_dir (the collection's
    plugins/module_utils/runtime/): the sampler reads the VIP and the VRRP
    state exactly as the vip_status module and the stack hook read them."""
    sys.path.insert(0, runtime_dir)
    from runtime import vip, vrrp  # noqa: E402  pylint: disable=import-outside-toplevel
    return argparse.Namespace(vip=vip, vrrp=vrrp)


def holds_vip(ip_json, vip, runtime):
    """True/False from `ip -j -4 addr` output; None when it cannot be read."""
    try:
        return runtime.vip.find_vip(runtime.vip.parse_ip_addr_json(ip_json), vip) is not None
    except runtime.vip.VipError:
        return None


def sample_once(vip, project, state_file, runtime):
    record = {'t': time.time()}
    res = subprocess.run(['ip', '-j', '-4', 'addr', 'show'], capture_output=True, text=True, timeout=5, check=False)
    record['vip'] = holds_vip(res.stdout, vip, runtime) if res.returncode == 0 else None
    try:
        res = subprocess.run(['docker', 'ps', '--filter', 'label=com.docker.compose.project=' + project,
                              '--format', '{{.Label "com.docker.compose.service"}}'],
                             capture_output=True, text=True, timeout=5, check=False)
        running = res.stdout.split() if res.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        running = None
    # How many containers of the stack run, and which services.
    record['containers'] = len(running) if running is not None else None
    record['services'] = sorted(set(running)) if running is not None else None
    record['vrrp'] = runtime.vrrp.read_state(state_file)
    return record


# A nested container's freezer on a cgroup v1 host whose nodes share its
# cgroup namespace: the nested engine puts it beside the node's, not under it.
NESTED_FREEZER = '/sys/fs/cgroup/freezer/docker/%s/freezer.state'


def freeze(container, saved, run=subprocess.run):
    """Freeze a lab node whole: `docker pause` freezes its own cgroup
    (systemd, Keepalived, dockerd), then the nested stack containers'
    freezers beside it are frozen too (otherwise its page keeps answering).
    A node without a nested engine (Keepalived alone) has none. Their ids go
    to `saved`, for thaw(). Returns them."""
    listed = run(['docker', 'exec', container, 'docker', 'ps', '-q', '--no-trunc'],
                 capture_output=True, text=True, check=False, timeout=30)
    ids = listed.stdout.split() if listed.returncode == 0 else []
    run(['docker', 'pause', container], capture_output=True, check=True, timeout=60)
    frozen = [cid for cid in ids if os.path.exists(NESTED_FREEZER % cid)]
    with open(saved, 'w') as handle:
        json.dump(frozen, handle)
    for cid in frozen:
        with open(NESTED_FREEZER % cid, 'w') as handle:
            handle.write('FROZEN')
    return frozen


def thaw(container, saved, run=subprocess.run):
    """Undo freeze(): the nested containers first, then the node."""
    ids = []
    if os.path.exists(saved):
        with open(saved) as handle:
            ids = json.load(handle)
    for cid in ids:
        if os.path.exists(NESTED_FREEZER % cid):
            with open(NESTED_FREEZER % cid, 'w') as handle:
                handle.write('THAWED')
    run(['docker', 'unpause', container], capture_output=True, check=True, timeout=60)
    if os.path.exists(saved):
        os.remove(saved)


def route_commands(routes_json, interface):
    """`ip route replace` commands that restore the routes of `ip -j route
    show dev IF`: taking a link down deletes them, bringing it up restores only
    the prefix routes of its addresses (not the default route)."""
    commands = []
    for route in json.loads(routes_json or '[]'):
        command = ['ip', 'route', 'replace', route['dst']]
        if route.get('gateway'):
            command += ['via', route['gateway']]
        command += ['dev', interface]
        for key, option in (('protocol', 'proto'), ('scope', 'scope'), ('prefsrc', 'src'), ('metric', 'metric')):
            if route.get(key) not in (None, ''):
                command += [option, str(route[key])]
        commands.append(command)
    return commands


def commands(*templates):
    """An action that runs these commands in turn ({name} filled from the values)."""
    def run(values, events):
        for command in templates:
            subprocess.run([part.format(**values) for part in command], check=True, timeout=300)
    return run


def routes_file(events, values):
    return events + '.routes-%s.json' % values['interface']


def link_down(values, events):
    """Take the link down, saving its routes first (taking it down deletes them)."""
    saved = subprocess.run(['ip', '-j', 'route', 'show', 'dev', values['interface']],
                           capture_output=True, text=True, check=True, timeout=10).stdout
    with open(routes_file(events, values), 'w') as handle:
        handle.write(saved)
    commands(['ip', 'link', 'set', 'dev', '{interface}', 'down'])(values, events)


def link_up(values, events):
    """Bring the link up and restore the routes link_down() saved."""
    commands(['ip', 'link', 'set', 'dev', '{interface}', 'up'])(values, events)
    if os.path.exists(routes_file(events, values)):
        with open(routes_file(events, values)) as handle:
            for command in route_commands(handle.read(), values['interface']):
                subprocess.run(command, check=True, timeout=10)


def frozen_file(events, values):
    return events + '.frozen-%s.json' % values['container']


# The failures (and recoveries) a node can be put through, as the commands
# each runs on that node: the one table of failure actions. The drill runs
# them on node A (`drill.py act NAME`); the Molecule trials, bench and
# mutations run the same ones in a lab node (tests/tools/failover_trial.py).
# {name}: filled in from the values (--project-dir, --stack-hook, --project).
NODE_COMMANDS = {
    'stop_keepalived': [['systemctl', 'stop', 'keepalived']],
    'start_keepalived': [['systemctl', 'start', 'keepalived']],
    # Keepalived hung (every process of its unit stopped): its watchdog
    # fences it; then resumed, and the failback hold-off the fence set lifted.
    'freeze_keepalived': [['systemctl', 'kill', '--signal=SIGSTOP', 'keepalived']],
    'resume_keepalived': [['systemctl', 'kill', '--signal=SIGCONT', 'keepalived'], ['{stack_hook}', 'clear-holdoff']],
    # The Docker daemon hung (its main process stopped; the containers run
    # on): the health check fails, the VIP moves, the demotion kills the
    # containers without the daemon. Then resumed, and the hold-off lifted.
    'freeze_dockerd': [['systemctl', 'kill', '--kill-whom=main', '--signal=SIGSTOP', 'docker.service']],
    'resume_dockerd': [['systemctl', 'kill', '--kill-whom=main', '--signal=SIGCONT', 'docker.service'],
                       ['{stack_hook}', 'clear-holdoff']],
    'stack_down': [['docker', 'compose', '--project-directory', '{project_dir}', 'down']],
    # The node's own stack failed and was fixed: lift the failback hold-off.
    'clear_holdoff': [['{stack_hook}', 'clear-holdoff']],
    # A critical container dies (the health check starts it again in place).
    'kill_caddy': [['docker', 'kill', 'netsocs-caddy']],
    # The Docker daemon crashes (systemd starts it again; without live-restore
    # it stops the containers as it comes back).
    'kill_dockerd': [['systemctl', 'kill', '--signal=KILL', 'docker.service']],
    # Every container of the stack killed at once.
    'kill_stack': [['sh', '-c', 'docker kill $(docker ps -q --filter label=com.docker.compose.project={project})']],
}


def node_commands(name, **values):
    """The commands of NODE_COMMANDS[name], {name}s filled from `values`."""
    return [[part.format(**values) for part in command] for command in NODE_COMMANDS[name]]


ACTIONS = dict({name: commands(*templates) for name, templates in NODE_COMMANDS.items()}, **{
    'link_down': link_down,
    'link_up': link_up,
    # Lab only, from the controller: freeze the node whole (a hard failure).
    'freeze': lambda values, events: freeze(values['container'], frozen_file(events, values)),
    'unfreeze': lambda values, events: thaw(values['container'], frozen_file(events, values)),
})


def act(action, events, **values):
    """Log the start time of one drill action, then run it (on this node, or
    for freeze/unfreeze on the lab's controller). Returns the start time."""
    started = time.time()
    with open(events, 'a') as handle:
        handle.write(json.dumps({'t': started, 'event': action}) + '\n')
    ACTIONS[action](values, events)
    return started

# ---------------------------------------------------------------- analysis


def read_jsonl(path):
    records = []
    if path and os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        pass  # a line cut short when the recorder was stopped
    return sorted(records, key=lambda r: r['t'])


def intervals(samples, key, stale):
    """[(start, end)] while samples[key] is truthy. A sample stands until the
    next one, but at most `stale` seconds: a frozen node's silence is not
    evidence of anything."""
    return [(start, end) for start, end, held in spans(samples, key, stale) if held]


def longest_overlap(spans_a, spans_b):
    best = 0.0
    for a_start, a_end in spans_a:
        for b_start, b_end in spans_b:
            best = max(best, min(a_end, b_end) - max(a_start, b_start))
    return best


def sole_holder_since(samples_new, samples_old, since, key='vip'):
    """First sample time >= since at which the new node holds and the old
    node's latest sample (if recent) does not."""
    for sample in samples_new:
        if sample['t'] < since or not sample.get(key):
            continue
        older = [s for s in samples_old if s['t'] <= sample['t']]
        if not older or not older[-1].get(key) or sample['t'] - older[-1]['t'] > 1.0:
            return sample['t']
    return None


def first_holder_since(samples, since, key='vip'):
    return next((s['t'] for s in samples if s['t'] >= since and s.get(key)), None)


def outage(probes, since, until=None):
    """Failed requests in [since, until), the longest run of failures (from
    the first failed request to the next good one) and when service was
    back for good (the first good answer after the last failure)."""
    window = [p for p in probes if p['t'] >= since and (until is None or p['t'] < until)]
    failed = [p for p in window if not p['ok']]
    longest, run_start = 0.0, None
    for p in window:
        if not p['ok'] and run_start is None:
            run_start = p['t']
        elif p['ok'] and run_start is not None:
            longest = max(longest, p['t'] - run_start)
            run_start = None
    if run_start is not None:  # still failing at the end of the window
        longest = max(longest, window[-1]['t'] - run_start)
    back = None
    if failed:
        back = next((p['t'] for p in window if p['ok'] and p['t'] > failed[-1]['t']), None)
    return {'requests': len(window), 'failed': len(failed), 'longest_outage_s': round(longest, 2),
            'service_back_s': round(back - since, 2) if back else (0.0 if window and not failed else None)}


def timeline(streams, start):
    """Changes in each stream: (seconds from start, source, what)."""
    events = []
    for source, records, keys in streams:
        last = {}
        for record in records:
            for key in keys:
                value = record.get(key)
                if key == 'containers' and value is not None:
                    value = 'running' if value > 0 else 'none'
                if key == 'services' and value is not None:
                    value = ', '.join(value) or 'none'
                if key == 'body' and not record.get('ok'):
                    value = 'FAILED'
                if key not in last or last[key] != value:
                    if key in last or value not in (None, False, 'none'):
                        events.append((round(record['t'] - start, 2), source, '%s %s' % (key, value)))
                    last[key] = value
    return sorted(events)


def analyse(config, probes, samples_a, samples_b, events):
    """The measured times and the verdict of one drill."""
    thresholds = config['thresholds']
    stale = config.get('stale_s', 1.0)
    t_fail = next(e['t'] for e in events if e['event'] == config['fail_event'])
    t_recover = next((e['t'] for e in events if e['event'] == config['recover_event']), None)
    migrated = sole_holder_since(samples_b, samples_a, t_fail)
    if migrated is None:
        migrated = first_holder_since(samples_b, t_fail)
    preempted = sole_holder_since(samples_a, samples_b, t_recover) if t_recover else None
    result = {
        'method': config['method'],
        'migration_s': round(migrated - t_fail, 2) if migrated else None,
        'stack_on_b_s': _since(first_holder_since(samples_b, t_fail, 'containers'), t_fail),
        # A take-over is complete when node B runs every service node A ran.
        'services': services_before(samples_a, t_fail),
        'whole_stack_on_b_s': _since(whole_stack_since(samples_b, services_before(samples_a, t_fail), t_fail), t_fail),
        'failover_clients': outage(probes, t_fail, t_recover),
        'preempt_s': round(preempted - t_recover, 2) if preempted and t_recover else None,
        'stack_back_on_a_s': _since(first_holder_since(samples_a, t_recover, 'containers'), t_recover)
        if t_recover else None,
        'whole_stack_back_on_a_s': _since(whole_stack_since(samples_a, services_before(samples_a, t_fail), t_recover),
                                          t_recover) if t_recover else None,
        'recovery_clients': outage(probes, t_recover) if t_recover else None,
        'dual_vip_longest_s': round(longest_overlap(intervals(samples_a, 'vip', stale),
                                                    intervals(samples_b, 'vip', stale)), 2),
        'dual_stack_longest_s': round(longest_overlap(intervals(samples_a, 'containers', stale),
                                                      intervals(samples_b, 'containers', stale)), 2),
    }
    failures = []
    if result['migration_s'] is None:
        failures.append('node B never held the VIP')
    elif result['migration_s'] > thresholds['migration_s']:
        failures.append('VIP migration %.2f s > %s s' % (result['migration_s'], thresholds['migration_s']))
    if t_recover and result['preempt_s'] is None:
        failures.append('the VIP never came back to node A alone')
    elif result['preempt_s'] is not None and result['preempt_s'] > thresholds['preempt_s']:
        failures.append('preempt %.2f s > %s s' % (result['preempt_s'], thresholds['preempt_s']))
    outages = [('failover_clients', 'client_outage_s', 'clients saw an outage of %.2f s during the failover > %s s'),
               ('recovery_clients', 'preempt_outage_s', 'clients saw an outage of %.2f s during the preempt > %s s')]
    for part, limit, message in outages:
        longest = (result[part] or {}).get('longest_outage_s')
        if limit in thresholds and longest is not None and longest > float(thresholds[limit]):
            failures.append(message % (longest, thresholds[limit]))
    if result['dual_vip_longest_s'] > thresholds['dual_vip_s']:
        failures.append('both nodes held the VIP for %.2f s' % result['dual_vip_longest_s'])
    if result['dual_stack_longest_s'] > thresholds['dual_stack_s']:
        failures.append('both nodes ran the stack for %.2f s' % result['dual_stack_longest_s'])
    result['failures'] = failures
    result['passed'] = not failures
    result['thresholds'] = thresholds
    start = min([t_fail] + [r['t'] for r in probes[:1]])
    result['timeline'] = [
        {'t': t, 'source': source, 'event': what} for t, source, what in timeline([
            ('drill', events, ['event']),
            ('client', probes, ['body']),
            (config['node_a'], samples_a, ['vrrp', 'vip', 'containers', 'services']),
            (config['node_b'], samples_b, ['vrrp', 'vip', 'containers', 'services']),
        ], t_fail)]
    result['started'] = datetime.datetime.fromtimestamp(start, datetime.timezone.utc).isoformat(timespec='seconds')
    return result


def whole_stack_since(samples, expected, since):
    """When a node first ran every service of `expected` at or after `since`."""
    if not expected or since is None:
        return None
    return next((s['t'] for s in samples if s['t'] >= since and set(expected) <= set(s.get('services') or ())),
                None)


def services_before(samples, moment):
    """The services a node ran in its last sample before `moment` (the whole stack, on the MASTER)."""
    before = [s for s in samples if s['t'] < moment and s.get('services')]
    return before[-1]['services'] if before else []


def _since(moment, origin):
    return round(moment - origin, 2) if moment is not None and origin is not None else None


def _fmt(value, unit=' s'):
    return 'n/a' if value is None else '%s%s' % (value, unit)


def _limit(thresholds, name):
    return '%s s' % thresholds[name] if name in thresholds else ''


def markdown(result, chart_file=None):
    fc, rc = result['failover_clients'], result['recovery_clients'] or {}
    th = result['thresholds']
    lines = [
        '# Failover drill: %s (%s)' % (result['method'], result['started']),
        '',
        '**%s**%s' % ('PASSED' if result['passed'] else 'FAILED',
                      '' if result['passed'] else ': ' + '; '.join(result['failures'])),
        '',
        '| measure | value | limit |',
        '|---|---|---|',
        '| VIP migration to node B | %s | %s s |' % (_fmt(result['migration_s']), th['migration_s']),
        '| stack running on node B after | %s | |' % _fmt(result['stack_on_b_s']),
        '| every service (%s) running on node B after | %s | |' % (
            ', '.join(result.get('services') or []) or 'none seen', _fmt(result.get('whole_stack_on_b_s'))),
        '| client outage during failover (longest) | %s | %s |' % (
            _fmt(fc['longest_outage_s']), _limit(th, 'client_outage_s')),
        '| failed requests during failover | %s of %s | |' % (fc['failed'], fc['requests']),
        '| service back through the VIP after | %s | |' % _fmt(fc['service_back_s']),
        '| preempt back to node A | %s | %s s |' % (_fmt(result['preempt_s']), th['preempt_s']),
        '| every service running on node A again after | %s | |' % _fmt(result.get('whole_stack_back_on_a_s')),
        '| client outage during preempt (longest) | %s | %s |' % (
            _fmt(rc.get('longest_outage_s')), _limit(th, 'preempt_outage_s')),
        '| failed requests during preempt | %s of %s | |' % (rc.get('failed', 'n/a'), rc.get('requests', 'n/a')),
        '| both nodes held the VIP (longest) | %s | %s s |' % (_fmt(result['dual_vip_longest_s']), th['dual_vip_s']),
        '| both nodes ran the stack (longest) | %s | %s s |' % (_fmt(result['dual_stack_longest_s']), th['dual_stack_s']),
        '',
        '## Timeline (seconds from the failure)',
        '',
    ]
    if chart_file:
        lines += ['![VIP holder, stack per node and client success over time](%s)' % chart_file, '',
                  'Green: the client was served, the node held the VIP or ran the stack; red: a failed '
                  'request; dashed lines: what the drill did.', '']
    lines += [
        '| t | source | event |',
        '|---|---|---|',
    ]
    lines += ['| %+.2f | %s | %s |' % (e['t'], e['source'], e['event']) for e in result['timeline']]
    return '\n'.join(lines) + '\n'


def spans(records, key, stale, value=bool):
    """[(start, end, value(record))] of consecutive records with the same
    value(record); a record stands until the next one, at most `stale` seconds."""
    out = []
    for this, following in zip(records, records[1:] + [None]):
        end = this['t'] + stale if following is None else min(following['t'], this['t'] + stale)
        state = value(this.get(key)) if key else value(this)
        if out and out[-1][2] == state and abs(out[-1][1] - this['t']) < 1e-9:
            out[-1] = (out[-1][0], end, state)
        else:
            out.append((this['t'], end, state))
    return out


def svg(lanes, events, origin, width=900, lane_h=22):
    """A timeline chart as SVG text (no library, no network): one lane per
    (label, [(start, end, state)]) with state True (green), False (grey) or
    None (red, a failed request), and a dashed line for each (t, label) event.
    Times are epoch seconds; the axis shows seconds from `origin`."""
    times = [t for lane in lanes for run in lane[1] for t in run[:2]] + [event[0] for event in events]
    if not times:
        times = [origin, origin + 1]
    t_min, t_max = min(times), max(times)
    span = max(t_max - t_min, 1e-6)
    left, top = 150, 24
    plot_w = width - left - 10
    height = top + lane_h * len(lanes) + 40

    def x(t):
        return left + (t - t_min) / span * plot_w

    colour = {True: '#2e9e44', False: '#d9d9d9', None: '#d62728'}
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>']
    for row, (label, runs) in enumerate(lanes):
        y = top + row * lane_h
        out.append('<text x="4" y="%d">%s</text>' % (y + 15, _xml(label)))
        for start, end, state in runs:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>'
                       % (x(start), y + 3, max(x(end) - x(start), 0.5), lane_h - 6, colour[state]))
    axis_y = top + lane_h * len(lanes) + 4
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 30, 60, 120) if span / s <= 12)
    tick = (int((t_min - origin) / step) - 1) * step
    while tick <= t_max - origin:
        if tick >= t_min - origin:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>'
                       % (x(origin + tick), axis_y, x(origin + tick), axis_y + 4))
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (x(origin + tick), axis_y + 16, tick))
        tick += step
    out.append('<text x="%d" y="%d">s from the failure</text>' % (left + plot_w - 110, axis_y + 32))
    for t, label in events:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="4 3"/>'
                   % (x(t), top - 4, x(t), axis_y))
        out.append('<text x="%.1f" y="%d">%s</text>' % (x(t) + 3, top - 8, _xml(label)))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def _xml(text):
    return str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def chart(config, probes, samples_a, samples_b, events):
    """The drill's timeline chart (SVG): client success, then each node's VIP and stack."""
    stale = config.get('stale_s', 1.0)
    t_fail = next(e['t'] for e in events if e['event'] == config['fail_event'])
    lanes = [('client (through VIP)', spans(probes, None, stale, lambda r: True if r.get('ok') else None))]
    for name, samples in ((config['node_a'], samples_a), (config['node_b'], samples_b)):
        lanes.append(('%s VIP' % name, spans(samples, 'vip', stale)))
        lanes.append(('%s stack' % name, spans(samples, 'containers', stale)))
    return svg(lanes, [(e['t'], e['event']) for e in events], t_fail)


def summary_line(result):
    fc = result['failover_clients']
    return ('%-16s %s  migration %s  client outage %s (%d failed)  preempt %s  dual VIP %s  dual stack %s'
            % (result['method'], 'PASS' if result['passed'] else 'FAIL', _fmt(result['migration_s']),
               _fmt(fc['longest_outage_s']), fc['failed'], _fmt(result['preempt_s']),
               _fmt(result['dual_vip_longest_s']), _fmt(result['dual_stack_longest_s'])))


def report(config_file):
    with open(config_file) as handle:
        config = json.load(handle)
    events = read_jsonl(config['events'])
    for extra in config.get('extra_events', []):
        events += read_jsonl(extra)
    events.sort(key=lambda e: e['t'])
    result = analyse(config, read_jsonl(config['probe']), read_jsonl(config['samples_a']),
                     read_jsonl(config['samples_b']), events)
    base = config['report_base']
    with open(base + '.json', 'w') as handle:
        json.dump(result, handle, indent=2)
    with open(base + '.svg', 'w') as handle:
        handle.write(chart(config, read_jsonl(config['probe']), read_jsonl(config['samples_a']),
                           read_jsonl(config['samples_b']), events))
    with open(base + '.md', 'w') as handle:
        handle.write(markdown(result, os.path.basename(base) + '.svg'))
    print(json.dumps({'summary': summary_line(result), 'passed': result['passed'],
                      'failures': result['failures'], 'report': base + '.md'}))
    return 0

# ---------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('probe')
    p.add_argument('--url', required=True)
    p.add_argument('--timeout', type=float, default=0.5)
    p.add_argument('--expect-status', type=int, default=200, help='the status that counts as service')
    p.add_argument('--marker', default='', help='text the page must contain to count as service')
    s = sub.add_parser('sample')
    s.add_argument('--vip', required=True)
    s.add_argument('--project', default='netsocs')
    s.add_argument('--state-file', required=True, help='the VRRP state file vrrp-notify writes')
    s.add_argument('--runtime-dir', required=True, help='where the node runtime (its runtime/ package) is installed')
    for each in (p, s):
        each.add_argument('--out', required=True)
        each.add_argument('--stop-file', required=True)
        each.add_argument('--interval', type=float, default=0.1)
        each.add_argument('--max-seconds', type=float, default=900)
    a = sub.add_parser('act')
    a.add_argument('action', choices=sorted(ACTIONS))
    a.add_argument('--events', required=True)
    a.add_argument('--interface', default='eth0')
    a.add_argument('--project-dir')
    a.add_argument('--stack-hook')
    a.add_argument('--project', default='netsocs')
    a.add_argument('--container', default='node-a')
    r = sub.add_parser('report')
    r.add_argument('--config', required=True)
    m = sub.add_parser('summary', help='one line per JSON report')
    m.add_argument('reports', nargs='+')
    o = sub.add_parser('outage', help="what the prober's clients saw, as JSON (a change made with clients watching)")
    o.add_argument('probes', help="the prober's JSON lines")
    args = parser.parse_args(argv)
    if args.command == 'probe':
        _loop(args.out, args.stop_file, args.interval, args.max_seconds, lambda: probe_once(args.url, args.timeout, args.expect_status, args.marker))
    elif args.command == 'sample':
        runtime = load_runtime(args.runtime_dir)
        _loop(args.out, args.stop_file, args.interval, args.max_seconds,
              lambda: sample_once(args.vip, args.project, args.state_file, runtime))
    elif args.command == 'act':
        started = act(args.action, args.events, interface=args.interface, project_dir=args.project_dir,
                      container=args.container, stack_hook=args.stack_hook, project=args.project)
        print(json.dumps({'action': args.action, 't': started}))
    elif args.command == 'report':
        return report(args.config)
    elif args.command == 'outage':
        probes = sorted(read_jsonl(args.probes), key=lambda p: p['t'])
        print(json.dumps(outage(probes, probes[0]['t'] if probes else 0.0)))
    elif args.command == 'summary':
        for path in args.reports:
            with open(path) as handle:
                print(summary_line(json.load(handle)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
