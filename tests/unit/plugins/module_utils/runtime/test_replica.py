"""Replicated shares (runtime/replica.py): who pulls from whom, when a copy is
in sync, the term that says which copy is newer, and the deadlines."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import replica
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import state as files
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings


def make_config(tmp_path, **replica_values):
    config = dict(settings.DEFAULTS)
    root = tmp_path / 'shares'
    root.mkdir(parents=True, exist_ok=True)
    config.update(state_dir=str(tmp_path), log_file=str(tmp_path / 'failover.log'),
                  health_log_file=str(tmp_path / 'health.log'))
    config['replica'] = dict(settings.DEFAULTS['replica'], enabled=True, peer='192.0.2.12', root=str(root),
                             aside_dir=str(tmp_path / 'aside'), **replica_values)
    return config


class Node(object):
    def __init__(self, master=False, stack=()):
        self.master, self.stack, self.actions = master, list(stack), []

    def is_master(self):
        return self.master

    def stack_processes(self):
        return [(name, 1) for name in self.stack]

    def compose(self, args, timeout=None):
        self.actions.append(args[0])
        self.stack = []


class Rsync(object):
    """run_rsync's stand-in: the peer's stamp ((served until, term); None: it
    does not answer; (0, 0): no stamp yet), and whether a pull works."""

    def __init__(self, peer=None, pull_ok=True, peer_files=None):
        self.peer, self.pull_ok, self.peer_files = peer, pull_ok, peer_files or {}
        self.calls = []

    def stamp_text(self):
        return '%d node-b 2026-12-04T00:00:00Z %.3f\n' % (self.peer[1], self.peer[0])

    def __call__(self, config, args, deadline):
        self.calls.append((args, deadline))
        if args[-2].endswith(replica.TERM_FILE):  # the term fetch
            if self.peer is None:
                return None, deadline, 'no result within %ss' % deadline
            if tuple(self.peer) == (0, 0):
                return replica.MISSING, 0.01, 'link_stat failed: No such file or directory (2)'
            with open(args[-1], 'w') as handle:
                handle.write(self.stamp_text())
            return 0, 0.01, ''
        if not self.pull_ok:
            return 10, 0.5, 'rsync error: connection refused'
        root = config['replica']['root']
        for name, text in dict(self.peer_files, **{replica.TERM_FILE: self.stamp_text()}).items():
            with open(os.path.join(root, name), 'w') as handle:
                handle.write(text)
        return 0, 0.05, ''


@pytest.mark.parametrize('role, stack, own, peer, expected', [
    ('backup', False, (50.0, 3), (50.0, 3), 'pull'),
    ('backup', False, (50.0, 3), (60.0, 3), 'pull'),
    ('backup', False, (60.0, 3), (50.0, 4), 'older'),   # served later wins over a higher term
    ('backup', False, (50.0, 5), (50.0, 4), 'older'),   # never pull an older copy over a newer one
    ('backup', False, (50.0, 3), None, 'cannot be read'),
    ('backup', True, (50.0, 3), (60.0, 3), 'serving'),  # a node whose stack runs is never a pull target
    ('master', False, (50.0, 3), (60.0, 3), 'serving'),
])
def test_decide(role, stack, own, peer, expected):
    assert expected in replica.decide(role, stack, own, peer)


def test_problem_backup_in_sync_and_out():
    now = 1000.0
    assert replica.problem({'pulled_at': now - 2, 'peer': [990.0, 3], 'peer_at': now}, 'backup', (990.0, 3), now, 10) is None
    assert 'no pull' in replica.problem({}, 'backup', (0.0, 0), now, 10)
    late = replica.problem({'pulled_at': now - 30, 'error': 'pull failed: x'}, 'backup', (970.0, 3), now, 10)
    assert 'last pull from the peer 30 s ago' in late and 'pull failed' in late
    # a BACKUP holding the newest copy is fine without pulls (its peer is older)
    assert replica.problem({'peer': [900.0, 2], 'peer_at': now}, 'backup', (990.0, 3), now, 10) is None


def test_problem_master():
    now = 1000.0
    assert replica.problem({}, 'master', (999.0, 3), now, 10) is None
    newer = replica.problem({'peer': [998.0, 4], 'peer_at': now - 1}, 'master', (900.0, 3), now, 10)
    assert 'the peer holds a newer copy (term 4' in newer
    # an old reading of the peer's stamp proves nothing
    assert replica.problem({'peer': [998.0, 4], 'peer_at': now - 60}, 'master', (900.0, 3), now, 10) is None


def test_stamps_round_trip(tmp_path):
    assert replica.read_stamp(str(tmp_path)) == (0.0, 0)
    replica.write_stamp(str(tmp_path), (1234.5, 7), 'node-a')
    assert replica.read_stamp(str(tmp_path)) == (1234.5, 7)
    assert not os.path.exists(os.path.join(str(tmp_path), replica.TERM_FILE + '.tmp'))


def test_pull_args_set_aside_only_when_asked(tmp_path):
    config = make_config(tmp_path)
    plain = replica.pull_args(config['replica'])
    assert plain[-2] == 'rsync://192.0.2.12:873/netsocs-shares/' and plain[-1] == str(tmp_path / 'shares') + '/'
    assert '--delete' in plain and not any(a.startswith('--backup') for a in plain)
    aside = replica.pull_args(config['replica'], '/var/lib/x/20261204T000000Z')
    assert '--backup' in aside and '--backup-dir=/var/lib/x/20261204T000000Z' in aside and '--checksum' in aside
    assert '--ignore-times' in replica.term_args(config['replica'], '/run/x')


def test_a_failed_stamp_read_never_returns_the_last_one(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    (tmp_path / 'peer-term').write_text('9 node-b earlier 900.0\n')
    monkeypatch.setattr(replica, 'run_rsync', lambda config, args, deadline: (replica.MISSING, 0.01, 'gone'))
    assert replica.peer_stamp(config, 0.5) == (0.0, 0)
    monkeypatch.setattr(replica, 'run_rsync', lambda config, args, deadline: (0, 0.01, ''))
    assert replica.peer_stamp(config, 0.5) == (0.0, 0)  # rsync said it fetched, but nothing is there: not 9


def test_follow_round_backup_pulls_and_records(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    fake = Rsync(peer=(90.0, 4), peer_files={'a.txt': 'from the MASTER'})
    monkeypatch.setattr(replica, 'run_rsync', fake)
    record = replica.follow_round(Node(), state, config, now=100.0)
    assert record['pulled_at'] == 100.0 and record['term'] == 4 and record['served'] == 90.0 and record['error'] == ''
    assert (tmp_path / 'shares' / 'a.txt').read_text() == 'from the MASTER'
    # first pull since start: the copy may have diverged, what it replaces is set aside
    assert any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])
    assert state.read()['replica']['peer'] == [90.0, 4]
    # the next pull, no promotion since: nothing set aside
    replica.follow_round(Node(), state, config, now=101.0)
    assert not any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])


def test_follow_round_after_serving_sets_aside(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    fake = Rsync(peer=(90.0, 4))
    monkeypatch.setattr(replica, 'run_rsync', fake)
    replica.follow_round(Node(), state, config, now=100.0)
    state.update(promoted_at=150.0)   # this node served since
    replica.follow_round(Node(), state, config, now=200.0)
    assert any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])


def test_follow_round_never_pulls_an_older_copy(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (95.0, 6), 'node-b')
    state = files.State(str(tmp_path))
    fake = Rsync(peer=(80.0, 5))
    monkeypatch.setattr(replica, 'run_rsync', fake)
    record = replica.follow_round(Node(), state, config, now=100.0)
    assert len(fake.calls) == 1 and 'older' in record['verdict'] and record['error'] == ''
    assert replica.problem(record, 'backup', (95.0, 6), 100.0, 10) is None


def test_follow_round_master_renews_its_stamp_while_serving(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (95.0, 6), 'node-a')
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(95.0, 6)))
    record = replica.follow_round(Node(master=True, stack=['netsocs-caddy']), files.State(str(tmp_path)), config, now=100.0)
    assert replica.read_stamp(config['replica']['root']) == (100.0, 6) and record['served'] == 100.0


def test_follow_round_master_with_older_copy_kills_its_stack(tmp_path, monkeypatch):
    """A frozen MASTER thaws: its peer served meanwhile (served later, a newer term)."""
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (50.0, 5), 'node-a')
    state = files.State(str(tmp_path))
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(99.0, 6)))
    node = Node(master=True, stack=['netsocs-caddy'])
    record = replica.follow_round(node, state, config, now=100.0)
    assert node.actions == ['kill'] and 'serving' in record['verdict']
    assert replica.read_stamp(config['replica']['root']) == (50.0, 5)  # not renewed
    assert 'newer copy' in replica.problem(record, 'master', (50.0, 5), 100.0, 10)
    assert 'killing' in (tmp_path / 'failover.log').read_text()


def test_a_partition_the_node_that_served_on_keeps_its_copy(tmp_path, monkeypatch):
    """node-b promoted in a partition (a higher term), served a moment and
    yielded; node-a served on. After the heal node-a's copy is the newer one:
    node-a keeps serving, node-b pulls it (what it wrote is set aside)."""
    a_cfg, b_cfg = make_config(tmp_path / 'a'), make_config(tmp_path / 'b')
    replica.write_stamp(a_cfg['replica']['root'], (130.0, 5), 'node-a')   # renewed until the heal
    replica.write_stamp(b_cfg['replica']['root'], (102.0, 6), 'node-b')   # served 2 s, then yielded
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(102.0, 6)))
    a = Node(master=True, stack=['netsocs-caddy'])
    record = replica.follow_round(a, files.State(str(tmp_path / 'a')), a_cfg, now=130.5)
    assert a.actions == [] and replica.problem(record, 'master', replica.read_stamp(a_cfg['replica']['root']), 130.5, 10) is None
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(130.5, 5)))
    record = replica.follow_round(Node(), files.State(str(tmp_path / 'b')), b_cfg, now=131.0)
    assert record['verdict'] == 'pull' and record['pulled_at'] == 131.0


def test_a_split_brain_kills_nothing(tmp_path, monkeypatch):
    """Both nodes serve (VRRP cut, the guard not yet done): the peer's stamp,
    just written by its promotion, is newer by a moment. This node was
    serving all along (its own stamp is fresh): it keeps its stack and its
    health; the guard decides who yields, the stamps who pulls afterwards."""
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (99.5, 5), 'node-a')
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(100.0, 6)))
    node = Node(master=True, stack=['netsocs-caddy'])
    record = replica.follow_round(node, files.State(str(tmp_path)), config, now=100.2)
    assert node.actions == [] and replica.read_stamp(config['replica']['root']) == (100.2, 5)
    assert replica.problem(record, 'master', (99.5, 5), 100.2, 10) is None


def test_a_stale_reading_never_renews_the_stamp(tmp_path, monkeypatch):
    """This process was frozen between reading the peer and renewing: the
    reading is old, the stamp stays (or a thawed node would outrank its peer)."""
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (50.0, 5), 'node-a')
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(50.0, 5)))
    ticks = iter([0.0, 30.0])
    replica.read_and_pull(Node(master=True, stack=['netsocs-caddy']), files.State(str(tmp_path)), config, {},
                          now=100.0, clock=lambda: next(ticks))
    assert replica.read_stamp(config['replica']['root']) == (50.0, 5)


def test_follow_round_failed_pull_is_logged_once(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(90.0, 4), pull_ok=False))
    for now in (100.0, 101.0, 102.0):
        record = replica.follow_round(Node(), state, config, now=now)
    assert 'connection refused' in record['error'] and 'pulled_at' not in record
    assert (tmp_path / 'health.log').read_text().count('pull failed') == 1


def test_catch_up_pulls_then_starts_a_new_term(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (90.0, 4), 'node-b')
    state = files.State(str(tmp_path))
    fake = Rsync(peer=(95.0, 4), peer_files={'last.txt': 'the giver wrote this last'})
    monkeypatch.setattr(replica, 'run_rsync', fake)
    said = replica.catch_up(state, config, peer_answered=True)
    assert 'pulled' in said and said.endswith('term 5')
    served, term = replica.read_stamp(config['replica']['root'])
    assert term == 5 and served > 95.0
    assert (tmp_path / 'shares' / 'last.txt').read_text() == 'the giver wrote this last'
    # a peer that answered gets the pull's deadline for its stamp
    assert fake.calls[0][1] == config['replica']['pull_timeout']


def test_catch_up_peer_gone_serves_own_copy_within_term_timeout(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (90.0, 4), 'node-b')
    fake = Rsync(peer=None)
    monkeypatch.setattr(replica, 'run_rsync', fake)
    said = replica.catch_up(files.State(str(tmp_path)), config)
    assert 'cannot be read' in said and said.endswith('term 5') and len(fake.calls) == 1
    assert fake.calls[0][1] == config['replica']['term_timeout']


def test_catch_up_never_pulls_an_older_copy(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_stamp(config['replica']['root'], (95.0, 6), 'node-b')
    fake = Rsync(peer=(90.0, 5))
    monkeypatch.setattr(replica, 'run_rsync', fake)
    said = replica.catch_up(files.State(str(tmp_path)), config, peer_answered=True)
    assert 'older' in said and said.endswith('term 7') and len(fake.calls) == 1


def test_run_rsync_deadline_kills_a_hung_transfer(tmp_path):
    """A real process that hangs (a frozen peer's daemon never greets): the deadline holds."""
    config = make_config(tmp_path)
    start = time.monotonic()
    rc, seconds, said = replica.run_rsync(config, [sys.executable, '-c', 'import time; time.sleep(30)'], 0.5)
    assert rc is None and 'no result within 0.5s' in said and time.monotonic() - start < 3
    assert not (tmp_path / replica.PID).exists()


def test_catch_up_stops_a_pull_in_flight(tmp_path, monkeypatch):
    """A promotion does not wait for the follower's pull from a frozen peer:
    another process holds the copy's lock (the follower, its rsync hung)."""
    config = make_config(tmp_path)
    lock, pid = tmp_path / replica.LOCK, tmp_path / replica.PID
    follower = subprocess.Popen([sys.executable, '-c', (
        'import fcntl, os, time\n'
        'handle = open(%r, "a")\n'
        'fcntl.flock(handle, fcntl.LOCK_EX)\n'
        'open(%r, "w").write(str(os.getpid()))\n'
        'time.sleep(30)\n') % (str(lock), str(pid))])
    deadline = time.monotonic() + 5
    while not pid.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=None))
    start = time.monotonic()
    said = replica.catch_up(files.State(str(tmp_path)), config)
    assert follower.wait(2) is not None and time.monotonic() - start < 3 and said.endswith('term 1')


def test_a_section_keeps_the_defaults_it_does_not_set(tmp_path):
    """stack.json renders the role's keys; the runtime's own (deadlines) stay."""
    path = tmp_path / 'stack.json'
    path.write_text('{"project_dir": "/opt/netsocs", "vip": "192.0.2.100", "log_file": "/l", "health_log_file": "/h",'
                    ' "state_dir": "/s", "hook_path": "/x", "replica": {"enabled": true, "peer": "192.0.2.12"}}')
    config = settings.load_config(str(path))
    assert config['replica']['enabled'] and config['replica']['peer'] == '192.0.2.12'
    assert config['replica']['term_timeout'] == settings.DEFAULTS['replica']['term_timeout']


def test_a_copy_without_a_stamp_is_never_served(tmp_path, monkeypatch):
    """The peer's daemon answers but no promotion stamped its copy yet: pull it."""
    config = make_config(tmp_path)
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer=(0, 0)))
    record = replica.follow_round(Node(), files.State(str(tmp_path)), config, now=100.0)
    assert record['peer'] == [0.0, 0] and record['pulled_at'] == 100.0


def test_run_rsync_deadline_kills_the_forked_children_too(tmp_path):
    """rsync forks; a child blocked on a frozen peer keeps the output open:
    the deadline kills the whole group, not only the parent."""
    config = make_config(tmp_path)
    script = 'import os, time\nif os.fork() == 0:\n    time.sleep(30)\nelse:\n    time.sleep(30)\n'
    start = time.monotonic()
    rc, _seconds, said = replica.run_rsync(config, [sys.executable, '-c', script], 0.5)
    assert rc is None and time.monotonic() - start < 3
