# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The handover policy: a MASTER whose Keepalived is stopped on purpose has
its peer start the stack first, so clients wait only for the VIP to move.

    handover        Keepalived's ExecStop on the giver: ask the peer, wait
                    (handover.timeout at most); Keepalived stops next whatever
                    the answer
    grant_handover  the taker's responder: prestart when this node is the
                    BACKUP that takes over
"""

from __future__ import annotations

import time

from . import responder as _responder
from . import vrrp as _vrrp
from .config import HookError
from .lifecycle import prestart
from .state import log


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


def handover(node, config, request=_responder.request_handover):
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
    ready, reason = request(guard['peers'], guard['port'], guard['query_timeout'], config['handover']['timeout'])
    log(config['log_file'], 'handover: keepalived stopping on the MASTER; after %.1f s the peer %s (%s)' % (
        time.monotonic() - started,
        'runs the stack' if ready else 'has not started its stack (it starts it once promoted)', reason))
    return ready


def grant_handover(node, state, config):
    """The peer's Keepalived is stopping (a handover request, in the
    responder): prestart when this node is the BACKUP that takes over.
    (ready, reason)."""
    skipped = handover_skipped(config)
    if skipped:
        return False, skipped
    vrrp = vrrp_state(config)
    if vrrp != 'BACKUP':
        return False, 'not BACKUP (Keepalived reports %s)' % (vrrp or 'nothing')
    try:
        prestart(node, state, config, why="the peer's graceful stop (handover)")
    except HookError as exc:
        log(config['log_file'], 'ERROR handover: %s' % exc)
        return False, str(exc)
    return True, 'stack running'
