# -*- coding: utf-8 -*-
# Managed by Ansible (netsocs.failover.docker_stack, from node/ in the collection):
# local changes are overwritten.
"""The split-brain guard: never two stacks (docs/architecture.md, "The guard").

Keepalived tracks `stack-hook guard` with weight 0: a failing guard puts the
VRRP instance into FAULT, which releases the VIP, and the FAULT transition
takes the stack down. The guard fails when

* the node is isolated: none of the witnesses (by default the default
  gateway) answers an ICMP echo within the deadline; an isolated node must not
  keep or take the VIP, nor start the stack;
* another host answers ARP for the VIP while this node holds it, no VRRP
  advert from the peer is heard (VRRP cannot resolve it), the peer answers
  on the second path (a UDP status query to its `stack-hook respond`) that it
  holds the VIP, and this node is outranked (the node listed later in
  failover_nodes yields). The node that ranks first keeps the VIP and
  re-announces it by gratuitous ARP;
* it yielded before and no condition to lift the yield holds yet: a VRRP
  advert from the peer is heard again (VRRP decides again), nobody else
  answers ARP for the VIP any more, or the peer no longer answers the status
  query (it is gone, or hung).

The second path is what tells a live peer that lost VRRP from a hung one: a
node whose user space is frozen still answers ARP from its kernel, but neither
sends adverts nor answers the query, so its peer keeps serving.

The responder also serves a handover request (`request_handover`): a MASTER
whose Keepalived is being stopped asks its peer to start the stack first.

`decide` is pure; the probes around it only run commands with deadlines, so a
hung network never blocks the guard beyond its Keepalived timeout.
"""

import fcntl
import json
import os
import re
import socket
import subprocess
import threading
import time

REPLY = re.compile(r'reply from [0-9.]+ \[([0-9A-Fa-f:]{17})\]')
VRRP_PROTOCOL = 112


def parse_arping(text):
    """The distinct MAC addresses (upper case) that answered, from iputils arping output."""
    macs = []
    for mac in REPLY.findall(text or ''):
        if mac.upper() not in macs:
            macs.append(mac.upper())
    return macs


def decide(isolated, holds_vip, other_holders, yielded, adverts_heard, peer_holds, outranked):
    """The guard's verdict: (ok, yielded, reason, announce).

    isolated:      None, or why the node counts as cut off (no witness answers)
    holds_vip:     the VIP is on this node's interface
    other_holders: MACs of other hosts that answer ARP for the VIP (None: not asked)
    yielded:       this node yielded at the last check
    adverts_heard: a VRRP advert from the peer arrived (None: not listened)
    peer_holds:    the peer answered the status query that it holds the VIP
                   (False: it answered that it does not, or did not answer; None: not asked)
    outranked:     the peer ranks above this node (it keeps the VIP in a split brain)
    """
    if isolated:
        return False, yielded, 'isolated: %s' % isolated, False
    if yielded:
        if adverts_heard:
            return True, False, 'yield lifted: VRRP adverts from the peer are heard again', False
        if not other_holders:
            return True, False, 'yield lifted: no other host holds the VIP any more', False
        if not peer_holds:
            return True, False, 'yield lifted: the peer no longer answers that it holds the VIP', False
        return False, True, ('yielded: the peer (%s) holds the VIP and no VRRP advert from it is heard'
                             % ', '.join(other_holders)), False
    if holds_vip and other_holders:
        if not outranked:
            # Keep it, and win the clients back: the other holder's gratuitous
            # ARP may have moved them (a one-way partition, where this node
            # still hears the peer, included).
            return True, False, ('split brain: %s also holds the VIP; keeping it (this node ranks first) '
                                 'and re-announcing it' % ', '.join(other_holders)), True
        if not adverts_heard and peer_holds:
            return False, True, ('split brain: the peer (%s) also holds the VIP and answers, but no VRRP '
                                 'advert from it is heard; yielding to the higher-ranked node'
                                 % ', '.join(other_holders)), False
        # Adverts flow (a VRRP hand-over in progress, which VRRP resolves), or
        # the other holder does not answer the status query (a hung node, or
        # not the peer): keep serving.
    return True, False, 'ok', False


class Probes(object):
    """What the guard asks of the network; every probe has a deadline."""

    def __init__(self, interface, vip, run=subprocess.run, spawn=subprocess.Popen):
        self.interface = interface
        self.vip = vip
        self.run = run
        self.spawn = spawn

    def witness_answers(self, witnesses, deadline):
        """True when any witness answers an ICMP echo within `deadline` seconds.
        Every round asks all witnesses at once (one probe each, waiting at most
        0.5 s), until one answers or the deadline passes."""
        end = time.monotonic() + deadline
        while True:
            started = time.monotonic()
            wait = min(0.5, end - started)
            if wait < 0.05:
                return False
            procs = [self.spawn(['ping', '-n', '-q', '-c', '1', '-W', '%.2f' % wait, w],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for w in witnesses]
            try:
                give_up = started + wait + 0.5
                while procs and time.monotonic() < give_up:
                    for proc in list(procs):
                        if proc.poll() is not None:
                            procs.remove(proc)
                            if proc.returncode == 0:
                                return True
                    time.sleep(0.02)
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            # An unreachable network fails at once: do not spin.
            time.sleep(max(0.0, started + wait - time.monotonic()))

    def other_holders(self, deadline):
        """MACs of other hosts that answer ARP for the VIP (duplicate address
        detection: the probe's sender address is 0.0.0.0, so no cache changes)."""
        # -D quits at the first reply; without one it returns at the deadline.
        # A probe that cannot run answers nothing (and the health log says why).
        try:
            res = self.run(['arping', '-D', '-c', '2', '-w', str(int(deadline)), '-I', self.interface, self.vip],
                           capture_output=True, text=True, timeout=deadline + 5, check=False)
        except (OSError, subprocess.SubprocessError):
            return []
        return parse_arping(res.stdout)

    def announce(self):
        """Gratuitous ARP for the VIP, so clients and switches converge on this node."""
        # One at once (-w 0: no waiting); the guard repeats it every second while
        # the other holder answers.
        try:
            self.run(['arping', '-U', '-c', '1', '-w', '0', '-I', self.interface, self.vip],
                     capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            pass


def advert_heard(peers, window):
    """True when a VRRP packet from one of `peers` arrives within `window`
    seconds. A raw socket sees what passed the node's own firewall, as
    Keepalived does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, VRRP_PROTOCOL)
    try:
        end = time.monotonic() + window
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                _advert, (source, _port) = sock.recvfrom(2048)
            except (socket.timeout, OSError):
                return False
            if source in peers:
                return True
    finally:
        sock.close()


def status_reply(node, holds_vip, vrrp_state):
    """The status query's answer, as bytes."""
    return json.dumps({'node': node, 'holds_vip': bool(holds_vip), 'vrrp': vrrp_state}).encode()


def ask_peer(peers, port, timeout, tries=2):
    """True when a peer answers the status query that it holds the VIP, False
    when it answers that it does not or nobody answers within the timeout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout / tries)
        for _attempt in range(tries):
            for peer in peers:
                try:
                    sock.sendto(b'status?', (peer, port))
                except OSError:  # no route: the peer cannot answer
                    continue
            try:
                while True:
                    data, (source, _port) = sock.recvfrom(4096)
                    if source in peers:
                        try:
                            return bool(json.loads(data.decode()).get('holds_vip'))
                        except ValueError:
                            continue
            except socket.timeout:
                continue
            except OSError:
                # ICMP port unreachable (the responder is restarting, the node
                # rebooting) surfaces here as ECONNREFUSED: no answer.
                continue
        return False
    finally:
        sock.close()


HANDOVER = b'handover?'


def respond(port, peers, answer, handover=None, sock=None):
    """Serve the peers, forever. A status query gets `answer()` (bytes). A
    handover request (HANDOVER, when `handover` is given) is acknowledged at
    once; `handover()` then runs in its own thread, one at a time (a repeated
    request is only acknowledged), and its (ready, reason) is sent as a
    second answer, while status queries go on being answered."""
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('0.0.0.0', port))
    busy = threading.Lock()

    def serve(to):
        try:
            ready, reason = handover()
        finally:
            busy.release()
        sock.sendto(json.dumps({'handover': 'ready' if ready else 'refused', 'reason': reason}).encode(), to)

    while True:
        query, source = sock.recvfrom(512)
        if source[0] not in peers:
            continue
        if query == HANDOVER and handover is not None:
            sock.sendto(json.dumps({'handover': 'accepted'}).encode(), source)
            if busy.acquire(blocking=False):
                threading.Thread(target=serve, args=(source,), daemon=True).start()
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


# ---------------------------------------------------------------- the storage lease
#
# With a dedicated NFS host, the shared storage can itself arbitrate: a node
# runs the stack only while it holds an exclusive lock on a lease file on a
# share. On NFSv4 the lock is the server's: a node cut off from the server
# loses it when its NFS lease expires, and the other node can then take it.
# Every file operation runs in a worker thread with a deadline, so a hung
# hard mount never blocks the holder: a deadline missed counts as lost.


class LeaseError(RuntimeError):
    pass


def within(seconds, func, *args):
    """func(*args) in a worker thread; LeaseError when it has not returned in time."""
    result = {}

    def work():
        try:
            result['value'] = func(*args)
        except BaseException as exc:  # handed back to the caller below
            result['error'] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise LeaseError('no answer within %ss (a hung NFS mount?)' % seconds)
    if 'error' in result:
        raise LeaseError(str(result['error']))
    return result.get('value')


class Lease(object):
    """An exclusive POSIX (NFSv4) lock on `path`, refreshed with a token."""

    def __init__(self, path, node, timeout):
        self.path, self.node, self.timeout = path, node, timeout
        self.handle = None

    def try_acquire(self):
        """True when this process now holds the lock; False when another does."""
        if self.handle is None:
            self.handle = within(self.timeout, open, self.path, 'a+')
        try:
            within(self.timeout, fcntl.lockf, self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except LeaseError as exc:
            if 'Resource temporarily unavailable' in str(exc) or 'Permission denied' in str(exc):
                return False
            raise
        return True

    def holder(self):
        """The token the current holder last wrote ('<node> <time>'), or ''."""
        def read():
            with open(self.path) as handle:
                return handle.read(200).strip()
        try:
            return within(self.timeout, read)
        except LeaseError:
            return ''

    def refresh(self, now):
        """Write this node's token through the locked handle; LeaseError when it fails."""
        def write():
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write('%s %.3f\n' % (self.node, now))
            self.handle.flush()
            os.fsync(self.handle.fileno())
        within(self.timeout, write)

    def release(self):
        if self.handle is not None:
            try:
                within(self.timeout, self.handle.close)
            except LeaseError:
                pass
            self.handle = None
