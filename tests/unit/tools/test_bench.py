"""The side-by-side benchmark's arithmetic: medians, maxima, ratios, the table."""

import importlib.util
import pathlib
import sys

TOOLS = pathlib.Path(__file__).parents[2] / 'tools'
sys.path.insert(0, str(TOOLS))
spec = importlib.util.spec_from_file_location('bench', TOOLS / 'bench.py')
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def samples(vip, outage):
    return [{'fault': fault, 'vip_moved_s': vip * (rep + 1), 'client_outage_s': outage * (rep + 1),
             'dual_stack_longest_s': 0.0} for rep in range(3) for fault in bench.FAULTS]


def report(label, vip, outage, version, advert):
    got = samples(vip, outage)
    return {'label': label, 'reps': 3, 'profile': {'version': version, 'advert_int': advert, 'unicast': False},
            'samples': got, 'summary': bench.summarise(got)}


def test_every_reported_fault_is_a_step_and_each_step_has_a_node():
    assert bench.FAULTS == ['graceful stop', 'preempt', 'hard failure, node frozen', 'hard failure, link down',
                            'stack failure, restarted in place', 'stack failure again, moved', 'planned switchover']
    assert all(expect in ('node-a', 'node-b') for _fault, _action, _target, expect in bench.STEPS)


def test_summary_takes_median_and_max_over_the_repetitions():
    summary = bench.summarise(samples(1.0, 2.0))
    assert summary['preempt']['vip_moved_s'] == {'median': 2.0, 'max': 3.0, 'n': 3}
    assert summary['preempt']['client_outage_s'] == {'median': 4.0, 'max': 6.0, 'n': 3}


def test_a_missing_measure_is_no_number():
    summary = bench.summarise([{'fault': 'preempt', 'vip_moved_s': None, 'client_outage_s': 1.0,
                                'dual_stack_longest_s': None}])
    assert summary['preempt']['vip_moved_s'] is None and summary['graceful stop']['client_outage_s'] is None
    assert bench.ratio(None, 1.0) is None and bench.ratio(1.0, 0.0) is None and bench.ratio(3.0, 0.5) == 6.0


def test_the_table_puts_the_profiles_side_by_side_with_the_ratio():
    text = bench.table([report('reference', 1.0, 3.0, 2, 1), report('default', 0.2, 0.5, 3, 0.2)])
    lines = text.splitlines()
    assert lines[0].startswith('| fault | reference: VIP (s) | reference: client outage (s)')
    assert lines[0].endswith('| outage ratio reference / default |')
    assert '| hard failure, link down | 2.00 / 3.00 | 6.00 / 9.00 | 0.00 | 0.40 / 0.60 | 1.00 / 1.50 | 0.00 | 6.0x |' in lines
    assert 'reference = VRRPv2 1 s, default = VRRPv3 0.2 s' in text


def test_a_step_that_was_not_stable_is_named_under_the_table():
    shaky = report('reference', 1.0, 3.0, 2, 1)
    shaky['samples'][0].update(stable=False, rep=4, action='unfreeze')
    text = bench.table([shaky, report('default', 0.2, 0.5, 3, 0.2)])
    assert 'reference: 1 step(s) not stable after reaching their node' in text and 'rep 4 unfreeze' in text
    assert 'default: ' not in text.split('repetitions')[-1]
