"""The drill's measurements: migration, outage, preempt, split brain, timeline."""

import importlib.util
import json
import pathlib
from xml.etree import ElementTree

import pytest

ROOT = pathlib.Path(__file__).parents[3]
spec = importlib.util.spec_from_file_location('drill', ROOT / 'playbooks' / 'files' / 'drill.py')
drill = importlib.util.module_from_spec(spec)
spec.loader.exec_module(drill)

THRESHOLDS = {'migration_s': 6, 'preempt_s': 10, 'dual_vip_s': 0.5, 'dual_stack_s': 5}
CONFIG = {'method': 'stop_keepalived', 'fail_event': 'stop_keepalived', 'recover_event': 'start_keepalived',
          'node_a': 'node-a', 'node_b': 'node-b', 'thresholds': THRESHOLDS}


def samples(spec, step=0.2, start=100.0, end=120.0):
    """Samples every `step` s; spec: [(from_t, to_t, vip, containers)]."""
    out, t = [], start
    while t < end:
        vip, containers = False, 0
        for lo, hi, v, c in spec:
            if lo <= t < hi:
                vip, containers = v, c
        out.append({'t': round(t, 3), 'vip': vip, 'containers': containers, 'vrrp': 'MASTER' if vip else 'BACKUP'})
        t += step
    return out


def probes(failing, step=0.1, start=100.0, end=120.0):
    out, t = [], start
    while t < end:
        bad = any(lo <= t < hi for lo, hi in failing)
        out.append({'t': round(t, 3), 'ok': not bad, 'body': '' if bad else 'x'})
        t += step
    return out


EVENTS = [{'t': 105.0, 'event': 'stop_keepalived'}, {'t': 112.0, 'event': 'start_keepalived'}]
# A holds until 105.1, B from 106.0 to 113.2, A again from 113.0 (a 0.2 s hand-over overlap)
A = samples([(100, 105.1, True, 3), (105.1, 107, False, 3), (113.0, 120, True, 3)])
B = samples([(106.0, 113.2, True, 3), (113.2, 114.0, False, 3)])


def test_clean_drill_measures_and_passes():
    result = drill.analyse(CONFIG, probes([(105.0, 107.0)]), A, B, EVENTS)
    assert result['migration_s'] == pytest.approx(1.0, abs=0.21)
    assert result['preempt_s'] == pytest.approx(1.2, abs=0.21)
    assert result['failover_clients']['failed'] == 20
    assert result['failover_clients']['longest_outage_s'] == pytest.approx(2.0, abs=0.11)
    assert result['failover_clients']['service_back_s'] == pytest.approx(2.0, abs=0.11)
    assert result['recovery_clients']['failed'] == 0 and result['recovery_clients']['service_back_s'] == 0.0
    assert result['dual_vip_longest_s'] == pytest.approx(0.2, abs=0.01)
    assert result['passed'], result['failures']


def test_split_brain_fails_the_drill():
    b_keeps = samples([(106.0, 120, True, 3)])  # B never lets go after A is back
    result = drill.analyse(CONFIG, probes([]), A, b_keeps, EVENTS)
    assert not result['passed']
    assert any('both nodes held the VIP' in f for f in result['failures'])
    assert any('never came back to node A alone' in f for f in result['failures'])


def test_stack_on_both_nodes_beyond_the_tolerance_fails():
    a_stack_stays = samples([(100, 105.1, True, 3), (105.1, 120, False, 3)])
    result = drill.analyse(CONFIG, probes([]), a_stack_stays, B, EVENTS)
    assert any('both nodes ran the stack' in f for f in result['failures'])


def test_the_take_over_is_complete_when_node_b_runs_every_service_node_a_ran():
    stack = ['caddy', 'mediamtx', 'recorder', 'traefik']

    def with_services(records, plan):
        return [dict(r, services=next((names for start, names in reversed(plan) if r['t'] >= start), []))
                for r in records]

    a = with_services(A, [(100, stack), (105.1, []), (113.0, stack[:2]), (116.0, stack)])
    b = with_services(B, [(106.0, ['caddy', 'traefik']), (107.4, stack), (113.2, [])])
    result = drill.analyse(CONFIG, probes([]), a, b, EVENTS)
    assert result['services'] == stack
    assert result['whole_stack_on_b_s'] == pytest.approx(2.4, abs=0.21)
    assert result['whole_stack_back_on_a_s'] == pytest.approx(4.0, abs=0.21)
    assert 'every service (caddy, mediamtx, recorder, traefik) running on node B after | 2.4' in drill.markdown(result)
    assert any(e['event'] == 'services caddy, mediamtx, recorder, traefik' for e in result['timeline'])
    # samples without service names (an older sampler): nothing claimed
    assert drill.analyse(CONFIG, probes([]), A, B, EVENTS)['whole_stack_on_b_s'] is None


def test_slow_migration_is_judged_against_the_threshold():
    late_b = samples([(112.5, 113.2, True, 3)])
    result = drill.analyse(dict(CONFIG, thresholds=dict(THRESHOLDS, migration_s=6)), probes([]), A, late_b, EVENTS)
    assert result['migration_s'] == pytest.approx(7.5, abs=0.21)
    assert 'VIP migration' in result['failures'][0]


def test_a_long_client_outage_fails_the_drill_even_when_the_vip_moved_in_time():
    limits = dict(THRESHOLDS, client_outage_s=3, preempt_outage_s=2)
    result = drill.analyse(dict(CONFIG, thresholds=limits), probes([(105.0, 109.0), (112.0, 114.5)]), A, B, EVENTS)
    assert result['migration_s'] < 6
    assert result['failures'] == ['clients saw an outage of 4.00 s during the failover > 3 s',
                                  'clients saw an outage of 2.50 s during the preempt > 2 s']
    within = drill.analyse(dict(CONFIG, thresholds=limits), probes([(105.0, 107.0)]), A, B, EVENTS)
    assert within['passed'], within['failures']


@pytest.mark.parametrize('status, body, marker, ok', [
    (200, '<title>Netsocs</title>', '', True),
    (200, '<title>Netsocs</title>', 'Netsocs', True),
    (200, 'Welcome to nginx!', 'Netsocs', False),   # another site on the VIP
    (404, 'Not Found', '', False),                   # the proxy answers, the application does not
    (502, 'Bad Gateway', '', False),
    (301, '', '', False),
])
def test_only_the_expected_page_counts_as_service(status, body, marker, ok):
    assert drill.served(status, body, 200, marker) is ok


def test_frozen_node_silence_is_not_a_holder():
    # A is frozen (no samples) from 105 to 110 while its kernel keeps the VIP
    frozen_a = [s for s in A if not 105.0 <= s['t'] < 110.0]
    frozen_a = [dict(s, vip=True) if s['t'] < 105.0 else s for s in frozen_a]
    assert drill.longest_overlap(drill.intervals(frozen_a, 'vip', 1.0), drill.intervals(B, 'vip', 1.0)) < 0.5


def test_outage_counts_the_longest_run_and_the_return():
    result = drill.outage(probes([(101.0, 101.5), (102.0, 104.0)]), 100.0, 110.0)
    assert result['failed'] == 25 and result['longest_outage_s'] == pytest.approx(2.0, abs=0.11)
    assert result['service_back_s'] == pytest.approx(4.0, abs=0.11)


def test_records_cut_short_are_skipped(tmp_path):
    path = tmp_path / 'p.jsonl'
    path.write_text('{"t": 2, "ok": true}\n{"t": 1, "ok": false}\n{"t": 3, "o')
    assert [r['t'] for r in drill.read_jsonl(str(path))] == [1, 2]


def test_timeline_lists_changes_only():
    events = drill.timeline([('node-b', B, ['vip'])], 105.0)
    assert [e[2] for e in events] == ['vip True', 'vip False']
    assert events[0][0] == pytest.approx(1.0, abs=0.21)


def test_holds_vip_reads_ip_json_with_the_runtimes_parser():
    parser = drill.load_runtime(str(ROOT / 'plugins' / 'module_utils'))
    out = json.dumps([{'ifname': 'eth0', 'addr_info': [{'family': 'inet', 'local': '10.0.0.5', 'prefixlen': 24},
                                                       {'family': 'inet', 'local': '10.0.0.100', 'prefixlen': 24}]}])
    assert drill.holds_vip(out, '10.0.0.100', parser) is True
    assert drill.holds_vip(out, '10.0.0.101', parser) is False
    assert drill.holds_vip('not json', '10.0.0.100', parser) is None


def test_the_sampler_reads_the_vrrp_state_with_the_runtimes_reader(tmp_path):
    runtime = drill.load_runtime(str(ROOT / 'plugins' / 'module_utils'))
    state_file = tmp_path / 'vrrp-state.json'
    assert runtime.vrrp.read_state(str(state_file)) is None
    state_file.write_text('{"instance": "VI", "state": "backup", "schema": 1}')
    assert runtime.vrrp.read_state(str(state_file)) == 'BACKUP'


def test_report_writes_json_and_markdown(tmp_path, capsys):
    files = {}
    for name, records in (('probe', probes([(105.0, 106.0)])), ('samples_a', A), ('samples_b', B), ('events', EVENTS)):
        files[name] = tmp_path / (name + '.jsonl')
        files[name].write_text(''.join(json.dumps(r) + '\n' for r in records))
    config = dict(CONFIG, report_base=str(tmp_path / 'drill'), **{k: str(v) for k, v in files.items()})
    (tmp_path / 'config.json').write_text(json.dumps(config))
    assert drill.main(['report', '--config', str(tmp_path / 'config.json')]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed['passed'] and 'migration' in printed['summary']
    text = (tmp_path / 'drill.md').read_text()
    assert '**PASSED**' in text and '| VIP migration to node B |' in text and 'vip True' in text
    assert json.loads((tmp_path / 'drill.json').read_text())['method'] == 'stop_keepalived'
    # The timeline chart lands beside the report, which shows it.
    assert '![VIP holder, stack per node and client success over time](drill.svg)' in text
    ElementTree.fromstring((tmp_path / 'drill.svg').read_text())


def test_spans_group_equal_states_and_cut_stale_samples():
    records = [{'t': 0.0, 'vip': True}, {'t': 0.2, 'vip': True}, {'t': 0.4, 'vip': False}, {'t': 3.0, 'vip': False}]
    assert drill.spans(records, 'vip', stale=1.0) == [(0.0, 0.4, True), (0.4, 1.4, False), (3.0, 4.0, False)]
    assert drill.intervals(records, 'vip', 1.0) == [(0.0, 0.4)]


def test_the_chart_draws_what_was_measured():
    chart = ElementTree.fromstring(drill.chart(dict(CONFIG, stale_s=1.0), probes([(105.0, 107.0)]), A, B, EVENTS))
    ns = '{http://www.w3.org/2000/svg}'
    labels = [t.text for t in chart.iter(ns + 'text')]
    assert labels[:5] == ['client (through VIP)', 'node-a VIP', 'node-a stack', 'node-b VIP', 'node-b stack']
    assert 'stop_keepalived' in labels and 'start_keepalived' in labels and '0' in labels
    rects = [r for r in chart.iter(ns + 'rect') if r.get('fill') != 'white']
    lanes = {}
    for rect in rects:
        lanes.setdefault(rect.get('y'), []).append((float(rect.get('x')), float(rect.get('width')), rect.get('fill')))
    client = sorted(lanes[min(lanes, key=float)])
    # served, then one red run (the 2 s outage), then served again
    assert [run[2] for run in client] == ['#2e9e44', '#d62728', '#2e9e44']
    x0, width = client[1][:2]
    total = sum(run[1] for run in client)
    assert width / total == pytest.approx(2.0 / 20.0, abs=0.01)
    # the failure's dashed line sits where the red run starts (within one probe, 0.1 s of 20 s on 740 px)
    fail_line = next(line for line in chart.iter(ns + 'line') if line.get('stroke-dasharray'))
    assert float(fail_line.get('x1')) == pytest.approx(x0, abs=4.0)


def test_summary_prints_one_line_per_report(tmp_path, capsys):
    result = drill.analyse(CONFIG, probes([(105.0, 106.0)]), A, B, EVENTS)
    (tmp_path / 'r.json').write_text(json.dumps(result))
    assert drill.main(['summary', str(tmp_path / 'r.json')]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('stop_keepalived') and 'PASS' in line and 'preempt 1.2' in line


def test_link_up_restores_the_routes_link_down_removed():
    routes = json.dumps([
        {'dst': 'default', 'gateway': '172.30.99.1', 'dev': 'eth0', 'flags': []},
        {'dst': '172.30.99.0/24', 'dev': 'eth0', 'protocol': 'kernel', 'scope': 'link',
         'prefsrc': '172.30.99.11', 'flags': []},
    ])
    assert drill.route_commands(routes, 'eth0') == [
        ['ip', 'route', 'replace', 'default', 'via', '172.30.99.1', 'dev', 'eth0'],
        ['ip', 'route', 'replace', '172.30.99.0/24', 'dev', 'eth0', 'proto', 'kernel', 'scope', 'link',
         'src', '172.30.99.11'],
    ]


class Run(object):
    """subprocess.run for freeze/thaw: the node's nested containers, and the calls made."""

    def __init__(self, ids, engine=True):
        self.ids, self.engine, self.calls = ids, engine, []

    def __call__(self, argv, **kwargs):
        # nothing on the caller's stdout: the trials print their report there
        assert kwargs.get('capture_output'), kwargs
        self.calls.append(argv[:2] if argv[1] == 'exec' else argv)
        if argv[1] == 'exec':  # the node's own engine lists its containers, if it has one
            return type('Done', (), {'stdout': '\n'.join(self.ids) + '\n' if self.engine else '',
                                     'returncode': 0 if self.engine else 126})()
        assert kwargs.get('check'), kwargs  # pause and unpause must work
        return type('Done', (), {'stdout': '', 'returncode': 0})()


def test_freeze_takes_the_nested_stack_containers_with_the_node(tmp_path, monkeypatch):
    # the nested containers' freezers sit beside the node's (cgroup v1, shared
    # cgroup namespace): `docker pause` alone would leave the stack serving
    for cid in ('c1', 'c2'):
        (tmp_path / cid).mkdir()
        (tmp_path / cid / 'freezer.state').write_text('THAWED')
    monkeypatch.setattr(drill, 'NESTED_FREEZER', str(tmp_path / '%s' / 'freezer.state'))
    saved = tmp_path / 'frozen.json'
    run = Run(['c1', 'c2', 'gone'])
    assert drill.freeze('node-a', str(saved), run=run) == ['c1', 'c2']
    assert run.calls == [['docker', 'exec'], ['docker', 'pause', 'node-a']]
    assert [(tmp_path / c / 'freezer.state').read_text() for c in ('c1', 'c2')] == ['FROZEN', 'FROZEN']
    run = Run([])
    drill.thaw('node-a', str(saved), run=run)
    assert [(tmp_path / c / 'freezer.state').read_text() for c in ('c1', 'c2')] == ['THAWED', 'THAWED']
    assert run.calls == [['docker', 'unpause', 'node-a']] and not saved.exists()


def test_thaw_without_a_record_only_unpauses(tmp_path):
    run = Run([])
    drill.thaw('node-a', str(tmp_path / 'none.json'), run=run)
    assert run.calls == [['docker', 'unpause', 'node-a']]


def test_a_node_without_a_nested_engine_is_frozen_alone(tmp_path):
    # the reference scenario's nodes run Keepalived alone: no docker inside
    saved = tmp_path / 'frozen.json'
    run = Run([], engine=False)
    assert drill.freeze('node-a', str(saved), run=run) == []
    assert run.calls == [['docker', 'exec'], ['docker', 'pause', 'node-a']]
    assert json.loads(saved.read_text()) == []


def test_an_action_logs_its_start_then_runs_its_commands(tmp_path, monkeypatch):
    # each action of the table is one callable: commands filled from the
    # values; the link's routes saved on the way down, restored on the way up
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        out = json.dumps([{'dst': 'default', 'gateway': '10.0.0.1', 'dev': 'eth1', 'flags': []}])
        return type('Done', (), {'stdout': out if argv[:2] == ['ip', '-j'] else '', 'returncode': 0})()

    monkeypatch.setattr(drill.subprocess, 'run', run)
    events = str(tmp_path / 'events.jsonl')
    drill.act('stack_down', events, project_dir='/opt/netsocs', interface='eth1')
    drill.act('link_down', events, interface='eth1')
    drill.act('link_up', events, interface='eth1')
    assert calls == [
        ['docker', 'compose', '--project-directory', '/opt/netsocs', 'down'],
        ['ip', '-j', 'route', 'show', 'dev', 'eth1'],
        ['ip', 'link', 'set', 'dev', 'eth1', 'down'],
        ['ip', 'link', 'set', 'dev', 'eth1', 'up'],
        ['ip', 'route', 'replace', 'default', 'via', '10.0.0.1', 'dev', 'eth1'],
    ]
    assert [e['event'] for e in drill.read_jsonl(events)] == ['stack_down', 'link_down', 'link_up']


def test_the_outage_command_reads_the_prober_s_lines(tmp_path, capsys):
    path = tmp_path / 'probe.jsonl'
    path.write_text(''.join(json.dumps(p) + '\n' for p in probes([(101.0, 101.5)], end=103.0)))
    assert drill.main(['outage', str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    sent = len(probes([(101.0, 101.5)], end=103.0))
    assert result['requests'] == sent and result['failed'] == 5
    assert result['longest_outage_s'] == pytest.approx(0.5, abs=0.11)
