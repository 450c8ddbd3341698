"""Parsing and decisions behind compose_state, on recorded `docker compose ps` output."""

import json

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import compose as _compose

RUNNING = [
    {"ID": "c1", "Name": "netsocs-caddy", "Service": "caddy", "State": "running", "Health": "", "ExitCode": 0},
    {"ID": "t1", "Name": "traefik", "Service": "traefik", "State": "running", "Health": "healthy", "ExitCode": 0},
    {"ID": "m1", "Name": "mediamtx", "Service": "mediamtx", "State": "running", "Health": "", "ExitCode": 0},
]
PARTIAL = [dict(RUNNING[0], State="exited", ExitCode=137)] + RUNNING[1:]
# Compose >= 2.21 prints one object per line, older releases one array.
RUNNING_LINES = '\n'.join(json.dumps(c) for c in RUNNING) + '\n'
RUNNING_ARRAY = json.dumps(RUNNING)


@pytest.mark.parametrize('text', [RUNNING_LINES, RUNNING_ARRAY])
def test_parse_both_formats(text):
    containers = _compose.parse_ps(text)
    assert [c['service'] for c in containers] == ['caddy', 'mediamtx', 'traefik']
    assert containers[2] == {'id': 't1', 'name': 'traefik', 'service': 'traefik', 'state': 'running',
                             'health': 'healthy', 'exit_code': 0}
    assert _compose.running_count(containers) == 3


@pytest.mark.parametrize('text', ['', '\n', '[]'])
def test_parse_empty_project(text):
    assert _compose.parse_ps(text) == []


@pytest.mark.parametrize('text', ['{"Name": ', '[1, 2]', 'no json'])
def test_parse_garbage(text):
    with pytest.raises(_compose.ComposeError):
        _compose.parse_ps(text)


def ps(items):
    return _compose.parse_ps(json.dumps(items))


@pytest.mark.parametrize('wanted, items, min_running, action', [
    ('running', [], 3, 'up'),                 # fresh node
    ('running', PARTIAL, 3, 'up'),            # one died: up --no-recreate brings it back
    ('running', RUNNING, 3, 'none'),          # converged
    ('running', PARTIAL, 2, 'none'),          # the reference rule counts running containers
    ('restarted', [], 3, 'up'),               # becoming MASTER with nothing running: start
    ('restarted', PARTIAL, 3, 'up'),
    ('restarted', RUNNING, 3, 'restart'),     # becoming MASTER with the stack up: restart
    ('stopped', RUNNING, 3, 'down'),
    ('stopped', [dict(RUNNING[0], State='exited')], 3, 'down'),  # exited containers still go
    ('stopped', [], 3, 'none'),
    # the warm standby: stop whatever runs, restarts or is paused; else create (or update) the containers
    ('standby', RUNNING, 3, 'stop'),
    ('standby', [dict(RUNNING[0], State='restarting')], 3, 'stop'),
    ('standby', [dict(RUNNING[0], State='paused')], 3, 'stop'),
    ('standby', [dict(c, State='exited') for c in RUNNING], 3, 'create'),
    ('standby', [], 3, 'create'),
    ('applied', RUNNING, 3, 'apply'),         # a changed compose file or .env: Compose decides what to recreate
    ('applied', [], 3, 'apply'),
])
def test_decide(wanted, items, min_running, action):
    assert _compose.decide(wanted, ps(items), min_running) == action


def test_decide_rejects_unknown_state():
    with pytest.raises(ValueError):
        _compose.decide('paused', [], 3)


def test_compose_args_bound_every_wait():
    assert _compose.compose_args('up', 90) == ['up', '--detach', '--no-recreate', '--wait', '--wait-timeout', '90']
    assert _compose.compose_args('down', 90) == ['down', '--timeout', '30']
    assert _compose.compose_args('restart', 10) == ['restart', '--timeout', '10']
    assert _compose.compose_args('apply', 90) == ['up', '--detach', '--wait', '--wait-timeout', '90']
    assert _compose.compose_args('stop', 90) == ['stop', '--timeout', '30']
    assert _compose.compose_args('create', 90) == ['create']


def test_recreated_compares_container_ids():
    assert _compose.recreated(ps(RUNNING), ps(RUNNING)) is False
    assert _compose.recreated(ps(RUNNING), ps([dict(RUNNING[0], ID='c2')] + RUNNING[1:])) is True
    assert _compose.recreated(ps(RUNNING[1:]), ps(RUNNING)) is True


@pytest.mark.parametrize('wanted, items, ok', [
    ('running', RUNNING, True), ('running', PARTIAL, False),
    ('stopped', [], True), ('stopped', [dict(RUNNING[0], State='exited')], False),
    ('restarted', RUNNING, True),
    # a warm standby keeps its containers, none of them active
    ('standby', [dict(c, State='exited') for c in RUNNING], True), ('standby', [], True),
    ('standby', [dict(RUNNING[0], State='exited'), dict(RUNNING[1], State='restarting')], False),
])
def test_reached(wanted, items, ok):
    assert _compose.reached(wanted, ps(items), 3) is ok


@pytest.mark.parametrize('items, first', [
    ([dict(c, State='exited') for c in RUNNING], ['netsocs-caddy', 'traefik']),  # a warm standby: configured order
    ([dict(c, State='created') for c in RUNNING], ['netsocs-caddy', 'traefik']),  # created at deploy, never run
    (PARTIAL, ['netsocs-caddy']),                                                # traefik runs already
    (RUNNING, []),
    ([], []),                                                                     # a cold standby: Compose creates
    ([dict(RUNNING[0], State='paused')], []),                                     # paused is not a start's job
])
def test_first_to_start(items, first):
    assert _compose.first_to_start(['netsocs-caddy', 'traefik'], ps(items)) == first


def published(items, ports):
    """ps(items), each container publishing ports[name] (as the Engine API's inspect reads them)."""
    return [dict(c, ports=ports.get(c['name'], [])) for c in ps(items)]


IDLE = [dict(c, State='exited') for c in RUNNING]


@pytest.mark.parametrize('containers, batches', [
    (published(IDLE, {'netsocs-caddy': [80, 443]}), [['netsocs-caddy'], ['traefik']]),  # the door alone, first
    (published(IDLE, {'traefik': [80]}), [['traefik'], ['netsocs-caddy']]),            # whichever publishes it
    (published(IDLE, {'netsocs-caddy': [80], 'traefik': [80]}), [['netsocs-caddy', 'traefik']]),
    (published(IDLE, {'netsocs-caddy': [8080]}), [['netsocs-caddy', 'traefik']]),      # not the door: side by side
    (ps(IDLE), [['netsocs-caddy', 'traefik']]),                                          # the CLI's list: no ports
    (published(PARTIAL, {'traefik': [80]}), [['netsocs-caddy']]),                       # the door runs already
    (published(RUNNING, {'netsocs-caddy': [80]}), []),
    (published(IDLE, {'mediamtx': [80]}), [['netsocs-caddy', 'traefik']]),             # not a critical one
])
def test_start_batches(containers, batches):
    assert _compose.start_batches(['netsocs-caddy', 'traefik'], containers, 80) == batches
