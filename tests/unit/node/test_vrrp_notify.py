"""The keepalived role's notify hook: arguments, log line, atomic state file."""

import datetime
import importlib.util
import json
import pathlib

import pytest

HOOK = pathlib.Path(__file__).parents[3] / 'node' / 'vrrp_notify.py'
spec = importlib.util.spec_from_file_location('vrrp_notify', HOOK)
vrrp_notify = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vrrp_notify)

NOW = datetime.datetime(2026, 11, 25, 17, 0, 1, 234567, tzinfo=datetime.timezone.utc)


@pytest.fixture
def paths(tmp_path):
    return ['--log-file=%s' % (tmp_path / 'failover.log'), '--state-file=%s' % (tmp_path / 'state.json')], tmp_path


def test_transition_is_logged_and_recorded(paths):
    opts, tmp = paths
    assert vrrp_notify.main(opts + ['INSTANCE', 'VI_NETSOCS', 'MASTER', '150'], now=NOW) == 0
    assert (tmp / 'failover.log').read_text() == \
        '2026-11-25T17:00:01.234+00:00 INSTANCE VI_NETSOCS MASTER priority=150\n'
    state = json.loads((tmp / 'state.json').read_text())
    assert state == {'instance': 'VI_NETSOCS', 'state': 'MASTER', 'priority': 150,
                     'time': NOW.isoformat()}


def test_log_appends_and_state_follows_last(paths):
    opts, tmp = paths
    for state in ('BACKUP', 'MASTER', 'STOP'):
        vrrp_notify.main(opts + ['INSTANCE', 'VI', state, '100'], now=NOW)
    assert len((tmp / 'failover.log').read_text().splitlines()) == 3
    assert json.loads((tmp / 'state.json').read_text())['state'] == 'STOP'
    assert [p.name for p in tmp.iterdir() if p.name.startswith('.vrrp-state')] == []


def test_group_transitions_are_logged_not_recorded(paths):
    opts, tmp = paths
    assert vrrp_notify.main(opts + ['GROUP', 'G1', 'MASTER'], now=NOW) == 0
    assert 'GROUP G1 MASTER' in (tmp / 'failover.log').read_text()
    assert not (tmp / 'state.json').exists()


@pytest.mark.parametrize('args', [[], ['INSTANCE', 'VI'], ['PEER', 'VI', 'MASTER'],
                                  ['INSTANCE', 'VI', 'LEADER'], ['--bogus=1', 'INSTANCE', 'VI', 'MASTER']])
def test_bad_arguments(paths, args, capsys):
    assert vrrp_notify.main(paths[0] + args, now=NOW) == 2
    assert 'vrrp-notify:' in capsys.readouterr().err


def test_paths_are_required(tmp_path, capsys):
    assert vrrp_notify.main(['--log-file=%s' % (tmp_path / 'f.log'), 'INSTANCE', 'VI', 'MASTER'], now=NOW) == 2
    assert 'missing --state-file' in capsys.readouterr().err


def test_unwritable_log_still_records_state(tmp_path, capsys):
    opts = ['--log-file=%s' % (tmp_path / 'missing-dir' / 'x.log'), '--state-file=%s' % (tmp_path / 's.json')]
    assert vrrp_notify.main(opts + ['INSTANCE', 'VI', 'BACKUP', '100'], now=NOW) == 1
    assert json.loads((tmp_path / 's.json').read_text())['state'] == 'BACKUP'
    assert 'cannot write' in capsys.readouterr().err
