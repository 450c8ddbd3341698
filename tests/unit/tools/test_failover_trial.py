"""The Molecule trial tool: its own sampling helpers, and that it measures with
the drill's engine (whose definitions tests/unit/playbooks/test_drill.py tests)."""

import importlib.util
import json
import pathlib

import pytest

spec = importlib.util.spec_from_file_location(
    'failover_trial', pathlib.Path(__file__).parents[2] / 'tools' / 'failover_trial.py')
trial = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trial)

NODES = ['node-a', 'node-b']


def holders(t, a, b):
    return {'t': t, 'holders': {'node-a': a, 'node-b': b}}


def req(t, node, sent=None):
    # Sent 0.05 s before a good answer; a failure is a 0.3 s timeout.
    default = t - (0.05 if node is not None else 0.3)
    return {'t': t, 'sent': round(default if sent is None else sent, 3), 'ok': node is not None, 'node': node}


def test_parse_holders():
    out = json.dumps([{'ifname': 'eth0', 'addr_info': [{'family': 'inet', 'local': '10.0.0.5'},
                                                       {'family': 'inet', 'local': '10.0.0.100'}]}])
    assert trial.parse_holders(out, '10.0.0.100') is True
    assert trial.parse_holders(out, '10.0.0.101') is False
    assert trial.parse_holders('garbage', '10.0.0.100') is None


def test_clean_failover():
    samples = [holders(0.0, True, False), holders(0.5, False, False), holders(1.0, False, True),
               holders(1.5, False, True)]
    requests = [req(0.05, 'node-a', sent=0.0), req(0.4, None), req(0.9, None), req(1.1, 'node-b'), req(1.6, 'node-b')]
    report = trial.analyse(samples, requests, 'node-b', NODES, reached_at=1.1, settle_end=1.6)
    assert report['vip_moved_s'] == 1.0
    assert report['client_switched_s'] == 1.1
    assert report['failed_requests'] == 2 and report['requests'] == 5
    assert report['dual_holder_samples'] == 0 and report['stable'] is True
    # From the sending of the first failed request (0.1: it timed out at 0.4)
    # to the sending of the next good one (1.05), as the drill's prober counts.
    assert report['client_outage_s'] == 0.95


def test_dual_holders_are_caught():
    samples = [holders(0.0, True, False), holders(0.5, True, True), holders(1.0, False, True)]
    report = trial.analyse(samples, [req(1.0, 'node-b')], 'node-b', NODES, 1.0, 1.5)
    # One sample with both: the overlap lasts until the next sample.
    assert report['dual_holder_samples'] == 1 and report['dual_vip_longest_s'] == 0.5


def test_split_brain_shows_in_consecutive_samples():
    samples = [holders(0.0, True, False), holders(0.1, True, True), holders(0.2, True, True),
               holders(0.3, True, True), holders(0.4, False, True), holders(0.5, True, True),
               holders(0.6, False, True)]
    report = trial.analyse(samples, [req(0.4, 'node-b')], 'node-b', NODES, 0.4, 0.6)
    # Both held from 0.1 to 0.4: the longest overlap, as the drill measures it.
    assert report['dual_holder_samples'] == 4 and report['dual_vip_longest_s'] == 0.3
    assert report['dual_vip_longest_s'] == round(trial.drill.longest_overlap(
        trial.drill.intervals(trial.per_node(samples, 'node-a'), 'vip', 1.0),
        trial.drill.intervals(trial.per_node(samples, 'node-b'), 'vip', 1.0)), 3)


def test_frozen_node_is_not_an_active_holder():
    # node-a is frozen: its kernel keeps the VIP, but only node-b serves.
    samples = [dict(trial.mask_frozen(holders(t, True, b)['holders'], {'node-a'}), t=t)
               for t, b in ((0.0, False), (1.0, True))]
    assert samples[1] == {'t': 1.0, 'holders': {'node-a': None, 'node-b': True}, 'frozen_holders': ['node-a']}
    report = trial.analyse(samples, [req(1.0, 'node-b')], 'node-b', NODES, 1.0, 1.5)
    assert report['dual_holder_samples'] == 0 and report['vip_moved_s'] == 1.0
    assert report['dual_vip_longest_s'] == 0.0
    # node-a's frozen samples carry the VIP only in the first one (t=0).
    assert report['frozen_holder_samples'] == 2


def test_flap_after_switch_is_unstable():
    samples = [holders(1.0, False, True), holders(1.5, True, False)]
    requests = [req(1.0, 'node-b'), req(1.5, 'node-a')]
    report = trial.analyse(samples, requests, 'node-b', NODES, 1.0, 2.0)
    assert report['stable'] is False and report['wrong_node_after_switch'] == 1


def test_never_reached():
    report = trial.analyse([holders(0.0, True, False)], [req(0.0, 'node-a')], 'node-b', NODES, None, 30)
    assert report['vip_moved_s'] is None and report['client_switched_s'] is None
    assert report['stable'] is False


def test_flap_counts_from_the_end_of_the_action():
    # node-a served before the flap and serves after it: the move counts from `since`.
    samples = [holders(0.0, True, False), holders(5.0, False, True), holders(10.0, True, False),
               holders(10.5, True, False)]
    requests = [req(0.0, 'node-a'), req(5.0, 'node-b'), req(10.2, 'node-a'), req(10.6, 'node-a')]
    report = trial.analyse(samples, requests, 'node-a', NODES, 10.2, 10.7, since=9.0)
    assert report['vip_moved_s'] == 10.0 and report['client_switched_s'] == 10.2
    assert report['stable'] is True


# ---------------------------------------------------------------- partitions

def sample(t, a, b, stack_a, stack_b):
    return {'t': t, 'holders': {'node-a': a, 'node-b': b}, 'stacks': {'node-a': stack_a, 'node-b': stack_b}}


def test_partition_rules_fill_in_addresses():
    rules = trial.partition_rules('vrrp-a-to-b', {'node-a': '10.0.0.11', 'node-b': '10.0.0.12'})
    assert rules == {'node-b': [['INPUT', '-p', '112', '-s', '10.0.0.11', '-j', 'DROP']]}
    assert set(trial.partition_rules('isolate-a', {'node-a': 'x', 'node-b': 'y'})) == {'node-a'}


def test_split_brain_partition_is_measured():
    # node-b takes the VIP at 4 and runs a stack from 5 to 7, then yields; healed at 20.
    samples = ([sample(t, True, False, 3, 0) for t in range(0, 4)]
               + [sample(t, True, True, 3, 3 if t >= 5 else 0) for t in range(4, 7)]
               + [sample(t, True, False, 3, 0) for t in range(7, 25)])
    requests = [req(t + 0.5, 'node-a') for t in range(0, 25) if t not in (4, 5)] + [req(4.5, None), req(5.5, 'node-b')]
    requests.sort(key=lambda r: r['t'])
    report = trial.analyse_partition(samples, requests, 'node-a', NODES, cut=1.0, healed=20.0)
    assert report['dual_vip_longest_s'] == 3.0 and report['dual_stack_longest_s'] == 2.0
    assert report['client_outage_s'] == 1.0 and report['failed_requests'] == 1
    assert report['converged_after_heal_s'] == 0.0 and report['holder_changes_after_heal'] == 0
    assert report['final_holders'] == ['node-a'] and report['final_stacks'] == ['node-a']


def test_isolated_node_activity_is_reported():
    samples = ([sample(t, True, False, 3, 0) for t in range(0, 2)]
               + [sample(t, False, True, 0, 3) for t in range(2, 10)]      # node-a cut off at 1, node-b serves
               + [sample(t, True, False, 3, 0) for t in range(10, 14)])    # healed at 9, node-a preempts at 10
    report = trial.analyse_partition(samples, [req(t, 'node-a') for t in range(10, 14)], 'node-a', NODES,
                                     cut=1.0, healed=9.0, isolated='node-a')
    assert report['isolated_held_vip_s'] == 1.0 and report['isolated_ran_stack_s'] == 1.0
    assert report['converged_after_heal_s'] == 1.0
    assert report['holder_changes_after_heal'] == 1  # node-b to node-a, once


def test_a_sample_taken_during_the_move_is_not_a_move():
    # the sampler read node-a after it took the VIP and node-b before it let go
    # (both), then the reverse (neither): node-b to node-a is still one move
    samples = ([sample(t, False, True, 0, 3) for t in range(0, 10)]
               + [sample(10, True, True, 0, 3), sample(10.1, False, False, 0, 0)]
               + [sample(t, True, False, 3, 0) for t in range(11, 14)])
    report = trial.analyse_partition(samples, [req(t, 'node-a') for t in range(11, 14)], 'node-a', NODES,
                                     cut=1.0, healed=9.0, isolated='node-a')
    assert report['holder_changes_after_heal'] == 1
    # and the VIP back and forth is three moves
    samples = ([sample(t, False, True, 0, 3) for t in range(0, 10)] + [sample(10, True, False, 3, 0)]
               + [sample(11, False, True, 0, 3)] + [sample(t, True, False, 3, 0) for t in range(12, 14)])
    report = trial.analyse_partition(samples, [req(t, 'node-a') for t in range(12, 14)], 'node-a', NODES,
                                     cut=1.0, healed=9.0, isolated='node-a')
    assert report['holder_changes_after_heal'] == 3
    assert report['holders_after_heal'] == [[0.0, ['node-b']], [1.0, ['node-a']], [2.0, ['node-b']], [3.0, ['node-a']]]


def test_never_converged():
    samples = [sample(t, True, True, 3, 3) for t in range(0, 5)]
    report = trial.analyse_partition(samples, [], 'node-a', NODES, cut=0.0, healed=2.0)
    assert report['converged_after_heal_s'] is None and report['dual_stack_longest_s'] == 5.0


def test_unknown_stack_samples_are_not_a_stack():
    # a node whose engine could not be read (None) is not counted as running
    samples = [sample(0, True, False, 3, None), sample(1, True, False, 3, None)]
    assert trial.analyse_partition(samples, [], 'node-a', NODES, 0.0, 0.5)['dual_stack_longest_s'] == 0.0
    assert trial.analyse_partition(samples, [], 'node-a', NODES, 0.0, 0.5)['unreadable_samples'] == 2


def test_tokens_show_two_writers():
    text = ''.join('node-a %.2f\n' % (100 + i * 0.2) for i in range(30))       # 100.0 .. 105.8
    text += ''.join('node-b %.2f\n' % (102 + i * 0.2) for i in range(10))      # 102.0 .. 103.8
    text += 'node-b 10'  # cut short
    tokens = trial.read_tokens(text)
    assert len(tokens) == 41 and tokens[-1] == {'node': 'node-b', 't': 10.0}
    # node-b wrote from 102.0 until its last token (103.8) stood for 0.4 s more
    assert trial.dual_writers(tokens[:-1], NODES) == 2.2
    assert trial.dual_writers([t for t in tokens if t['node'] == 'node-a'], NODES) == 0.0


def test_probes_start_and_stop(monkeypatch):
    # The trial's probe threads, around fake nodes: both record until stopped.
    class Container(object):
        attrs = {'State': {'Pid': 1, 'Paused': False}}

    class Client(object):
        class containers(object):
            @staticmethod
            def get(name):
                return Container()

    args = trial.arguments().parse_args(['--vip=10.0.0.100', '--nodes=node-a,node-b', '--expect=node-a',
                                         '--interval=0.01', '--request-timeout=0.1'])
    run = trial.Trial(Client(), args)
    monkeypatch.setattr(run, 'holders', lambda: {'node-a': True, 'node-b': False})
    monkeypatch.setattr(run, 'request', lambda: {'ok': True, 'node': 'node-a'})
    before, threads = run.start_probes()
    assert before == {'served_by': 'node-a', 'holders': {'node-a': True, 'node-b': False}}
    import time
    time.sleep(0.1)
    run.stop_probes(threads)
    assert not any(t.is_alive() for t in threads)
    assert run.holder_samples and run.requests
    assert run.holder_samples[0]['stacks'] == {'node-a': None, 'node-b': None}  # not sampled outside partitions


def test_a_flap_past_its_bound_is_reported_not_raised(monkeypatch):
    # node-a never takes the VIP back: the flap stops at its bound and the
    # report names the cycle and carries the end of node-a's transition log.
    class Result(object):
        def __init__(self, output):
            self.output, self.exit_code = output, 0

    class Container(object):
        attrs = {'State': {'Pid': 1, 'Paused': False}}
        commands = []

        def exec_run(self, command):
            self.commands.append(command)
            return Result(b'line 1\nline 2\n' if command[0] == 'tail' else b'')

    container = Container()

    class Client(object):
        class containers(object):
            @staticmethod
            def get(name):
                return container

    args = trial.arguments().parse_args(['--vip=10.0.0.100', '--nodes=node-a,node-b', '--expect=node-a',
                                         '--action=flap', '--target=node-a', '--cycles=3'])
    run = trial.Trial(Client(), args)
    run.bound = {'vip_s': 0.2}
    monkeypatch.setattr(run, 'holders', lambda: {'node-a': False, 'node-b': True})
    run.flap(container)
    assert 'flap cycle 1: node-a did not hold the VIP' in run.action_error['error']
    assert run.action_error['log_tail'] == ['line 1', 'line 2']
    assert [c[:2] for c in container.commands] == [['systemctl', 'stop'], ['systemctl', 'start'], ['tail', '-n']]


def stacked(t, a, b, stack_a, stack_b, frozen=()):
    return {'t': t, 'holders': {'node-a': a, 'node-b': b}, 'stacks': {'node-a': stack_a, 'node-b': stack_b},
            'frozen': list(frozen)}


def test_stack_overlaps_are_measured_continuously():
    # A loses the VIP at 1.0 but its stack runs until 2.5; B runs its stack from 2.0.
    samples = [stacked(t / 10, t < 10, t >= 10, 4 if t < 25 else 0, 4 if t >= 20 else 0) for t in range(40)]
    report = trial.analyse(samples, [req(3.9, 'node-b')], 'node-b', NODES, 3.9, 3.9, stack=True)
    assert report['dual_stack_longest_s'] == 0.5
    assert report['stack_off_holder_longest_s'] == 1.5
    assert report['unreadable_samples'] == 0


def test_an_unreadable_node_is_counted_unless_frozen():
    samples = [stacked(0.0, True, False, 4, 0), stacked(0.1, None, False, None, 0),
               stacked(0.2, None, True, None, 0, frozen=['node-a'])]
    report = trial.analyse(samples, [req(0.2, 'node-b')], 'node-b', NODES, 0.2, 0.2, stack=True)
    assert report['unreadable_samples'] == 2
    assert report['unreadable'] == [(0.1, 'node-a', 'vip'), (0.1, 'node-a', 'stack')]


TABLE = {'margin': 1.5, 'profiles': {'fast': {
    'overlaps': {'dual_vip_s': 0.2, 'dual_stack_s': 1.0},
    'trials': {'freeze': {'vip_s': 1.0, 'outage_s': 2.0, 'why': 'master-down'},
               'failback': {'vip_s': 2.0, 'outage_s': 1.0, 'dual_stack_s': 2.0, 'why': 'hold-off, then preempt'},
               'in-place': {'vip_away_s': 0.0, 'whole_s': 3.0, 'why': 'restarted'}}}}}


def test_bounds_are_the_promises_times_the_margin():
    bounds = trial.promise_bounds(TABLE, 'fast', 'freeze')
    assert {k: bounds[k] for k in ('vip_s', 'outage_s', 'dual_vip_s', 'dual_stack_s')} == {
        'vip_s': 1.5, 'outage_s': 3.0, 'dual_vip_s': 0.3, 'dual_stack_s': 1.5}
    assert bounds['promise'] == {'vip_s': 1.0, 'outage_s': 2.0, 'dual_vip_s': 0.2, 'dual_stack_s': 1.0}
    assert (bounds['trial'], bounds['margin'], bounds['why']) == ('freeze', 1.5, 'master-down')
    # a trial's own overlap figure wins over its profile's; a wait the trial
    # builds in is added to the VIP's bound only
    failback = trial.promise_bounds(TABLE, 'fast', 'failback', after_s=20)
    assert (failback['dual_stack_s'], failback['vip_s'], failback['outage_s']) == (3.0, 23.0, 1.5)
    with pytest.raises(KeyError):
        trial.promise_bounds(TABLE, 'fast', 'no-such-trial')


def test_a_figure_past_its_bound_is_named():
    bounds = trial.promise_bounds(TABLE, 'fast', 'freeze')
    report = {'vip_moved_s': 1.4, 'client_outage_s': 3.2, 'dual_vip_longest_s': 0.0, 'dual_stack_longest_s': None}
    # never measured (None) is past any bound; a figure the report lacks is not judged
    assert trial.over_bounds(report, bounds) == {'client_outage_s': [3.2, 3.0], 'dual_stack_longest_s': [None, 1.5]}
    in_place = trial.promise_bounds(TABLE, 'fast', 'in-place')
    assert trial.over_bounds({'vip_away_longest_s': 0.1, 'recovered_s': 2.0}, in_place) == {
        'vip_away_longest_s': [0.1, 0.0]}


def test_the_repository_s_promises_hold_what_the_docs_promise():
    table = trial.load_promises()
    assert 1.0 < table['margin'] <= 1.5
    default, reference = table['profiles']['default']['trials'], table['profiles']['reference']['trials']
    # the figures for the default profile, at most
    assert default['freeze']['vip_s'] <= 1.0 and default['freeze']['outage_s'] <= 2.0
    assert default['link-down']['vip_s'] <= 1.0 and default['link-down']['outage_s'] <= 2.0
    assert default['preempt-back']['outage_s'] <= 1.5
    # issue 28: a planned stop hands over one writer at a time, clients wait 1.5 s at most;
    # a hung Keepalived is a clean failover (within the hard-loss bound)
    assert default['graceful-stop']['outage_s'] <= 1.5 and default['graceful-stop']['dual_stack_s'] == 0.0
    assert default['keepalived-frozen']['outage_s'] <= default['freeze']['outage_s']
    assert default['witness-silent']['outage_s'] == 0.0
    assert default['restart-in-place']['outage_s'] <= 2.0 and default['handed-over']['outage_s'] <= 4.0
    partition = default['partition']
    assert max(partition[k] for k in ('dual_vip_s', 'dual_stack_s', 'dual_writer_s', 'outage_s')) <= 3.0
    # the reference keeps the seed's figures
    assert reference['freeze']['vip_s'] == 6.0 and reference['preempt-back']['vip_s'] == 10.0
    for profile in table['profiles'].values():
        for name, promise in profile['trials'].items():
            assert promise.get('why'), name
            assert set(promise) - {'title', 'why'} <= set(trial.MEASURED), name


def test_the_vip_away_from_its_holder_is_measured():
    samples = [holders(t / 10, t not in (4, 5, 6), False) for t in range(10)]
    assert trial.away_longest(samples, 'node-a') == 0.3
    assert trial.away_longest(samples, 'node-a', since=0.7) == 0.0
    unreadable = [holders(t / 10, None if t == 3 else True, False) for t in range(10)]
    assert trial.away_longest(unreadable, 'node-a') == 0.0
    # still away at the end: at least one sample's worth
    assert trial.away_longest([holders(0.0, True, False), holders(0.1, False, True)], 'node-a') == 0.1


def test_a_watch_counts_every_sample_not_only_the_last():
    # node-b takes the VIP and starts the stack for 0.3 s in the middle, then lets go.
    samples = [stacked(t / 10, not 5 <= t < 8, 5 <= t < 8, 4, 4 if 5 <= t < 8 else 0) for t in range(20)]
    report = trial.watched(samples, NODES, stack=True)
    # (The last sample stands for STALE_S, as in the drill.)
    assert report['held_vip_s'] == {'node-a': 2.6, 'node-b': 0.3}
    assert report['ran_stack_s'] == {'node-a': 2.9, 'node-b': 0.3}
    assert samples[-1]['holders']['node-b'] is False  # the last sample alone would show nothing
    assert report['dual_vip_longest_s'] == 0.0


def test_a_watch_reports_two_holders_at_once():
    # node-b takes the VIP at 0.5 s, node-a lets go only at 0.8 s.
    samples = [stacked(t / 10, t < 8, t >= 5, 4, 0) for t in range(20)]
    assert trial.watched(samples, NODES, stack=True)['dual_vip_longest_s'] == 0.3


def test_a_promised_trial_holds_its_end_state_for_the_table_s_stable_time(tmp_path):
    class Client(object):
        class containers(object):
            @staticmethod
            def get(name):
                return type('Container', (), {'attrs': {'State': {'Pid': 1, 'Paused': False}}})()

    table = tmp_path / 'promises.yml'
    table.write_text('margin: 1.5\nstable_s: 10\nprofiles: {fast: {trials: {freeze: {vip_s: 1.0, why: x}}}}\n')
    base = ['--vip=10.0.0.100', '--nodes=node-a,node-b', '--expect=node-b', '--action=freeze', '--target=node-a']
    promised = trial.Trial(Client(), trial.arguments().parse_args(
        base + ['--profile=fast', '--promise=freeze', '--promises=%s' % table]))
    assert promised.args.settle == 10.0 and promised.bound['vip_s'] == 1.5
    assert trial.Trial(Client(), trial.arguments().parse_args(base)).args.settle == 2.0
    assert trial.Trial(Client(), trial.arguments().parse_args(
        base + ['--settle=3', '--promise=freeze', '--profile=fast', '--promises=%s' % table])).args.settle == 3.0


def test_a_hung_engine_s_stack_is_read_from_its_records_and_the_node_s_processes(tmp_path):
    def container(ident, project, running, pid, cgroup):
        path = tmp_path / 'var/lib/docker/containers' / ident
        path.mkdir(parents=True)
        path.joinpath('config.v2.json').write_text(json.dumps({
            'ID': ident, 'State': {'Running': running, 'Pid': pid},
            'Config': {'Labels': {'com.docker.compose.project': project}}}))
        if cgroup:
            (tmp_path / 'proc' / str(pid)).mkdir(parents=True)
            (tmp_path / 'proc' / str(pid) / 'cgroup').write_text('0::/docker/%s\n' % cgroup)
    container('aaa1', 'netsocs', True, 10, 'aaa1')     # runs
    container('bbb2', 'netsocs', True, 11, None)       # the record says running, the process is gone
    container('ccc3', 'netsocs', True, 12, 'zzz9')     # the pid belongs to another process now
    container('ddd4', 'other', True, 13, 'ddd4')       # another project
    container('eee5', 'netsocs', False, 0, None)       # stopped
    assert trial.running_without_engine(str(tmp_path), 'netsocs') == 1
    assert trial.running_without_engine(str(tmp_path / 'nowhere'), 'netsocs') is None


def test_a_trial_reads_the_tokens_written_in_its_window(tmp_path):
    recording = tmp_path / 'tokens.log'
    recording.write_text('node-a 100.0\nnode-a 100.2\nnode-b 100.3\nnode-b 10')
    assert trial.trial_tokens(str(recording), 100.1, 100.25) == [{'node': 'node-a', 't': 100.2}]
    assert trial.trial_tokens(str(tmp_path / 'none.log'), 0, 1) is None
    # one writer, then the other: no overlap beyond a token's own span
    assert trial.dual_writers(trial.read_tokens('node-a 1.0\nnode-a 1.2\nnode-b 2.0\nnode-b 2.2'), ['node-a', 'node-b']) == 0.0


def test_every_acknowledged_write_must_be_stored_by_the_node_that_acknowledged_it():
    stored = trial.stored_writes('101 node-a\n102 node-a\n103 node-b\n10')
    assert stored == {101: 'node-a', 102: 'node-a', 103: 'node-b'}
    acked = [{'seq': 101, 'node': 'node-a'}, {'seq': 103, 'node': 'node-b'}]
    assert trial.check_writes(acked, stored) == {'acked': 2, 'by_node': {'node-a': 1, 'node-b': 1},
                                                 'lost_count': 0, 'lost': [], 'lost_by_node': {}}
    # acknowledged but not stored (or stored by another node): lost
    lost = trial.check_writes(acked + [{'seq': 104, 'node': 'node-b'}, {'seq': 102, 'node': 'node-b'}], stored)
    assert lost['lost_count'] == 2 and lost['lost'] == [104, 102] and lost['lost_by_node'] == {'node-b': 2}


def test_the_recovery_point_is_how_long_before_the_failure_the_oldest_lost_write_was_acknowledged():
    stored = trial.stored_writes('1 node-a\n4 node-b\n')
    acked = [{'seq': 1, 'node': 'node-a', 't': 1.0}, {'seq': 2, 'node': 'node-a', 't': 4.2},
             {'seq': 3, 'node': 'node-a', 't': 4.9}, {'seq': 4, 'node': 'node-b', 't': 6.0},
             {'seq': 5, 'node': 'node-a', 't': 5.5}]
    report = trial.check_writes(acked, stored, failed_at=5.0)
    # 2 and 3 were on node-a only when it failed at 5.0: the oldest 0.8 s before it
    assert report['lost_window_s'] == 0.8 and report['lost_after_failure'] == 1
    assert trial.check_writes(acked[:1], stored, failed_at=5.0)['lost_window_s'] == 0.0
