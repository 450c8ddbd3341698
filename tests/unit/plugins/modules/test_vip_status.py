"""vip_status end to end inside the module, with `ip` and the files replayed."""

import functools
import json
import os
import signal

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netsocs.failover.plugins.modules import vip_status

MASTER = json.dumps([{"ifname": "eth0", "addr_info": [
    {"family": "inet", "local": "172.30.99.11", "prefixlen": 24},
    {"family": "inet", "local": "172.30.99.100", "prefixlen": 24, "secondary": True}]}])
BACKUP = json.dumps([{"ifname": "eth0", "addr_info": [
    {"family": "inet", "local": "172.30.99.12", "prefixlen": 24}]}])


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A fake node: the `ip` outputs it will give in turn, its state and pid files."""
    state = tmp_path / 'vrrp-state.json'
    pid = tmp_path / 'keepalived.pid'
    outputs = []

    def run_command(self, args, **kwargs):
        assert args[1:] == ['-j', '-4', 'addr', 'show']
        return 0, outputs.pop(0) if len(outputs) > 1 else outputs[0], ''

    monkeypatch.setattr(vip_status.AnsibleModule, 'get_bin_path', lambda self, name, required=False: '/sbin/ip')
    monkeypatch.setattr(vip_status.AnsibleModule, 'run_command', run_command)
    return {'state': state, 'pid': pid, 'outputs': outputs}


def run(node, capsys, **params):
    args = {'address': '172.30.99.100', 'state_file': str(node['state']), 'pid_file': str(node['pid']),
            'stack_state_file': str(node['state'].parent / 'stack-state.json'), 'interval': 0.01}
    args.update(params)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vip_status.main()
    return json.loads(capsys.readouterr().out)


def keepalived_runs(node, state='MASTER'):
    node['pid'].write_text('1\n')  # PID 1 always exists
    node['state'].write_text(json.dumps({'instance': 'VI_NETSOCS', 'state': state, 'priority': 150,
                                         'time': '2026-11-25T17:00:00+00:00'}))


def test_master_holds_vip(node, capsys):
    node['outputs'].append(MASTER)
    keepalived_runs(node)
    result = run(node, capsys)
    assert result['present'] is True and result['changed'] is False
    assert result['interface'] == 'eth0' and result['prefix'] == 24
    assert result['vrrp_state'] == 'MASTER' and result['vrrp_priority'] == 150
    assert result['keepalived_running'] is True and result['waited'] == 0
    # the addresses it read, for the preflight's DHCP check (one read, not two)
    seen = [(a['address'], a['dynamic']) for a in result['addresses']]
    assert seen == [('172.30.99.11', False), ('172.30.99.100', False)]


def test_backup_without_vip(node, capsys):
    node['outputs'].append(BACKUP)
    keepalived_runs(node, 'BACKUP')
    result = run(node, capsys)
    assert result['present'] is False and result['interface'] is None
    assert result['vrrp_state'] == 'BACKUP'


def test_stopped_keepalived_with_stale_master_file(node, capsys):
    node['outputs'].append(BACKUP)
    keepalived_runs(node, 'MASTER')
    node['pid'].write_text('999999999\n')
    result = run(node, capsys)
    assert result['vrrp_state'] == 'STOPPED' and result['keepalived_running'] is False


def test_wrong_prefix_is_not_held(node, capsys):
    node['outputs'].append(MASTER)
    result = run(node, capsys, prefix=32)
    assert result['present'] is False


def test_wait_present_reached(node, capsys, monkeypatch, fake_clock):
    fake = fake_clock
    waiting = functools.partial(vip_status.wait_until, clock=fake.clock, sleep=fake.sleep)
    monkeypatch.setattr(vip_status, 'wait_until', waiting)
    node['outputs'].extend([BACKUP, BACKUP, MASTER])
    result = run(node, capsys, state='present', timeout=5, interval=0.5)
    assert result['present'] is True and 'failed' not in result
    # Two reads without the VIP, each followed by one interval's sleep.
    assert result['waited'] == pytest.approx(1.0)


def test_wait_absent_times_out(node, capsys):
    node['outputs'].append(MASTER)
    result = run(node, capsys, state='absent', timeout=0.05)
    assert result['failed'] is True
    assert 'still present' in result['msg'] and result['present'] is True


def test_check_mode_reports_the_same(node, capsys):
    node['outputs'].append(MASTER)
    result = run(node, capsys, _ansible_check_mode=True)
    assert result['present'] is True and result['changed'] is False


def test_bad_address_fails_cleanly(node, capsys):
    node['outputs'].append(MASTER)
    result = run(node, capsys, address='not-an-ip')
    assert result['failed'] is True and 'not a valid IPv4' in result['msg']


def test_ip_failure_is_reported(node, capsys, monkeypatch):
    monkeypatch.setattr(vip_status.AnsibleModule, 'run_command', lambda self, a, **k: (1, '', 'boom'))
    result = run(node, capsys)
    assert result['failed'] is True and 'boom' in result['msg']


def test_live_view_comes_from_a_fresh_dump(node, capsys, tmp_path, monkeypatch):
    node['outputs'].append(BACKUP)
    keepalived_runs(node, 'BACKUP')
    data = tmp_path / 'keepalived.data'
    data.write_text(' VRRP Instance = VI_NETSOCS\n   State = MASTER\n')  # stale, from an earlier dump
    os.utime(data, ns=(1, 1))
    signals = []

    def kill(pid, sig):  # Keepalived answers SIGUSR1 with a new dump
        signals.append((pid, sig))
        data.write_text(' VRRP Instance = VI_NETSOCS\n   State = BACKUP\n   Priority = 100\n'
                        '   Effective priority = 20\n   Password = s3cret\n')

    monkeypatch.setattr(vip_status.os, 'kill', kill)
    result = run(node, capsys, live=True, data_file=str(data))
    assert signals == [(1, signal.SIGUSR1)]
    assert result['vrrp_live'] == {'instance': 'VI_NETSOCS', 'state': 'BACKUP', 'priority': 100,
                                   'effective_priority': 20}
    assert 's3cret' not in json.dumps(result)


def test_live_view_fails_when_no_dump_comes(node, capsys, tmp_path, monkeypatch):
    node['outputs'].append(BACKUP)
    keepalived_runs(node, 'BACKUP')
    monkeypatch.setattr(vip_status.os, 'kill', lambda pid, sig: None)
    monkeypatch.setattr(vip_status, 'keepalived_live', functools.partial(vip_status.keepalived_live, timeout=0.2))
    result = run(node, capsys, live=True, data_file=str(tmp_path / 'never.data'))
    assert result['failed'] and 'no data dump' in result['msg']


def test_live_is_off_by_default(node, capsys):
    node['outputs'].append(BACKUP)
    keepalived_runs(node, 'BACKUP')
    assert run(node, capsys)['vrrp_live'] is None


def test_a_degraded_master_names_the_services_down(node, capsys):
    node['outputs'].append(MASTER)
    keepalived_runs(node)
    (node['state'].parent / 'stack-state.json').write_text(json.dumps({
        'last_health': {'ok': True, 'reason': 'MASTER degraded: recorder not running (exited)', 'kind': 'MASTER degraded',
                        'at': 1764781200.5, 'since': 1764781190.0},
        'services_down': {'recorder': 'exited'}, 'role': 'master'}))
    result = run(node, capsys)
    assert result['degraded'] is True and result['services_down'] == {'recorder': 'exited'}
    assert result['stack_health'] == {'ok': True, 'reason': 'MASTER degraded: recorder not running (exited)',
                                      'at': 1764781200.5, 'status': 'degraded'}


def test_degraded_is_the_recorded_status_not_the_wording(tmp_path):
    path = tmp_path / 'stack-state.json'
    path.write_text(json.dumps({'last_health': {'ok': True, 'status': 'degraded', 'reason': 'MASTER: 1 service down',
                                                'at': 7.0}, 'services_down': {'mediamtx': 'exited'}}))
    health, degraded, down = vip_status.stack_view(vip_status.read_json(str(path)))
    assert degraded and down == {'mediamtx': 'exited'} and health['status'] == 'degraded'
    path.write_text(json.dumps({'last_health': {'ok': True, 'status': 'healthy', 'reason': 'MASTER degraded: old words',
                                                'at': 8.0}, 'services_down': {'mediamtx': 'exited'}}))
    assert vip_status.stack_view(vip_status.read_json(str(path)))[1:] == (False, {})


@pytest.mark.parametrize('text, health, degraded', [
    (None, None, False),  # no stack hook on this node
    ('not json', None, False),
    (json.dumps({'role': 'backup'}), None, False),
    # whole again: services down left from an earlier round are not reported
    (json.dumps({'last_health': {'ok': True, 'reason': 'MASTER healthy', 'at': 5.0}, 'services_down': {'recorder': 'exited'}}),
     {'ok': True, 'reason': 'MASTER healthy', 'at': 5.0, 'status': 'healthy'}, False),
    # a failed check is not "degraded": it moves the VIP
    (json.dumps({'last_health': {'ok': False, 'reason': 'MASTER: nothing answers on port 80', 'at': 6.0}}),
     {'ok': False, 'reason': 'MASTER: nothing answers on port 80', 'at': 6.0, 'status': 'failed'}, False),
])
def test_the_stack_view_without_a_degraded_round(text, health, degraded, tmp_path):
    path = tmp_path / 'stack-state.json'
    if text is not None:
        path.write_text(text)
    assert vip_status.stack_view(vip_status.read_json(str(path))) == (health, degraded, {})
