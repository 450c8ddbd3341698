"""tests/tools/prometheus_check.py: how the test bed reads a VIP move and the
alerts out of what Prometheus scraped."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    'prometheus_check', Path(__file__).resolve().parents[2] / 'tools' / 'prometheus_check.py')
check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check)


def series(node, pairs):
    return {'metric': {'node': node, '__name__': 'netsocs_failover_vip_held'},
            'values': [[ts, str(v)] for ts, v in pairs]}


def scraped(a, b):
    return check.by_node([series('node-a', a), series('node-b', b)])


def test_a_move_seen_within_two_scrapes_passes():
    samples = scraped([(100, 1), (102, 1), (104, 0), (106, 0)], [(100, 0), (102, 0), (104, 1), (106, 1)])
    report = check.moved(samples, 'node-b', 'node-a', at=102.5, within=4)
    assert report['ok'] and report['held_after_s'] == 1.5 and report['released_after_s'] == 1.5


def test_a_move_seen_late_fails():
    samples = scraped([(100, 1), (102, 1), (104, 1), (106, 1), (108, 0)], [(100, 0), (102, 0), (104, 0), (106, 0), (108, 1)])
    report = check.moved(samples, 'node-b', 'node-a', at=102.5, within=4)
    assert not report['ok'] and report['held_after_s'] == 5.5


def test_a_move_never_seen_fails():
    samples = scraped([(100, 1), (102, 1)], [(100, 0), (102, 0)])
    assert not check.moved(samples, 'node-b', 'node-a', at=101, within=4)['ok']


def test_a_node_that_held_before_the_move_is_no_move():
    # both read 1 before the move: the series shows no move to node-b
    samples = scraped([(96, 1), (98, 1), (100, 1), (104, 0)], [(96, 1), (98, 1), (100, 1), (104, 1)])
    report = check.moved(samples, 'node-b', 'node-a', at=103, within=4)
    assert report['held_before'] and not report['ok']


def alerts(*entries):
    return [{'metric': {'alertname': name, 'alertstate': state}, 'values': [[ts, '1'] for ts in times]}
            for name, state, times in entries]


def test_pending_alone_is_silent_and_firing_is_not():
    states = check.alert_states(alerts(('NetsocsFailoverTwoVipHolders', 'pending', [10, 12])))
    assert check.judge_alerts(states, ['NetsocsFailoverTwoVipHolders'], 'silent')['ok']
    assert not check.judge_alerts(states, ['NetsocsFailoverTwoVipHolders'], 'firing')['ok']
    states = check.alert_states(alerts(('NetsocsFailoverTwoVipHolders', 'firing', [14])))
    assert not check.judge_alerts(states, ['NetsocsFailoverTwoVipHolders', 'NetsocsFailoverNoVipHolder'], 'silent')['ok']
    assert check.judge_alerts(states, ['NetsocsFailoverTwoVipHolders'], 'firing')['ok']
