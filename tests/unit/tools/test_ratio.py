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


def test_twice_as_short_passes():
    default = {'link-down': report(1.0), 'link-up': report(0.5)}
    reference = {'link-down': report(4.0), 'link-up': report(0.0)}
    assert ratio.judge(default, reference) == (4.0, [])
    assert '**4.0x**' in ratio.table(default, reference, 4.0, [])


def test_a_ratio_under_three_or_a_broken_promise_fails():
    default = {'link-down': report(2.5), 'link-up': report(0.5, over={'client_outage_s': [2.5, 2.25]})}
    reference = {'link-down': report(4.0), 'link-up': report(0.0, reached=False)}
    value, problems = ratio.judge(default, reference)
    assert value == 1.6
    assert any('past its promise' in p for p in problems)
    assert any('never reached' in p for p in problems)
    assert any('not 2.0x shorter' in p for p in problems)


def test_measure_runs_each_trial_with_its_profile_s_promise(tmp_path, monkeypatch):
    monkeypatch.setattr(ratio, 'REPORTS', tmp_path)
    calls = []

    def run(argv, **_kwargs):
        calls.append(argv)
        return types.SimpleNamespace(returncode=0, stdout=json.dumps(report(1.0)), stderr='')

    ratio.measure('reference', run=run)
    assert [a for argv in calls for a in argv if a.startswith(('--promise', '--profile', '--action'))] == [
        '--action=link-down', '--profile=reference', '--promise=link-down',
        '--action=link-up', '--profile=reference', '--promise=link-up']
    assert set(json.loads((tmp_path / 'ratio-reference.json').read_text())) == {'link-down', 'link-up'}
