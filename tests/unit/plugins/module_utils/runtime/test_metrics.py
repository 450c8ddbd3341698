"""The node's metrics (metrics.py): what a health round publishes for
node_exporter's textfile collector, and that a scrape never reads half a file."""

import os

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils import runtime
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import metrics
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import state as files

NOW = 1_800_000_000.0
VRRP = {'instance': 'VI_NETSOCS', 'state': 'MASTER', 'priority': 150, 'time': '2027-01-15T08:00:00+00:00',
        'transitions': {'BACKUP': 1, 'MASTER': 2}}
HEALTHY = {'last_health': {'ok': True, 'status': 'healthy', 'kind': 'MASTER healthy', 'reason': 'MASTER healthy'},
           'guard': {'ok': True}}


def values(samples):
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples}


def test_a_serving_master():
    got = values(metrics.collect(HEALTHY, VRRP, True, 4, {}, NOW, holdoff_seconds=120))
    assert got[('netsocs_failover_vip_held', ())] == 1
    assert got[('netsocs_failover_vrrp_state', (('state', 'MASTER'),))] == 1
    assert got[('netsocs_failover_vrrp_state', (('state', 'BACKUP'),))] == 0
    assert got[('netsocs_failover_transitions_total', (('state', 'MASTER'),))] == 2
    assert got[('netsocs_failover_transitions_total', (('state', 'FAULT'),))] == 0
    assert got[('netsocs_failover_last_transition_timestamp_seconds', ())] == 1800000000.0
    assert got[('netsocs_failover_stack_containers_running', ())] == 4
    assert got[('netsocs_failover_health_ok', ())] == 1 and got[('netsocs_failover_storage_ok', ())] == 1
    assert got[('netsocs_failover_health_status', (('status', 'healthy'),))] == 1
    assert got[('netsocs_failover_standby_ready', ())] == 0  # the holder is nobody's standby
    assert got[('netsocs_failover_guard_ok', ())] == 1 and got[('netsocs_failover_failback_holdoff', ())] == 0
    assert ('netsocs_failover_last_drill_timestamp_seconds', ()) not in got


def test_a_broken_standby_says_why():
    stack = {'last_health': {'ok': False, 'status': 'failed', 'kind': 'shared storage broken'},
             'master_failed_at': NOW - 30, 'guard': {'ok': False}}
    got = values(metrics.collect(stack, dict(VRRP, state='BACKUP'), False, None, {'at': NOW - 86400, 'passed': True},
                                 NOW, holdoff_seconds=120))
    assert got[('netsocs_failover_storage_ok', ())] == 0 and got[('netsocs_failover_standby_ready', ())] == 0
    assert got[('netsocs_failover_health_info', (('reason', 'shared storage broken'),))] == 1
    assert got[('netsocs_failover_failback_holdoff', ())] == 1 and got[('netsocs_failover_guard_ok', ())] == 0
    assert ('netsocs_failover_stack_containers_running', ()) not in got  # unreadable is no evidence
    assert got[('netsocs_failover_last_drill_success', ())] == 1
    assert got[('netsocs_failover_last_drill_timestamp_seconds', ())] == NOW - 86400


def test_nothing_recorded_yet():
    got = values(metrics.collect({}, None, False, 0, {}, NOW))
    assert got[('netsocs_failover_vip_held', ())] == 0
    assert all(got[('netsocs_failover_vrrp_state', (('state', s),))] == 0 for s in ('MASTER', 'BACKUP', 'FAULT', 'STOP'))
    assert ('netsocs_failover_health_ok', ()) not in got and ('netsocs_failover_guard_ok', ()) not in got


def test_the_exposition_format():
    text = metrics.render(metrics.collect(
        {'last_health': {'ok': True, 'status': 'degraded', 'kind': 'MASTER degraded: "x"\\y'}}, VRRP, True, 3, {}, NOW))
    lines = text.splitlines()
    assert text.endswith('\n')
    assert lines[0] == '# HELP netsocs_failover_vip_held Whether this node holds the VIP (1) or not (0).'
    assert lines[1] == '# TYPE netsocs_failover_vip_held gauge' and lines[2] == 'netsocs_failover_vip_held 1'
    assert '# TYPE netsocs_failover_transitions_total counter' in lines
    assert 'netsocs_failover_vrrp_state{state="MASTER"} 1' in lines
    assert 'netsocs_failover_health_info{reason="MASTER degraded: \\"x\\"\\\\y"} 1' in lines
    # HELP and TYPE once per metric
    assert sum(1 for line in lines if line.startswith('# TYPE netsocs_failover_vrrp_state ')) == 1
    names = [name for name, _kind, _help in metrics.METRICS]
    assert len(names) == len(set(names)) and all(n.startswith('netsocs_failover_') for n in names)
    assert all(kind != 'counter' or name.endswith('_total') for name, kind, _help in metrics.METRICS)


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'netsocs_failover.prom'
    metrics.write(str(path), 'old 1\n')
    assert path.read_text() == 'old 1\n' and oct(os.stat(path).st_mode & 0o777) == '0o644'

    def interrupted(_fd):
        raise KeyboardInterrupt  # the process killed half way through the write

    monkeypatch.setattr(os, 'fsync', interrupted)
    with pytest.raises(KeyboardInterrupt):
        metrics.write(str(path), 'new 1\n' * 1000)
    assert path.read_text() == 'old 1\n' and [p.name for p in tmp_path.iterdir()] == ['netsocs_failover.prom']


class Node(object):
    def __init__(self, master, processes):
        self.master, self.processes = master, processes

    def is_master(self):
        return self.master

    def stack_processes(self):
        if isinstance(self.processes, Exception):
            raise self.processes
        return self.processes


def config(tmp_path, metrics_file):
    vrrp_state = tmp_path / 'vrrp-state.json'
    files.write_json(str(vrrp_state), VRRP)
    return {'metrics_file': metrics_file, 'vrrp_state_file': str(vrrp_state), 'failback_holdoff_seconds': 120,
            'drill_file': str(tmp_path / 'last-drill.json'), 'state_dir': str(tmp_path),
            'project_dir': str(tmp_path / 'project'), 'min_containers': 3}


def test_publish_writes_the_file_only_when_configured(tmp_path):
    state = files.State(str(tmp_path))
    state.update(**HEALTHY)
    assert metrics.publish(Node(True, [('caddy', 1)]), state, config(tmp_path, ''), NOW) is False
    assert not list(tmp_path.glob('*.prom'))
    out = tmp_path / 'netsocs_failover.prom'
    files.write_json(str(tmp_path / 'last-drill.json'), {'at': NOW - 60, 'passed': False})
    assert metrics.publish(Node(True, [('caddy', 1), ('traefik', 2)]), state, config(tmp_path, str(out)), NOW)
    text = out.read_text()
    assert 'netsocs_failover_vip_held 1' in text and 'netsocs_failover_stack_containers_running 2' in text
    assert 'netsocs_failover_stack_containers_expected 3' in text
    assert 'netsocs_failover_vrrp_state{state="MASTER"} 1' in text and 'netsocs_failover_last_drill_success 0' in text
    # the containers unreadable (/proc): the metric is left out, the rest is written
    assert metrics.publish(Node(False, OSError('gone')), state, config(tmp_path, str(out)), NOW)
    assert 'stack_containers_running' not in out.read_text() and 'netsocs_failover_vip_held 0' in out.read_text()


def test_the_reason_label_keeps_no_changing_number():
    stack = {'last_health': {'ok': False, 'status': 'failed',
                             'kind': 'BACKUP holding off failback: the stack failed here 12s ago'}}
    got = values(metrics.collect(stack, None, False, 0, {}, NOW))
    assert got[('netsocs_failover_health_info', (('reason', 'BACKUP holding off failback: the stack failed here Ns ago'),))] == 1
    stack['last_health']['kind'] = 'MASTER: critical container(s) not running: mediamtx2'
    got = values(metrics.collect(stack, None, True, 0, {}, NOW))
    assert got[('netsocs_failover_health_info', (('reason', 'MASTER: critical container(s) not running: mediamtx2'),))] == 1


def test_the_stack_digest_is_equal_for_equal_definitions_and_follows_a_change(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    assert metrics.stack_digest(str(a)) == ''  # nothing deployed: no digest
    for project in (a, b):
        project.mkdir()
        (project / 'docker-compose.yml').write_text('services: {}\n')
        (project / '.env').write_text('TAG=1\n')
    assert metrics.stack_digest(str(a)) == metrics.stack_digest(str(b)) != ''
    (b / '.env').write_text('TAG=2\n')
    assert metrics.stack_digest(str(a)) != metrics.stack_digest(str(b))
    # a file's content cannot pass for the other's name
    (b / '.env').write_text('')
    (b / 'docker-compose.yml').write_text('services: {}\nTAG=1\n')
    assert metrics.stack_digest(str(a)) != metrics.stack_digest(str(b))


def test_build_info_carries_the_version_and_the_digest():
    got = values(metrics.collect({}, None, False, 0, {}, NOW, stack_digest='0123456789ab'))
    assert got[('netsocs_failover_build_info', (('stack', '0123456789ab'), ('version', runtime.__version__)))] == 1
