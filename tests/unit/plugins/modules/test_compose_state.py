"""compose_state inside the module: `docker compose` replayed, commands recorded."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netsocs.failover.plugins.modules import compose_state

UP = '\n'.join(json.dumps({"ID": n[:3] + "1", "Name": n, "Service": s, "State": "running", "Health": "",
                           "ExitCode": 0})
               for n, s in (("netsocs-caddy", "caddy"), ("traefik", "traefik"), ("mediamtx", "mediamtx")))
# The same stack after Compose recreated netsocs-caddy (a new container ID).
RECREATED = UP.replace('"ID": "net1"', '"ID": "net2"')
TWO = '\n'.join(UP.splitlines()[1:])


@pytest.fixture
def compose(monkeypatch):
    """Replays `ps` outputs in turn and records every other compose command."""
    calls = {'ps': [], 'actions': [], 'fail_on': None}

    def run_command(self, cmd, **kwargs):
        assert cmd[:3] == ['timeout', '--kill-after=10', '120']
        args = cmd[cmd.index('/opt/netsocs') + 1:]
        if args[0] == 'ps':
            return 0, calls['ps'].pop(0) if len(calls['ps']) > 1 else calls['ps'][0], ''
        calls['actions'].append(args)
        if calls['fail_on'] == args[0]:
            return 1, '', 'Cannot connect to the Docker daemon'
        return 0, '', ''

    monkeypatch.setattr(compose_state.AnsibleModule, 'get_bin_path', lambda self, n, required=False: '/usr/bin/docker')
    monkeypatch.setattr(compose_state.AnsibleModule, 'run_command', run_command)
    return calls


def run(capsys, **params):
    args = {'project_src': '/opt/netsocs'}
    args.update(params)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            compose_state.main()
    return json.loads(capsys.readouterr().out)


def test_report_only(compose, capsys):
    compose['ps'] = [UP]
    result = run(capsys)
    assert result['changed'] is False and result['action'] == 'none'
    assert result['running_before'] == result['running_after'] == 3
    assert [s['service'] for s in result['services']] == ['caddy', 'mediamtx', 'traefik']
    assert compose['actions'] == []


def test_fresh_node_starts(compose, capsys):
    compose['ps'] = ['', UP]
    result = run(capsys, state='running')
    assert result['changed'] is True and result['action'] == 'up'
    assert result['running_before'] == 0 and result['running_after'] == 3
    assert compose['actions'][0][:3] == ['up', '--detach', '--no-recreate']


def test_converged_does_nothing(compose, capsys):
    compose['ps'] = [UP]
    result = run(capsys, state='running')
    assert result['changed'] is False and compose['actions'] == []


def test_master_restarts_a_running_stack(compose, capsys):
    compose['ps'] = [UP]
    result = run(capsys, state='restarted')
    assert result['changed'] is True and result['action'] == 'restart'
    assert compose['actions'] == [['restart', '--timeout', '30']]


def test_check_mode_decides_without_acting(compose, capsys):
    compose['ps'] = ['']
    result = run(capsys, state='running', _ansible_check_mode=True)
    assert result['changed'] is True and result['action'] == 'up'
    assert result['running_after'] == 0 and compose['actions'] == []


def test_stop_removes_everything(compose, capsys):
    compose['ps'] = [UP, '']
    result = run(capsys, state='stopped')
    assert result['action'] == 'down' and result['running_after'] == 0 and result['services'] == []


def test_stop_fails_when_containers_remain(compose, capsys):
    compose['ps'] = [UP, TWO]
    result = run(capsys, state='stopped')
    assert result['failed'] is True and 'not stopped' in result['msg']


def test_start_fails_when_too_few_run(compose, capsys):
    compose['ps'] = ['', TWO]
    result = run(capsys, state='running')
    assert result['failed'] is True and '2 of 3 containers run' in result['msg']


def test_compose_error_is_reported(compose, capsys):
    compose['ps'] = ['']
    compose['fail_on'] = 'up'
    result = run(capsys, state='running')
    assert result['failed'] is True and 'Cannot connect to the Docker daemon' in result['msg']


def test_applied_reports_a_recreated_container(compose, capsys):
    compose['ps'] = [UP, RECREATED]
    result = run(capsys, state='applied')
    assert result['changed'] is True and result['action'] == 'apply'
    assert compose['actions'][0][:3] == ['up', '--detach', '--wait']


def test_applied_without_a_change_is_not_changed(compose, capsys):
    compose['ps'] = [UP, UP]
    result = run(capsys, state='applied')
    assert result['changed'] is False and result['action'] == 'apply'
    assert len(compose['actions']) == 1


def test_applied_in_check_mode_acts_not(compose, capsys):
    compose['ps'] = [UP]
    result = run(capsys, state='applied', _ansible_check_mode=True)
    assert result['changed'] is False and compose['actions'] == []


EXITED = UP.replace('"State": "running"', '"State": "exited"')


def test_standby_stops_what_runs_and_keeps_the_containers(compose, capsys):
    compose['ps'] = [UP, EXITED]
    result = run(capsys, state='standby')
    assert result['changed'] is True and result['action'] == 'stop'
    assert result['running_after'] == 0 and len(result['services']) == 3
    assert compose['actions'] == [['stop', '--timeout', '30']]


def test_standby_creates_and_reports_only_real_changes(compose, capsys):
    compose['ps'] = [EXITED]  # up to date: Compose keeps every container
    result = run(capsys, state='standby')
    assert result['changed'] is False and result['action'] == 'create' and compose['actions'] == [['create']]
    compose['ps'], compose['actions'] = ['', EXITED], []  # a fresh BACKUP: created, none started
    result = run(capsys, state='standby')
    assert result['changed'] is True and result['running_after'] == 0


def test_standby_fails_when_a_container_still_runs(compose, capsys):
    compose['ps'] = [UP, UP]
    result = run(capsys, state='standby')
    assert result['failed'] is True and 'not standby' in result['msg']


def test_expected_services_say_which_do_not_run(compose, capsys):
    compose['ps'] = [TWO]  # netsocs-caddy is gone
    result = run(capsys, expected_services=['caddy', 'mediamtx', 'recorder', 'traefik'])
    assert result['degraded'] is True and result['changed'] is False and compose['actions'] == []
    assert result['services_down'] == {'caddy': 'absent', 'recorder': 'absent'}
    compose['ps'] = [UP]
    result = run(capsys, expected_services=['caddy', 'mediamtx', 'traefik'])
    assert result['degraded'] is False and result['services_down'] == {}
    assert run(capsys)['degraded'] is False  # nothing expected, nothing judged
