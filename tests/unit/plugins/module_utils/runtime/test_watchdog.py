"""Keepalived's watchdog: progress from /proc samples, the responder's answer
while Keepalived is hung, the fence."""

import json

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import state as files
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import watchdog

STATUS = """Name:\tkeepalived
State:\t%s
Pid:\t2831
voluntary_ctxt_switches:\t%d
nonvoluntary_ctxt_switches:\t%d
"""


def test_parse_status():
    assert watchdog.parse_status(STATUS % ('S (sleeping)', 174, 78)) == ('S', 252)
    assert watchdog.parse_status(STATUS % ('T (stopped)', 1, 2)) == ('T', 3)
    assert watchdog.parse_status('') == ('?', 0)


def test_progress_moves_while_the_count_moves():
    progress = watchdog.Progress(stall=0.6)
    for step in range(10):
        progress.observe(((2831,), 'S', 100 + step), step * 0.1)
    assert progress.alive(0.95) and progress.stalled_for(0.9) == 0.0


def test_a_count_that_stops_is_a_stall():
    progress = watchdog.Progress(stall=0.6)
    progress.observe(((2831,), 'S', 100), 0.0)
    for step in range(1, 8):
        progress.observe(((2831,), 'S', 100), step * 0.1)
    assert progress.stalled_for(0.7) == pytest.approx(0.7)
    assert not progress.alive(0.7)
    assert progress.alive(0.5)


def test_a_stopped_process_never_progresses():
    progress = watchdog.Progress(stall=0.6)
    progress.observe(((2831,), 'S', 100), 0.0)
    # SIGSTOP: the count may still move once as it stops; a stopped process is no progress
    progress.observe(((2831,), 'T', 101), 0.1)
    for step in range(2, 9):
        progress.observe(((2831,), 'T', 101), step * 0.1)
    assert not progress.alive(0.8) and progress.state == 'T'


def test_a_new_process_is_progress_and_no_process_is_not_alive():
    progress = watchdog.Progress(stall=0.6)
    progress.observe(((2831,), 'S', 100), 0.0)
    progress.observe(None, 0.1)
    assert not progress.running() and not progress.alive(0.1) and progress.stalled_for(0.1) == 0.0
    progress.observe(((4000,), 'S', 5), 0.2)
    assert progress.alive(0.3)


def test_a_gap_in_the_samples_is_no_evidence():
    # the whole node was frozen (the sampler too): its clock starts again
    progress = watchdog.Progress(stall=0.6)
    progress.observe(((2831,), 'S', 100), 0.0)
    progress.observe(((2831,), 'S', 100), 20.0)
    assert progress.alive(20.1)


def test_vrrp_sample_reads_the_main_process_children(tmp_path):
    (tmp_path / '2830' / 'task' / '2830').mkdir(parents=True)
    (tmp_path / '2830' / 'task' / '2830' / 'children').write_text('2831 ')
    (tmp_path / '2831').mkdir()
    (tmp_path / '2831' / 'status').write_text(STATUS % ('S (sleeping)', 10, 5))
    assert watchdog.vrrp_sample(2830, proc=str(tmp_path)) == ((2831,), 'S', 15)
    assert watchdog.vrrp_sample(9999, proc=str(tmp_path)) is None
    (tmp_path / '2830' / 'task' / '2830' / 'children').write_text('')
    assert watchdog.vrrp_sample(2830, proc=str(tmp_path)) is None


def test_the_stall_is_three_advert_intervals_of_the_published_profile(tmp_path):
    profile = tmp_path / 'vrrp.json'
    profile.write_text(json.dumps({'schema': 1, 'advert_int': 0.2}))
    base = dict(settings.DEFAULTS, log_file=str(tmp_path / 'log'))
    config = dict(base, keepalived=dict(settings.DEFAULTS['keepalived'], watchdog=True, profile_file=str(profile)))
    assert watchdog.make_progress(config).stall == pytest.approx(0.6)
    assert watchdog.make_progress(dict(base)) is None  # off by default
    missing = dict(base, keepalived=dict(config['keepalived'], profile_file=str(tmp_path / 'none.json')))
    assert watchdog.make_progress(missing) is None
    assert 'cannot be read' in (tmp_path / 'log').read_text()


class Node(object):
    """Keepalived's process as the sampler sees it, and what a fence does."""

    def __init__(self, vip=True):
        self.vip = vip
        self.done = []

    def keepalived_pid(self):
        return 2830

    def kill_keepalived(self):
        self.done.append('kill')

    def drop_vip(self):
        self.done.append('drop vip')
        held, self.vip = self.vip, False
        return held

    def is_master(self):
        return self.vip

    def docker_ok(self, timeout=None):
        return True

    def containers(self, timeout=None):
        return []

    def compose(self, args, timeout=None):
        self.done.append('compose ' + args[0])


@pytest.fixture
def config(tmp_path):
    return dict(settings.DEFAULTS, state_dir=str(tmp_path), log_file=str(tmp_path / 'failover.log'),
                health_log_file=str(tmp_path / 'health.log'), vip='10.0.0.100', project_dir='/opt/netsocs',
                hook_path='/bin/true', keepalived=dict(settings.DEFAULTS['keepalived'], watchdog=True))


def run_watch(config, samples, node, monkeypatch, period=0.1, fenced=lambda: None):
    """Run the sampler over `samples` (one per period) on a fake clock."""
    clock = [0.0]
    feed = list(samples)
    monkeypatch.setattr(watchdog, 'vrrp_sample', lambda pid: feed.pop(0) if len(feed) > 1 else feed[0])
    ticks = [len(samples)]

    def stop():
        ticks[0] -= 1
        return ticks[0] < 0

    progress = watchdog.Progress(0.6)
    state = files.State(config['state_dir'])
    watchdog.watch(node, state, config, progress, stop=stop, clock=lambda: clock[0],
                   sleep=lambda s: clock.__setitem__(0, clock[0] + period), fenced=fenced)
    return progress, state


def test_a_hung_keepalived_is_fenced_once(config, monkeypatch):
    node = Node()
    # progress for 0.3 s, then the count stops for 2 s
    samples = [((2831,), 'S', n) for n in range(3)] + [((2831,), 'T', 3)] * 20
    published = []
    _progress, state = run_watch(config, samples, node, monkeypatch, fenced=lambda: published.append(list(node.done)))
    assert node.done == ['kill', 'drop vip']  # then the sync: no container to stop
    # the metrics rewritten once the VIP was off (no health round runs while Keepalived hangs)
    assert published == [['kill', 'drop vip']]
    assert state.read()['master_failed_at'] > 0  # failback held off
    log = open(config['log_file']).read()
    assert 'watchdog: keepalived stopped (state T) for 1.1 s: fencing it' in log
    assert 'the VIP was still on the interface: removed' in log
    assert log.count('fencing it') == 1


def test_a_live_keepalived_is_never_fenced(config, monkeypatch):
    node = Node()
    samples = [((2831,), 'S', n) for n in range(40)]
    run_watch(config, samples, node, monkeypatch)
    assert node.done == []


def test_no_keepalived_is_never_fenced(config, monkeypatch):
    # maintenance, or stopped: nothing to watch
    node = Node(vip=False)
    run_watch(config, [None] * 30, node, monkeypatch)
    assert node.done == []
