"""The split-brain guard (decisions, arping), its responder's second path, the storage lease."""

import socket
import threading
import time

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import guard, lease, responder

# Recorded from iputils arping 20240905 in a lab node, duplicate address detection.
DAD_DUPLICATE = '''ARPING 172.30.99.100 from 0.0.0.0 eth0
Unicast reply from 172.30.99.100 [02:42:AC:1E:63:0C]  0.612ms
Unicast reply from 172.30.99.100 [02:42:ac:1e:63:0c]  0.540ms
Sent 2 probes (2 broadcast(s))
Received 2 response(s)
'''
DAD_UNIQUE = '''ARPING 172.30.99.100 from 0.0.0.0 eth0
Sent 2 probes (2 broadcast(s))
Received 0 response(s)
'''
PEER = '02:42:AC:1E:63:0C'


def test_parse_arping():
    assert guard.parse_arping(DAD_DUPLICATE) == [PEER]
    assert guard.parse_arping(DAD_UNIQUE) == []
    assert guard.parse_arping('') == []


@pytest.mark.parametrize('case, args, expected', [
    # isolated wins over everything, and keeps a yield in place
    ('isolated', dict(isolated='no witness answers (172.30.99.1)', holds_vip=True, other_holders=None,
                      yielded=False, adverts_heard=None, peer_holds=None, outranked=False),
     (False, False, 'isolated: no witness answers', False)),
    ('isolated while yielded', dict(isolated='x', holds_vip=False, other_holders=None, yielded=True,
                                    adverts_heard=None, peer_holds=None, outranked=True), (False, True, 'isolated', False)),
    # a split brain: the outranked node yields, the other keeps the VIP and re-announces
    ('split, outranked', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                              adverts_heard=False, peer_holds=True, outranked=True), (False, True, 'yielding', False)),
    ('split, first rank', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                               adverts_heard=False, peer_holds=True, outranked=False), (True, False, 're-announcing', True)),
    # two holders while adverts flow: a VRRP hand-over in progress, VRRP resolves it
    ('hand-over', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                       adverts_heard=True, peer_holds=True, outranked=True), (True, False, 'ok', False)),
    # one-way partition: the first-ranked node hears the peer, which took the VIP: it keeps
    # the VIP and re-announces it, since clients followed the peer's gratuitous ARP
    ('one-way, first rank', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                                 adverts_heard=True, peer_holds=True, outranked=False), (True, False, 're-announcing', True)),
    ('sole holder', dict(isolated=None, holds_vip=True, other_holders=[], yielded=False,
                         adverts_heard=None, peer_holds=None, outranked=True), (True, False, 'ok', False)),
    ('backup', dict(isolated=None, holds_vip=False, other_holders=None, yielded=False,
                    adverts_heard=None, peer_holds=None, outranked=True), (True, False, 'ok', False)),
    # a yield lasts until adverts are heard again or the other holder is gone
    ('yielded, still split', dict(isolated=None, holds_vip=False, other_holders=[PEER], yielded=True,
                                  adverts_heard=False, peer_holds=True, outranked=True), (False, True, 'yielded: ', False)),
    ('yielded, adverts back', dict(isolated=None, holds_vip=False, other_holders=[PEER], yielded=True,
                                   adverts_heard=True, peer_holds=True, outranked=True), (True, False, 'heard again', False)),
    # a hung peer: its kernel answers ARP for the VIP, its user space neither
    # sends adverts nor answers the status query: keep serving, never yield to it
    # (it also tells the clients again where the VIP is: they may ask ARP, and the hung node's kernel answers)
    ('frozen peer', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                         adverts_heard=False, peer_holds=False, outranked=True), (True, False, 'hung holder', True)),
    ('frozen peer, first rank', dict(isolated=None, holds_vip=True, other_holders=[PEER], yielded=False,
                                     adverts_heard=False, peer_holds=False, outranked=False),
     (True, False, 're-announcing', True)),
    ('yielded, peer hung', dict(isolated=None, holds_vip=False, other_holders=[PEER], yielded=True,
                                adverts_heard=False, peer_holds=False, outranked=True),
     (True, False, 'no longer answers', False)),
    ('yielded, peer gone', dict(isolated=None, holds_vip=False, other_holders=[], yielded=True,
                                adverts_heard=False, peer_holds=None, outranked=True), (True, False, 'any more', False)),
])
def test_decide(case, args, expected):
    ok, yielded, reason, announce = guard.decide(**args)
    assert (ok, yielded, announce) == (expected[0], expected[1], expected[3]), case
    assert expected[2] in reason, (case, reason)


def test_every_verdict_gives_a_reason():
    for isolated in (None, 'x'):
        for holds in (True, False):
            for others in (None, [], [PEER]):
                for yielded in (True, False):
                    for heard in (None, True, False):
                        for outranked in (True, False):
                            for peer in (None, True, False):
                                assert guard.decide(isolated, holds, others, yielded, heard, peer, outranked)[2]


class Answer(object):
    def __init__(self, stdout=''):
        self.stdout, self.returncode = stdout, 0


def test_other_holders_asks_arping_with_a_deadline():
    calls = []
    probes = guard.Probes('eth0', '172.30.99.100', run=lambda args, **kw: calls.append((args, kw)) or Answer(DAD_DUPLICATE))
    assert probes.other_holders(1) == [PEER]
    args, kw = calls[0]
    assert args[:2] == ['arping', '-D'] and args[-3:] == ['-I', 'eth0', '172.30.99.100'] and kw['timeout'] > 1


class Ping(object):
    """A ping process: answers (rc 0), does not (rc 1), or hangs (None) until killed."""
    started = []

    def __init__(self, args, **kwargs):
        self.args, self.returncode, self.killed = args, None, False
        self.outcome = OUTCOMES[args[-1]]
        Ping.started.append(self)

    def poll(self):
        if self.outcome is not None:
            self.returncode = self.outcome
        return self.returncode

    def kill(self):
        self.killed = True

    def wait(self):
        return self.returncode


OUTCOMES = {'192.0.2.1': 0, '192.0.2.2': 1, '192.0.2.3': None}


@pytest.mark.parametrize('witnesses, answered', [
    (['192.0.2.1'], True),                    # the gateway answers
    (['192.0.2.2', '192.0.2.1'], True),       # any one witness is enough
    (['192.0.2.2'], False),                   # no answer: isolated
    (['192.0.2.3', '192.0.2.1'], True),       # a hung probe does not hide an answer
])
def test_witness_answers(witnesses, answered):
    Ping.started = []
    probes = guard.Probes('eth0', '172.30.99.100', spawn=Ping)
    assert probes.witness_answers(witnesses, 1) is answered
    assert all(p.args[:5] == ['ping', '-n', '-q', '-c', '1'] and p.args[5] == '-W' for p in Ping.started)


def test_a_hung_witness_probe_is_killed_at_the_deadline():
    Ping.started = []
    probes = guard.Probes('eth0', '172.30.99.100', spawn=Ping)
    assert probes.witness_answers(['192.0.2.3'], 0.1) is False
    assert Ping.started[0].killed


def test_silent_witnesses_are_asked_again_until_the_deadline():
    Ping.started = []
    probes = guard.Probes('eth0', '172.30.99.100', spawn=Ping)
    assert probes.witness_answers(['192.0.2.2'], 1.2) is False
    # rounds of at most 0.5 s each: 0.5, 0.5, then what is left (about 0.2)
    waits = [float(p.args[6]) for p in Ping.started]
    assert waits[:2] == [0.5, 0.5] and len(waits) == 3 and 0.1 < waits[2] <= 0.2


def test_advert_heard_times_out_without_adverts():
    try:
        heard = guard.advert_heard(['192.0.2.1'], 0.2)
    except PermissionError:
        pytest.skip('raw sockets need CAP_NET_RAW')
    assert heard is False


def test_advert_heard_sees_a_vrrp_packet_from_a_peer():
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, guard.VRRP_PROTOCOL)
    except PermissionError:
        pytest.skip('raw sockets need CAP_NET_RAW')
    import threading
    timer = threading.Timer(0.2, lambda: sender.sendto(b'\x31\x33\x64\x01' + b'\x00' * 16, ('127.0.0.1', 0)))
    timer.start()
    try:
        assert guard.advert_heard(['127.0.0.1'], 2) is True
    finally:
        timer.join()
        sender.close()


def test_status_query_over_udp():
    # a responder on loopback answers only its peers; the asker reads holds_vip
    import threading
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    server.close()
    answers = iter([responder.status_reply('node-a', True, 'MASTER'), responder.status_reply('node-a', False, 'BACKUP')])
    thread = threading.Thread(target=lambda: responder.respond(port, ['127.0.0.1'], lambda: next(answers)), daemon=True)
    thread.start()
    import time
    time.sleep(0.1)
    assert responder.ask_peer(['127.0.0.1'], port, 1) is True
    assert responder.ask_peer(['127.0.0.1'], port, 1) is False


def test_stack_query_over_udp():
    # the stack query gets the stack's answer, the status query the status's;
    # a responder that does not know the stack query answers its status (no 'stack')
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    server.close()
    threading.Thread(target=lambda: responder.respond(
        port, ['127.0.0.1'], lambda: responder.status_reply('node-a', True, 'MASTER'),
        stack=lambda: responder.stack_reply('node-a', {'traefik', 'netsocs-caddy'})), daemon=True).start()
    time.sleep(0.1)
    assert responder.query_peer(['127.0.0.1'], port, 1, query=responder.STACK)['stack'] == ['netsocs-caddy', 'traefik']
    assert responder.ask_peer(['127.0.0.1'], port, 1) is True


def test_status_query_without_an_answer_is_false():
    assert responder.ask_peer(['127.0.0.1'], 9, 0.2) is False  # the discard port answers nothing


def test_a_query_that_cannot_be_sent_is_not_waited_for(monkeypatch):
    # the node's own firewall drops it on the way out (an isolated node): EPERM at once
    class Refusing(object):
        def __init__(self, *args):
            pass

        def settimeout(self, timeout):
            pass

        def sendto(self, data, to):
            raise PermissionError(1, 'Operation not permitted')

        def recvfrom(self, size):
            raise AssertionError('nothing was sent: nothing to wait for')

        def close(self):
            pass

    monkeypatch.setattr(responder.socket, 'socket', Refusing)
    assert responder.query_peer(['192.0.2.11'], 8007, 5) is None


@pytest.mark.parametrize('connectivity, isolated', [
    ({'witnesses': True, 'peer': None}, False),
    # the gateway drops ICMP, but the peer is heard: not isolated, keep serving
    ({'witnesses': False, 'peer': 'answers on the second path'}, False),
    ({'witnesses': False, 'peer': 'sends VRRP adverts'}, False),
    # nothing at all: cut off
    ({'witnesses': False, 'peer': None}, True),
])
def test_isolation_needs_a_silent_witness_and_a_silent_peer(connectivity, isolated):
    reason = guard.isolation(connectivity, ['192.0.2.1', '192.0.2.11'])
    assert bool(reason) is isolated
    if isolated:
        assert reason.startswith('no witness answers (192.0.2.1, 192.0.2.11) and nothing is heard from the peer')


# ---------------------------------------------------------------- the storage lease

def _hold(path, ready, release):
    held = lease.Lease(path, 'node-a', 2)
    assert held.try_acquire()
    held.refresh(1000.0)
    ready.set()
    release.wait(10)
    held.release()


def test_only_one_process_holds_the_lease(tmp_path):
    # POSIX locks are per process: the other holder is a real second process.
    import multiprocessing
    path = str(tmp_path / 'stack.lease')
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        mine = lease.Lease(path, 'node-b', 2)
        assert mine.try_acquire() is False
        assert mine.holder() == 'node-a 1000.000'
        release.set()
        holder.join(10)
        assert mine.try_acquire() is True
        mine.refresh(2000.0)
        assert mine.holder() == 'node-b 2000.000'
    finally:
        release.set()
        holder.join(10)


def test_a_hung_operation_misses_its_deadline():
    import threading
    never = threading.Event()
    with pytest.raises(lease.LeaseError, match='no answer within 0.2s'):
        lease.within(0.2, never.wait)


def test_a_probe_that_cannot_run_answers_nothing():
    def broken(args, **kwargs):
        raise FileNotFoundError('arping')
    probes = guard.Probes('eth0', '172.30.99.100', run=broken)
    assert probes.other_holders(1) == []
    probes.announce()  # no exception either


def test_a_refused_status_query_is_no_answer():
    # A closed port answers with ICMP port unreachable: recvfrom raises ECONNREFUSED.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    assert responder.ask_peer(['127.0.0.1'], port, 0.4) is False


def _responder(handover):
    import threading
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    server.close()
    threading.Thread(target=lambda: responder.respond(
        port, ['127.0.0.1'], lambda: responder.status_reply('node-b', False, 'BACKUP'), handover=handover),
        daemon=True).start()
    import time
    time.sleep(0.1)
    return port


def test_a_handover_is_acknowledged_then_answered_while_status_queries_go_on():
    import threading
    release, calls = threading.Event(), []

    def handover(_early):
        calls.append(1)
        release.wait(5)
        return True, 'stack running'

    port = _responder(handover)
    result = []
    asker = threading.Thread(target=lambda: result.append(responder.request_handover(['127.0.0.1'], port, 1, 5)))
    asker.start()
    import time
    time.sleep(0.3)
    # the prestart runs: the guard's status query is still answered
    assert responder.ask_peer(['127.0.0.1'], port, 1) is False
    release.set()
    asker.join(5)
    assert result == [(True, '127.0.0.1: stack running')] and calls == [1]


def test_an_early_answer_is_the_one_answer():
    import threading
    release = threading.Event()

    def handover(early):
        early(True, 'the critical containers run')
        release.wait(5)  # the rest of the stack still starting
        return True, 'stack running'

    port = _responder(handover)
    assert responder.request_handover(['127.0.0.1'], port, 1, 5) == (True, '127.0.0.1: the critical containers run')
    release.set()


def test_a_refused_handover_says_why():
    port = _responder(lambda _early: (False, 'not BACKUP (Keepalived reports FAULT)'))
    assert responder.request_handover(['127.0.0.1'], port, 1, 5) == (False, '127.0.0.1: not BACKUP (Keepalived reports FAULT)')


def test_no_responder_no_handover_and_no_long_wait():
    import time
    started = time.monotonic()
    ready, why = responder.request_handover(['127.0.0.1'], 9, 0.4, 20)
    assert ready is False and why == 'no peer acknowledged within 0.4s'
    assert time.monotonic() - started < 1.0


def test_a_peer_that_acknowledges_but_never_answers_is_waited_for_the_timeout_only():
    import threading
    port = _responder(lambda _early: (threading.Event().wait(3), (True, 'late'))[1])
    ready, why = responder.request_handover(['127.0.0.1'], port, 1, 0.5)
    assert ready is False and why == '127.0.0.1 acknowledged but gave no answer within 0.5s'


def test_the_pulse_counts_silence_only_while_it_runs():
    pulse = responder.Pulse(interval=0.1)
    assert pulse.silent(5.0) is None  # nothing sent yet: not known
    pulse.sent(5.0)
    pulse.sent(5.1)
    assert pulse.silent(5.15) == pytest.approx(0.15)  # unanswered since the first send
    pulse.heard()
    assert pulse.silent(5.17) == 0.0
    pulse.sent(5.2)
    assert pulse.silent(5.35) == pytest.approx(0.15)
    # a pulse starved of CPU (no send for more than two intervals) says nothing
    assert pulse.silent(5.45) is None


def test_the_pulse_hears_a_responder_and_says_so_on_loopback():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    pulse = responder.Pulse()
    threading.Thread(target=lambda: responder.respond(
        port, ['127.0.0.1'], lambda: responder.status_reply('node-b', False, 'BACKUP'), pulse=pulse),
        daemon=True).start()
    time.sleep(0.1)
    # the peer's responder answers ALIVE: never silent
    responder.pulse_loop(['127.0.0.1'], port, pulse, rounds=3)
    assert pulse.silent(time.monotonic()) == 0.0
    assert responder.peer_silence(port) == 0.0
    # nobody answers on the discard port: silent since the first send
    quiet = responder.Pulse()
    responder.pulse_loop(['127.0.0.1'], 9, quiet, rounds=3)
    assert 0.25 <= quiet.silent(time.monotonic()) < 1


def test_no_responder_on_loopback_means_the_silence_is_not_known():
    assert responder.peer_silence(9) is None
