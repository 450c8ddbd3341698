# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guard's second path to the peer: a UDP status query and the handover request.

Each node runs a responder (`stack-hook respond`, netsocs-guard-responder.service)
that answers its peer's status query (does this node hold the VIP?) and
stack query (do containers of the stack run here? read from /proc, so that
a hung Docker daemon cannot hide them: a node being promoted waits until
none does, lifecycle.peer_stopped), and grants a handover: a MASTER whose
Keepalived is being stopped on purpose asks its peer to start the stack
first (handover.py decides). A node whose user
space is frozen still answers ARP from its kernel, but not this query; a node
whose Keepalived alone is hung answers that it does not hold the VIP
(watchdog.py): that is what tells a live peer that lost VRRP from a hung one.

Each responder also asks its peer's `ALIVE` every PULSE_INTERVAL (pulse):
a node being promoted asks its own responder (`HEARD`, on loopback) how long
the peer's has not answered, so on a hard loss it learns at once what the
stack query would only learn after its timeout (lifecycle.peer_stopped).
"""

from __future__ import annotations

import json
import socket
import threading
import time


def status_reply(node, holds_vip, vrrp_state, vrrp_alive=True):
    """The status query's answer, as bytes. holds_vip: the VIP is on this
    node's interface AND its Keepalived makes progress (watchdog.py): a
    hung Keepalived's VIP is nobody's."""
    return json.dumps({'node': node, 'holds_vip': bool(holds_vip), 'vrrp': vrrp_state,
                       'vrrp_alive': bool(vrrp_alive)}).encode()


STATUS = b'status?'
STACK = b'stack?'
# The pulse: ALIVE from the peer's responder (answered at once, nothing read),
# HEARD from this node itself (loopback): how long the peer's has been silent.
ALIVE = b'alive?'
HEARD = b'heard?'
LOOPBACK = '127.0.0.1'
PULSE_INTERVAL = 0.1


def stack_reply(node, names):
    """The stack query's answer, as bytes: the containers of the stack that run here."""
    return json.dumps({'node': node, 'stack': sorted(names)}).encode()


def query_peer(peers, port, timeout, tries=2, query=STATUS):
    """The peer's answer to `query` (STATUS: {'node', 'holds_vip', 'vrrp',
    'vrrp_alive'}; STACK: {'node', 'stack'}), or None when no peer answers
    within the timeout. A query that could not be sent to any peer (no
    route, the node's own firewall) is not waited for."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout / tries)
        for _attempt in range(tries):
            sent = 0
            for peer in peers:
                try:
                    sock.sendto(query, (peer, port))
                    sent += 1
                except OSError:  # no route, or dropped on the way out: the peer cannot answer
                    continue
            if not sent:
                return None
            try:
                while True:
                    data, (source, _port) = sock.recvfrom(4096)
                    if source in peers:
                        try:
                            reply = json.loads(data.decode())
                        except ValueError:
                            continue
                        if isinstance(reply, dict):
                            return reply
            except socket.timeout:
                continue
            except OSError:
                # ICMP port unreachable (the responder is restarting, the node
                # rebooting) surfaces here as ECONNREFUSED: no answer.
                continue
        return None
    finally:
        sock.close()


def ask_peer(peers, port, timeout, tries=2):
    """True when a peer answers the status query that it holds the VIP, False
    when it answers that it does not or nobody answers within the timeout."""
    reply = query_peer(peers, port, timeout, tries)
    return bool(reply and reply.get('holds_vip'))


HANDOVER = b'handover?'


class Pulse(object):
    """What this responder's pulse heard from the peer's: the time of the
    first ALIVE sent since its last answer. silent(now) is how long the peer
    has not answered, counted only while the pulse runs (its last send
    within two intervals): a pulse starved of CPU sent nothing it could miss,
    and says None (unknown), never silence."""

    def __init__(self, interval=PULSE_INTERVAL):
        self.interval = interval
        self._lock = threading.Lock()
        self._unanswered_since = None
        self._last_sent = None

    def sent(self, now):
        with self._lock:
            self._last_sent = now
            if self._unanswered_since is None:
                self._unanswered_since = now

    def heard(self):
        with self._lock:
            self._unanswered_since = None

    def silent(self, now):
        with self._lock:
            if self._last_sent is None or now - self._last_sent > 2 * self.interval:
                return None
            return 0.0 if self._unanswered_since is None else max(0.0, now - self._unanswered_since)


def pulse_loop(peers, port, pulse, clock=time.monotonic, sock=None, rounds=None):
    """Ask the peers' responders ALIVE every pulse.interval, forever (rounds:
    that many, for the tests), and tell `pulse` what was sent and heard."""
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    done = 0
    while rounds is None or done < rounds:
        done += 1
        start = clock()
        for peer in peers:
            try:
                sock.sendto(ALIVE, (peer, port))
            except OSError:  # no route: nothing that peer could answer
                continue
            pulse.sent(start)
        while True:
            left = start + pulse.interval - clock()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                _data, (source, _port) = sock.recvfrom(512)
            except socket.timeout:
                break
            except OSError:  # ICMP port unreachable: no responder there
                continue
            if source in peers:
                pulse.heard()


def peer_silence(port, timeout=0.05):
    """How long the peer's responder has not answered this node's pulse
    (seconds), from this node's own responder; None when it does not say
    (no responder, an older one, a pulse that does not run)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.sendto(HEARD, (LOOPBACK, port))
        data, _source = sock.recvfrom(512)
        silent = json.loads(data.decode()).get('silent_s')
        return float(silent) if isinstance(silent, (int, float)) else None
    except (OSError, ValueError, AttributeError):
        return None
    finally:
        sock.close()


def respond(port, peers, answer, handover=None, sock=None, stack=None, pulse=None, clock=time.monotonic):
    """Serve the peers, forever. A status query gets `answer()` (bytes), a
    stack query (STACK, when `stack` is given) `stack()` (bytes). A
    handover request (HANDOVER, when `handover` is given) is acknowledged at
    once; `handover(early)` then runs in its own thread, one at a time (a
    repeated request is only acknowledged), and its (ready, reason) is sent
    as a second answer, while status queries go on being answered. It may
    answer sooner by calling early(ready, reason) (the front door serves,
    the rest of the stack still starting): one answer only. ALIVE gets a
    short answer at once; HEARD, from this node itself, what `pulse` heard."""
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('0.0.0.0', port))
    busy = threading.Lock()

    def serve(to):
        answered = []

        def reply(ready, reason):
            if not answered:
                answered.append(ready)
                sock.sendto(json.dumps({'handover': 'ready' if ready else 'refused', 'reason': reason}).encode(), to)

        try:
            ready, reason = handover(reply)
        finally:
            busy.release()
        reply(ready, reason)

    while True:
        query, source = sock.recvfrom(512)
        if query == HEARD and source[0] == LOOPBACK and pulse is not None:
            sock.sendto(json.dumps({'silent_s': pulse.silent(clock())}).encode(), source)
            continue
        if source[0] not in peers:
            continue
        if query == ALIVE:
            sock.sendto(b'{"alive": true}', source)
        elif query == HANDOVER and handover is not None:
            sock.sendto(json.dumps({'handover': 'accepted'}).encode(), source)
            if busy.acquire(blocking=False):
                threading.Thread(target=serve, args=(source,), daemon=True).start()
        elif query == STACK and stack is not None:
            sock.sendto(stack(), source)
        else:
            sock.sendto(answer(), source)


def request_handover(peers, port, ack_timeout, timeout, sock=None, clock=time.monotonic):
    """Ask the peer's responder to start its stack ahead of this node's stop:
    (ready, reason). The request is sent twice within ack_timeout; a peer that
    acknowledges has `timeout` seconds (from the request) to answer ready or
    refused. No acknowledgement, no answer in time or a refusal: not ready."""
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = clock()
    accepted, resend = None, start
    try:
        while True:
            now = clock()
            end = start + (timeout if accepted else ack_timeout)
            if now >= end:
                return False, ('%s acknowledged but gave no answer within %ss' % (accepted, timeout) if accepted
                               else 'no peer acknowledged within %ss' % ack_timeout)
            if not accepted and now >= resend:
                for peer in peers:
                    try:
                        sock.sendto(HANDOVER, (peer, port))
                    except OSError:  # no route: that peer cannot answer
                        continue
                resend = now + ack_timeout / 2.0
            sock.settimeout(max(0.01, (end if accepted else min(end, resend)) - now))
            try:
                data, (source, _port) = sock.recvfrom(4096)
                reply = json.loads(data.decode()) if source in peers else {}
            except (OSError, ValueError):  # a timeout, ICMP port unreachable (no responder yet), garbage
                continue
            answer = reply.get('handover') if isinstance(reply, dict) else None
            if answer == 'accepted':
                accepted = source
            elif answer in ('ready', 'refused'):
                return answer == 'ready', '%s: %s' % (source, reply.get('reason') or answer)
    finally:
        sock.close()
