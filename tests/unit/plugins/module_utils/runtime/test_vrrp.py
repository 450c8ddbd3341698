"""The VRRP state: the notify hook (arguments, log line, atomic state file) and its one reader."""

import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import vrrp

NOW = datetime.datetime(2026, 11, 25, 17, 0, 1, 234567, tzinfo=datetime.timezone.utc)


@pytest.fixture
def paths(tmp_path):
    return ['--log-file=%s' % (tmp_path / 'failover.log'), '--state-file=%s' % (tmp_path / 'state.json')], tmp_path


def test_transition_is_logged_and_recorded(paths):
    opts, tmp = paths
    assert vrrp.notify(opts + ['INSTANCE', 'VI_NETSOCS', 'MASTER', '150'], now=NOW) == 0
    assert (tmp / 'failover.log').read_text() == \
        '2026-11-25T17:00:01.234+00:00 INSTANCE VI_NETSOCS MASTER priority=150\n'
    state = json.loads((tmp / 'state.json').read_text())
    forked = state.pop('forked')
    assert state == {'instance': 'VI_NETSOCS', 'state': 'MASTER', 'priority': 150,
                     'time': NOW.isoformat(), 'transitions': {'MASTER': 1}, 'schema': 1}
    # this process's fork time (from /proc) and pid: Keepalived's order
    assert forked == vrrp.fork_order()


def test_log_appends_and_state_follows_last(paths):
    opts, tmp = paths
    for state in ('BACKUP', 'MASTER', 'STOP'):
        vrrp.notify(opts + ['INSTANCE', 'VI', state, '100'], now=NOW)
    assert len((tmp / 'failover.log').read_text().splitlines()) == 3
    assert json.loads((tmp / 'state.json').read_text())['state'] == 'STOP'
    assert [p.name for p in tmp.iterdir() if p.name.startswith('.')] == []  # no temporary file left


def test_group_transitions_are_logged_not_recorded(paths):
    opts, tmp = paths
    assert vrrp.notify(opts + ['GROUP', 'G1', 'MASTER'], now=NOW) == 0
    assert 'GROUP G1 MASTER' in (tmp / 'failover.log').read_text()
    assert not (tmp / 'state.json').exists()


@pytest.mark.parametrize('args', [[], ['INSTANCE', 'VI'], ['PEER', 'VI', 'MASTER'],
                                  ['INSTANCE', 'VI', 'LEADER'], ['--bogus=1', 'INSTANCE', 'VI', 'MASTER']])
def test_bad_arguments(paths, args, capsys):
    assert vrrp.notify(paths[0] + args, now=NOW) == 2
    assert 'vrrp-notify:' in capsys.readouterr().err


def test_paths_are_required(tmp_path, capsys):
    assert vrrp.notify(['--log-file=%s' % (tmp_path / 'f.log'), 'INSTANCE', 'VI', 'MASTER'], now=NOW) == 2
    assert 'missing --state-file' in capsys.readouterr().err


def test_unwritable_log_still_records_state(tmp_path, capsys):
    opts = ['--log-file=%s' % (tmp_path / 'missing-dir' / 'x.log'), '--state-file=%s' % (tmp_path / 's.json')]
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=NOW) == 1
    assert json.loads((tmp_path / 's.json').read_text())['state'] == 'BACKUP'
    assert 'cannot write' in capsys.readouterr().err


def test_state_file_round_trip():
    data = vrrp.parse_state('{"instance": "VI", "state": "master", "priority": 150, "time": "t"}')
    assert data['state'] == 'MASTER' and data['priority'] == 150


@pytest.mark.parametrize('text', ['', '   \n'])
def test_state_file_empty(text):
    assert vrrp.parse_state(text) is None


@pytest.mark.parametrize('text', ['{', '[]', '{"state": "LEADER"}', '{"priority": 1}'])
def test_state_file_invalid(text):
    with pytest.raises(vrrp.VrrpStateError):
        vrrp.parse_state(text)


@pytest.mark.parametrize('recorded, running, expected', [
    ({'state': 'MASTER'}, True, 'MASTER'),
    ({'state': 'MASTER'}, False, 'STOPPED'),  # a stale file must not claim MASTER
    (None, True, 'UNKNOWN'),
    (None, False, 'STOPPED'),
])
def test_effective_state(recorded, running, expected):
    assert vrrp.effective_state(recorded, running) == expected


def test_the_reader_returns_the_state_the_notify_hook_wrote(paths):
    opts, tmp = paths
    assert vrrp.read_state(str(tmp / 'state.json')) is None
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=NOW) == 0
    assert vrrp.read_state(str(tmp / 'state.json')) == 'BACKUP'
    (tmp / 'state.json').write_text('{"state": "LEADER"}')
    assert vrrp.read_state(str(tmp / 'state.json')) is None


def test_an_older_notify_that_finishes_last_does_not_win(paths):
    # node-b starts, is MASTER for a moment, hears node-a and turns BACKUP:
    # Keepalived forks both notifies in order, the MASTER one ends last.
    opts, tmp = paths
    later = NOW + datetime.timedelta(milliseconds=40)
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=later) == 0
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'MASTER', '100'], now=NOW) == 0
    assert vrrp.read_state(str(tmp / 'state.json')) == 'BACKUP'
    # both transitions are in the log, for the record
    assert [line.split()[-2] for line in (tmp / 'failover.log').read_text().splitlines()] == ['BACKUP', 'MASTER']


def test_the_order_is_keepalived_s_fork_order_not_the_clock(paths):
    # Two hooks forked 50 ms apart: the later one (BACKUP) read its clock first
    # on a loaded node and wrote first; the MASTER one must not replace it.
    opts, tmp = paths
    master, backup = ['boot-1', 120010, 4100], ['boot-1', 120015, 4101]
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=NOW, forked=backup) == 0
    later_clock = NOW + datetime.timedelta(milliseconds=80)
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'MASTER', '100'], now=later_clock, forked=master) == 0
    assert vrrp.read_state(str(tmp / 'state.json')) == 'BACKUP'
    # forked in the same clock tick: the pid tells
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'FAULT', '100'], now=NOW, forked=['boot-1', 120015, 4102]) == 0
    assert vrrp.read_state(str(tmp / 'state.json')) == 'FAULT'


def test_fork_time_from_proc():
    stat = '4242 (vrrp-notify x) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1 2 3'
    assert vrrp.parse_start_ticks(stat) == 123456
    assert vrrp.is_later(None, {'time': NOW.isoformat()})
    # a record without the fork order, or from another boot, is ordered by time
    earlier, later = NOW.isoformat(), (NOW + datetime.timedelta(seconds=1)).isoformat()
    assert not vrrp.is_later({'time': later}, {'time': earlier, 'forked': ['boot-2', 1, 2]})
    assert vrrp.is_later({'time': earlier, 'forked': ['boot-1', 900000, 7]}, {'time': later, 'forked': ['boot-2', 1, 2]})


def test_two_real_hooks_forked_in_order_end_in_that_order(paths):
    # The real thing: two processes forked 30 ms apart, the first slow to
    # start (a loaded node): the state file ends with the second one's state.
    opts, tmp = paths
    slow = ('import sys, time; time.sleep(0.3); '
            'from ansible_collections.netsocs.failover.plugins.module_utils.runtime import vrrp; '
            'sys.exit(vrrp.notify(sys.argv[1:]))')
    fast = slow.replace('time.sleep(0.3)', 'pass')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    first = subprocess.Popen([sys.executable, '-c', slow] + opts + ['INSTANCE', 'VI', 'MASTER', '100'], env=env)
    time.sleep(0.03)  # the second transition comes 30 ms later
    second = subprocess.Popen([sys.executable, '-c', fast] + opts + ['INSTANCE', 'VI', 'BACKUP', '100'], env=env)
    assert second.wait(timeout=30) == 0 and first.wait(timeout=30) == 0
    log = (tmp / 'failover.log').read_text().split()
    assert log.index('BACKUP') < log.index('MASTER')  # the MASTER hook did write last
    assert vrrp.read_state(str(tmp / 'state.json')) == 'BACKUP'


def test_the_state_file_counts_every_transition_even_one_that_does_not_win(paths):
    opts, tmp = paths
    state = str(tmp / 'state.json')
    assert vrrp.transitions(state) == {}
    later = NOW + datetime.timedelta(milliseconds=40)
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=later) == 0
    assert vrrp.notify(opts + ['INSTANCE', 'VI', 'MASTER', '100'], now=NOW) == 0  # older: not the state
    assert vrrp.notify(opts + ['GROUP', 'G', 'MASTER'], now=later) == 0  # a group is not an instance
    assert vrrp.read_state(state) == 'BACKUP'
    assert vrrp.transitions(state) == {'BACKUP': 1, 'MASTER': 1}
