"""tests/tools/forwarding_check.py: counting lost and doubled lines, and the kept time."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    'forwarding_check', Path(__file__).resolve().parents[2] / 'tools' / 'forwarding_check.py')
check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check)


def test_every_line_once_is_ok():
    expected = {'written': 3, 'received': 3, 'lost': 0, 'doubled': 0, 'ok': True}
    assert check.compare(['a', 'b', 'b'], ['b', 'a', 'b']) == expected


def test_a_lost_and_a_doubled_line_are_both_counted():
    report = check.compare(['a', 'b', 'c'], ['a', 'a', 'b'])
    assert (report['lost'], report['doubled'], report['ok']) == (1, 1, False)


def test_the_received_time_is_compared_with_the_lines_own():
    received = check.split_received([
        '2026-12-04T02:45:06.375+00:00  2026-12-04T02:45:06.374+00:00 stack-hook[1] handover',
        '2026-12-04T02:46:10.000+00:00  2026-12-04T02:45:07.000+00:00 stack-hook[1] late',
    ])
    assert received[0][1].startswith('2026-12-04T02:45:06.374')
    assert check.time_kept(received) == 63.0
    # only the lines written since a moment count
    since = check.parse_time('2026-12-04T02:45:06.000+00:00')
    assert check.time_kept(received[:1], since) == 0.001
    assert check.time_kept(received, check.parse_time('2026-12-04T02:50:00+00:00')) is None
