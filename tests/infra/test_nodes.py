"""The static state a deployed node must be in, read with pytest-testinfra.

    pytest tests/infra --hosts=docker://node-a,docker://node-b [--inventory=inventories/lab/hosts.yml]

(`make infra` runs it against the lab.) Each test reads one fact of a node
that site.yml leaves behind: packages, services, the modes of the files that
hold secrets, listening ports, the ufw rules and their order, the NFS exports
and fstab entries, the boot guard, log rotation. Which node is which comes from
the inventory (node A is the first of failover_nodes: MASTER and, in the lab,
the NFS server). The failover behaviour itself is the Ansible verify's and the
drills' job; these tests see a node at rest.
"""

import hashlib
import json
import pathlib
import shlex

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARES = ['recordings', 'certificates', 'module-assets', 'uploads', 'reports', 'snapshots', 'media', 'config']
SHARE_ROOT = '/mnt/netsocs-nfs'
RUNTIME = '/usr/local/libexec/netsocs-failover'
ENGINE_RECORD = '/var/tmp/netsocs-engine-before.json'


def inventory_path(config):
    return config.getoption('inventory', default=None) or str(ROOT / 'inventories' / 'lab' / 'hosts.yml')


@pytest.fixture(scope='session')
def inventory(pytestconfig):
    data = yaml.safe_load(pathlib.Path(inventory_path(pytestconfig)).read_text())
    groups = data['all']['children']
    nodes = groups['failover_nodes']['hosts']
    return {
        'nodes': list(nodes),
        'ips': {name: hostvars['failover_node_ip'] for name, hostvars in nodes.items()},
        'nfs_server': list(groups.get('nfs_server', {}).get('hosts') or {}),
        'nfs_clients': list(groups.get('nfs_clients', {}).get('hosts') or {}),
    }


@pytest.fixture()
def name(host):
    return host.backend.get_hostname()


@pytest.fixture()
def peer_ip(inventory, name):
    (peer,) = [node for node in inventory['nodes'] if node != name]
    return inventory['ips'][peer]


def test_packages(host):
    for package in ['keepalived', 'ufw', 'iputils-arping', 'iputils-ping']:
        assert host.package(package).is_installed, package
    assert host.run('docker compose version --short').rc == 0, 'no Compose v2 plugin'


def test_platform_is_supported(host):
    # The lab runs Debian 12 (the trixie image runs the Molecule scenarios).
    info = host.system_info
    assert (info.distribution, info.release.split('.')[0]) in {
        ('debian', '12'), ('debian', '13'), ('ubuntu', '22'), ('ubuntu', '24')}, (info.distribution, info.release)


def test_engine_left_as_found(host):
    # The engine was installed before the deployment (molecule/resources/prepare.yml
    # recorded its packages and its daemon's start): kept, never replaced or restarted.
    record = host.file(ENGINE_RECORD)
    if not record.exists:
        pytest.skip('no record of the engine before the deployment (not a test-bed node)')
    found = json.loads(record.content_string)
    now = [host.run(shlex.join(probe)).stdout.rstrip('\n') for probe in found['probes']]
    assert now == found['outputs']


@pytest.mark.parametrize('unit', ['keepalived', 'docker', 'netsocs-guard-responder'])
def test_services_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled and service.is_running


def test_boot_guard(host):
    # netsocs-stack-boot takes a leftover stack down before Keepalived starts.
    assert host.service('netsocs-stack-boot').is_enabled
    unit = host.file('/etc/systemd/system/netsocs-stack-boot.service')
    assert unit.contains('^Before=.*keepalived.service')


def test_node_runtime(host):
    for tool in ['stack-hook', 'vrrp-notify', 'storage-check']:
        hook = host.file('%s/%s' % (RUNTIME, tool))
        assert hook.user == 'root' and hook.mode == 0o755
        assert hook.content_string.startswith('#!/usr/bin/python3\n')
    # One package, exactly the collection's (whichever role wrote it last).
    shipped = sorted((ROOT / 'plugins' / 'module_utils' / 'runtime').glob('*.py'))
    digests = host.check_output('cd %s/runtime && sha256sum %s' % (RUNTIME, ' '.join(p.name for p in shipped)))
    assert sorted(line.split()[::-1] for line in digests.splitlines()) == \
        [[p.name, hashlib.sha256(p.read_bytes()).hexdigest()] for p in shipped]
    # Runs as an executable (its interpreter line works) and knows its commands.
    usage = host.run('%s/stack-hook' % RUNTIME)
    assert usage.rc == 2 and usage.stderr.startswith('usage: stack-hook')


def test_secrets_are_root_only(host):
    # The VRRP password (the reference profile's auth include) and the stack's .env.
    for path in ['/etc/keepalived/netsocs-auth.conf', '/opt/netsocs/.env']:
        secret = host.file(path)
        if path.endswith('auth.conf') and not secret.exists:
            continue  # VRRPv3 has no password
        assert (secret.user, secret.group, secret.mode) == ('root', 'root', 0o600), path


def test_releases_are_root_only_and_keep_the_secrets_root_only(host):
    # site.yml keeps the files it replaced (the .env and the VRRP password among them).
    root = host.file('/var/lib/netsocs-failover/releases')
    assert root.is_directory and (root.user, root.mode) == ('root', 0o700)
    kept = host.run("find /var/lib/netsocs-failover/releases -path '*/files/opt/netsocs/.env'").stdout.split()
    assert kept, 'no release keeps the .env the first deployment replaced'
    for path in kept:
        assert host.file(path).mode == 0o600, path


def test_keepalived_config_is_valid(host):
    # The role's wrapper (Keepalived 2.2.7 on Debian 12 kills its own plain config test).
    assert host.run('%s/keepalived-config-test' % RUNTIME).rc == 0
    conf = host.file('/etc/keepalived/keepalived.conf')
    assert conf.mode == 0o644 and conf.contains('track_script') and conf.contains('notify ')


def test_command_line_values_kept_their_meaning(host, inventory, name):
    # make lab deploys with -e keepalived_unicast=false, keepalived_preempt=true,
    # keepalived_vrrp_version=3, nfs_server_root_squash=false, ... typed on the command
    # line (strings): each must act as the boolean or number it names, not as a string.
    conf = host.file('/etc/keepalived/keepalived.conf').content_string
    assert 'unicast_peer' not in conf and 'nopreempt' not in conf
    assert '\n    version 3\n' in conf and '\n    advert_int 0.2\n' in conf
    # VRRPv3 has no authentication: no password file is included
    assert 'netsocs-auth.conf' not in conf
    if name in inventory['nfs_server']:
        ganesha = host.file('/etc/ganesha/ganesha.conf').content_string
        assert 'Graceless = true;' in ganesha and 'Squash = No_Root_Squash;' in ganesha
        assert 'allow_set_io_flusher_fail = true;' in ganesha


def test_guard_responder_listens(host):
    assert host.socket('udp://0.0.0.0:8007').is_listening


def test_the_stack_runs_on_node_a_only(host, inventory, name):
    listening = host.socket('tcp://0.0.0.0:80').is_listening
    assert listening == (name == inventory['nodes'][0])


def test_ufw_rules_ssh_first(host):
    status = host.check_output('ufw status numbered')
    assert 'Status: active' in status
    rules = [line for line in status.splitlines() if line.startswith('[')]
    assert rules and ' 22/tcp ' in rules[0] + ' ', rules[:2]
    assert 'deny (incoming)' in host.check_output('ufw status verbose')


def test_vrrp_only_from_the_peer(host, peer_ip):
    block = host.file('/etc/ufw/before.rules').content_string.split('# BEGIN netsocs.failover: VRRP', 1)[1]
    block = block.split('# END netsocs.failover: VRRP', 1)[0]
    rules = [line for line in block.splitlines() if line.startswith('-A')]
    assert rules and all('-p 112' in rule or '-p vrrp' in rule for rule in rules)
    assert {rule.split('-s ')[1].split()[0] for rule in rules} == {peer_ip}


def test_nfs_exports_only_to_the_clients(host, inventory, name):
    if name not in inventory['nfs_server']:
        pytest.skip('not the NFS server')
    clients = {inventory['ips'][client] for client in inventory['nfs_clients']}
    ganesha = host.file('/etc/ganesha/ganesha.conf')
    text = ganesha.content_string if ganesha.exists else host.file('/etc/exports.d/netsocs-failover.exports').content_string
    for share in SHARES:
        assert '%s/%s' % (SHARE_ROOT, share) in text, share
    assert '*' not in text.replace('/*', '')  # no wildcard client
    for client in clients:
        assert client in text
    assert host.socket('tcp://0.0.0.0:2049').is_listening


def test_fstab_mounts_every_share(host, inventory, name):
    if name not in inventory['nfs_clients']:
        pytest.skip('not an NFS client')
    (server,) = inventory['nfs_server']
    fstab = host.file('/etc/fstab').content_string
    for share in SHARES:
        entry = '%s:%s/%s %s/%s nfs ' % (inventory['ips'][server], SHARE_ROOT, share, SHARE_ROOT, share)
        assert entry in fstab, share


def test_logs_are_rotated(host):
    for path, log in [('/etc/logrotate.d/netsocs-failover-keepalived', '/var/log/keepalived-failover.log'),
                      ('/etc/logrotate.d/netsocs-failover-health', '/var/log/keepalived-health.log')]:
        conf = host.file(path)
        assert conf.exists and conf.contains(log), path
    assert host.run('logrotate --debug /etc/logrotate.d/netsocs-failover-keepalived').rc == 0
