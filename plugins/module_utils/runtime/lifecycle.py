# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack's lifecycle: bring it to what the node's role asks, and only that.

    trigger STATE   Keepalived's notify_*: record the state, schedule `sync`
                    in its own transient systemd unit (outside Keepalived's
                    cgroup, so stopping Keepalived cannot kill a `docker
                    compose down` half way)
    sync            under the stack lock, act on the node's *current* role,
                    re-read it, repeat until stable
    prestart        start the stack on a BACKUP about to take over (a planned
                    switchover, a handover), kept for prestart_window seconds
    boot            at boot, before Keepalived: take the stack down

The current role is read, not remembered: the node is MASTER exactly when it
holds the VIP. Keepalived runs notify scripts asynchronously and in no
guaranteed order; every `sync` takes the lock, then looks, so the last one
always acts on the final state of a MASTER-BACKUP-MASTER flap. `plan` is the
pure decision; `act` is the one place that changes the stack.
"""

from __future__ import annotations

import subprocess
import threading
import time

from . import cloud as _cloud
from . import compose as _compose
from . import replica as _replica
from . import vrrp as _vrrp
from .config import HookError
from .state import StackLock, log

# Seconds the peer's responder has to say whether its stack runs: two tries of
# 0.1 s on one socket, so a late answer to the first still counts (on a LAN it
# answers within milliseconds; one that does not is treated as a silent peer).
STACK_QUERY_TIMEOUT = 0.2
PEER_DOWN = "the peer's stack is down"


class PeerDown(str):
    """peer_stopped's answer when the peer said no container of its stack
    runs (not when it did not answer): a replicated copy's last pull may
    follow. Read from the type, never from the wording."""


def plan(role, last_role, containers, min_containers, standby='cold'):
    """The compose action for the node's current role.

    MASTER: start when fewer than min_containers run; restart a stack that
    already runs, but only on the transition into MASTER (a sync that finds the
    node still MASTER must not restart a healthy stack). A node with no role
    recorded (the boot unit records one at every boot) is new to the failover
    layer: a stack that already runs there was started before it (an install
    adopted) and is kept, brought to the compose file (Compose recreates only
    the containers whose configuration changed). BACKUP: with a cold
    standby, down while any container of the project exists; with a warm one,
    stop while any container runs (the containers stay, so a promotion is a
    start, not a create; the role creates them at deploy, never a hook, which
    could pull an image).
    """
    if role == 'master':
        if last_role is None and _compose.running_count(containers) >= min_containers:
            return 'applied', 'apply'
        wanted = 'restarted' if last_role != 'master' else 'running'
    else:
        wanted = 'standby' if standby == 'warm' else 'stopped'
    action = _compose.decide(wanted, containers, min_containers)
    return wanted, 'none' if action == 'create' else action


def handing_over(recorded, config, now):
    """A MASTER stopped its stack for a handover (stop_first) this recently:
    Keepalived is about to stop, the stack is meant to be down (a promotion
    ends it: trigger MASTER clears the mark)."""
    at = float(recorded.get('handover_at') or 0)
    return bool(at) and 0 <= now - at < config['handover']['timeout'] + 10


def start_blocked(node, state, config):
    """Why a MASTER must not start its stack now (a handover of its own in
    progress, the split-brain guard, the storage lease), or None."""
    if handing_over(state.read(), config, time.time()):
        return 'it is handing the stack over (stopped first, Keepalived stops next)'
    if config['guard']['enabled']:
        if (state.read().get('guard') or {}).get('yielded'):
            return 'the guard yielded to another holder of the VIP'
        problem = node.isolated()
        if problem:
            return problem
    if config['lease']['enabled']:
        return node.take_lease(state)
    return None


def peer_stopped(node, config, promoting=True, clock=time.monotonic, sleep=time.sleep, state=None):
    """One writer: a node taking the stack over starts it only once its
    peer's has stopped. The peer's responder says which containers of the
    stack run there (read from /proc: a hung Docker daemon cannot hide
    them); this waits until none does, at most handover.confirm_wait
    seconds. It does not wait for a peer that does not answer within
    STACK_QUERY_TIMEOUT (frozen, down, cut off: the guard's business, and a
    frozen node's containers are frozen with it), nor at all when this node's
    responder says the peer's has been that long silent already (its pulse:
    a hard loss costs no wait), nor once this node is no longer MASTER
    (promoting). Returns what the log says, or None when the
    rule is off (handover order `overlap`, no guard and so no responder)."""
    wait = float(config['handover'].get('confirm_wait') or 0)
    if wait <= 0 or not config['guard']['enabled'] or config['handover']['order'] != 'stop_first':
        return None
    start = clock()
    silent = node.peer_silence()
    if silent is not None and silent >= STACK_QUERY_TIMEOUT:
        # The pulse asked already: the peer's responder has been silent for
        # longer than the stack query would wait (a hard loss: the master-down
        # interval has passed too). Its answer is known without waiting.
        return "the peer does not say whether its stack runs (its responder silent for %.1f s)" % silent
    seen = None
    while True:
        stack = node.peer_stack(STACK_QUERY_TIMEOUT)
        waited = clock() - start
        if stack is None:
            return 'the peer does not say whether its stack runs (no answer within %ss, or no stack query)%s' % (
                STACK_QUERY_TIMEOUT, ', after it ran %s for %.1f s' % (', '.join(seen), waited) if seen else '')
        if not stack:
            ran = ' (it ran %s; waited %.1f s)' % (', '.join(seen), waited) if seen else ''
            return PeerDown(PEER_DOWN + ran)
        seen = stack
        if promoting and not node.is_master():
            return "no longer MASTER while the peer's stack ran (%s)" % ', '.join(stack)
        if promoting and state is not None and handing_over(state.read(), config, time.time()):
            # Keepalived is being stopped here: its handover needs the lock this holds.
            return "handing the stack over while the peer's stack ran (%s)" % ', '.join(stack)
        if waited >= wait:
            return "the peer's stack still runs after %.1f s (%s): starting all the same (handover.confirm_wait)" % (
                waited, ', '.join(stack))
        sleep(0.1)


def prestarted(state, config, now=None, recorded=None):
    """Whether a stack started ahead (a switchover, a handover) is still within
    its window (recorded: the state already read, to read it only once). A
    start recorded after `now` is within it: a health round that began just
    before the prestart reads the prestart's time (it must not take that
    stack down as one whose window is over)."""
    now = now if now is not None else time.time()
    recorded = recorded if recorded is not None else state.read()
    at = float(recorded.get('prestarted_at') or 0)
    return bool(at) and abs(now - at) < config['prestart_window']


def act(node, config, wanted, action, before, serving=None):
    """Run the compose action and check that the project reached `wanted`
    (the containers after, or HookError). A start begins with the critical
    containers a warm standby kept (`docker start`): the one that publishes
    the front door's port first, so clients are served sooner, then the
    others (compose.start_batches); serving() is called once they all run.
    `docker compose up` then starts the rest, in order."""
    started_first = []  # their neighbour entries are set already
    batches = _compose.start_batches(config['critical_containers'], before, config['port']) if (
        action == 'up' and config['critical_first']) else []
    if batches:
        import concurrent.futures  # pylint: disable=import-outside-toplevel  # the hooks run every second never need it
    for number, batch in enumerate(batches):
        # One `docker start` each, side by side (one command starts them in turn).
        with concurrent.futures.ThreadPoolExecutor(len(batch)) as pool:
            answers = list(pool.map(node.start, batch))
        failed = ['%s (%s)' % (name, why) for name, why in zip(batch, answers) if why is not None]
        started = [name for name, why in zip(batch, answers) if why is None]
        started_first += started
        announced = node.announce_neighbours(started)
        when = 'next' if number else 'first (port %d)' % config['port'] if len(batches) > 1 else 'first'
        log(config['log_file'], 'critical container(s) %s started %s%s%s' % (
            ', '.join(batch), when, ' (neighbours set: %s)' % ', '.join(announced) if announced else '',
            '; failed, docker compose up follows: ' + ', '.join(failed) if failed else ''))
    # Every critical container runs (none failed, none ran before: those are not restarted here).
    if serving and batches and len(started_first) == len(config['critical_containers']):
        serving()
    if action != 'none':
        node.compose(_compose.compose_args(action, config['command_timeout']))
    after = node.containers()
    if action in ('up', 'restart'):
        node.announce_neighbours([c['name'] for c in after if c['state'] == 'running'
                                  and c['name'] not in started_first])
    if not _compose.reached(wanted, after, config['min_containers']):
        raise HookError('stack is not %s after docker compose %s: %s' % (
            wanted, action, ', '.join('%s=%s' % (c['name'], c['state']) for c in after) or 'no containers'))
    return after


class Background(object):
    """call() in a thread of its own; result() waits for it and returns what
    it returned, or raises what it raised."""

    def __init__(self, call):
        self._outcome = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call):
        try:
            self._outcome = (True, call())
        except Exception as exc:  # pylint: disable=broad-exception-caught  # raised again in result()
            self._outcome = (False, exc)

    def result(self):
        self._thread.join()
        done, value = self._outcome
        if not done:
            raise value
        return value


def docker_hung(node, state, config, now=None):
    """Why the Docker daemon cannot stop the stack, or None: the health check
    found it not answering lately (within two of its rounds: 2 x
    docker_timeout + 2 s), or it does not answer within docker_stop_timeout now."""
    now = now if now is not None else time.time()
    at = float(state.read().get('docker_unanswered_at') or 0)
    if at and 0 <= now - at < config['docker_timeout'] * 2 + 2:
        return 'the Docker daemon did not answer the health check %.1f s ago' % (now - at)
    if not node.docker_ok(config['docker_stop_timeout']):
        return 'the Docker daemon does not answer within %ss' % config['docker_stop_timeout']
    return None


def apply_role(node, state, config, role):
    last = state.read().get('role')
    hung = docker_hung(node, state, config) if role != 'master' else None
    if hung:
        # A stop that cannot happen through Docker is still a stop: the
        # daemon is hung or gone, so its containers are killed without it
        # (at once: the peer's promotion waits for this stop).
        killed = node.kill_without_docker()
        log(config['log_file'], 'sync: node is %s, %s: %s' % (
            role.upper(), hung,
            'killed without it: %s' % ', '.join(killed) if killed else 'no container of the stack runs'))
        state.update(role=role)
        if config['lease']['enabled']:
            node.drop_lease()
        return
    adopting = role == 'master' and last is None and _compose.running_count(node.containers()) >= config['min_containers']
    if role == 'master' and last != 'master' and not prestarted(state, config) and not adopting:
        # One writer: the peer's stack down first (it is stopping it: its
        # demotion). Not for a stack adopted here: it runs already, and the
        # peer's own (also started by hand) stops at the end of its adopt_wait.
        # This node's containers are read meanwhile (nothing starts them while
        # this holds the stack lock): on a hard loss the peer's silence costs
        # nothing when the pulse knows it, else STACK_QUERY_TIMEOUT, and the
        # read does not add to it.
        reading = Background(node.containers)
        waited = peer_stopped(node, config, state=state)
        if waited:
            log(config['log_file'], 'sync: promoted: %s' % waited)
            if not node.is_master():
                role = 'backup'
        catch_up = config['replica']['enabled']
        before = reading.result()
    else:
        waited, catch_up = None, False
        before = node.containers()
    blocked = start_blocked(node, state, config) if role == 'master' else None
    if blocked:
        # Never start a stack that may be a second one: keep it down, and let
        # the guard take the VIP away (FAULT).
        log(config['log_file'], 'sync: node is MASTER but %s: the stack stays down' % blocked)
        role = 'blocked'
    elif role == 'master' and catch_up:
        # Replicated shares: the peer's last changes (its stack is down), then
        # a new stamp, only for a stack that starts.
        log(config['log_file'], 'sync: promoted: replica: %s' % _replica.catch_up(
            state, config, peer_answered=isinstance(waited, PeerDown)))
    ahead = role in ('master', 'backup') and prestarted(state, config)
    # A stack started ahead (a switchover, a handover): the promotion keeps it
    # running (no restart), and a BACKUP leaves it up until its window ends.
    wanted, action = plan(role, 'master' if ahead else last, before, config['min_containers'], config['standby'])
    if ahead and role == 'backup':
        wanted, action = 'running', 'none'
    log(config['log_file'], 'sync: node is %s (was %s), %d container(s) running: %s%s'
        % (role.upper(), (last or 'unknown').upper(), _compose.running_count(before),
           'nothing to do' if action == 'none' else 'docker compose ' + action,
           ' (started ahead: a switchover or a handover)' if ahead else ''))
    moving = None
    if role == 'master' and last != 'master':
        state.update(promoted_at=time.time(), prestarted_at=0, handover_at=0)
        if config['cloud']['provider'] == 'aws':
            # The Elastic IP moves here while the stack starts (the API's time overlaps the start's).
            # Imported here (as in act): the hooks Keepalived runs every second never need threads.
            import concurrent.futures  # pylint: disable=import-outside-toplevel
            moving = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            moving.submit(_cloud.follow, state, config, lambda line: log(config['log_file'], line))
    try:
        after = act(node, config, wanted, action, before)
    finally:
        if moving is not None:
            # Not waited for here: the stack lock is not held for the API's
            # time (a demotion right after must stop the stack at once); the
            # process ends once cloud.follow does, within its deadline.
            moving.shutdown(wait=False)
    if wanted in ('stopped', 'standby') and config['lease']['enabled']:
        # The stack is down: the other node may take the storage now.
        node.drop_lease()
    state.update(role=role)
    log(config['log_file'], 'sync: stack %s, %d container(s) running' % (
        {'stopped': 'stopped, no container left',
         'standby': 'stopped, %d container(s) kept for a warm start' % len(after)}.get(wanted, 'running'),
        _compose.running_count(after)))


def prestart(node, state, config, why='a planned switchover', serving=None):
    """Start the stack on a BACKUP about to take over (`why`). Refused where
    the guard or the lease would refuse a promotion. The promotion that
    follows keeps the stack (no restart); if none follows within
    prestart_window, the health check has a sync take it down. serving():
    called once the critical containers run (act)."""
    with StackLock(config['state_dir'], config['lock_timeout']):
        if node.is_master():
            log(config['log_file'], 'prestart: this node holds the VIP already: nothing to do')
            return
        blocked = start_blocked(node, state, config)
        if blocked:
            raise HookError('prestart refused: %s' % blocked)
        waited = peer_stopped(node, config, promoting=False)
        if waited:
            log(config['log_file'], 'prestart: %s' % waited)
        if config['replica']['enabled']:
            log(config['log_file'], 'prestart: replica: %s' % _replica.catch_up(
                state, config, peer_answered=isinstance(waited, PeerDown)))
        state.update(prestarted_at=time.time())
        before = node.containers()
        action = _compose.decide('running', before, config['min_containers'])
        log(config['log_file'], 'prestart: starting the stack ahead of %s (%s), for %ss'
            % (why, 'docker compose ' + action if action != 'none' else 'already running', config['prestart_window']))
        after = act(node, config, 'running', action, before, serving)
        log(config['log_file'], 'prestart: stack running, %d container(s)' % _compose.running_count(after))


# Seconds a node new to the failover layer, running a stack it was given by
# hand, waits in its first BACKUP state for Keepalived's first election: its
# start is always BACKUP for the master-down interval (3 adverts and a skew,
# plus the startup delay: under 5 s even with the reference's 1 s adverts).
ADOPT_WAIT = 10.0


def adopt_wait(node, state, config, clock=time.monotonic, sleep=time.sleep):
    """An install adopted: a node with no role recorded yet (the boot unit
    records one at every boot, so this is the first start of Keepalived on a
    node that ran the stack before the failover layer) and a stack running.
    Keepalived starts every node as BACKUP; stopping the stack then would cut
    the very node about to become MASTER. So wait, at most ADOPT_WAIT
    seconds, for this node to become MASTER (it keeps the stack: plan) or for
    the wait to end (it stays BACKUP: the peer serves, the stack stops).
    Returns what the log says, or None when there is nothing to adopt."""
    if state.read().get('role') is not None or node.is_master():
        return None
    running = _compose.running_count(node.containers())
    if running < config['min_containers']:
        return None
    log(config['log_file'], 'sync: %d container(s) run and this node has no role yet (an install adopted): '
        "waiting up to %.0f s for Keepalived's first election before acting" % (running, ADOPT_WAIT))
    start = clock()
    while clock() - start < ADOPT_WAIT:
        if node.is_master():
            return 'adopted: MASTER after %.1f s, the stack is kept' % (clock() - start)
        sleep(0.2)
    return 'still BACKUP after %.0f s: the peer serves, the stack stops' % ADOPT_WAIT


def sync(node, state, config, max_rounds=5, clock=time.monotonic, sleep=time.sleep):
    """Act on the current role until the role no longer changes under us."""
    with StackLock(config['state_dir'], config['lock_timeout']):
        waited = adopt_wait(node, state, config, clock, sleep)
        if waited:
            log(config['log_file'], 'sync: ' + waited)
        for _round in range(max_rounds):
            role = 'master' if node.is_master() else 'backup'
            apply_role(node, state, config, role)
            if ('master' if node.is_master() else 'backup') == role:
                return role
        raise HookError('VRRP role kept changing during %d rounds' % max_rounds)


def boot(node, state, config):
    """At boot, before Keepalived starts: take the stack down (a node that
    went down as MASTER must not come back with a second stack)."""
    log(config['log_file'], 'boot: taking the stack down before keepalived starts')
    state.update(prestarted_at=0)
    apply_role(node, state, config, 'backup')


# Where Keepalived (its parent process) writes its pid (Debian's and Ubuntu's default).
KEEPALIVED_PID_FILE = '/run/keepalived.pid'


def handover_of_an_earlier_keepalived(recorded, keepalived_started):
    """Whether the handover mark in `recorded` was set while an earlier
    Keepalived stopped (stale: this promotion ends it), not while the one
    that runs now is being stopped. The mark is written by Keepalived's own
    stop (ExecStop), so a mark newer than the running Keepalived means this
    one is stopping: a MASTER transition a moment before its stop (a quick
    stop after a preempt) must leave it, or its sync starts the stack the
    handover just stopped while the peer starts its own. Unknown start:
    stale, as before."""
    at = float(recorded.get('handover_at') or 0)
    return not at or keepalived_started is None or at < keepalived_started


def trigger(config, state, vrrp_state, run=subprocess.run, keepalived_started=None):
    log(config['log_file'], 'keepalived reports %s: scheduling a stack sync' % vrrp_state)
    now = time.time()
    values = {'vrrp_state': vrrp_state, 'vrrp_state_at': now}
    if vrrp_state == 'MASTER':
        # The health check's grace period counts from the transition itself,
        # not from when a queued sync gets the lock; a handover this node
        # began under an earlier Keepalived (its stack stopped first) is over.
        values['promoted_at'] = now
        started = keepalived_started if keepalived_started is not None else _vrrp.started_at(KEEPALIVED_PID_FILE)
        recorded = state.read()
        if handover_of_an_earlier_keepalived(recorded, started):
            values['handover_at'] = 0
        else:
            log(config['log_file'], 'keepalived reports MASTER while it is being stopped (a handover began %.1f s '
                'ago): the stack stays down' % (now - float(recorded.get('handover_at') or 0)))
    state.update(**values)
    schedule_sync(config, 'after VRRP %s' % vrrp_state, run)


def schedule_sync(config, why, run=subprocess.run):
    """Run `sync` in its own transient systemd unit (outside keepalived's cgroup)."""
    unit = 'netsocs-stack-sync-%d' % time.time_ns()
    res = run(['systemd-run', '--no-block', '--collect', '--quiet', '--unit', unit,
               '--description', 'Netsocs stack sync %s' % why,
               config['hook_path'], 'sync'], capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        system = run(['systemctl', 'is-system-running'], capture_output=True, text=True, timeout=10, check=False)
        if system.stdout.strip() == 'stopping':
            # Shutting down: Docker stops the containers, and at the next boot
            # netsocs-stack-boot takes the stack down before Keepalived starts.
            log(config['log_file'], 'system is shutting down: no sync, the boot unit takes the stack down')
            return
        raise HookError('systemd-run failed: %s' % res.stderr.strip())
