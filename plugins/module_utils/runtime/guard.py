# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split-brain guard: never two stacks (docs/architecture.md, "The guard").

Keepalived tracks `stack-hook guard` with weight 0: a failing guard puts the
VRRP instance into FAULT, which releases the VIP, and the FAULT transition
takes the stack down. The guard fails when

* the node is isolated: none of the witnesses (by default the default
  gateway and the peer's address) answers an ICMP echo within the deadline
  AND nothing is heard from the peer (its responder does not answer the
  status query; a node without the VIP hears no VRRP advert either); an
  isolated node must not keep or take the VIP, nor start the stack;
* another host answers ARP for the VIP while this node holds it, no VRRP
  advert from the peer is heard (VRRP cannot resolve it), the peer answers
  on the second path (a UDP status query to its responder, responder.py) that it
  holds the VIP, and this node is outranked (the node listed later in
  failover_nodes yields). The node that ranks first keeps the VIP and
  re-announces it by gratuitous ARP;
* (not a failure) another host answers ARP for the VIP, no advert from the
  peer is heard, and the peer does not claim the VIP (it does not answer,
  or its Keepalived is hung: watchdog.py): this node keeps the VIP and
  re-announces it, whatever its rank;
* it yielded before and no condition to lift the yield holds yet: a VRRP
  advert from the peer is heard again (VRRP decides again), nobody else
  answers ARP for the VIP any more, or the peer no longer answers the status
  query (it is gone, or hung).

The second path is what tells a live peer that lost VRRP from a hung one: a
node whose user space is frozen still answers ARP from its kernel, but neither
sends adverts nor answers the query, so its peer keeps serving.

`decide` is pure; the probes around it only run commands with deadlines, so a
hung network never blocks the guard beyond its Keepalived timeout. `check` is
the track script (`stack-hook guard`): probes, decision, record, log.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time

from .state import log

REPLY = re.compile(r'reply from [0-9.]+ \[([0-9A-Fa-f:]{17})\]')
VRRP_PROTOCOL = 112


def parse_arping(text):
    """The distinct MAC addresses (upper case) that answered, from iputils arping output."""
    macs = []
    for mac in REPLY.findall(text or ''):
        if mac.upper() not in macs:
            macs.append(mac.upper())
    return macs


def isolation(connectivity, witnesses):
    """Why the node counts as cut off, or None. Isolation needs evidence: no
    witness answers AND nothing is heard from the peer (its responder does
    not answer, its VRRP adverts do not arrive). A witness that stops
    answering ICMP (a gateway that rate-limits it) while the peer is heard
    is not isolation: the node keeps serving. connectivity: {'witnesses':
    True when one answered, 'peer': how the peer was heard, or None}."""
    if connectivity['witnesses'] or connectivity['peer']:
        return None
    return ('no witness answers (%s) and nothing is heard from the peer (no answer on the second path, '
            'no VRRP advert)' % ', '.join(witnesses))


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
        if adverts_heard is False and peer_holds is False:
            # No advert, and the other holder does not claim the VIP: a hung
            # node (frozen, or its Keepalived hung: its kernel still answers
            # ARP) or not the peer. Keep serving, and win the clients back.
            return True, False, ('hung holder: %s answers ARP for the VIP but sends no advert and does not '
                                 'claim it; keeping it and re-announcing it' % ', '.join(other_holders)), True
        # Adverts flow: a VRRP hand-over in progress, which VRRP resolves.
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


def check(node, state, config, now=None):
    """The split-brain guard's check: (ok, reason). Records its verdict in the
    state (status.yml shows a yielded node and why) and logs every change of
    verdict with its reason."""
    now = now if now is not None else time.time()
    before = state.read().get('guard') or {}
    yielded = bool(before.get('yielded'))
    connectivity = node.connectivity()
    isolated = isolation(connectivity, config['guard']['witnesses'])
    holds = node.is_master()
    others = heard = peer = None
    if not isolated and (yielded or holds):
        # Ask only what the verdict needs: a second holder first (ARP), then
        # whether VRRP still works (adverts) and the peer is alive and holds it.
        others = node.other_holders()
        if others:
            heard = node.advert_heard()
            if not heard:
                peer = node.peer_holds()
    ok, yielded, reason, announce = decide(isolated, holds, others, yielded, heard, peer,
                                           config['guard']['outranked'])
    if announce and not node.is_master():
        # The VIP left this node while the probes ran (Keepalived stopped, a
        # hand-over): the other holder is the new MASTER, not a second one,
        # and a gratuitous ARP now would pull the clients back to a node
        # that no longer answers for the VIP.
        announce, reason = False, 'ok'
    if announce:
        node.announce()
    kind = reason.split(':')[0]
    if ok != before.get('ok') or kind != before.get('kind') or announce:
        log(config['log_file'], 'guard: %s %s' % ('OK' if ok else 'FAIL', reason))
    witnesses_changed = []

    def record(data):
        # Compared with the record as it is now, under its lock: rounds that
        # overlap (a round can outlast Keepalived's 1 s interval) log a change once.
        witnesses_changed.append(connectivity['witnesses'] != (data.get('guard') or {}).get('witnesses', True))
        return {'guard': {'ok': ok, 'yielded': yielded, 'reason': reason, 'kind': kind, 'at': now,
                          'since': before.get('since', now) if before.get('kind') == kind else now,
                          'witnesses': connectivity['witnesses'], 'peer': connectivity['peer']}}

    state.change(record)
    if witnesses_changed[-1]:
        log(config['log_file'], 'guard: the witnesses (%s) %s' % (
            ', '.join(config['guard']['witnesses']), 'answer again' if connectivity['witnesses'] else
            'are silent; the peer %s' % (connectivity['peer'] or 'is not heard either')))
    return ok, reason
