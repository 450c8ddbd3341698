"""The Molecule trial tool: its own sampling helpers, and that it measures with
the drill's engine (whose definitions tests/unit/playbooks/test_drill.py tests)."""

import importlib.util
import json
import pathlib

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


CONF = """
global_defs {
    router_id node-a
    vrrp_startup_delay %(startup)s
}

vrrp_script chk_netsocs_stack {
    script "/usr/local/libexec/netsocs-failover/stack-hook health"
    interval 1
    timeout 15
    fall 2
    rise 2
    weight -80
}

vrrp_script chk_netsocs_guard {
    script "/usr/local/libexec/netsocs-failover/stack-hook guard"
    interval 1
    timeout 20
    fall 1
    rise 2
}

vrrp_instance VI_NETSOCS {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority %(priority)s
    version %(version)s
    advert_int %(advert)s
%(unicast)s
}
"""
UNICAST = """    unicast_src_ip 172.30.99.11
    unicast_peer {
        172.30.99.12
    }
    check_unicast_src"""


def profile(priority, version=2, advert=1, startup=2, unicast=''):
    return trial.parse_profile(CONF % {'priority': priority, 'version': version, 'advert': advert,
                                       'startup': startup, 'unicast': unicast})


def test_the_profile_is_read_from_the_rendered_configuration():
    fast = profile(150, version=3, advert=0.2, startup=1, unicast=UNICAST)
    assert fast == {'version': 3, 'advert_int': 0.2, 'priority': 150, 'startup_delay': 1.0, 'unicast': True,
                    'check_unicast_src': True,
                    'health': {'interval': 1.0, 'timeout': 15.0, 'fall': 2.0, 'rise': 2.0, 'weight': -80.0},
                    'guard': {'interval': 1.0, 'timeout': 20.0, 'fall': 1.0, 'rise': 2.0}}
    assert profile(100)['unicast'] is False and profile(100)['version'] == 2


def test_bounds_follow_the_profile():
    reference = {'node-a': profile(150), 'node-b': profile(100)}
    fast = {'node-a': profile(150, 3, 0.2, 1, UNICAST), 'node-b': profile(100, 3, 0.2, 1, UNICAST)}
    hard = trial.bounds(reference, 'freeze', 'node-a', 'node-b', stack=True)
    # 3 adverts + B's skew (156/256 s) + margin (1 s + an advert); the client: + the stack's start.
    assert hard == {'vip_s': 5.61, 'client_s': 9.61, 'dual_stack_s': 3.0, 'why': '3 adverts + skew + margin (+ stack start)'}
    assert trial.bounds(fast, 'freeze', 'node-a', 'node-b', stack=False)['vip_s'] == 1.92
    # A fast profile that fell back to 1 s adverts is caught: it takes about 3.6 s.
    assert trial.bounds(fast, 'freeze', 'node-a', 'node-b', stack=False)['vip_s'] < 3.0
    assert trial.bounds(reference, 'stop-keepalived', 'node-a', 'node-b', stack=False)['vip_s'] == 2.61
    # Preempt: A restarts Keepalived: startup delay, the health check's rise, 2 adverts.
    assert trial.bounds(reference, 'start-keepalived', 'node-a', 'node-a', stack=False)['vip_s'] == 9.0
    assert trial.bounds(reference, 'none', 'node-a', 'node-a', stack=False, after_s=20)['vip_s'] == 27.0
    assert trial.bounds(reference, 'no-such-action', 'node-a', 'node-b', stack=False) is None
    # A dead container moves the VIP after the health check's detection ...
    assert trial.bounds(fast, 'kill-caddy', 'node-a', 'node-b', stack=False)['vip_s'] == 4.92
    # ... or is started again in place, within one health interval (the VIP stays).
    assert trial.bounds(fast, 'kill-caddy', 'node-a', 'node-a', stack=True) == {
        'vip_s': 2.2, 'client_s': 6.2, 'dual_stack_s': 3.0, 'why': 'one health interval + margin (+ stack start)'}
    # A planned switchover is bounded as a graceful stop, its return as a preempt.
    assert trial.bounds(fast, 'switchover', 'node-a', 'node-b', stack=False) == trial.bounds(
        fast, 'stop-keepalived', 'node-a', 'node-b', stack=False) | {'why': 'skew + margin'}
    # With the stack, a switchover's taker starts it before the VIP moves; so
    # does a graceful stop's with the handover: the VIP waits for that start,
    # the client only for the VIP.
    ahead = trial.bounds(fast, 'switchover', 'node-a', 'node-b', stack=True)
    assert ahead == {'vip_s': 5.32, 'client_s': 5.32, 'dual_stack_s': 7.0, 'why': 'skew + margin + stack start ahead'}
    # A graceful stop's handover: the VIP waits for what the node logged, at most a stack start.
    handed = trial.bounds(fast, 'stop-keepalived', 'node-a', 'node-b', stack=True, handover_s=1.8)
    assert handed == {'vip_s': 3.12, 'client_s': 3.12, 'dual_stack_s': 4.8,
                      'why': 'skew + margin + the handover as logged (1.8 s, at most 4 s each)'}
    assert trial.bounds(fast, 'stop-keepalived', 'node-a', 'node-b', stack=True, handover_s=12)['vip_s'] == 5.32
    assert trial.bounds(fast, 'stop-keepalived', 'node-a', 'node-b', stack=True, handover_s=12, cycles=5)['vip_s'] == 5.32
    # A handover the peer refused: the client waits for the start after the move.
    refused = trial.bounds(fast, 'stop-keepalived', 'node-a', 'node-b', stack=True, handover_s=1.0, unstarted=1)
    assert (refused['vip_s'], refused['client_s']) == (2.32, 6.32)
    assert trial.bounds(fast, 'stop-keepalived', 'node-a', 'node-b', stack=True)['vip_s'] == 1.32
    flap = trial.bounds(fast, 'flap', 'node-a', 'node-a', stack=True, cycles=5, handover_s=9.0)
    assert flap['vip_s'] == round(trial.bounds(fast, 'flap', 'node-a', 'node-a', stack=True, cycles=5)['vip_s'] + 9, 2)
    # Two stacks: the longest overlap is one handover's (at most a stack start) plus the old MASTER's stop.
    assert flap['dual_stack_s'] == 7.0


def test_the_handover_time_is_read_from_the_stopping_nodes_log():
    lines = ['2026-11-27T02:03:30.325+00:00 stack-hook[1] handover: keepalived stopping on the MASTER; after 1.6 s '
             'the peer runs the stack (172.30.99.12: stack running)',
             '2026-11-27T02:04:30.325+00:00 stack-hook[2] handover: keepalived stopping on the MASTER; after 0.4 s '
             'the peer has not started its stack (it starts it once promoted) (no peer acknowledged within 1s)',
             '2026-11-27T02:04:31.000+00:00 stack-hook[3] sync: node is BACKUP (was MASTER)']
    assert trial.handovers(lines) == (2.0, 1)
    assert trial.handovers(None) == (0, 0)


def test_partition_bounds_follow_the_deployed_guard():
    reference = {'node-a': profile(150), 'node-b': profile(100)}
    timers = {'witness_deadline': 1.0, 'arp_deadline': 1, 'advert_window': 1.2, 'query_timeout': 1.0}
    bound = trial.partition_bounds(reference, timers)
    # interval 1 + window 1.2 + margin (1 s + an advert); the guard's rise is 2.
    assert (bound['dual_s'], bound['isolated_vip_s'], bound['isolated_stack_s'], bound['heal_s']) == (4.2, 4.0, 8.0, 12.0)
    # whole-second adverts: the guard drops a cut-off BACKUP before VRRP would promote it
    assert bound['isolated_backup_vip_s'] == 0.0
    # A guard that listens longer for adverts lets two holders overlap longer: the bound says so.
    assert trial.partition_bounds(reference, dict(timers, advert_window=3.0))['dual_s'] == 6.0
    fast = {'node-a': profile(150, 3, 0.2, 1, UNICAST), 'node-b': profile(100, 3, 0.2, 1, UNICAST)}
    assert trial.partition_bounds(fast, timers)['dual_s'] == 3.4
    # 0.2 s adverts outrun the guard: the cut-off BACKUP claims the VIP on its dead link, and is dropped
    assert trial.partition_bounds(fast, timers)['isolated_backup_vip_s'] == trial.partition_bounds(fast, timers)['isolated_vip_s'] == 3.2


def test_a_watch_counts_every_sample_not_only_the_last():
    # node-b takes the VIP and starts the stack for 0.3 s in the middle, then lets go.
    samples = [stacked(t / 10, not 5 <= t < 8, 5 <= t < 8, 4, 4 if 5 <= t < 8 else 0) for t in range(20)]
    report = trial.watched(samples, NODES, stack=True)
    # (The last sample stands for STALE_S, as in the drill.)
    assert report['held_vip_s'] == {'node-a': 2.6, 'node-b': 0.3}
    assert report['ran_stack_s'] == {'node-a': 2.9, 'node-b': 0.3}
    assert samples[-1]['holders']['node-b'] is False  # the last sample alone would show nothing


def test_a_cut_link_is_bounded_as_a_frozen_node_and_its_return_by_the_guard():
    fast = {'node-a': profile(150, 3, 0.2, 1, UNICAST), 'node-b': profile(100, 3, 0.2, 1, UNICAST)}
    assert trial.bounds(fast, 'link-down', 'node-a', 'node-b', stack=False)['vip_s'] == trial.bounds(
        fast, 'freeze', 'node-a', 'node-b', stack=False)['vip_s']
    # FAULT while cut off: the guard's rise (2 runs, 1 s apart) and the health
    # check's, 2 adverts, the margin (1 s + an advert)
    assert trial.bounds(fast, 'link-up', 'node-a', 'node-a', stack=False) == {
        'vip_s': 7.6, 'client_s': 7.6, 'dual_stack_s': 3.0, 'why': 'guard rise + health rise + 2 adverts + margin'}
