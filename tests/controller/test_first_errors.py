"""The first run without the environment (tests/controller: real
ansible-playbook runs on the controller, no node needed).

`ansible-playbook site.yml -i inventories/prod` with failover-env.sh not
sourced must stop on the controller, before any connection, naming each
missing input and saying to source failover-env.sh; the same for a compose
file that cannot be read. Nothing is contacted: the node addresses used here
(TEST-NET-1) would not answer anyway, and no output may report a connection.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
PLAYBOOK = str(pathlib.Path(sys.executable).parent / 'ansible-playbook')
ENVIRONMENT = {
    'NODE_A_IP': '192.0.2.10', 'NODE_B_IP': '192.0.2.11', 'VIP_ADDRESS': '192.0.2.100',
    'NETSOCS_COMPOSE_FILE': str(ROOT / 'molecule' / 'resources' / 'files' / 'compose.yml'),
    'ADMIN_NETWORKS': '192.0.2.0/24', 'SSH_USER': 'netsocs-admin',
}


def run_site(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT and k not in ('AUTH_PASS', 'VRRP_VERSION')}
    env.update({k: v for k, v in dict(ENVIRONMENT, **overrides).items() if v is not None})
    env.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_COLLECTIONS_PATH=str(ROOT / 'collections'))
    res = subprocess.run([PLAYBOOK, 'site.yml', '-i', 'inventories/prod'], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    out = ' '.join((res.stdout + res.stderr).split())
    return res.returncode, out


def assert_stopped_on_the_controller(rc, out):
    assert rc != 0
    assert 'Nothing was changed and no node was contacted' in out
    assert 'Failed to connect' not in out and 'UNREACHABLE' not in out
    assert 'node-a ' not in out.split('PLAY RECAP')[-1]  # the recap lists localhost only


def test_nothing_sourced_names_every_missing_input():
    rc, out = run_site(**{name: None for name in ENVIRONMENT})
    assert_stopped_on_the_controller(rc, out)
    for expected in ('node-a: ansible_host is empty (NODE_A_IP)', 'node-b: ansible_user is empty (SSH_USER)', 'node-b: ansible_host is empty (NODE_B_IP)',
                     'failover_vip is not set (VIP_ADDRESS)', 'docker_stack_compose_file is not set (NETSOCS_COMPOSE_FILE)',
                     'source failover-env.sh'):
        assert expected in out, expected
    # The default profile (VRRPv3) has no password to ask for.
    assert 'AUTH_PASS' not in out


def test_the_reference_profile_asks_for_its_password():
    rc, out = run_site(VRRP_VERSION='2', AUTH_PASS=None)
    assert_stopped_on_the_controller(rc, out)
    assert 'Missing inputs: keepalived_auth_pass (AUTH_PASS) must be set' in out


def test_one_missing_input_is_named_alone():
    rc, out = run_site(VIP_ADDRESS=None)
    assert_stopped_on_the_controller(rc, out)
    assert 'Missing inputs: failover_vip is not set (VIP_ADDRESS).' in out


@pytest.mark.parametrize('content, reason', [
    (None, 'File not found'),
    ('services: [\n', 'did not find expected node content'),
    ('just: text\n', 'no services section'),
])
def test_a_compose_file_that_cannot_be_read(tmp_path, content, reason):
    path = tmp_path / 'docker-compose.yml'
    if content is not None:
        path.write_text(content)
    rc, out = run_site(NETSOCS_COMPOSE_FILE=str(path))
    assert_stopped_on_the_controller(rc, out)
    assert "docker_stack_compose_file (NETSOCS_COMPOSE_FILE) is '%s'" % path in out
    assert reason in out


def test_a_controller_without_a_route_to_the_vip_is_refused_before_any_connection(tmp_path):
    # The controller's kernel has no route to the VIP (a management network):
    # `ip route get` answers as iproute2 does then.
    fake = tmp_path / 'ip'
    fake.write_text('#!/bin/sh\necho "RTNETLINK answers: Network is unreachable" >&2\nexit 2\n')
    fake.chmod(0o755)
    rc, out = run_site(PATH='%s:%s' % (tmp_path, os.environ['PATH']))
    assert_stopped_on_the_controller(rc, out)
    assert 'This controller has no route to the VIP 192.0.2.100 (RTNETLINK answers: Network is unreachable)' in out
    assert 'failover_controller_checks: false' in out
