# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health check Keepalived tracks (`stack-hook health`), state-aware.

MASTER: Docker, the shared storage, the critical containers, the port; a
critical container that died is started again in place within a budget
(Pacemaker's migration-threshold) before the check fails and the VIP moves.
Every other service of the stack is expected to run too: one that does not
is brought back in place (`docker compose up` for it alone, within a budget)
and the node reports itself degraded, which keeps the VIP.
BACKUP: Docker and the storage, and a failback hold-off after its own stack
failed as MASTER. Exit status 0 healthy, 1 not (Keepalived lowers the
priority by the script's weight).
"""

from __future__ import annotations

import time

from . import cloud
from . import compose as _compose
from . import replica
from .config import HookError, TimedOut
from .lifecycle import handing_over, prestarted, schedule_sync
from .state import StackLock, log

# Seconds between two looks at the whole stack while every service ran at the
# last one (at once after a critical restart in place, every round while one is down).
SERVICES_EVERY = 5


class Serving(str):
    """A healthy result's reason that says the MASTER's stack serves (its
    critical containers run, the port answers): report_health records
    `serving` from its type, and the load balancer's endpoint (balancer.py)
    answers 200 on it alone, never in the grace period or a handover."""


class Degraded(Serving):
    """A serving result's reason that says the MASTER serves degraded (a
    service of the stack down): report_health records the status
    `degraded` from its type, never from its wording."""


def status_of(ok, reason):
    """The recorded status of a health result: healthy, degraded or failed."""
    if not ok:
        return 'failed'
    return 'degraded' if isinstance(reason, Degraded) else 'healthy'


def promotion_started(state, now):
    """When this node's current MASTER term began, for the grace period.

    Called only once the node is known to hold the VIP. Keepalived adds the VIP
    before it runs the MASTER notify, so a check can see the VIP before
    `trigger MASTER` recorded the promotion: then the last recorded VRRP state
    is not MASTER (or the promotion time predates it), the promotion is in
    progress, and it is recorded as starting now."""
    def record(data):
        promoted = float(data.get('promoted_at') or 0)
        if data.get('vrrp_state') != 'MASTER' and promoted <= float(data.get('vrrp_state_at') or 0):
            return {'promoted_at': now}
        return {}
    return float(state.change(record)['promoted_at'])


def health(node, state, config, now=None):
    """(ok, reason). MASTER: Docker, critical containers, the port; a failure
    within the grace period from promotion still counts as healthy. BACKUP:
    Docker only, so a standby whose stack is correctly stopped stays
    eligible; but after its own stack failed as
    MASTER it reports unhealthy for the failback hold-off, so the VIP does not
    bounce straight back to a broken node. The role is read first, the state
    after it.

    A hung Docker daemon fails the round whichever Docker call it blocks:
    each has docker_timeout, so two rounds (Keepalived's fall 2) take about
    2 x docker_timeout, never a longer command's timeout."""
    now = now if now is not None else time.time()
    if not node.docker_ok():
        # A demotion now kills the containers at once (lifecycle.docker_hung).
        state.update(docker_unanswered_at=now)
        return False, 'docker daemon not answering'
    if state.read().get('docker_unanswered_at'):
        state.update(docker_unanswered_at=0)
    try:
        return judged(node, state, config, now)
    except TimedOut as exc:
        if exc.command != 'docker':
            raise
        state.update(docker_unanswered_at=now)
        return False, 'docker daemon not answering (%s)' % exc


def judged(node, state, config, now):
    """health() once the Docker daemon answered: the storage, then the role's checks."""
    # Either role: a node without its shared storage must not take the VIP
    # from a healthy peer, and a MASTER that loses it hands the VIP over.
    if config['replica']['enabled']:
        problem = replica.problem(state.read().get('replica'), 'master' if node.is_master() else 'backup',
                                  replica.read_stamp(config['replica']['root']), now, config['replica']['max_lag'])
    else:
        problem = node.storage_problem()
    if problem:
        return False, 'shared storage broken (%s)' % problem
    if node.is_master():
        if handing_over(state.read(), config, now):
            # Its stack stopped first for a handover (stop_first): Keepalived
            # stops next; a restart in place would make a second writer.
            return True, 'MASTER handing over: the stack stopped first, Keepalived stops next'
        promoted = promotion_started(state, now)
        since = now - promoted
        # The grace period excuses a stack still starting: it ends early once
        # the stack has been seen healthy in this MASTER term.
        in_grace = since < config['grace_seconds'] and state.read().get('healthy_term') != promoted
        # A Docker daemon that (re)started lately (killed, systemd started it
        # again) stops the containers it finds still running, one after the
        # other, some after its API answers: within the grace period from its
        # start, each critical container found dead is started again in place
        # without counting against the budget (one crash, not one failure per
        # container), and a failure counts as healthy.
        restarted = node.docker_started_at()
        settling = restarted is not None and 0 <= now - restarted < config['grace_seconds']
        failure = None
        missing = [name for name in config['critical_containers'] if not node.running(name)]
        if missing and not in_grace:
            # Pacemaker's migration-threshold: start it again here first.
            refused = restart_in_place(node, state, config, missing, now,
                                       uncounted='the Docker daemon started %.0fs ago' % (now - restarted)
                                       if settling else None)
            if refused is None:
                missing = [name for name in missing if not node.running(name)]
                if not missing:
                    return whole_stack(node, state, config, now, ['restarted in place'])
                refused = 'the start in place did not bring it back'
            failure = 'MASTER: critical container(s) not running: %s (%s)' % (', '.join(missing), refused)
        elif missing:
            failure = 'MASTER: critical container(s) not running: %s' % ', '.join(missing)
        elif config['port'] and not node.port_open(config['port']):
            failure = 'MASTER: nothing answers on port %s' % config['port']
        if cloud.due(state.read(), config, now):
            # The Elastic IP did not follow this MASTER, or may have gone to the
            # peer in a partition: check, and take it (never a failover).
            cloud.follow(state, config, lambda line: log(config['log_file'], line), now, deadline=cloud.RETRY_DEADLINE)
        if failure is None:
            # Healthy as soon as the stack is: the grace period excuses a
            # stack still starting, it does not hide one that is up.
            if state.read().get('healthy_term') != promoted:
                state.update(healthy_term=promoted)
            return whole_stack(node, state, config, now, [])
        if in_grace:
            return True, 'MASTER in grace period (%.0fs of %ss)' % (since, config['grace_seconds'])
        if settling:
            return True, 'MASTER: the Docker daemon restarted lately (%.0fs of %ss; %s)' % (
                now - restarted, config['grace_seconds'], failure.split(': ', 1)[1])
        # Demoted while we looked (the stack is going down because the node is
        # no longer MASTER): judge it as the BACKUP it now is.
        if node.is_master():
            state.update(master_failed_at=now)
            return False, failure
    recorded = state.read()
    if recorded.get('prestarted_at') and not prestarted(state, config, now, recorded):
        # A planned switchover started the stack here and no promotion
        # followed: a sync takes it down (the BACKUP's rule).
        state.update(prestarted_at=0)
        log(config['log_file'], 'health: the stack started ahead of a switchover outlived its %ss on a BACKUP: '
            'scheduling a sync' % config['prestart_window'])
        schedule_sync(config, 'prestart window over')
    elif not recorded.get('prestarted_at') and not node.is_master():
        off_holder(node, state, config, now, recorded)
    failed_ago = now - float(recorded.get('master_failed_at') or 0)
    if failed_ago < config['failback_holdoff_seconds']:
        return False, 'BACKUP holding off failback: the stack failed here %.0fs ago' % failed_ago
    return True, 'BACKUP healthy (docker daemon answers)'


def off_holder(node, state, config, now, recorded):
    """A BACKUP never runs the stack: containers that run here (Docker's
    restart policy once a hung daemon came back to the containers it was
    killed around, or a start by hand) are taken down by a sync, at most one
    scheduled every SERVICES_EVERY seconds."""
    if 0 <= now - float(recorded.get('off_holder_sync_at') or 0) < SERVICES_EVERY:
        return
    try:
        with StackLock(config['state_dir'], 0):
            pass
    except StackLock.Busy:
        return  # a sync is at work (a demotion's stop): it leaves the stack as the role wants
    running = node.running_count()
    if running:
        state.update(off_holder_sync_at=now)
        log(config['log_file'], 'health: %d container(s) of the stack run on this BACKUP (a restart policy, a start '
            'by hand): scheduling a sync' % running)
        schedule_sync(config, 'stack running on a BACKUP')


def whole_stack(node, state, config, now, notes):
    """A MASTER whose critical containers run: (True, 'MASTER healthy') when
    every service the compose file defines runs too (config 'services', the
    operator's optional ones left out), else (True, 'MASTER degraded: ...'):
    the services down are brought back in place within the budget
    (bring_back), and the VIP stays. Degraded is healthy to Keepalived: a
    failover is for the critical containers. notes: what this round did."""
    recorded = state.read()
    if not config['services'] or (not notes and not recorded.get('services_down')
                                  and 0 <= now - float(recorded.get('services_checked_at') or 0) < SERVICES_EVERY):
        # All ran at the last look, a few seconds ago: `docker compose ps` is
        # the costliest call of a round, and the MASTER runs one a second.
        return True, healthy(notes)

    def look(before):
        down = _compose.services_down(config['services'], node.containers(config['docker_timeout']),
                                      config['critical_containers'])
        return dict(down, **_compose.not_yet_back(config['services'], down, before))

    down = look(recorded.get('services_down'))
    why = bring_back(node, state, config, down, now) if down else None
    if down and why is None:
        notes = notes + ['brought back in place: %s' % ', '.join(sorted(down))]
        down = look(down)
        why = 'brought back, not running yet'
    state.update(services_down=down, services_checked_at=now)  # for status.yml: which services, in which state
    if down:
        return True, Degraded('MASTER degraded: %s not running (%s)' % (
            ', '.join('%s %s' % item for item in sorted(down.items())), why))
    return True, healthy(notes)


def healthy(notes):
    """A serving MASTER's verdict, with what this round did."""
    return Serving('MASTER healthy' + (' (%s)' % '; '.join(notes) if notes else ''))


def in_budget(node, state, config, key, budget, now, act, spent, counted=True):
    """act() under the stack lock, counted in the state's `key`, when fewer
    than budget['max'] runs fell in the last budget['window'] seconds:
    ((this run's number, act's result), None), or (None, why not). Not
    counted: act() under the lock, whatever the count."""
    recent = [t for t in state.read().get(key) or [] if now - t < budget['window']]
    if counted and len(recent) >= budget['max']:
        return None, spent % (len(recent), budget['window'])
    try:
        with StackLock(config['state_dir'], 0):
            if not node.is_master():
                return None, 'no longer MASTER'
            if counted:
                state.update(**{key: recent + [now]})
            return (len(recent) + 1, act()), None
    except StackLock.Busy:
        return None, 'a stack sync is running'


def bring_back(node, state, config, down, now):
    """`docker compose up` for the services down that Docker is not already
    restarting, at most reconcile.max times in reconcile.window seconds (the
    back-off: no restart storm). None when it ran, else why not."""
    revive = sorted(name for name, what in down.items() if what in _compose.REVIVABLE)
    if not revive:
        if set(down.values()) == {'starting'}:
            return 'running again, counted back at the next look'
        return "Docker's restart policy has them" if set(down.values()) == {'restarting'} else 'left as they are'
    budget = config['reconcile']

    def up():
        try:
            node.compose(['up', '--detach', '--no-recreate', '--no-deps'] + revive, timeout=budget['timeout'])
        except HookError as exc:
            return str(exc)
        node.announce_neighbours([c['name'] for c in node.containers()
                                  if c['service'] in revive and c['state'] == 'running'])
        return None

    done, why = in_budget(node, state, config, 'reconciles', budget, now, up,
                          'brought back %d time(s) in the last %ss: waiting')
    if why:
        return why
    count, failed = done
    log(config['log_file'], 'health: service(s) %s down on the MASTER: docker compose up for them (%d of %d in %ss)%s'
        % (', '.join('%s (%s)' % (name, down[name]) for name in revive), count, budget['max'],
           budget['window'], ', failed: %s' % failed if failed else ''))
    return 'docker compose up failed: %s' % failed if failed else None


def restart_in_place(node, state, config, names, now, uncounted=None):
    """Start dead critical containers again on the MASTER, within the budget
    (restart_in_place: max starts per window seconds), or outside it when
    `uncounted` says why (the Docker daemon's own restart). Returns None when
    it started them, else why not: the budget is spent, a sync holds the stack
    (a transition is under way), the node is no longer MASTER, or `docker
    start` failed (a container that was removed, not one that died)."""
    budget = config['restart_in_place']

    def start():
        failed = [name for name in names if node.start(name) is not None]
        node.announce_neighbours([name for name in names if name not in failed])
        return failed

    done, why = in_budget(node, state, config, 'restarts_in_place', budget, now, start,
                          'restarted in place %d time(s) in the last %ss: moving', counted=not uncounted)
    if why:
        return why
    count, failed = done
    log(config['log_file'], 'health: critical container(s) %s dead on the MASTER: started again in place '
        '(%s)%s' % (', '.join(names), '%s: not counted' % uncounted if uncounted
                    else '%d of %d in %ss' % (count, budget['max'], budget['window']),
                    ', failed: ' + ', '.join(failed) if failed else ''))
    return 'docker start failed: %s' % ', '.join(failed) if failed else None


def report_health(state, config, ok, reason, now=None):
    """Record the result for status.yml (last_health) and log a health line
    on every change of result and on every failure."""
    now = now if now is not None else time.time()
    kind = reason.split(' (')[0]  # the reason without its changing numbers
    before = state.read().get('last_health') or {}
    if not ok or before.get('kind') != kind:
        log(config['health_log_file'], '%s %s' % ('OK' if ok else 'FAIL', reason))
    state.update(last_health={'ok': ok, 'status': status_of(ok, reason), 'reason': str(reason), 'kind': kind,
                              'serving': bool(ok) and isinstance(reason, Serving),
                              'at': now, 'since': before.get('since', now) if before.get('kind') == kind else now})


def clear_holdoff(state, config):
    """The operator fixed this node's stack: allow failback now, and restarts
    in place and bring-backs again."""
    state.update(master_failed_at=0, restarts_in_place=[], reconciles=[])
    log(config['log_file'], 'clear-holdoff: failback hold-off and the counts of restarts in place and of services '
        'brought back lifted by the operator')
