# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's metrics for Prometheus, through node_exporter's textfile
collector: after every health round (`stack-hook health`, every second),
every transition's stack sync and a watchdog fence (cli.publish_metrics), the
runtime writes `metrics_file` (stack.json; empty: off) in the text exposition
format, atomically (a temporary file in the same directory, then a rename),
so a scrape never reads half a file.

`collect` turns what the node recorded (stack-state.json, the VRRP state file,
the last drill's record) and two live readings (the VIP, the stack's
containers read from /proc) into samples; `render` writes them out. METRICS
is the one list of names, types and meanings (docs/operations.md's table is
generated from it).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import tempfile

from . import __version__, vrrp
from .state import read_json

# (name, type, help). Names follow Prometheus' conventions: the
# netsocs_failover_ prefix, base units, _total for counters.
METRICS = (
    ('netsocs_failover_vip_held', 'gauge', 'Whether this node holds the VIP (1) or not (0).'),
    ('netsocs_failover_vrrp_state', 'gauge',
     'The VRRP state Keepalived last reported on this node: 1 for the current state, 0 for the others.'),
    ('netsocs_failover_transitions_total', 'counter',
     'VRRP transitions Keepalived reported on this node since boot, by the state entered.'),
    ('netsocs_failover_last_transition_timestamp_seconds', 'gauge',
     'When Keepalived last reported a transition on this node (seconds since the epoch).'),
    ('netsocs_failover_stack_containers_running', 'gauge',
     "The stack's containers running on this node (read from /proc, without the Docker daemon)."),
    ('netsocs_failover_stack_containers_expected', 'gauge',
     'The fewest containers of the stack a healthy MASTER runs (docker_stack_min_containers).'),
    ('netsocs_failover_health_ok', 'gauge', "Whether the health check Keepalived tracks last passed (1) or failed (0)."),
    ('netsocs_failover_health_status', 'gauge',
     'The last health round: 1 for its status (healthy, degraded: serving with a service down, failed), 0 for the others.'),
    ('netsocs_failover_health_info', 'gauge', "The last health round's reason, without its changing numbers, as a label."),
    ('netsocs_failover_storage_ok', 'gauge', 'Whether the last health round found the shared storage usable (1) or not (0).'),
    ('netsocs_failover_failback_holdoff', 'gauge',
     "Whether this node holds off failback (1) after its stack failed as MASTER (stack-hook clear-holdoff lifts it)."),
    ('netsocs_failover_guard_ok', 'gauge',
     "The split-brain guard's last verdict: 1 connected and alone, 0 isolated or yielding (absent without the guard)."),
    ('netsocs_failover_standby_ready', 'gauge',
     'Whether this node, not holding the VIP, could take it now (its health check passes): 0 on the VIP holder.'),
    ('netsocs_failover_last_drill_timestamp_seconds', 'gauge',
     'When failover_drill.yml last finished on this pair (seconds since the epoch; absent before the first drill).'),
    ('netsocs_failover_last_drill_success', 'gauge', 'Whether that drill passed (1) or failed (0).'),
    ('netsocs_failover_build_info', 'gauge',
     "Always 1: the runtime's version and a digest of the stack's definition (the project's compose file and .env), "
     'equal on both nodes when they run the same stack.'),
    ('netsocs_failover_replica_last_pull_timestamp_seconds', 'gauge',
     "Replicated shares: when this node last pulled its peer's copy (seconds since the epoch)."),
    ('netsocs_failover_replica_term', 'gauge', "Replicated shares: the term of this node's copy (promotions that started the stack)."),
    ('netsocs_failover_cloud_address_ok', 'gauge',
     "AWS: 1 when this node's last try to associate the Elastic IP with itself succeeded (or found it there), 0 when it failed."),
    ('netsocs_failover_metrics_timestamp_seconds', 'gauge', 'When this file was written (seconds since the epoch).'),
)
# The stack's definition, in the project directory (the docker_stack role writes both).
STACK_FILES = ('docker-compose.yml', '.env')
HEALTH_STATUSES = ('healthy', 'degraded', 'failed')
NUMBER = re.compile(r'\b\d+(?:\.\d+)?(?=s?\b)')
STORAGE_BROKEN = 'shared storage broken'


def collect(stack_state, vrrp_record, vip_held, containers_running, drill, now, holdoff_seconds=0,
            stack_digest='', containers_expected=None):
    """[(name, labels, value)] from what the node recorded and read: the
    stack state (stack-state.json), the VRRP record (None: nothing recorded),
    whether it holds the VIP, its running containers (None: unreadable), the
    last drill's record ({} before any), the stack definition's digest."""
    samples = [('netsocs_failover_vip_held', {}, int(bool(vip_held)))]
    current = (vrrp_record or {}).get('state')
    samples += [('netsocs_failover_vrrp_state', {'state': state}, int(state == current)) for state in vrrp.STATES]
    counts = (vrrp_record or {}).get('transitions') or {}
    samples += [('netsocs_failover_transitions_total', {'state': state}, int(counts.get(state, 0)))
                for state in vrrp.STATES]
    when = transition_time(vrrp_record)
    if when is not None:
        samples.append(('netsocs_failover_last_transition_timestamp_seconds', {}, when))
    if containers_running is not None:
        samples.append(('netsocs_failover_stack_containers_running', {}, int(containers_running)))
    if containers_expected is not None:
        samples.append(('netsocs_failover_stack_containers_expected', {}, int(containers_expected)))
    health = stack_state.get('last_health') or {}
    if health:
        ok = bool(health.get('ok'))
        samples.append(('netsocs_failover_health_ok', {}, int(ok)))
        samples += [('netsocs_failover_health_status', {'status': status}, int(status == health.get('status')))
                    for status in HEALTH_STATUSES]
        kind = str(health.get('kind') or '')
        # a label that changes every second is a new series every second: numbers out
        samples.append(('netsocs_failover_health_info', {'reason': NUMBER.sub('N', kind)}, 1))
        samples.append(('netsocs_failover_storage_ok', {}, int(not kind.startswith(STORAGE_BROKEN))))
        samples.append(('netsocs_failover_standby_ready', {}, int(ok and not vip_held)))
    failed_at = float(stack_state.get('master_failed_at') or 0)
    samples.append(('netsocs_failover_failback_holdoff', {}, int(bool(failed_at) and now - failed_at < holdoff_seconds)))
    guard = stack_state.get('guard')
    if isinstance(guard, dict) and 'ok' in guard:
        samples.append(('netsocs_failover_guard_ok', {}, int(bool(guard['ok']))))
    moved = stack_state.get('cloud')
    if isinstance(moved, dict) and moved:
        samples.append(('netsocs_failover_cloud_address_ok', {}, int(bool(moved.get('ok')))))
    replica = stack_state.get('replica')
    if isinstance(replica, dict) and replica:
        if replica.get('pulled_at'):
            samples.append(('netsocs_failover_replica_last_pull_timestamp_seconds', {}, float(replica['pulled_at'])))
        samples.append(('netsocs_failover_replica_term', {}, int(replica.get('term') or 0)))
    if drill.get('at'):
        samples.append(('netsocs_failover_last_drill_timestamp_seconds', {}, float(drill['at'])))
        samples.append(('netsocs_failover_last_drill_success', {}, int(bool(drill.get('passed')))))
    samples.append(('netsocs_failover_build_info', {'version': __version__, 'stack': stack_digest}, 1))
    samples.append(('netsocs_failover_metrics_timestamp_seconds', {}, round(float(now), 3)))
    return samples


def stack_digest(project_dir):
    """The first 12 hex digits of a SHA-256 over the stack's definition files
    (a missing one counts as empty), or '' when none can be read."""
    digest, found = hashlib.sha256(), False
    for name in STACK_FILES:
        digest.update(name.encode() + b'\0')
        try:
            with open(os.path.join(project_dir, name), 'rb') as handle:
                digest.update(handle.read())
            found = True
        except OSError:
            pass
        digest.update(b'\0')
    return digest.hexdigest()[:12] if found else ''


def transition_time(vrrp_record):
    """The VRRP record's time (ISO 8601, as vrrp-notify writes it) in seconds
    since the epoch, or None."""
    try:
        return round(datetime.datetime.fromisoformat(str((vrrp_record or {})['time'])).timestamp(), 3)
    except (KeyError, ValueError):
        return None


def escape(value):
    """A label value as the exposition format wants it."""
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def render(samples):
    """The text exposition format: HELP and TYPE once per metric, in METRICS' order."""
    lines = []
    for name, kind, text in METRICS:
        mine = [(labels, value) for metric, labels, value in samples if metric == name]
        if not mine:
            continue
        lines += ['# HELP %s %s' % (name, text), '# TYPE %s %s' % (name, kind)]
        for labels, value in mine:
            label_text = ','.join('%s="%s"' % (key, escape(val)) for key, val in sorted(labels.items()))
            lines.append('%s%s %s' % (name, '{%s}' % label_text if label_text else '', value))
    return '\n'.join(lines) + '\n'


def write(path, text):
    """Replace `path` with `text` atomically (mode 0644): a temporary file in the
    same directory, flushed, then renamed over it."""
    directory = os.path.dirname(path) or '.'
    fd, temp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def drill_record(config):
    """The last drill's record ({'at', 'passed'}), which failover_drill.yml
    leaves in the state's persistent directory; {} before any drill."""
    return read_json(config['drill_file']) if config.get('drill_file') else {}


def publish(node, state, config, now):
    """Write this node's metrics to config['metrics_file'] (nothing when empty)."""
    if not config.get('metrics_file'):
        return False
    try:
        containers = len(node.stack_processes())
    except OSError:
        containers = None
    record = vrrp.read_record(config['vrrp_state_file']) if config.get('vrrp_state_file') else None
    samples = collect(state.read(), record, node.is_master(), containers, drill_record(config), now,
                      holdoff_seconds=config['failback_holdoff_seconds'], stack_digest=stack_digest(config['project_dir']),
                      containers_expected=config.get('min_containers'))
    write(config['metrics_file'], render(samples))
    return True
