"""The same-run ratio: judged from the two profiles' trial reports."""

import importlib.util
import json
import pathlib
import types

spec = importlib.util.spec_from_file_location('ratio', pathlib.Path(__file__).parents[2] / 'tools' / 'ratio.py')
ratio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ratio)


def report(outage, vip=1.0, over=None, reached=True):
    return {'client_outage_s': outage, 'vip_moved_s': vip, 'over_bounds': over or {}, 'reached': reached,
            'failed_requests': 3, 'requests': 50}


def runs(*outages):
    return [report(outage) for outage in outages]


def test_the_median_of_each_profile_is_compared():
    # one slow cut of three does not decide it: 1.2 s against 4.0 s, 3.33x
    default = {'link-down': runs(1.1, 1.7, 1.2), 'link-up': runs(0.5, 0.5, 0.5)}
    reference = {'link-down': runs(4.0, 3.8, 4.1), 'link-up': runs(0.0, 0.0, 0.0)}
    assert ratio.judge(default, reference) == (3.33, [])
    text = ratio.table(default, reference, 3.33, [])
    assert '**3.33x**' in text and '| default | link-down #2 | 1.0 | 1.7 | 3/50 |' in text
    assert 'default 1.20 s, reference 4.00 s' in text


def test_a_ratio_under_three_or_a_broken_promise_fails():
    default = {'link-down': [report(2.5)], 'link-up': [report(0.5, over={'client_outage_s': [2.5, 2.25]})]}
    reference = {'link-down': [report(4.0)], 'link-up': [report(0.0, reached=False)]}
    value, problems = ratio.judge(default, reference)
    assert value == 1.6
    assert any('past its promise' in p for p in problems)
    assert any('never reached' in p for p in problems)
    assert any('not 3.0x shorter' in p for p in problems)


def test_a_ratio_just_under_the_gate_fails():
    # 1.3 s against 3.82 s (CI run 21's medians): 2.94x, every trial within its promise
    default = {'link-down': runs(1.31, 1.3, 1.11), 'link-up': runs(0.5, 0.5, 0.5)}
    reference = {'link-down': runs(4.01, 3.81, 3.82), 'link-up': runs(0.0, 0.0, 0.0)}
    value, problems = ratio.judge(default, reference)
    assert value == 2.94 and len(problems) == 1 and 'not 3.0x shorter' in problems[0]


def test_measure_runs_each_trial_with_its_profile_s_promise(tmp_path, monkeypatch):
    monkeypatch.setattr(ratio, 'REPORTS', tmp_path)
    calls = []

    def run(argv, **_kwargs):
        calls.append(argv)
        return types.SimpleNamespace(returncode=0, stdout=json.dumps(report(1.0)), stderr='')

    ratio.measure('reference', reps=2, run=run)
    assert [a for argv in calls for a in argv if a.startswith(('--promise', '--profile', '--action'))] == [
        '--action=link-down', '--profile=reference', '--promise=link-down',
        '--action=link-up', '--profile=reference', '--promise=link-up'] * 2
    assert [a for argv in calls for a in argv if a.startswith('--settle')] == ['--settle=2.0'] * 2  # the repeat's
    # every cut follows one of node-a's adverts (the same point of either profile's cycle); the return does not wait
    assert [('--after-advert' in argv) for argv in calls] == [True, False] * 2
    saved = json.loads((tmp_path / 'ratio-reference.json').read_text())
    assert set(saved) == {'link-down', 'link-up'} and len(saved['link-down']) == 2
