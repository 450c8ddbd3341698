# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The handover policy: a MASTER whose Keepalived is stopped on purpose (a
graceful stop, a planned switchover, a reboot) hands the stack to its peer
with one writer at a time: it stops its own stack first, then has the peer
start its (a warm standby's start), then Keepalived stops and the VIP moves
in one advert. Clients wait for the stop and the start, never for two stacks.
The order `overlap` (opt-in, for stacks safe to run twice) has the peer start
first, so clients wait only for the VIP, with both stacks running meanwhile.

    handover        Keepalived's ExecStop on the giver: stop here (stop_first),
                    ask the peer, wait (handover.timeout at most); Keepalived
                    stops next whatever the answer
    grant_handover  the taker's responder: prestart when this node is the
                    BACKUP that takes over
"""

from __future__ import annotations

import time

from . import responder as _responder
from . import vrrp as _vrrp
from .config import HookError
from .lifecycle import apply_role, prestart
from .state import StackLock, log


def vrrp_state(config):
    """The VRRP state Keepalived last reported on this node, or None."""
    return _vrrp.read_state(config['vrrp_state_file'])


def handover_skipped(config):
    """Why this node neither asks for nor grants a handover, or None."""
    if not config['handover']['enabled']:
        return 'handover is off'
    if not config['guard']['enabled']:
        return 'the guard, and so its responder, is off'
    if config['lease']['enabled']:
        return 'the storage lease allows one stack at a time'
    return None


def handover(node, state, config, request=_responder.request_handover):
    """Keepalived is being stopped on purpose (its unit's ExecStop runs this
    before the stop): a MASTER asks the peer to start its stack first, so that
    clients wait only for the VIP to move, not for a start. Bounded by
    handover.timeout; whatever the answer, Keepalived stops next."""
    skipped = handover_skipped(config)
    if skipped:
        log(config['log_file'], 'handover: keepalived stopping; no handover: %s' % skipped)
        return False
    if not node.is_master():
        return False  # a BACKUP being stopped has nothing to hand over
    guard = config['guard']
    started = time.monotonic()
    if config['handover']['order'] == 'stop_first':
        stop_first(node, state, config)
    ready, reason = request(guard['peers'], guard['port'], guard['query_timeout'], config['handover']['timeout'])
    log(config['log_file'], 'handover: keepalived stopping on the MASTER; after %.1f s the peer %s (%s)' % (
        time.monotonic() - started,
        'runs the stack' if ready else 'has not started its stack (it starts it once promoted)', reason))
    return ready


def stop_first(node, state, config):
    """The giver's stack down before the peer starts its own (one writer).
    The health check leaves a MASTER handing over alone (no restart in
    place) until Keepalived has stopped."""
    state.update(handover_at=time.time())
    log(config['log_file'], 'handover: stopping the stack here first (one writer), then the peer starts its')
    try:
        # Within the handover's own bound: Keepalived's stop must not hang on a busy lock.
        with StackLock(config['state_dir'], min(config['lock_timeout'], config['handover']['timeout'])):
            apply_role(node, state, config, 'backup')
    except (HookError, StackLock.Busy) as exc:
        # Keepalived stops next all the same: the sync that follows its STOP stops the stack.
        log(config['log_file'], 'ERROR handover: the stack did not stop first: %s' % exc)


def grant_handover(node, state, config, early=None):
    """The peer's Keepalived is stopping (a handover request, in the
    responder): prestart when this node is the BACKUP that takes over.
    (ready, reason); early(True, reason) as soon as the critical containers
    run (the peer may give the VIP up then: the rest follows under the lock
    its promotion's sync waits for)."""
    skipped = handover_skipped(config)
    if skipped:
        return False, skipped
    vrrp = vrrp_state(config)
    if vrrp != 'BACKUP':
        return False, 'not BACKUP (Keepalived reports %s)' % (vrrp or 'nothing')
    try:
        prestart(node, state, config, why="the peer's graceful stop (handover)",
                 serving=(lambda: early(True, 'the critical containers run, the rest is starting')) if early else None)
    except HookError as exc:
        log(config['log_file'], 'ERROR handover: %s' % exc)
        return False, str(exc)
    return True, 'stack running'
