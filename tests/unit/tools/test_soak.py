"""The soak's arithmetic: adverts read off the wire, their gaps, VIP moves, the
hook's transitions, the requests, the verdict and the table."""

import importlib.util
import pathlib
import socket
import struct
import sys

import pytest

TOOLS = pathlib.Path(__file__).parents[2] / 'tools'
sys.path.insert(0, str(TOOLS))
spec = importlib.util.spec_from_file_location('soak', TOOLS / 'soak.py')
soak = importlib.util.module_from_spec(spec)
spec.loader.exec_module(soak)
import vrrp_advert  # noqa: E402


def frame(source, payload, proto=112, ethertype=b'\x08\x00'):
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0xC0, 20 + len(payload), 0, 0, 255, proto, 0,
                     socket.inet_aton(source), socket.inet_aton('224.0.0.18'))
    return b'\x01\x00\x5e\x00\x00\x12' + b'\x02' * 6 + ethertype + ip + payload


def test_an_advert_is_read_off_an_ethernet_frame():
    advert = vrrp_advert.build_advert(51, 150, ['172.30.99.100'])
    assert soak.parse_advert(frame('172.30.99.11', advert)) == ('172.30.99.11', 51, 150, 2)
    advert = vrrp_advert.build_advert_v3(51, 100, ['172.30.99.100'], '172.30.99.12', '224.0.0.18', 0.2)
    assert soak.parse_advert(frame('172.30.99.12', advert)) == ('172.30.99.12', 51, 100, 3)


@pytest.mark.parametrize('bad', [
    frame('172.30.99.11', b'\0' * 8, proto=6),               # TCP, not VRRP
    frame('172.30.99.11', b'\0' * 8, ethertype=b'\x86\xdd'),  # not IPv4
    frame('172.30.99.11', b'')[:30],                          # truncated
])
def test_anything_else_is_not_an_advert(bad):
    assert soak.parse_advert(bad) is None


def test_gaps_measure_jitter_and_late_adverts():
    times = [0.0, 0.2, 0.4, 0.9, 1.1]  # one gap of 0.5 s: two intervals and more
    stats = soak.gap_stats(times, 0.2)
    assert stats['gaps'] == 4 and stats['late'] == 1
    assert stats['max_s'] == 0.5 and stats['jitter_s'] == 0.3
    assert stats['median_s'] == pytest.approx(0.2)
    assert soak.gap_stats([1.0], 0.2) == {'adverts': 1, 'gaps': 0}


def test_a_change_of_advertising_router_is_a_move_and_not_a_gap():
    adverts = [(0.0, 'a', 51, 150), (1.0, 'a', 51, 150), (1.5, 'a', 51, 0),  # a gives up
               (2.0, 'b', 51, 100), (3.0, 'b', 51, 100),
               (10.0, 'a', 51, 150), (11.0, 'a', 51, 150)]
    report = soak.advert_report(adverts, 1.0)
    assert [(m['from'], m['to']) for m in report['moves']] == [('a', 'b'), ('b', 'a')]
    # a's two runs are joined: its 9 s of silence while b was MASTER is no gap
    assert report['sources']['a'] == {'adverts': 4, 'gaps': 2, 'median_s': 1.0, 'p99_s': 1.0,
                                      'max_s': 1.0, 'jitter_s': 0.0, 'late': 0, 'versions': [],
                                      'last_version': None}
    assert report['sources']['b']['adverts'] == 2


def test_a_steady_master_makes_no_move():
    assert soak.advert_report([(t * 0.2, 'a', 51, 150) for t in range(50)], 0.2)['moves'] == []


def test_the_versions_each_router_sent_are_kept():
    adverts = [(0.0, 'a', 51, 150, 2), (1.0, 'a', 51, 150, 2), (1.2, 'a', 51, 150, 3), (1.4, 'a', 51, 150, 3)]
    report = soak.advert_report(adverts, 0.2)
    assert report['sources']['a']['versions'] == [2, 3] and report['moves'] == []


def migration(rc=0, failed=0, moves=(), per_node=None, versions=(3, 3), last_version=3):
    return {'command': {'rc': rc}, 'requests': {'sent': 100, 'failed': failed},
            'adverts': {'moves': list(moves), 'sources': {'a': {'last_version': last_version}}},
            'transitions': {'per_node': per_node or {}},
            'profile_after': {'node-a': {'version': versions[0]}, 'node-b': {'version': versions[1]}}}


def test_a_rolled_protocol_change_lets_the_backup_leave_and_rejoin():
    rolled = migration(per_node={'node-a': {}, 'node-b': {'STOP': 1, 'BACKUP': 1}})
    assert soak.migration_verdict(rolled, ['node-a', 'node-b']) == {'passed': True, 'reasons': []}


@pytest.mark.parametrize('report, reason', [
    (migration(rc=2), 'the command failed (rc=2)'),
    (migration(failed=3), '3 failed request(s)'),
    (migration(moves=[{'from': 'a', 'to': 'b'}]), '1 move(s) of the advertising router'),
    (migration(per_node={'node-a': {'MASTER': 1, 'BACKUP': 1}}), 'node-a (the MASTER) reported BACKUP x1, MASTER x1'),
    (migration(per_node={'node-b': {'MASTER': 1, 'BACKUP': 1}}), 'node-b became MASTER'),
    (migration(versions=(3, 2)), 'the nodes run different VRRP versions: node-a v3, node-b v2'),
    (migration(last_version=2), 'the last adverts are not VRRPv3'),
])
def test_a_protocol_change_fails_on_what_clients_or_the_election_would_notice(report, reason):
    result = soak.migration_verdict(report, ['node-a', 'node-b'])
    assert not result['passed'] and reason in result['reasons']


def test_transitions_are_the_state_files_counts_since_the_start():
    assert soak.transitions_between({'MASTER': 3, 'BACKUP': 2}, {'MASTER': 3, 'BACKUP': 2}) == {}
    assert soak.transitions_between({'MASTER': 3, 'BACKUP': 2}, {'MASTER': 4, 'BACKUP': 2, 'FAULT': 1}) == {
        'MASTER': 1, 'FAULT': 1}
    # the node rebooted (the state directory is a tmpfs): all it counts is new
    assert soak.transitions_between({'MASTER': 3}, {'BACKUP': 1}) == {'BACKUP': 1}


def test_requests_count_failures_slow_ones_and_who_answered():
    results = [{'t': 0.0, 'ok': True, 'ms': 10.0, 'node': 'node-a'},
               {'t': 0.1, 'ok': True, 'ms': 1500.0, 'node': 'node-a'},
               {'t': 0.2, 'ok': False, 'ms': 3000.0, 'error': 'timed out'},
               {'t': 0.3, 'ok': True, 'ms': 20.0, 'node': 'node-b'}]
    report = soak.request_report(results)
    assert (report['sent'], report['served'], report['failed'], report['slow']) == (4, 3, 1, 1)
    assert report['answered_by'] == {'node-a': 2, 'node-b': 1}
    assert report['latency_ms']['max'] == 1500.0
    assert report['failures'][0]['error'] == 'timed out'


def quiet_report(**changes):
    report = {'transitions': {'total': 0}, 'requests': {'failed': 0, 'sent': 100}, 'adverts': {'moves': []}}
    for key, value in changes.items():
        report[key].update(value)
    return report


def test_the_verdict_passes_only_a_quiet_soak():
    assert soak.verdict(quiet_report()) == {'passed': True, 'reasons': []}
    assert soak.verdict(quiet_report(transitions={'total': 2}))['reasons'] == ['2 VRRP transition(s)']
    assert soak.verdict(quiet_report(requests={'failed': 1}))['reasons'] == ['1 failed request(s)']
    assert soak.verdict(quiet_report(adverts={'moves': [{}]}))['reasons'] == ['1 move(s) of the advertising router']
    assert not soak.verdict(quiet_report(requests={'sent': 0}))['passed']


def test_the_load_goes_only_to_the_lab():
    soak.check_target('172.30.99.100', '172.30.99.0/24')
    with pytest.raises(SystemExit, match='outside the lab network'):
        soak.check_target('192.0.2.10', '172.30.99.0/24')


def test_the_table_has_one_row_per_report():
    report = quiet_report()
    report.update(label='sweep-0.2', minutes=5, burn=True,
                  profile={'version': 3, 'advert_int': 0.2, 'unicast': False})
    report['requests'].update(slow=0)
    report['adverts']['sources'] = {'a': soak.gap_stats([0.0, 0.2, 0.45], 0.2)}
    report['verdict'] = soak.verdict(report)
    lines = soak.table([report]).splitlines()
    assert len(lines) == 3
    assert lines[2] == ('| sweep-0.2 | VRRPv3 0.2 s | 5 | yes | 0 | 0 / 100 | 0 | 0.225 | 0.25 | 0.25 | 0 | - '
                        '| passed |')  # no priorities in the report: no headroom


def test_the_master_down_interval_follows_rfc_5798():
    assert soak.master_down_s(1.0, 100) == pytest.approx(3.609, abs=0.001)
    assert soak.master_down_s(0.1, 100) == pytest.approx(0.3609, abs=0.0001)


def test_headroom_is_the_lowest_priority_nodes_wait_less_the_longest_gap():
    report = {'profile': {'advert_int': 0.2, 'priorities': {'node-a': 150, 'node-b': 100}},
              'adverts': {'sources': {'a': {'max_s': 0.52}, 'b': {'max_s': 0.3}}}}
    assert soak.headroom_s(report) == pytest.approx(0.7219 - 0.52, abs=0.001)
    report['adverts']['sources'] = {}
    assert soak.headroom_s(report) is None
