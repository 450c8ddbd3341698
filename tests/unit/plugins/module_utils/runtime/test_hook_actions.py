"""The stack hook's actions (runtime lifecycle, health, guard check, handover,
lease, cli): role decisions, flap handling, state-aware health."""

import json
import os
import pathlib
import re
import socket
import threading
import time

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import (
    adapter, cli, compose, handover, health, lease, lifecycle, state as files, vrrp)
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import guard as split_brain

RUNNING = [{'name': n, 'service': n, 'state': 'running', 'health': '', 'exit_code': 0}
           for n in ('mediamtx', 'netsocs-caddy', 'traefik')]
# A fourth service, neither critical nor counted in min_containers.
EXTRA = [{'name': 'netsocs-recorder', 'service': 'recorder', 'state': 'running', 'health': '', 'exit_code': 0}]
SERVICES = ['mediamtx', 'netsocs-caddy', 'recorder', 'traefik']


class FakeNode(object):
    """A node whose VIP answers follow a script, and whose stack obeys compose."""

    def __init__(self, vip_answers, containers=(), docker=True, port=True, dead=(), storage=None,
                 isolated=None, others=(), heard=False, peer=True, peer_stacks=([],), docker_started=None,
                 silence=None):
        self.vip_answers = list(vip_answers)
        self.silence = silence
        self.docker_started = docker_started
        self.peer_stacks = list(peer_stacks)
        self.isolation = isolated
        self.others, self.heard, self.peer = list(others), heard, peer
        self.asked = []
        self.storage = storage
        self.stack = list(containers)
        self.actions = []
        self.docker = docker
        self.port = port
        self.dead = set(dead)
        self.announced = []
        self.stuck = set()

    def is_master(self):
        return self.vip_answers.pop(0) if len(self.vip_answers) > 1 else self.vip_answers[0]

    def containers(self, timeout=None):
        return list(self.stack)

    def compose(self, args, timeout=None):
        self.actions.append(args[0])
        named = [a for a in args[1:] if not a.startswith('-') and not a.isdigit()]
        if args[0] == 'up' and named:
            # `up --no-deps SERVICE...`: those services only (a stuck one stays down)
            self.stack = [dict(c, state='running') if c['service'] in named and c['service'] not in self.stuck else c
                          for c in self.stack]
            self.stack += [dict(c) for c in RUNNING + EXTRA if c['service'] in named
                           and c['service'] not in self.stuck and c['service'] not in [s['service'] for s in self.stack]]
        elif args[0] == 'up':
            self.stack = list(RUNNING)
        elif args[0] == 'down':
            self.stack = []
        elif args[0] == 'stop':
            self.stack = [dict(c, state='exited') for c in self.stack]

    def docker_ok(self, timeout=None):
        self.asked.append('docker %s' % timeout) if timeout else None
        return self.docker

    def docker_started_at(self):
        return self.docker_started

    def running_count(self):
        return sum(1 for c in self.stack if c['state'] == 'running')

    def kill_without_docker(self):
        killed = [c['name'] for c in self.stack if c['state'] == 'running']
        self.actions.append('kill ' + ' '.join(killed))
        self.stack = [dict(c, state='exited') for c in self.stack]
        return killed

    def running(self, name):
        return name not in self.dead and any(c['name'] == name for c in self.stack)

    def start(self, name):
        # `docker start NAME`: a container that died or was stopped starts
        # again; one that was removed does not
        self.actions.append('start ' + name)
        if not any(c['name'] == name for c in self.stack):
            return 'No such container: %s' % name
        self.dead.discard(name)
        self.stack = [dict(c, state='running') if c['name'] == name else c for c in self.stack]
        return None

    def port_open(self, port):
        return self.port

    def announce_neighbours(self, names):
        self.announced.append(sorted(names))
        return ['10.0.0.%d' % (i + 2) for i in range(len(names))]

    def storage_problem(self):
        return self.storage

    # the split-brain guard's probes
    def isolated(self):
        self.asked.append('witnesses')
        return self.isolation

    def connectivity(self):
        """isolated: no witness answers and the peer is not heard."""
        self.asked.append('witnesses')
        return {'witnesses': not self.isolation, 'peer': None}

    def other_holders(self):
        self.asked.append('arp')
        return self.others

    def advert_heard(self):
        self.asked.append('adverts')
        return self.heard

    def peer_holds(self):
        self.asked.append('peer')
        return self.peer

    def peer_silence(self):
        self.asked.append('pulse')
        return self.silence

    def peer_stack(self, timeout):
        self.asked.append('peer stack')
        return self.peer_stacks.pop(0) if len(self.peer_stacks) > 1 else self.peer_stacks[0]

    def announce(self):
        self.asked.append('announce')

    def drop_lease(self):
        self.asked.append('drop lease')


@pytest.fixture
def config(tmp_path):
    cfg = dict(settings.DEFAULTS, state_dir=str(tmp_path), vrrp_state_file=str(tmp_path / 'vrrp-state.json'),
               log_file=str(tmp_path / 'failover.log'),
               health_log_file=str(tmp_path / 'health.log'), vip='10.0.0.100', grace_seconds=30,
               failback_holdoff_seconds=60, project_dir='/opt/netsocs',
               hook_path='/usr/local/libexec/netsocs-failover/stack-hook', standby='cold',
               docker_socket=str(tmp_path / 'no-daemon.sock'))
    return cfg


@pytest.fixture
def warm(config):
    return dict(config, standby=settings.DEFAULTS['standby'])


@pytest.fixture
def state(tmp_path):
    return files.State(str(tmp_path))


def test_is_master_reads_the_vip(config):
    out = json.dumps([{'ifname': 'eth0', 'addr_info': [{'family': 'inet', 'local': '10.0.0.5'},
                                                       {'family': 'inet', 'local': '10.0.0.100'}]}])
    node = adapter.Node(config)
    node.run = lambda args, **kw: Answer(0, stdout=out)
    assert node.is_master() is True
    node.config = dict(config, vip='10.0.0.101')
    assert node.is_master() is False


@pytest.mark.parametrize('role, last, containers, expected', [
    ('master', 'backup', [], ('restarted', 'up')),          # promotion, nothing runs: start
    ('master', 'backup', RUNNING, ('restarted', 'restart')),  # promotion with a stack up: restart
    ('master', 'master', RUNNING, ('running', 'none')),     # still MASTER: never restart again
    ('master', 'master', RUNNING[:2], ('running', 'up')),   # still MASTER, one died: bring it back
    ('master', None, [], ('restarted', 'up')),               # first sync after boot
    ('master', None, RUNNING, ('applied', 'apply')),         # an install adopted: kept, not restarted
    ('master', None, RUNNING[:2], ('restarted', 'up')),      # too little of it runs: started as usual
    ('backup', 'master', RUNNING, ('stopped', 'down')),
    ('backup', 'backup', [], ('stopped', 'none')),
])
def test_plan(role, last, containers, expected):
    assert lifecycle.plan(role, last, containers, 3) == expected


def test_an_adopted_stack_is_kept_by_the_node_that_becomes_master(config, state, fake_clock):
    # Keepalived's first state is BACKUP: the stack started by hand is not
    # stopped; the node turns MASTER 1 s later and keeps it (no restart).
    node = FakeNode([False] * 6 + [True], containers=RUNNING)
    assert lifecycle.sync(node, state, config, clock=fake_clock.clock, sleep=fake_clock.sleep) == 'master'
    assert node.actions == ['up'] and 'restart' not in node.actions  # `up` without --no-recreate: applied
    assert 'adopted: MASTER after' in pathlib.Path(config['log_file']).read_text()


def test_an_adopted_stack_stops_on_a_node_that_stays_backup(config, state, fake_clock):
    node = FakeNode([False], containers=RUNNING)
    assert lifecycle.sync(node, state, config, clock=fake_clock.clock, sleep=fake_clock.sleep) == 'backup'
    assert fake_clock.now >= 1000.0 + lifecycle.ADOPT_WAIT and node.actions == ['down']
    assert 'still BACKUP after 10 s' in pathlib.Path(config['log_file']).read_text()
    # with a role recorded, a BACKUP never waits again
    node.stack = list(RUNNING)
    before = fake_clock.now
    lifecycle.sync(node, state, config, clock=fake_clock.clock, sleep=fake_clock.sleep)
    assert fake_clock.now == before and node.actions == ['down', 'down']


def test_promotion_starts_the_stack(config, state):
    node = FakeNode([True])
    assert lifecycle.sync(node, state, config) == 'master'
    assert node.actions == ['up'] and state.read()['role'] == 'master'
    assert 'promoted_at' in state.read()
    assert 'docker compose up' in (pathlib.Path(config['log_file']).read_text())


def test_demotion_stops_and_checks_nothing_is_left(config, state):
    state.update(role='master')
    node = FakeNode([False], RUNNING)
    assert lifecycle.sync(node, state, config) == 'backup'
    assert node.actions == ['down'] and node.stack == []
    assert 'no container left' in pathlib.Path(config['log_file']).read_text()


def test_a_demotion_with_a_hung_docker_daemon_kills_the_containers_without_it(config, state):
    node = FakeNode([False], RUNNING, docker=False)
    state.update(role='master')
    assert lifecycle.sync(node, state, config) == 'backup'
    assert node.actions == ['kill mediamtx netsocs-caddy traefik']
    assert 'docker 3' in node.asked and state.read()['role'] == 'backup'
    assert ('the Docker daemon does not answer within 3s: killed without it: mediamtx, netsocs-caddy, traefik'
            in pathlib.Path(config['log_file']).read_text())


def test_a_backup_that_runs_the_stack_has_a_sync_take_it_down(config, state, monkeypatch):
    # the daemon came back and restarted the containers killed around it (their restart policy)
    scheduled = []
    monkeypatch.setattr(health, 'schedule_sync', lambda cfg, why: scheduled.append(why))
    node = FakeNode([False], RUNNING)
    assert health.health(node, state, config, now=1000.0)[0]
    assert scheduled == ['stack running on a BACKUP']
    assert '3 container(s) of the stack run on this BACKUP' in pathlib.Path(config['log_file']).read_text()
    assert health.health(node, state, config, now=1001.0)[0] and len(scheduled) == 1  # one per 5 s at most
    assert health.health(node, state, config, now=1006.0)[0] and len(scheduled) == 2
    # a stack started ahead (a switchover, a handover) is left alone within its window
    state.update(prestarted_at=1010.0)
    assert health.health(node, state, config, now=1012.0)[0] and len(scheduled) == 2
    # a BACKUP without the stack: nothing
    state.update(prestarted_at=0)
    assert health.health(FakeNode([False], []), state, config, now=1020.0)[0] and len(scheduled) == 2
    # a sync at work (a demotion's stop, under the stack lock): it is left to finish
    with files.StackLock(config['state_dir'], 0):
        assert health.health(node, state, config, now=1030.0)[0] and len(scheduled) == 2
    assert health.health(node, state, config, now=1031.0)[0] and len(scheduled) == 3


def test_a_demotion_after_the_health_check_found_docker_hung_kills_at_once(config, state):
    # the health check's last round found the daemon not answering: the
    # demotion does not spend docker_stop_timeout asking it again (the peer's
    # promotion waits for this stop)
    node = FakeNode([True], RUNNING, docker=False)
    state.update(role='master')
    assert health.health(node, state, config, now=time.time())[0] is False
    assert state.read()['docker_unanswered_at']
    node.vip_answers, node.asked = [False], []
    assert lifecycle.sync(node, state, config) == 'backup'
    assert node.actions == ['kill mediamtx netsocs-caddy traefik'] and 'docker 3' not in node.asked
    assert 'the Docker daemon did not answer the health check' in pathlib.Path(config['log_file']).read_text()


def test_a_daemon_that_answers_again_clears_the_mark(config, state):
    node = FakeNode([False], [], docker=False)
    health.health(node, state, config, now=100.0)
    node.docker = True
    health.health(node, state, config, now=101.0)
    assert not state.read()['docker_unanswered_at']
    assert lifecycle.docker_hung(node, state, config) is None


def test_a_docker_call_that_hangs_mid_round_fails_the_round(config, state):
    # the daemon hung after `docker info` answered: the container check
    # blocks on it, times out, and the round fails as a hung daemon (marked,
    # so the demotion kills at once) rather than waiting longer
    node = FakeNode([True], RUNNING)
    state.update(role='master', promoted_at=1.0, vrrp_state='MASTER', vrrp_state_at=1.0)

    def hangs(name):
        raise settings.TimedOut('docker inspect --format timed out after 5s', 'docker')
    node.running = hangs
    ok, reason = health.health(node, state, config, now=1000.0)
    assert not ok and reason.startswith('docker daemon not answering (docker inspect')
    assert state.read()['docker_unanswered_at'] == 1000.0


def test_a_timeout_of_another_command_is_not_a_hung_daemon(config, state):
    node = FakeNode([True], RUNNING)

    def hangs():
        raise settings.TimedOut('ip -j -4 timed out after 10s', 'ip')
    node.is_master = hangs
    with pytest.raises(settings.TimedOut):
        health.health(node, state, config, now=1000.0)
    assert not state.read().get('docker_unanswered_at')


def test_every_docker_call_of_the_health_round_has_the_daemons_timeout(config, monkeypatch):
    # the Node's own calls: a hung daemon costs the round docker_timeout, not
    # the 10 s or command_timeout of other commands
    seen = []

    def bounded(args, timeout, reap=1.0):
        seen.append((args[:2], timeout))
        raise adapter.subprocess.TimeoutExpired(args, timeout)
    monkeypatch.setattr(adapter, 'run_bounded', bounded)
    node = adapter.Node(dict(config, docker_timeout=5))
    with pytest.raises(settings.TimedOut) as raised:
        node.running('traefik')
    assert raised.value.command == 'docker'
    with pytest.raises(settings.TimedOut):
        node.containers(5)
    assert node.docker_ok() is False
    assert [timeout for _args, timeout in seen] == [5, 5, 5]


def test_an_old_mark_asks_the_daemon_again(config, state):
    state.update(docker_unanswered_at=time.time() - 60)
    node = FakeNode([False], RUNNING)
    assert lifecycle.docker_hung(node, state, config) is None and node.asked == ['docker 3']


def test_a_promotion_with_a_hung_docker_daemon_is_an_error(config, state):
    # nothing to kill on the way up: the start fails loudly (the health check moves the VIP on)
    node = FakeNode([True], [], docker=False)

    def hung(args, timeout=None):
        raise settings.HookError('docker compose timed out')
    node.compose = hung
    with pytest.raises(settings.HookError):
        lifecycle.sync(node, state, config)


def test_project_processes_are_the_running_containers_of_the_project():
    def record(name, running=True, pid=100, workdir='/opt/netsocs'):
        return {'ID': name * 4, 'Name': '/' + name, 'State': {'Running': running, 'Pid': pid},
                'Config': {'Labels': {'com.docker.compose.project.working_dir': workdir}}}
    records = [record('caddy'), record('old', running=False, pid=0), record('other', workdir='/srv/other'),
               record('traefik', pid=200), {'ID': 'x'}]
    assert adapter.project_processes(records, '/opt/netsocs') == [
        ('caddy', 100, 'caddycaddycaddycaddy'), ('traefik', 200, 'traefiktraefiktraefiktraefik')]


def test_demotion_fails_loudly_when_containers_remain(config, state):
    state.update(role='master')  # a demotion
    node = FakeNode([False], RUNNING)
    node.compose = lambda args: node.actions.append(args[0])  # down that leaves everything running
    with pytest.raises(settings.HookError, match='not stopped'):
        lifecycle.sync(node, state, config)


def test_flap_ends_on_the_final_role(config, state):
    # BACKUP when the sync starts, MASTER again by the time it re-reads:
    # the same sync acts a second time, on the final role.
    state.update(role='master')
    node = FakeNode([False, True, True, True], RUNNING)
    assert lifecycle.sync(node, state, config) == 'master'
    assert node.actions == ['down', 'up'] and len(node.stack) == 3


def test_role_that_never_settles_is_an_error(config, state):
    node = FakeNode([True, False] * 10)
    with pytest.raises(settings.HookError, match='kept changing'):
        lifecycle.sync(node, state, config)


@pytest.mark.parametrize('node, promoted_ago, ok, reason', [
    (FakeNode([True], RUNNING), 100, True, 'MASTER healthy'),
    # a dead critical container is started again in place (once per window by default)
    (FakeNode([True], RUNNING, dead={'netsocs-caddy'}), 100, True, 'MASTER healthy (restarted in place)'),
    # one that was removed cannot be: the check fails and the VIP moves
    (FakeNode([True], RUNNING[:1] + RUNNING[2:], dead={'netsocs-caddy'}), 100, False,
     'netsocs-caddy (docker start failed: netsocs-caddy)'),
    (FakeNode([True], RUNNING, dead={'netsocs-caddy'}), 5, True, 'grace period'),
    # a stack that is up is healthy at once: the grace period excuses, it does not hide
    (FakeNode([True], RUNNING), 5, True, 'MASTER healthy'),
    (FakeNode([True], RUNNING, port=False), 100, False, 'port 80'),
    (FakeNode([True], RUNNING, docker=False), 100, False, 'docker daemon'),
    (FakeNode([False], []), 100, True, 'BACKUP healthy'),     # a stopped stack is right on a BACKUP
    (FakeNode([False], [], docker=False), 100, False, 'docker daemon'),
    # broken shared storage: a BACKUP must not take over, a MASTER hands over,
    # even inside the grace period
    (FakeNode([False], [], storage='/mnt/s/recordings: not a mount point'), 100, False, 'shared storage broken'),
    (FakeNode([True], RUNNING, storage='no answer within 10s'), 5, False, 'shared storage broken'),
])
def test_health(config, state, node, promoted_ago, ok, reason):
    state.update(promoted_at=1000.0 - promoted_ago)
    result = health.health(node, state, config, now=1000.0)
    assert result[0] is ok and reason in result[1]


def test_demotion_during_the_check_is_not_a_stack_failure(config, state):
    # The VIP was there when the check began; by the time the containers were
    # inspected the node had been demoted and its stack was going down.
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True, False], [], dead={'netsocs-caddy', 'traefik'})
    assert health.health(node, state, config, now=1000.0) == (True, 'BACKUP healthy (docker daemon answers)')
    assert 'master_failed_at' not in state.read()


def test_failed_master_holds_off_failback(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    assert health.health(FakeNode([True], RUNNING[:2], dead={'traefik'}), state, config, now=1000.0)[0] is False
    # demoted, its stack down: it stays unhealthy for the hold-off, then recovers
    assert health.health(FakeNode([False]), state, config, now=1030.0) == (
        False, 'BACKUP holding off failback: the stack failed here 30s ago')
    assert health.health(FakeNode([False]), state, config, now=1061.0)[0] is True


def test_vip_before_the_master_trigger_is_a_promotion_in_progress(config, state):
    # The promotion race: Keepalived added the VIP, the check runs before the
    # MASTER notify recorded the promotion. The last recorded VRRP state is
    # BACKUP and the last promotion is old: the stack is not up yet, and that
    # is a promotion in progress, not a failed stack.
    state.update(vrrp_state='BACKUP', vrrp_state_at=900.0, promoted_at=100.0)
    node = FakeNode([True], [])
    assert health.health(node, state, config, now=1000.0) == (True, 'MASTER in grace period (0s of 30s)')
    assert state.read()['promoted_at'] == 1000.0 and 'master_failed_at' not in state.read()
    # The grace period counts from then: a stack that never comes up still fails.
    assert health.health(node, state, config, now=1031.0)[0] is False
    assert state.read()['master_failed_at'] == 1031.0


def test_health_reads_the_state_after_the_role(config, state):
    # The MASTER trigger lands while the check asks for the VIP: the check
    # must see the promotion it recorded, not the state from before.
    state.update(vrrp_state='BACKUP', vrrp_state_at=10.0, promoted_at=5.0)
    node = FakeNode([True], [])

    def is_master():
        lifecycle.trigger(config, state, 'MASTER', run=lambda args, **kw: Done())
        return True
    node.is_master = is_master
    ok, reason = health.health(node, state, config)
    assert ok and 'grace period' in reason


def test_a_recorded_master_term_keeps_its_start(config, state):
    # Once the MASTER trigger is recorded, a later check does not move the start.
    lifecycle.trigger(config, state, 'MASTER', run=lambda args, **kw: Done())
    started = state.read()['promoted_at']
    health.health(FakeNode([True], RUNNING), state, config, now=started + 40)
    assert state.read()['promoted_at'] == started and state.read()['vrrp_state'] == 'MASTER'


def test_concurrent_state_changes_lose_nothing(state):
    # trigger, sync and health write the same file: no update may be lost.
    def bump(key):
        for _poll in range(40):
            state.change(lambda data, k=key: {k: data.get(k, 0) + 1})
    threads = [threading.Thread(target=bump, args=('k%d' % i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.read() == dict({'k%d' % i: 40 for i in range(6)}, schema=files.SCHEMA)
    assert [p.name for p in pathlib.Path(state.dir).iterdir() if p.name.startswith('.stack-state.')] == []


def test_health_result_is_recorded_for_status(config, state):
    health.report_health(state, config, True, health.Serving('MASTER healthy'), now=50.0)
    health.report_health(state, config, True, health.Serving('MASTER healthy'), now=52.0)
    assert state.read()['last_health'] == {'ok': True, 'status': 'healthy', 'reason': 'MASTER healthy', 'serving': True,
                                           'kind': 'MASTER healthy', 'at': 52.0, 'since': 50.0}
    health.report_health(state, config, True, health.Degraded('MASTER degraded: mediamtx exited not running'), now=53.0)
    assert state.read()['last_health']['status'] == 'degraded' and state.read()['last_health']['ok'] is True
    health.report_health(state, config, False, 'docker daemon not answering', now=54.0)
    assert state.read()['last_health']['since'] == 54.0 and state.read()['last_health']['ok'] is False


def test_config_without_the_paths_is_refused(tmp_path):
    path = tmp_path / 'stack.json'
    path.write_text(json.dumps({'vip': '10.0.0.100'}))
    with pytest.raises(settings.HookError, match='lacks project_dir'):
        settings.load_config(str(path))


def test_the_vrrp_state_file_is_the_configured_one_or_an_older_roles_default(tmp_path):
    paths = {'project_dir': '/opt/netsocs', 'vip': '10.0.0.100', 'log_file': '/l', 'health_log_file': '/h',
             'state_dir': '/run/x', 'hook_path': '/usr/local/libexec/netsocs-failover/stack-hook'}
    path = tmp_path / 'stack.json'
    path.write_text(json.dumps(dict(paths, vrrp_state_file='/run/y/vrrp.json')))
    assert settings.load_config(str(path))['vrrp_state_file'] == '/run/y/vrrp.json'
    path.write_text(json.dumps(paths))  # stack.json from before 1.1
    assert settings.load_config(str(path))['vrrp_state_file'] == '/run/x/vrrp-state.json'


def test_health_log_records_changes_and_failures(config, state):
    health.report_health(state, config, True, 'BACKUP healthy (docker daemon answers)')
    health.report_health(state, config, True, 'BACKUP healthy (docker daemon answers)')
    health.report_health(state, config, False, 'docker daemon not answering')
    lines = pathlib.Path(config['health_log_file']).read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith('OK BACKUP healthy (docker daemon answers)')
    assert lines[1].endswith('FAIL docker daemon not answering')


class Done(object):
    returncode, stderr = 0, ''


def test_trigger_schedules_sync_outside_keepalived(config, state):
    calls = []
    lifecycle.trigger(config, state, 'BACKUP', run=lambda args, **kw: calls.append(args) or Done())
    assert calls[0][0] == 'systemd-run' and calls[0][-2:] == [config['hook_path'], 'sync']
    assert 'keepalived reports BACKUP' in pathlib.Path(config['log_file']).read_text()
    assert 'promoted_at' not in state.read() and state.read()['vrrp_state'] == 'BACKUP'


def test_a_handover_begun_under_the_running_keepalived_outlives_its_master_trigger(guarded, state):
    # A preempt, then Keepalived stopped at once: its stop's handover (stack
    # down first) began 0.04 s after the transition, and the MASTER trigger
    # ran 0.1 s after that; the promotion's sync must not start the stack the
    # handover stopped (CI's repeat: two stacks for 2.3 s in the flap trial).
    keepalived_started = time.time() - 60
    state.update(role='backup', handover_at=time.time() - 0.1)
    lifecycle.trigger(guarded, state, 'MASTER', run=lambda args, **kw: Done(), keepalived_started=keepalived_started)
    assert state.read()['handover_at'] > keepalived_started
    node = FakeNode([True], [dict(c, state='exited') for c in RUNNING], peer_stacks=([],))
    assert lifecycle.sync(node, state, guarded) == 'master' and 'up' not in node.actions
    log = pathlib.Path(guarded['log_file']).read_text()
    assert 'keepalived reports MASTER while it is being stopped' in log and 'it is handing the stack over' in log


def test_a_handover_of_an_earlier_keepalived_ends_with_the_next_promotion(guarded, state):
    # The handover stopped the previous Keepalived; this one started later and is promoted: start.
    state.update(role='backup', handover_at=time.time() - 5)
    lifecycle.trigger(guarded, state, 'MASTER', run=lambda args, **kw: Done(), keepalived_started=time.time() - 2)
    assert state.read()['handover_at'] == 0
    node = FakeNode([True], [dict(c, state='exited') for c in RUNNING], peer_stacks=([],))
    assert lifecycle.sync(node, state, guarded) == 'master' and node.actions[-1] == 'up'


def test_an_unknown_keepalived_start_clears_the_mark_as_before():
    assert lifecycle.handover_of_an_earlier_keepalived({'handover_at': 100.0}, None)
    assert lifecycle.handover_of_an_earlier_keepalived({}, 50.0)
    assert not lifecycle.handover_of_an_earlier_keepalived({'handover_at': 100.0}, 99.5)


def test_a_process_start_is_read_from_its_pid_file(tmp_path):
    pid_file = tmp_path / 'self.pid'
    pid_file.write_text('%d\n' % os.getpid())
    started = vrrp.started_at(str(pid_file))
    assert started is not None and time.time() - 3600 < started <= time.time()
    assert vrrp.started_at(str(tmp_path / 'missing.pid')) is None


def test_grace_counts_from_the_transition(config, state):
    # A queued sync may start late; the MASTER's grace period must not.
    lifecycle.trigger(config, state, 'MASTER', run=lambda args, **kw: Done())
    ok, reason = health.health(FakeNode([True], []), state, config)
    assert ok and 'grace period' in reason


class Answer(object):
    def __init__(self, returncode=0, stdout='', stderr=''):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_trigger_during_shutdown_is_not_an_error(config, state):
    answers = {'systemd-run': Answer(1, stderr='Transaction is destructive'),
               'systemctl': Answer(1, stdout='stopping\n')}
    lifecycle.trigger(config, state, 'STOP', run=lambda args, **kw: answers[args[0]])
    assert 'shutting down' in pathlib.Path(config['log_file']).read_text()


def test_trigger_failure_is_an_error(config, state):
    answers = {'systemd-run': Answer(1, stderr='Failed to connect to bus'),
               'systemctl': Answer(0, stdout='running\n')}
    with pytest.raises(settings.HookError, match='Failed to connect to bus'):
        lifecycle.trigger(config, state, 'BACKUP', run=lambda args, **kw: answers[args[0]])


def test_storage_problem_runs_the_configured_check(config, tmp_path):
    script = tmp_path / 'check'
    script.write_text('#!/bin/sh\necho "/mnt/s/media: not writable"\nexit 1\n')
    script.chmod(0o755)
    assert adapter.Node(dict(config, storage_check=str(script))).storage_problem() == '/mnt/s/media: not writable'
    script.write_text('#!/bin/sh\necho OK\n')
    assert adapter.Node(dict(config, storage_check=str(script))).storage_problem() is None
    assert adapter.Node(dict(config, storage_check=None)).storage_problem() is None


def test_storage_check_that_hangs_counts_as_broken(config, tmp_path):
    script = tmp_path / 'check'
    script.write_text('#!/bin/sh\nexec sleep 30\n')
    script.chmod(0o755)
    problem = adapter.Node(dict(config, storage_check=str(script), storage_check_timeout=1)).storage_problem()
    assert 'timed out after 1s' in problem


def test_clear_holdoff_allows_failback_at_once(config, state, tmp_path, monkeypatch):
    state.update(promoted_at=0.0, master_failed_at=time.time(), restarts_in_place=[time.time()],
                 reconciles=[time.time()])
    assert health.health(FakeNode([False]), state, config)[0] is False
    config_file = tmp_path / 'stack.json'
    config_file.write_text(json.dumps(config))
    monkeypatch.setattr(cli, 'load_config', lambda: dict(config))
    assert cli.stack_hook(['clear-holdoff']) == 0
    assert health.health(FakeNode([False]), state, config) == (True, 'BACKUP healthy (docker daemon answers)')
    assert 'failback hold-off and the counts of restarts in place and of services brought back lifted' in \
        (tmp_path / 'failover.log').read_text()
    assert state.read()['restarts_in_place'] == [] and state.read()['reconciles'] == []


def test_log_keeps_one_line_per_event(tmp_path):
    files.log(str(tmp_path / 'f.log'), 'ERROR sync: compose failed: Network x  Creating\n Container y  Created')
    lines = (tmp_path / 'f.log').read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith('Network x  Creating |  Container y  Created')


# ---------------------------------------------------------------- the split-brain guard

PEER = '02:42:AC:1E:63:0C'


@pytest.fixture
def guarded(config):
    return dict(config, guard=dict(config['guard'], enabled=True, witnesses=['10.0.0.1'], peers=['10.0.0.11']))


def test_a_promotion_waits_for_the_peers_stack_to_stop(guarded, state):
    # one writer: the peer (demoted, stopping) still runs two containers,
    # then one, then none: the start follows the last answer
    node = FakeNode([True], [], peer_stacks=(['netsocs-caddy', 'traefik'], ['traefik'], []))
    assert lifecycle.sync(node, state, guarded) == 'master'
    assert node.asked.count('peer stack') == 3 and node.actions == ['up']
    log = pathlib.Path(guarded['log_file']).read_text()
    assert "promoted: the peer's stack is down (it ran traefik; waited" in log


def test_a_promotion_waits_at_most_confirm_wait(guarded, state):
    cfg = dict(guarded, handover=dict(guarded['handover'], confirm_wait=0.3))
    node = FakeNode([True], [], peer_stacks=(['netsocs-caddy'],))
    started = time.monotonic()
    assert lifecycle.sync(node, state, cfg) == 'master'
    assert 0.3 <= time.monotonic() - started < 2 and node.actions == ['up']
    # the time waited, as logged: 0.3 s, or a tenth more on a busy machine
    assert re.search(r"the peer's stack still runs after 0\.[34] s \(netsocs-caddy\): starting all the same",
                     pathlib.Path(cfg['log_file']).read_text())


def test_a_promotion_does_not_wait_for_a_peer_that_does_not_answer(guarded, state):
    # frozen, down or cut off: the guard's business, not a reason to keep clients waiting
    node = FakeNode([True], [], peer_stacks=(None,))
    assert lifecycle.sync(node, state, guarded) == 'master'
    assert node.asked.count('peer stack') == 1 and node.actions == ['up']
    assert 'the peer does not say whether its stack runs' in pathlib.Path(guarded['log_file']).read_text()


@pytest.mark.parametrize('silence, asked', [(0.7, 0), (0.05, 1), (None, 1)])
def test_a_peer_the_pulse_found_silent_is_not_asked_again(guarded, state, silence, asked):
    # a hard loss: the responder's pulse has not been answered for longer than
    # the stack query would wait, so the promotion does not wait for it; a
    # pulse answered lately (or not known) leaves the query as it was
    node = FakeNode([True], [], peer_stacks=(None,), silence=silence)
    assert lifecycle.sync(node, state, guarded) == 'master' and node.actions == ['up']
    assert node.asked.count('peer stack') == asked
    log = pathlib.Path(guarded['log_file']).read_text()
    assert ('its responder silent for 0.7 s' in log) == (asked == 0)


def test_the_nodes_own_containers_are_read_while_the_peer_is_asked(guarded, state):
    # a hard loss: the peer's silence (STACK_QUERY_TIMEOUT) and `docker compose ps` overlap
    node = FakeNode([True], [], peer_stacks=(None,))
    events = []

    def silent_peer(timeout):
        time.sleep(0.3)
        events.append('no answer')

    def slow_ps(timeout=None):
        if not events:
            time.sleep(0.2)
        events.append('containers read')
        return list(node.stack)
    node.peer_stack, node.containers = silent_peer, slow_ps
    state.update(role='backup')
    started = time.monotonic()
    assert lifecycle.sync(node, state, guarded) == 'master' and node.actions == ['up']
    assert events[:2] == ['containers read', 'no answer'] and time.monotonic() - started < 0.45  # not 0.5


def test_a_failed_read_of_the_containers_still_fails_the_promotion(guarded, state):
    node = FakeNode([True], [], peer_stacks=([],))

    def broken_ps(timeout=None):
        raise lifecycle.HookError('docker compose ps failed')
    node.containers = broken_ps
    with pytest.raises(lifecycle.HookError, match='compose ps failed'):
        lifecycle.sync(node, state, guarded)
    assert node.actions == []


def test_a_promotion_moves_the_elastic_ip_while_the_stack_starts(config, state, monkeypatch):
    # AWS: the address follows the MASTER; a BACKUP's sync never touches it
    calls = []
    monkeypatch.setattr(lifecycle._cloud, 'follow', lambda state, config, log: calls.append('follow'))
    aws = dict(config, cloud=dict(config['cloud'], provider='aws', allocation_id='eipalloc-1'))
    assert lifecycle.sync(FakeNode([True], []), state, aws) == 'master' and calls == ['follow']
    assert lifecycle.sync(FakeNode([True], RUNNING), state, aws) == 'master' and calls == ['follow']  # no new term
    assert lifecycle.sync(FakeNode([False], RUNNING), state, aws) == 'backup' and calls == ['follow']
    assert lifecycle.sync(FakeNode([True], []), state, config) == 'master' and calls == ['follow']  # not on AWS


def test_the_master_tries_the_elastic_ip_again_after_a_failure(config, state, monkeypatch):
    calls = []
    monkeypatch.setattr(health.cloud, 'follow', lambda state, config, log, now, deadline: calls.append(deadline))
    aws = dict(config, cloud=dict(config['cloud'], provider='aws', allocation_id='eipalloc-1'))
    state.update(role='master', vrrp_state='MASTER', vrrp_state_at=1.0, promoted_at=1.0, healthy_term=1.0,
                 cloud={'ok': False, 'at': 980.0})
    assert health.health(FakeNode([True], RUNNING), state, aws, now=1000.0)[0]
    assert calls == [health.cloud.RETRY_DEADLINE]  # short: the round has Keepalived's timeout
    state.update(cloud={'ok': False, 'at': 995.0})
    assert health.health(FakeNode([True], RUNNING), state, aws, now=1000.0)[0] and len(calls) == 1  # not yet


def test_only_a_peer_that_answered_down_counts_as_down(guarded):
    # a replicated copy's last pull follows only a peer that said its stack is down (lifecycle reads the type)
    down = lifecycle.peer_stopped(FakeNode([True], [], peer_stacks=(['traefik'], [])), guarded)
    silent = lifecycle.peer_stopped(FakeNode([True], [], peer_stacks=(None,)), guarded)
    assert isinstance(down, lifecycle.PeerDown) and down.startswith(lifecycle.PEER_DOWN)
    assert silent and not isinstance(silent, lifecycle.PeerDown)


def test_a_node_demoted_while_it_waits_starts_nothing(guarded, state):
    node = FakeNode([True, True, False], [], peer_stacks=(['netsocs-caddy'],))
    assert lifecycle.sync(node, state, guarded) == 'backup'
    assert node.actions == [] and state.read()['role'] == 'backup'
    assert "no longer MASTER while the peer's stack ran" in pathlib.Path(guarded['log_file']).read_text()


def test_a_node_that_starts_handing_over_stops_waiting(guarded, state):
    # Keepalived stopped right after the promotion (a flap): the handover
    # marks the state, then needs the stack lock this sync holds
    node = FakeNode([True], [], peer_stacks=(['netsocs-caddy'],))
    asked = []

    def peer_stack(timeout):
        asked.append(timeout)
        if len(asked) == 2:
            state.update(handover_at=time.time())
        return ['netsocs-caddy']
    node.peer_stack = peer_stack
    started = time.monotonic()
    assert lifecycle.sync(node, state, guarded) == 'master'
    assert len(asked) == 2 and time.monotonic() - started < 2 and node.actions == []
    log = pathlib.Path(guarded['log_file']).read_text()
    assert "handing the stack over while the peer's stack ran" in log and 'it is handing the stack over' in log


@pytest.mark.parametrize('change', [{'order': 'overlap'}, {'confirm_wait': 0}])
def test_no_wait_with_the_overlap_order_or_none_asked_for(guarded, state, change):
    cfg = dict(guarded, handover=dict(guarded['handover'], **change))
    node = FakeNode([True], [], peer_stacks=(['netsocs-caddy'],))
    assert lifecycle.sync(node, state, cfg) == 'master'
    assert 'peer stack' not in node.asked and node.actions == ['up']


def test_a_sync_that_finds_the_node_still_master_does_not_ask(guarded, state):
    state.update(role='master')
    node = FakeNode([True], RUNNING, peer_stacks=(['netsocs-caddy'],))
    assert lifecycle.sync(node, state, guarded) == 'master'
    assert 'peer stack' not in node.asked


def test_isolated_master_never_starts_the_stack(guarded, state):
    node = FakeNode([True], [], isolated='no witness answers (10.0.0.1)')
    assert lifecycle.sync(node, state, guarded) == 'master'
    assert node.actions == [] and node.stack == []
    log = pathlib.Path(guarded['log_file']).read_text()
    assert 'node is MASTER but no witness answers (10.0.0.1): the stack stays down' in log
    assert 'promoted_at' not in state.read()


def test_yielded_master_takes_its_stack_down(guarded, state):
    state.update(guard={'yielded': True})
    node = FakeNode([True], RUNNING)
    lifecycle.sync(node, state, guarded)
    assert node.actions == ['down'] and node.stack == []
    assert 'the guard yielded to another holder of the VIP' in pathlib.Path(guarded['log_file']).read_text()


def test_connected_master_starts_as_before(guarded, state):
    node = FakeNode([True], [])
    lifecycle.sync(node, state, guarded)
    assert node.actions == ['up'] and 'witnesses' in node.asked


def test_guard_off_asks_nothing(config, state):
    node = FakeNode([True], [])
    lifecycle.sync(node, state, config)
    assert node.actions == ['up'] and node.asked == []


def test_guard_yields_node_b_in_a_split_brain_and_records_why(guarded, state):
    cfg = dict(guarded, guard=dict(guarded['guard'], outranked=True))
    node = FakeNode([True], RUNNING, others=[PEER], heard=False, peer=True)
    ok, reason = split_brain.check(node, state, cfg, now=100.0)
    assert ok is False and 'yielding to the higher-ranked node' in reason
    assert node.asked == ['witnesses', 'arp', 'adverts', 'peer']
    recorded = state.read()['guard']
    assert recorded['yielded'] is True and recorded['ok'] is False and recorded['at'] == 100.0
    assert 'guard: FAIL split brain' in pathlib.Path(cfg['log_file']).read_text()
    # yielded, the VIP gone: it stays yielded while the peer holds it and is not heard
    node = FakeNode([False], [], others=[PEER], heard=False, peer=True)
    assert split_brain.check(node, state, cfg, now=101.0)[0] is False and state.read()['guard']['yielded']
    # adverts heard again: the yield is lifted, and logged
    node = FakeNode([False], [], others=[PEER], heard=True)
    ok, reason = split_brain.check(node, state, cfg, now=120.0)
    assert ok and 'heard again' in reason and state.read()['guard']['yielded'] is False
    assert 'guard: OK yield lifted' in pathlib.Path(cfg['log_file']).read_text()


def test_guard_keeps_node_a_and_re_announces(guarded, state):
    node = FakeNode([True], RUNNING, others=[PEER], heard=False, peer=True)
    ok, reason = split_brain.check(node, state, guarded)
    assert ok and 'keeping it' in reason and node.asked[-1] == 'announce'


def test_guard_never_re_announces_a_vip_it_released_during_its_probes(guarded, state):
    # node-a's Keepalived stops (or hands over) while its guard runs: the
    # new MASTER answers ARP for the VIP, but node-a no longer holds it.
    node = FakeNode([True, False], others=['02:42:AC:1E:63:0C'], heard=True)
    assert split_brain.check(node, state, guarded) == (True, 'ok')
    assert 'announce' not in node.asked


def test_guard_on_a_quiet_pair_logs_nothing(guarded, state):
    node = FakeNode([True], RUNNING, others=[])
    assert split_brain.check(node, state, guarded, now=1.0) == (True, 'ok')
    split_brain.check(node, state, guarded, now=2.0)
    # the first verdict is logged once; the same verdict again is not
    assert pathlib.Path(guarded['log_file']).read_text().count('guard: OK ok') == 1
    assert node.asked == ['witnesses', 'arp'] * 2


def test_guard_fails_an_isolated_node_without_further_probes(guarded, state):
    node = FakeNode([False], [], isolated='no witness answers (10.0.0.1)')
    ok, reason = split_brain.check(node, state, guarded)
    assert not ok and reason.startswith('isolated: no witness answers (10.0.0.1) and nothing is heard from the peer')
    assert node.asked == ['witnesses']
    assert state.read()['guard']['witnesses'] is False
    assert 'guard: the witnesses (10.0.0.1) are silent; the peer is not heard either' in \
        pathlib.Path(guarded['log_file']).read_text()


# ---------------------------------------------------------------- the storage lease

@pytest.fixture
def leased(config, tmp_path):
    return dict(config, lease=dict(config['lease'], enabled=True, file=str(tmp_path / 'stack.lease'),
                                   interval=0.01, timeout=2))


def test_master_without_the_lease_keeps_the_stack_down(leased, state):
    node = FakeNode([True], [])
    node.take_lease = lambda state: 'no storage lease within 15s (held by another node (node-a 5.000))'
    lifecycle.sync(node, state, leased)
    assert node.actions == [] and node.asked == ['drop lease']
    assert 'held by another node' in pathlib.Path(leased['log_file']).read_text()


def test_master_with_the_lease_starts_and_demotion_releases_it(leased, state):
    node = FakeNode([True], [])
    node.take_lease = lambda state: None
    dropped = []
    node.drop_lease = lambda: dropped.append(True)
    lifecycle.sync(node, state, leased)
    assert node.actions == ['up'] and dropped == []
    node.vip_answers = [False]
    lifecycle.sync(node, state, leased)
    assert node.actions == ['up', 'down'] and dropped == [True]


def test_lease_holder_refreshes_then_stops(leased, state):
    node = FakeNode([True], RUNNING)
    rounds = iter(range(4))
    assert lease.hold(node, state, leased, stop=lambda: next(rounds, 9) >= 3, clock=lambda: 7.0) == 0
    assert pathlib.Path(leased['lease']['file']).read_text() == '%s 7.000\n' % socket.gethostname()
    assert state.read()['lease']['held'] is False  # released on the way out
    assert 'lease: held' in pathlib.Path(leased['log_file']).read_text()


def test_a_lost_lease_kills_the_stack(leased, state, monkeypatch):
    node = FakeNode([True], RUNNING)
    monkeypatch.setattr(lease.Lease, 'refresh',
                        lambda self, now: (none for none in ()).throw(lease.LeaseError('no answer within 2s')))
    assert lease.hold(node, state, leased) == 1
    assert node.actions == ['kill']
    assert state.read()['lease'] == dict(state.read()['lease'], held=False)
    assert 'lease: lost: no answer within 2s: killing the stack' in pathlib.Path(leased['log_file']).read_text()


def test_a_probe_that_breaks_keeps_the_guards_last_verdict(guarded, state, monkeypatch):
    # e.g. ECONNREFUSED from the status query while the peer's responder restarts:
    # no evidence either way, so the verdict (here OK) stands and the run says why.
    state.update(guard={'ok': True, 'yielded': False, 'kind': 'ok'})
    monkeypatch.setattr(cli, 'load_config', lambda: dict(guarded))

    def broken(node, state, config, now=None):
        raise ConnectionRefusedError(111, 'Connection refused')
    monkeypatch.setattr(split_brain, 'check', broken)
    assert cli.stack_hook(['guard']) == 0
    assert 'guard: OK verdict kept, a probe failed: ConnectionRefusedError' in \
        pathlib.Path(guarded['log_file']).read_text()
    state.update(guard={'ok': False, 'yielded': True, 'kind': 'yielded'})
    assert cli.stack_hook(['guard']) == 1


def test_a_second_death_within_the_window_moves_the_vip(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING, dead={'netsocs-caddy'})
    assert health.health(node, state, config, now=1000.0) == (True, 'MASTER healthy (restarted in place)')
    assert node.actions == ['start netsocs-caddy']
    assert 'started again in place (1 of 1 in 300s)' in pathlib.Path(config['log_file']).read_text()
    node.dead.add('netsocs-caddy')  # dies again 2 minutes later: the budget is spent
    ok, reason = health.health(node, state, config, now=1120.0)
    assert not ok and 'restarted in place 1 time(s) in the last 300s: moving' in reason
    assert node.actions == ['start netsocs-caddy'] and state.read()['master_failed_at'] == 1120.0
    # once the window has passed, a death is started in place again
    state.update(master_failed_at=0)
    assert health.health(node, state, config, now=1301.0)[0] is True


def test_a_restarted_docker_daemon_costs_no_restart_in_place_budget(config, state):
    # dockerd killed and started again by systemd: it stops the containers
    # it finds still running, one after the other, some after its API
    # answers. Within the grace period from its start each critical container
    # found dead is started in place, uncounted, and a failure is no failure.
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING, dead={'traefik'}, docker_started=998.0)
    assert health.health(node, state, config, now=1000.0) == (True, 'MASTER healthy (restarted in place)')
    assert node.actions == ['start traefik'] and not state.read().get('restarts_in_place')
    assert ('critical container(s) traefik dead on the MASTER: started again in place (the Docker daemon started 2s '
            'ago: not counted)') in pathlib.Path(config['log_file']).read_text()
    # the next one Docker stops: started again too, the budget still whole
    node.dead.add('netsocs-caddy')
    assert health.health(node, state, config, now=1001.0) == (True, 'MASTER healthy (restarted in place)')
    assert node.actions == ['start traefik', 'start netsocs-caddy'] and not state.read().get('restarts_in_place')
    # the port not answering yet, a container that does not start: no failure within the grace period
    node.port = False
    assert health.health(node, state, config, now=1002.0) == (
        True, 'MASTER: the Docker daemon restarted lately (4s of 30s; nothing answers on port 80)')
    assert not state.read().get('master_failed_at')
    # a daemon up for longer than the grace period: the usual rule, counted
    node.port = True
    node.dead.add('traefik')
    assert health.health(node, state, config, now=1028.0) == (True, 'MASTER healthy (restarted in place)')
    assert state.read()['restarts_in_place'] == [1028.0]
    node.dead.add('traefik')
    ok, reason = health.health(node, state, config, now=1029.0)
    assert not ok and 'restarted in place 1 time(s) in the last 300s: moving' in reason


def test_the_docker_daemons_start_is_read_from_proc(config, tmp_path):
    pid_file = tmp_path / 'docker.pid'
    pid_file.write_text('%d\n' % os.getpid())
    started = adapter.Node(config).docker_started_at(str(pid_file))
    assert started is not None and time.time() - 600 < started <= time.time() + 1
    assert adapter.Node(config).docker_started_at(str(tmp_path / 'missing.pid')) is None
    pid_file.write_text('not a pid')
    assert adapter.Node(config).docker_started_at(str(pid_file)) is None


def test_no_restart_in_place_when_disabled_or_a_sync_runs(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    off = dict(config, restart_in_place={'max': 0, 'window': 300})
    node = FakeNode([True], RUNNING, dead={'traefik'})
    assert health.health(node, state, off, now=1000.0)[0] is False and node.actions == []
    state.update(master_failed_at=0)
    with files.StackLock(config['state_dir'], 0):  # a transition's sync holds the stack
        ok, reason = health.health(node, state, config, now=1000.0)
    assert not ok and 'a stack sync is running' in reason and node.actions == []


def test_prestart_then_promotion_keeps_the_stack_running(config, state):
    state.update(role='backup')
    node = FakeNode([False], [])
    lifecycle.prestart(node, state, config)
    assert node.actions == ['up'] and state.read()['prestarted_at'] > 0
    # Keepalived starts on the node (BACKUP first): the stack stays up
    assert lifecycle.sync(node, state, config) == 'backup' and node.actions == ['up']
    # the promotion finds it running: no restart
    node.vip_answers = [True]
    assert lifecycle.sync(node, state, config) == 'master' and node.actions == ['up']
    assert state.read()['prestarted_at'] == 0
    assert 'started ahead: a switchover or a handover' in pathlib.Path(config['log_file']).read_text()


def test_prestart_is_refused_where_a_promotion_would_be(guarded, state):
    node = FakeNode([False], [], isolated='no witness answers (10.0.0.1)')
    with pytest.raises(settings.HookError, match='prestart refused: no witness answers'):
        lifecycle.prestart(node, state, guarded)
    assert node.actions == [] and not state.read().get('prestarted_at')


@pytest.fixture
def prestarted_backup(state, monkeypatch):
    """A BACKUP whose stack was started ahead at 1000.0; the syncs health schedules."""
    scheduled = []
    monkeypatch.setattr(health, 'schedule_sync', lambda cfg, why, run=None: scheduled.append(why))
    state.update(role='backup', prestarted_at=1000.0)
    return FakeNode([False], RUNNING), scheduled


def test_a_prestart_that_no_promotion_followed_is_taken_down(config, state, prestarted_backup):
    node, scheduled = prestarted_backup
    assert health.health(node, state, config, now=1010.0)[0] is True and scheduled == []
    assert health.health(node, state, config, now=1031.0)[0] is True and scheduled == ['prestart window over']
    assert state.read()['prestarted_at'] == 0
    # and the sync that follows takes the stack down, as on any BACKUP
    assert lifecycle.sync(node, state, config) == 'backup' and node.actions == ['down']


def test_a_health_round_that_began_before_the_prestart_keeps_its_stack(config, state, prestarted_backup):
    # The round took its time at 999.8, the handover's prestart recorded
    # 1000.0 before the round read the state (make repeat on the lab: the
    # sync this scheduled stopped node-b's stack as the VIP came to it).
    node, scheduled = prestarted_backup
    assert health.health(node, state, config, now=999.8)[0] is True and scheduled == []
    assert state.read()['prestarted_at'] == 1000.0
    assert lifecycle.prestarted(state, config, now=999.8)
    # a start recorded far ahead of the clock (a clock set back) is no window
    assert not lifecycle.prestarted(state, config, now=1000.0 - config['prestart_window'] - 1)


def test_the_default_standby_is_warm_a_demotion_stops_and_keeps_the_containers(warm, state):
    assert warm['standby'] == 'warm'
    state.update(role='master')
    node = FakeNode([False], RUNNING)
    assert lifecycle.sync(node, state, warm) == 'backup'
    assert node.actions == ['stop'] and len(node.stack) == 3
    assert all(c['state'] == 'exited' for c in node.stack)
    assert 'stopped, 3 container(s) kept for a warm start, 0 container(s) running' in pathlib.Path(warm['log_file']).read_text()
    # the promotion starts them: the critical ones first (docker start, in the
    # configured order), then the rest (up --no-recreate); no create, no pull
    node.vip_answers = [True]
    assert lifecycle.sync(node, state, warm) == 'master'
    assert node.actions[0] == 'stop' and node.actions[-1] == 'up'
    assert sorted(node.actions[1:-1]) == ['start netsocs-caddy', 'start traefik']
    # each start tells the kernel where the started containers are, so that
    # a client's SYN waiting for ARP leaves at once: the critical ones first,
    # then the rest (the critical ones are not set twice)
    assert node.announced == [['netsocs-caddy', 'traefik'], ['mediamtx']]
    assert ('critical container(s) netsocs-caddy, traefik started first (neighbours set: 10.0.0.2, 10.0.0.3)\n'
            in pathlib.Path(warm['log_file']).read_text())


def test_the_critical_container_that_publishes_the_port_starts_alone_first(warm, state):
    # netsocs-caddy publishes port 80 (the health check's, the clients'):
    # it starts on its own, then traefik; two side by side end later than
    # one alone, and the clients wait only for the one
    state.update(role='backup')
    stack = [dict(c, state='exited', ports=[80, 443] if c['name'] == 'netsocs-caddy' else []) for c in RUNNING]
    node = FakeNode([True], stack)
    assert lifecycle.sync(node, state, dict(warm, critical_containers=['traefik', 'netsocs-caddy'])) == 'master'
    assert node.actions == ['start netsocs-caddy', 'start traefik', 'up']
    assert node.announced == [['netsocs-caddy'], ['traefik'], ['mediamtx']]
    text = pathlib.Path(warm['log_file']).read_text()
    assert 'critical container(s) netsocs-caddy started first (port 80) (neighbours set: 10.0.0.2)\n' in text
    assert 'critical container(s) traefik started next (neighbours set: 10.0.0.2)\n' in text


def test_a_switchover_prestart_reports_serving_once_every_critical_container_runs(warm, state):
    served = []
    stack = [dict(c, state='exited', ports=[80] if c['name'] == 'netsocs-caddy' else []) for c in RUNNING]
    node = FakeNode([False], stack)
    node.start = lambda name: (node.actions.append('start ' + name), served.append('before ' + name))[0] and None
    lifecycle.prestart(node, state, warm, serving=lambda: served.append('serving'))
    assert served == ['before netsocs-caddy', 'before traefik', 'serving']


def test_critical_first_can_be_turned_off(warm, state):
    state.update(role='backup')
    node = FakeNode([True], [dict(c, state='exited') for c in RUNNING])
    assert lifecycle.sync(node, state, dict(warm, critical_first=False)) == 'master' and node.actions == ['up']


def test_a_critical_container_that_does_not_start_first_leaves_it_to_compose(warm, state):
    # the start fails (say, the port is taken): logged, and `docker compose
    # up` starts the project and is the one whose result counts
    state.update(role='backup')
    node = FakeNode([True], [dict(c, state='exited') for c in RUNNING])
    node.start = lambda name: (node.actions.append('start ' + name), 'port is already allocated' if name == 'traefik' else None)[1]
    assert lifecycle.sync(node, state, warm) == 'master'
    assert sorted(node.actions[:-1]) == ['start netsocs-caddy', 'start traefik'] and node.actions[-1] == 'up'
    # only the one that started has its neighbour set; the one compose
    # started has it set after
    assert node.announced == [['netsocs-caddy'], ['mediamtx', 'traefik']]
    assert ('netsocs-caddy, traefik started first (neighbours set: 10.0.0.2); failed, docker compose up follows: '
            'traefik (port is already allocated)') in pathlib.Path(warm['log_file']).read_text()


def test_a_stack_already_running_at_promotion_is_restarted_not_started_first(warm, state):
    state.update(role='backup')
    node = FakeNode([True], RUNNING)
    assert lifecycle.sync(node, state, warm) == 'master' and node.actions == ['restart']


def test_a_warm_backup_never_creates_from_a_hook(warm, state):
    # nothing created yet (a node that never ran the stack): the hook leaves
    # creating to the role at deploy, where an image pull belongs
    node = FakeNode([False], [])
    assert lifecycle.sync(node, state, warm) == 'backup' and node.actions == []


def test_a_warm_backup_that_cannot_stop_fails_loudly(warm, state):
    state.update(role='master')  # a demotion
    node = FakeNode([False], RUNNING)
    node.compose = lambda args: node.actions.append(args[0])  # a stop that leaves everything running
    with pytest.raises(settings.HookError, match='not standby'):
        lifecycle.sync(node, state, warm)


def test_the_grace_period_ends_once_the_stack_was_healthy(config, state):
    # promoted 5 s ago: a stack still starting is excused ...
    state.update(vrrp_state='MASTER', vrrp_state_at=995.0, promoted_at=995.0)
    starting = FakeNode([True], RUNNING, dead={'netsocs-caddy', 'traefik', 'mediamtx'})
    ok, reason = health.health(starting, state, config, now=1000.0)
    assert (ok, reason) == (True, 'MASTER in grace period (5s of 30s)')
    assert not isinstance(reason, health.Serving)  # a balancer sends no client here yet
    # ... but once it was seen up, a container that dies is handled at once
    ok, reason = health.health(FakeNode([True], RUNNING), state, config, now=1001.0)
    assert (ok, reason) == (True, 'MASTER healthy') and isinstance(reason, health.Serving)
    died = FakeNode([True], RUNNING, dead={'netsocs-caddy'})
    assert health.health(died, state, config, now=1002.0) == (True, 'MASTER healthy (restarted in place)')
    assert died.actions == ['start netsocs-caddy']
    # a new MASTER term gets its own grace period
    state.update(promoted_at=2000.0, vrrp_state_at=2000.0)
    assert 'grace period' in health.health(starting, state, config, now=2001.0)[1]


# ---------------------------------------------------------------- the handover on a graceful stop

@pytest.fixture
def handing(guarded):
    return dict(guarded, handover={'enabled': True, 'timeout': 20, 'order': 'overlap'})


def test_a_stopping_master_asks_the_peer_and_logs_its_answer(handing):
    asked = []

    def request(peers, port, ack_timeout, timeout):
        asked.append((peers, port, ack_timeout, timeout))
        return True, '10.0.0.11: stack running'

    assert handover.handover(FakeNode([True]), files.State(handing['state_dir']), handing, request=request) is True
    assert asked == [(['10.0.0.11'], 8007, 1, 20)]
    assert 'after 0.0 s the peer runs the stack (10.0.0.11: stack running)' in pathlib.Path(handing['log_file']).read_text()


@pytest.mark.parametrize('change, master, why', [
    ({'handover': {'enabled': False, 'timeout': 20, 'order': 'stop_first'}}, True, 'handover is off'),
    ({'guard': {'enabled': False}}, True, 'the guard, and so its responder, is off'),
    ({'lease': {'enabled': True}}, True, 'the storage lease allows one stack at a time'),
    ({}, False, None),  # a BACKUP being stopped has nothing to hand over
])
def test_no_handover_asked(handing, change, master, why):
    def request(*_args):
        raise AssertionError('the peer must not be asked')
    assert handover.handover(FakeNode([master]), files.State(handing['state_dir']), dict(handing, **change), request=request) is False
    log = pathlib.Path(handing['log_file'])
    assert (why in log.read_text()) if why else not log.exists()


def test_stop_first_stops_the_stack_here_before_the_peer_is_asked(handing, state):
    # one writer: the giver's stack is down when the peer is asked to start its
    node = FakeNode([True], RUNNING)
    seen = []

    def request(*_args):
        seen.append([c['state'] for c in node.containers()])
        return True, '10.0.0.11: stack running'

    config = dict(handing, handover=dict(handing['handover'], order='stop_first'))
    assert handover.handover(node, state, config, request=request) is True
    assert node.actions == ['down'] and seen == [[]]
    log = pathlib.Path(handing['log_file']).read_text()
    assert log.index('stopping the stack here first (one writer)') < log.index('the peer runs the stack')
    # until Keepalived has stopped, the health check leaves the stack down (no restart in place)
    now = state.read()['handover_at'] + 1
    assert health.health(node, state, config, now=now) == (
        True, 'MASTER handing over: the stack stopped first, Keepalived stops next')
    assert node.actions == ['down']
    # a promotion's sync that runs meanwhile (Keepalived became MASTER just
    # before it was stopped) keeps the stack down
    lifecycle.sync(node, state, config)
    assert node.actions == ['down']
    assert 'node is MASTER but it is handing the stack over' in pathlib.Path(handing['log_file']).read_text()
    # a later promotion ends the handover
    lifecycle.trigger(config, state, 'MASTER', run=lambda *a, **k: Done())
    assert not lifecycle.handing_over(state.read(), config, now)
    lifecycle.sync(node, state, config)
    assert node.actions == ['down', 'up']


def test_overlap_asks_the_peer_with_the_stack_running_here(handing, state):
    node = FakeNode([True], RUNNING)
    assert handover.handover(node, state, handing, request=lambda *_a: (True, 'ok')) is True
    assert node.actions == []


def test_a_peer_that_does_not_start_leaves_the_stop_to_go_on(handing):
    ready = handover.handover(FakeNode([True]), files.State(handing['state_dir']), handing,
                              request=lambda *_a: (False, 'no peer acknowledged within 1s'))
    assert ready is False
    assert 'the peer has not started its stack (it starts it once promoted)' in pathlib.Path(handing['log_file']).read_text()


def write_vrrp(config, vrrp_state):
    pathlib.Path(config['state_dir'], 'vrrp-state.json').write_text(json.dumps({'state': vrrp_state}))


def test_the_backup_grants_a_handover_with_a_prestart_the_promotion_keeps(handing, state):
    write_vrrp(handing, 'BACKUP')
    state.update(role='backup')
    node = FakeNode([False], [])
    assert handover.grant_handover(node, state, handing) == (True, 'stack running')
    assert node.actions == ['up'] and state.read()['prestarted_at'] > 0
    assert "ahead of the peer's graceful stop (handover)" in pathlib.Path(handing['log_file']).read_text()
    node.vip_answers = [True]
    assert lifecycle.sync(node, state, handing) == 'master' and node.actions == ['up']


def test_a_warm_taker_answers_ready_once_its_critical_containers_run(handing, state):
    write_vrrp(handing, 'BACKUP')
    node = FakeNode([False], [dict(c, state='exited') for c in RUNNING])
    early = []
    config = dict(handing, standby='warm')
    assert handover.grant_handover(node, state, config, early=lambda *a: early.append((a, list(node.actions)))) == (
        True, 'stack running')
    # after the critical containers' `docker start`, before `docker compose up`
    assert early == [((True, 'the critical containers run, the rest is starting'),
                      ['start netsocs-caddy', 'start traefik'])]
    assert node.actions[-1] == 'up'


@pytest.mark.parametrize('vrrp_state, isolated, expected', [
    ('FAULT', None, 'not BACKUP (Keepalived reports FAULT)'),
    (None, None, 'not BACKUP (Keepalived reports nothing)'),
    ('BACKUP', 'no witness answers (10.0.0.1)', 'prestart refused: no witness answers (10.0.0.1)'),
])
def test_a_handover_is_refused_where_a_takeover_could_not_follow(handing, state, vrrp_state, isolated, expected):
    if vrrp_state:
        write_vrrp(handing, vrrp_state)
    node = FakeNode([False], [], isolated=isolated)
    assert handover.grant_handover(node, state, handing) == (False, expected)
    assert node.actions == [] and not state.read().get('prestarted_at')


def test_a_node_with_the_handover_off_refuses_it(handing, state):
    write_vrrp(handing, 'BACKUP')
    node = FakeNode([False], [])
    assert handover.grant_handover(node, state, dict(handing, handover={'enabled': False, 'timeout': 20})) == (
        False, 'handover is off')
    assert node.actions == []


INSPECTED = [
    {'Name': '/netsocs-caddy', 'NetworkSettings': {'Networks': {
        'netsocs_default': {'IPAddress': '172.18.0.2', 'MacAddress': '02:42:ac:12:00:02'},
        'netsocs_edge': {'IPAddress': '172.19.0.5', 'MacAddress': '02:42:ac:13:00:05'}}}},
    # host network: no address of its own
    {'Name': '/mediamtx', 'NetworkSettings': {'Networks': {'host': {'IPAddress': '', 'MacAddress': ''}}}},
    # a stopped container: no address yet
    {'Name': '/traefik', 'NetworkSettings': {'Networks': {'netsocs_default': {'IPAddress': '', 'MacAddress': ''}}}},
]
ROUTES = [
    {'dst': 'default', 'gateway': '10.0.0.1', 'dev': 'eth0'},
    {'dst': '172.18.0.0/16', 'dev': 'br-4f17e9f07f34', 'scope': 'link', 'prefsrc': '172.18.0.1'},
    {'dst': '172.19.0.0/16', 'dev': 'br-0a1b2c3d4e5f', 'scope': 'link', 'prefsrc': '172.19.0.1'},
    {'dst': '10.0.0.0/24', 'dev': 'eth0', 'scope': 'link', 'prefsrc': '10.0.0.11'},
]


def test_neighbour_entries_are_the_started_containers_addresses_on_local_bridges():
    assert adapter.neighbour_entries(INSPECTED, ROUTES, lambda dev: dev.startswith('br-')) == [
        ('172.18.0.2', '02:42:ac:12:00:02', 'br-4f17e9f07f34'),
        ('172.19.0.5', '02:42:ac:13:00:05', 'br-0a1b2c3d4e5f')]


def test_neighbour_entries_skip_what_is_not_on_a_bridge():
    # a macvlan network in the LAN's subnet: its address is not the host's to set
    macvlan = [{'NetworkSettings': {'Networks': {'lan': {'IPAddress': '10.0.0.50', 'MacAddress': '02:42:0a:00:00:32'}}}}]
    assert adapter.neighbour_entries(macvlan, ROUTES, lambda dev: dev.startswith('br-')) == []
    assert adapter.neighbour_entries(INSPECTED, ROUTES, lambda dev: False) == []
    assert adapter.neighbour_entries([], ROUTES, lambda dev: True) == []


def test_a_restart_in_place_sets_the_neighbours_of_what_it_started(warm, state):
    state.update(role='master')
    node = FakeNode([True], RUNNING, dead=('netsocs-caddy',))
    assert health.restart_in_place(node, state, warm, ['netsocs-caddy'], time.time()) is None
    assert node.announced == [['netsocs-caddy']]


# ---------------------------------------------------------------- the whole stack


def whole(config):
    return dict(config, services=SERVICES)


def test_a_master_whose_services_all_run_is_healthy_and_not_touched(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING + EXTRA)
    assert health.health(node, state, whole(config), now=1000.0) == (True, 'MASTER healthy')
    assert node.actions == []


def test_services_down_after_a_docker_crash_are_brought_back_without_moving_the_vip(config, state):
    # dockerd was killed: every container exited; the critical ones are
    # started in place, the others brought back by compose in the same round.
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], [dict(c, state='exited') for c in RUNNING + EXTRA], dead={'netsocs-caddy', 'traefik'})
    ok, reason = health.health(node, state, whole(config), now=1000.0)
    # back once the next look finds them running too
    assert ok and reason == 'MASTER degraded: mediamtx starting, recorder starting not running (brought back, not running yet)'
    assert node.actions == ['start netsocs-caddy', 'start traefik', 'up']
    assert sorted(c['service'] for c in node.stack if c['state'] == 'running') == SERVICES
    assert "service(s) mediamtx (exited), recorder (exited) down on the MASTER: docker compose up for them " \
        "(1 of 3 in 300s)" in pathlib.Path(config['log_file']).read_text()
    assert health.health(node, state, whole(config), now=1001.0) == (True, 'MASTER healthy')
    assert node.actions == ['start netsocs-caddy', 'start traefik', 'up']


def test_a_service_that_cannot_come_back_is_degraded_with_a_back_off(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING + [dict(EXTRA[0], state='exited')])
    node.stuck = {'recorder'}
    reasons = [health.health(node, state, whole(config), now=1000.0 + i) for i in range(6)]
    assert all(ok for ok, _reason in reasons)  # degraded keeps the VIP
    assert reasons[0][1] == 'MASTER degraded: recorder exited not running (brought back, not running yet)'
    assert health.status_of(*reasons[0]) == 'degraded'
    assert reasons[5][1] == 'MASTER degraded: recorder exited not running (brought back 3 time(s) in the last 300s: waiting)'
    assert node.actions == ['up', 'up', 'up']  # no restart storm
    assert state.read()['services_down'] == {'recorder': 'exited'}  # what status.yml lists
    # the health log says it once per kind, not every second
    health.report_health(state, whole(config), *reasons[4], now=1004.0)
    health.report_health(state, whole(config), *reasons[5], now=1005.0)
    assert pathlib.Path(config['health_log_file']).read_text().count('degraded') == 1
    # the window passes: it is tried again
    node.stuck = set()
    assert health.health(node, state, whole(config), now=1400.0) == \
        (True, 'MASTER degraded: recorder starting not running (brought back, not running yet)')
    assert health.health(node, state, whole(config), now=1401.0) == (True, 'MASTER healthy')
    assert state.read()['services_down'] == {}


def test_a_service_in_a_restart_loop_is_not_back_when_one_look_finds_it_running(config, state):
    # Docker's restart policy runs a container that cannot start for a moment
    # between its back-off waits (CI on 701e167: one look caught it running,
    # and node-a said healthy while mediamtx could not bind its port).
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING + [dict(EXTRA[0], state='restarting')])
    assert health.health(node, state, whole(config), now=1000.0)[1] == \
        "MASTER degraded: recorder restarting not running (Docker's restart policy has them)"
    node.stack[-1]['state'] = 'running'  # the moment between two waits
    assert health.health(node, state, whole(config), now=1001.0) == \
        (True, 'MASTER degraded: recorder starting not running (running again, counted back at the next look)')
    node.stack[-1]['state'] = 'restarting'
    assert health.health(node, state, whole(config), now=1002.0)[1].startswith('MASTER degraded: recorder restarting')
    assert state.read()['services_down'] == {'recorder': 'restarting'}
    assert node.actions == []


@pytest.mark.parametrize('before, down, expected', [
    ({'recorder': 'exited'}, {}, {'recorder': 'starting'}),  # running at one look
    ({'recorder': 'starting'}, {}, {}),  # and at the next: back
    ({'recorder': 'exited'}, {'recorder': 'restarting'}, {}),  # still down: services_down says so
    ({'gone': 'exited'}, {}, {}),  # no longer a service of the file
    (None, {}, {}),
])
def test_not_yet_back(before, down, expected):
    assert compose.not_yet_back(SERVICES, down, before) == expected


def test_a_service_docker_restarts_or_that_was_paused_is_reported_not_touched(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING + [dict(EXTRA[0], state='restarting')])
    assert health.health(node, state, whole(config), now=1000.0) == \
        (True, "MASTER degraded: recorder restarting not running (Docker's restart policy has them)")
    node.stack[-1]['state'] = 'paused'
    assert health.health(node, state, whole(config), now=1001.0) == \
        (True, 'MASTER degraded: recorder paused not running (left as they are)')
    assert node.actions == []


def test_no_bring_back_while_a_sync_runs_or_without_the_list(config, state):
    # A promotion's sync holds the stack lock while its compose up starts everything.
    state.update(vrrp_state='MASTER', promoted_at=995.0)
    node = FakeNode([True], RUNNING)
    with files.StackLock(config['state_dir'], 0):
        assert health.health(node, state, whole(config), now=1000.0) == \
            (True, 'MASTER degraded: recorder absent not running (a stack sync is running)')
    assert node.actions == []
    assert health.health(node, state, config, now=1000.0) == (True, 'MASTER healthy')  # services: [] (older stack.json)


@pytest.mark.parametrize('containers, expected', [
    (RUNNING + EXTRA, {}),
    (RUNNING, {'recorder': 'absent'}),
    ([dict(c, state='exited') for c in RUNNING + EXTRA], {'mediamtx': 'exited', 'recorder': 'exited'}),
    # a service with two containers runs when one does
    (RUNNING + [dict(EXTRA[0], state='exited'), dict(EXTRA[0], name='netsocs-recorder-2')], {}),
])
def test_services_down(containers, expected):
    assert compose.services_down(SERVICES, containers, ['netsocs-caddy', 'traefik']) == expected


def test_a_health_round_that_overlaps_a_running_one_keeps_its_result(config, state, monkeypatch):
    # Keepalived starts the next round while the last still runs (a Docker
    # daemon coming back): the overlapping one neither acts nor judges.
    monkeypatch.setattr(cli, 'load_config', lambda: dict(config))
    monkeypatch.setattr(health, 'health', lambda *args: pytest.fail('a second round judged the node'))
    with files.StackLock(config['state_dir'], 0, name='health.lock'):
        state.update(last_health={'ok': True, 'reason': 'MASTER healthy'})
        assert cli.stack_hook(['health']) == 0
        state.update(last_health={'ok': False, 'reason': 'docker daemon not answering'})
        assert cli.stack_hook(['health']) == 1
    monkeypatch.setattr(health, 'health', lambda *args: (True, 'MASTER healthy'))
    assert cli.stack_hook(['health']) == 0 and state.read()['last_health']['reason'] == 'MASTER healthy'


def test_a_whole_stack_is_looked_at_every_few_seconds_while_it_runs(config, state):
    state.update(vrrp_state='MASTER', promoted_at=0.0)
    node = FakeNode([True], RUNNING + EXTRA)
    looks = []
    containers = node.containers
    node.containers = lambda timeout=None: looks.append(1) or containers()
    for now in (1000.0, 1001.0, 1004.0, 1005.0, 1006.0):
        assert health.health(node, state, whole(config), now=now) == (True, 'MASTER healthy')
    assert len(looks) == 2  # at 1000 and 1005
    node.stack[-1] = dict(EXTRA[0], state='exited')  # now one is down: seen within SERVICES_EVERY
    node.stuck = {'recorder'}
    assert health.health(node, state, whole(config), now=1010.0)[1].startswith('MASTER degraded: recorder')
    assert health.health(node, state, whole(config), now=1011.0)[1].startswith('MASTER degraded: recorder')
    assert len(looks) >= 4  # every round while it is down


@pytest.mark.parametrize('witness, reply, master, adverts, expected, asked', [
    (True, None, False, False, {'witnesses': True, 'peer': None}, ['witnesses']),
    (False, {'holds_vip': True}, True, False, {'witnesses': False, 'peer': 'answers on the second path'},
     ['witnesses', 'query']),
    # a BACKUP whose MASTER's responder is down still hears its adverts
    (False, None, False, True, {'witnesses': False, 'peer': 'sends VRRP adverts'}, ['witnesses', 'query', 'adverts']),
    # the VIP holder's peer (a BACKUP) sends no adverts: not listened for
    (False, None, True, True, {'witnesses': False, 'peer': None}, ['witnesses', 'query']),
])
def test_connectivity_asks_the_witnesses_then_the_peer(guarded, monkeypatch, witness, reply, master, adverts,
                                                       expected, asked):
    node = adapter.Node(guarded)
    calls = []

    class Probes(object):
        def witness_answers(self, witnesses, deadline):
            calls.append('witnesses')
            return witness

    monkeypatch.setattr(node, 'probes', Probes)
    monkeypatch.setattr(node, 'is_master', lambda: master)
    monkeypatch.setattr(adapter._responder, 'query_peer', lambda *a: calls.append('query') or reply)
    monkeypatch.setattr(adapter._guard, 'advert_heard', lambda *a: calls.append('adverts') or adverts)
    assert node.connectivity() == expected
    assert calls == asked
    assert bool(node.isolated()) is (expected == {'witnesses': False, 'peer': None})


def test_silent_witnesses_are_logged_once_however_many_rounds(guarded, state):
    for _round in range(3):
        split_brain.check(FakeNode([False], [], isolated='x'), state, guarded)
    assert pathlib.Path(guarded['log_file']).read_text().count('are silent') == 1
    split_brain.check(FakeNode([False], []), state, guarded)
    assert pathlib.Path(guarded['log_file']).read_text().count('answer again') == 1


def test_a_command_that_cannot_be_reaped_does_not_hold_the_hook(monkeypatch):
    """A command blocked on a hung mount (a FUSE request its server never
    answers) survives SIGKILL and cannot be reaped: subprocess.run would wait
    for it forever after its timeout. run() kills its group and gives up."""
    import subprocess

    class Unreapable(object):
        def __init__(self, args, **kwargs):
            self.pid, self.returncode, self.waits = 4242, None, []

        def communicate(self, timeout=None):
            self.waits.append(timeout)
            assert timeout is not None, 'an unbounded wait never returns here'
            raise subprocess.TimeoutExpired('x', timeout)

    killed = []
    monkeypatch.setattr(adapter.subprocess, 'Popen', Unreapable)
    monkeypatch.setattr(adapter.os, 'killpg', lambda pid, sig: killed.append((pid, sig)))
    node = adapter.Node(dict(settings.DEFAULTS))
    with pytest.raises(settings.HookError, match='timed out after 15s'):
        node.run(['storage-check'], timeout=15)
    assert killed == [(4242, adapter.signal.SIGKILL)]
