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
    root.mkdir(exist_ok=True)
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
    """run_rsync's stand-in: the peer's term, and whether a pull works."""

    def __init__(self, peer_term=None, pull_ok=True, peer_files=None):
        self.peer_term, self.pull_ok, self.peer_files = peer_term, pull_ok, peer_files or {}
        self.calls = []

    def __call__(self, config, args, deadline):
        self.calls.append((args, deadline))
        if args[-2].endswith(replica.TERM_FILE):  # the term fetch
            if self.peer_term is None:
                return None, deadline, 'no result within %ss' % deadline
            if self.peer_term == 0:
                return replica.MISSING, 0.01, 'link_stat failed: No such file or directory (2)'
            with open(args[-1], 'w') as handle:
                handle.write('%d node-b 2026-12-04T00:00:00Z\n' % self.peer_term)
            return 0, 0.01, ''
        if not self.pull_ok:
            return 10, 0.5, 'rsync error: connection refused'
        root = config['replica']['root']
        for name, text in dict(self.peer_files, **{replica.TERM_FILE: '%d node-b x\n' % (self.peer_term or 0)}).items():
            with open(os.path.join(root, name), 'w') as handle:
                handle.write(text)
        return 0, 0.05, ''


@pytest.mark.parametrize('role, stack, own, peer, expected', [
    ('backup', False, 3, 3, 'pull'),
    ('backup', False, 3, 4, 'pull'),
    ('backup', False, 5, 4, 'older'),          # never pull an older copy over a newer one
    ('backup', False, 3, None, 'cannot be read'),
    ('backup', True, 3, 4, 'serving'),         # a node whose stack runs is never a pull target
    ('master', False, 3, 4, 'serving'),
])
def test_decide(role, stack, own, peer, expected):
    assert expected in replica.decide(role, stack, own, peer)


def test_problem_backup_in_sync_and_out():
    now = 1000.0
    assert replica.problem({'pulled_at': now - 2, 'peer_term': 3, 'peer_term_at': now}, 'backup', 3, now, 10) is None
    assert 'no pull' in replica.problem({}, 'backup', 0, now, 10)
    late = replica.problem({'pulled_at': now - 30, 'error': 'pull failed: x'}, 'backup', 3, now, 10)
    assert 'last pull from the peer 30 s ago' in late and 'pull failed' in late
    # a BACKUP holding the newest copy is fine without pulls (its peer is older)
    assert replica.problem({'peer_term': 2, 'peer_term_at': now}, 'backup', 3, now, 10) is None


def test_problem_master():
    now = 1000.0
    assert replica.problem({}, 'master', 3, now, 10) is None
    assert 'newer copy (term 4 > 3)' in replica.problem({'peer_term': 4, 'peer_term_at': now - 1}, 'master', 3, now, 10)
    # an old reading of the peer's term proves nothing
    assert replica.problem({'peer_term': 4, 'peer_term_at': now - 60}, 'master', 3, now, 10) is None


def test_terms_round_trip(tmp_path):
    assert replica.read_term(str(tmp_path)) == 0
    replica.write_term(str(tmp_path), 7, 'node-a')
    assert replica.read_term(str(tmp_path)) == 7
    assert not os.path.exists(os.path.join(str(tmp_path), replica.TERM_FILE + '.tmp'))


def test_pull_args_set_aside_only_when_asked(tmp_path):
    config = make_config(tmp_path)
    plain = replica.pull_args(config['replica'])
    assert plain[-2] == 'rsync://192.0.2.12:873/netsocs-shares/' and plain[-1] == str(tmp_path / 'shares') + '/'
    assert '--delete' in plain and not any(a.startswith('--backup') for a in plain)
    aside = replica.pull_args(config['replica'], '/var/lib/x/20261204T000000Z')
    assert '--backup' in aside and '--backup-dir=/var/lib/x/20261204T000000Z' in aside and '--checksum' in aside
    assert '--ignore-times' in replica.term_args(config['replica'], '/run/x')


def test_a_failed_term_read_never_returns_the_last_one(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    (tmp_path / 'peer-term').write_text('9 node-b earlier\n')
    monkeypatch.setattr(replica, 'run_rsync', lambda config, args, deadline: (replica.MISSING, 0.01, 'gone'))
    assert replica.peer_term(config, 0.5) == 0
    monkeypatch.setattr(replica, 'run_rsync', lambda config, args, deadline: (0, 0.01, ''))
    assert replica.peer_term(config, 0.5) == 0  # rsync said it fetched, but nothing is there: not 9


def test_follow_round_backup_pulls_and_records(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    fake = Rsync(peer_term=4, peer_files={'a.txt': 'from the MASTER'})
    monkeypatch.setattr(replica, 'run_rsync', fake)
    record = replica.follow_round(Node(), state, config, now=100.0)
    assert record['pulled_at'] == 100.0 and record['term'] == 4 and record['error'] == ''
    assert (tmp_path / 'shares' / 'a.txt').read_text() == 'from the MASTER'
    # first pull since start: the copy may have diverged, what it replaces is set aside
    assert any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])
    assert state.read()['replica']['peer_term'] == 4
    # the next pull, no promotion since: nothing set aside
    replica.follow_round(Node(), state, config, now=101.0)
    assert not any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])


def test_follow_round_after_serving_sets_aside(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    fake = Rsync(peer_term=4)
    monkeypatch.setattr(replica, 'run_rsync', fake)
    replica.follow_round(Node(), state, config, now=100.0)
    state.update(promoted_at=150.0)   # this node served since
    replica.follow_round(Node(), state, config, now=200.0)
    assert any(a.startswith('--backup-dir=') for a in fake.calls[-1][0])


def test_follow_round_never_pulls_an_older_copy(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_term(config['replica']['root'], 6, 'node-b')
    state = files.State(str(tmp_path))
    fake = Rsync(peer_term=5)
    monkeypatch.setattr(replica, 'run_rsync', fake)
    record = replica.follow_round(Node(), state, config, now=100.0)
    assert len(fake.calls) == 1 and 'older' in record['verdict'] and record['error'] == ''
    assert replica.problem(record, 'backup', 6, 100.0, 10) is None


def test_follow_round_master_with_older_copy_kills_its_stack(tmp_path, monkeypatch):
    """A frozen MASTER thaws: its peer served meanwhile (a newer term)."""
    config = make_config(tmp_path)
    replica.write_term(config['replica']['root'], 5, 'node-a')
    state = files.State(str(tmp_path))
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer_term=6))
    node = Node(master=True, stack=['netsocs-caddy'])
    record = replica.follow_round(node, state, config, now=100.0)
    assert node.actions == ['kill'] and 'serving' in record['verdict']
    assert 'newer copy' in replica.problem(record, 'master', 5, 100.0, 10)
    assert 'killing' in (tmp_path / 'failover.log').read_text()


def test_follow_round_failed_pull_is_logged_once(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    state = files.State(str(tmp_path))
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer_term=4, pull_ok=False))
    for now in (100.0, 101.0, 102.0):
        record = replica.follow_round(Node(), state, config, now=now)
    assert 'connection refused' in record['error'] and 'pulled_at' not in record
    assert (tmp_path / 'health.log').read_text().count('pull failed') == 1


def test_catch_up_pulls_then_starts_a_new_term(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_term(config['replica']['root'], 4, 'node-b')
    state = files.State(str(tmp_path))
    fake = Rsync(peer_term=4, peer_files={'last.txt': 'the giver wrote this last'})
    monkeypatch.setattr(replica, 'run_rsync', fake)
    said = replica.catch_up(state, config, peer_answered=True)
    assert 'pulled' in said and said.endswith('term 5')
    assert replica.read_term(config['replica']['root']) == 5
    assert (tmp_path / 'shares' / 'last.txt').read_text() == 'the giver wrote this last'
    # a peer that answered gets the pull's deadline for its term
    assert fake.calls[0][1] == config['replica']['pull_timeout']


def test_catch_up_peer_gone_serves_own_copy_within_term_timeout(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_term(config['replica']['root'], 4, 'node-b')
    fake = Rsync(peer_term=None)
    monkeypatch.setattr(replica, 'run_rsync', fake)
    said = replica.catch_up(files.State(str(tmp_path)), config)
    assert 'cannot be read' in said and said.endswith('term 5') and len(fake.calls) == 1
    assert fake.calls[0][1] == config['replica']['term_timeout']


def test_catch_up_never_pulls_an_older_copy(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    replica.write_term(config['replica']['root'], 6, 'node-b')
    fake = Rsync(peer_term=5)
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
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer_term=None))
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


def test_a_copy_without_a_term_is_term_0(tmp_path, monkeypatch):
    """The peer's daemon answers but no promotion wrote a term yet: pull it (0 >= 0)."""
    config = make_config(tmp_path)
    monkeypatch.setattr(replica, 'run_rsync', Rsync(peer_term=0))
    record = replica.follow_round(Node(), files.State(str(tmp_path)), config, now=100.0)
    assert record['peer_term'] == 0 and record['pulled_at'] == 100.0


def test_run_rsync_deadline_kills_the_forked_children_too(tmp_path):
    """rsync forks; a child blocked on a frozen peer keeps the output open:
    the deadline kills the whole group, not only the parent."""
    config = make_config(tmp_path)
    script = 'import os, time\nif os.fork() == 0:\n    time.sleep(30)\nelse:\n    time.sleep(30)\n'
    start = time.monotonic()
    rc, _seconds, said = replica.run_rsync(config, [sys.executable, '-c', script], 0.5)
    assert rc is None and time.monotonic() - start < 3
