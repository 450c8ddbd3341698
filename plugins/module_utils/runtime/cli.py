# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`stack-hook ACTION`: the stack hook's entry point (the other two are
`vrrp.notify` for `vrrp-notify` and `storage.run` for `storage-check`, each
imported alone: Keepalived's notify must start fast).

Exit status, for every action: 0 done (or healthy), 1 failed (or unhealthy;
the log says why), 2 not understood (usage).

    stack-hook trigger STATE   Keepalived's notify_* -> lifecycle.trigger
    stack-hook sync            a transient unit the trigger scheduled -> lifecycle.sync
    stack-hook boot            netsocs-stack-boot.service -> lifecycle.boot
    stack-hook prestart        switchover.yml on the taker -> lifecycle.prestart
    stack-hook health          Keepalived's track_script -> health.health
    stack-hook clear-holdoff   the operator -> health.clear_holdoff
    stack-hook guard           Keepalived's track_script (weight 0) -> guard.check
    stack-hook respond         netsocs-guard-responder.service -> responder.respond, watchdog.watch
    stack-hook handover        Keepalived's ExecStop -> handover.handover
    stack-hook lease           netsocs-stack-lease.service -> lease.hold
    stack-hook replica         netsocs-replica.service -> replica.follow
    stack-hook balancer        netsocs-balancer.service -> balancer.serve_forever
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

from . import guard, handover, health, lease, lifecycle, metrics, replica, responder, watchdog
from .adapter import Node
from .config import HookError, load_config
from .state import StackLock, State, log

ACTIONS = ('trigger', 'sync', 'health', 'guard', 'respond', 'lease', 'replica', 'boot', 'clear-holdoff', 'prestart',
           'handover')


def guard_check(node, state, config):
    try:
        return 0 if guard.check(node, state, config)[0] else 1
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # A probe that broke is no evidence of isolation or of a split
        # brain: keep the last verdict (a traceback would read as a
        # failed check, FAULT, and drop the VIP), and say so.
        kept = (state.read().get('guard') or {}).get('ok', True)
        log(config['log_file'], 'guard: %s verdict kept, a probe failed: %s: %s'
            % ('OK' if kept else 'FAIL', type(exc).__name__, exc))
        return 0 if kept else 1


def respond(node, state, config):
    """The guard's second path: tell the peer whether this node holds the
    VIP (only while Keepalived makes progress: watchdog.py, which runs
    alongside and fences a hung one) and whether its stack runs (a taker
    waits for the giver's stop), and take its stack over ahead when it
    hands over; and keep asking the peer's responder whether it is there
    (responder.Pulse)."""
    progress = watchdog.make_progress(config)
    if progress is not None:
        threading.Thread(target=watchdog.watch, args=(node, state, config, progress), daemon=True,
                         kwargs={'fenced': lambda: publish_metrics(node, state, config)}).start()

    def answer():
        alive = progress is None or progress.alive(time.monotonic())
        return responder.status_reply(socket.gethostname(), alive and node.is_master(), handover.vrrp_state(config),
                                      vrrp_alive=alive)

    def stack():
        return responder.stack_reply(socket.gethostname(), {name for name, _pid in node.stack_processes()})

    # The pulse: the peer's responder asked every 0.1 s, so a promotion knows at once how long it has been silent.
    pulse = responder.Pulse()
    threading.Thread(target=responder.pulse_loop, args=(config['guard']['peers'], config['guard']['port'], pulse),
                     daemon=True).start()
    responder.respond(config['guard']['port'], config['guard']['peers'], answer,
                      handover=lambda early: handover.grant_handover(node, state, config, early), stack=stack,
                      pulse=pulse)
    return 0


def hold_lease(node, state, config):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    return lease.hold(node, state, config, stop=lambda: bool(stopping))


def follow_replica(node, state, config):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    return replica.follow(node, state, config, stop=lambda: bool(stopping))


def check_health(node, state, config):
    """One health round. Keepalived starts the next round while a slow one
    still runs (a Docker daemon coming back, a restart in place): that one
    is not judged again, the running round's last result stands (two rounds
    at once would each count the other's restart in place against the
    budget, and fail the node for it)."""
    try:
        with StackLock(config['state_dir'], 0, name='health.lock'):
            ok, reason = health.health(node, state, config)
            health.report_health(state, config, ok, reason)
            publish_metrics(node, state, config)
    except StackLock.Busy:
        ok = (state.read().get('last_health') or {}).get('ok', True)
    return 0 if ok else 1


def publish_metrics(node, state, config):
    """The node's metrics after the round (metrics.py). A write that fails
    never changes the health result: it is logged, once per new error."""
    try:
        metrics.publish(node, state, config, time.time())
        error = ''
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = '%s: %s' % (type(exc).__name__, exc)
    if error != (state.read().get('metrics_error') or ''):
        state.update(metrics_error=error)
        said = 'cannot write %s: %s' % (config['metrics_file'], error) if error else 'written again'
        log(config['health_log_file'], 'metrics: %s' % said)


def sync(node, state, config):
    """A transition's stack sync, then the metrics at once (the VIP and the
    stack changed hands: a scrape need not wait for the next health round)."""
    result = lifecycle.sync(node, state, config)
    publish_metrics(node, state, config)
    return result


def serve_balancer(node, state, config):
    """The load balancer's endpoint. Imported here: http.server is the
    costliest import of all, and the hooks Keepalived runs every second (and
    at each transition) never need it."""
    from . import balancer  # pylint: disable=import-outside-toplevel
    return balancer.serve_forever(node, state, config)


DISPATCH = {
    'trigger': lambda node, state, config, argv: lifecycle.trigger(
        config, state, argv[0].upper() if argv else 'UNKNOWN'),
    'sync': lambda node, state, config, argv: sync(node, state, config),
    'health': lambda node, state, config, argv: check_health(node, state, config),
    'guard': lambda node, state, config, argv: guard_check(node, state, config),
    'respond': lambda node, state, config, argv: respond(node, state, config),
    'lease': lambda node, state, config, argv: hold_lease(node, state, config),
    'replica': lambda node, state, config, argv: follow_replica(node, state, config),
    'balancer': lambda node, state, config, argv: serve_balancer(node, state, config),
    'boot': lambda node, state, config, argv: lifecycle.boot(node, state, config),
    'clear-holdoff': lambda node, state, config, argv: health.clear_holdoff(state, config),
    'prestart': lambda node, state, config, argv: lifecycle.prestart(node, state, config),
    'handover': lambda node, state, config, argv: handover.handover(node, state, config),
}


def stack_hook(argv):
    if not argv or argv[0] not in DISPATCH:
        sys.stderr.write('usage: stack-hook %s\n' % ' | '.join(a + (' STATE' if a == 'trigger' else '')
                                                               for a in ACTIONS))
        return 2
    try:
        config = load_config()
    except (OSError, ValueError, HookError) as exc:
        sys.stderr.write('stack-hook: cannot read its configuration: %s\n' % exc)
        return 1
    os.makedirs(config['state_dir'], exist_ok=True)
    node, state = Node(config), State(config['state_dir'])
    try:
        result = DISPATCH[argv[0]](node, state, config, argv[1:])
    except HookError as exc:
        log(config['log_file'] if argv[0] != 'health' else config['health_log_file'], 'ERROR %s: %s' % (argv[0], exc))
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
