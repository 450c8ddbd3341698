# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keepalived's watchdog, in the guard responder's process: a hung Keepalived
must neither strand the clients nor keep a second stack.

A Keepalived whose VRRP process stops making progress (frozen by SIGSTOP, a
deadlock, a process that no longer gets the CPU) sends no advert, so the peer
takes the VIP over after its master-down interval; but the hung node keeps the
VIP on its interface (its kernel answers ARP for it) and its stack, and when
Keepalived resumes it still believes it is MASTER. So:

* the responder answers its peer's status query that this node holds the VIP
  only while Keepalived makes progress (`Progress.alive`): after `stall` (three
  advert intervals, when VRRP itself counts the node dead) the peer hears that
  nobody here holds it, keeps the VIP, and re-announces it (guard.decide);
* past `stall + fence_delay` the node fences its own Keepalived (`fence`):
  SIGKILL to the unit (systemd starts a fresh one, with no stale state), the
  VIP taken off the interface, the stack brought to the BACKUP's state, and
  the failback hold-off recorded, so the node does not take the VIP straight
  back; `clear-holdoff` (the operator) or the hold-off's end lets it.

Progress is the VRRP process's context switch count (/proc/PID/status): a
live one wakes at every advert interval at least. `Progress` is pure; the
sampler (`watch`) only reads /proc and runs `fence`.
"""

from __future__ import annotations

import json
import time

from .config import HookError
from .lifecycle import sync
from .state import log

# A stall is this many advert intervals without progress (VRRP's own
# master-down interval: the peer takes over after three missed adverts).
STALL_ADVERTS = 3
# Seconds between two samples.
PERIOD = 0.1
# Seconds after a fence before the next can happen (systemd restarts the unit meanwhile).
REFENCE_AFTER = 30.0


def parse_status(text):
    """(state letter, context switches) from /proc/PID/status text."""
    fields = {}
    for line in text.splitlines():
        key, _sep, value = line.partition(':')
        fields[key.strip()] = value.strip()
    switches = 0
    for key in ('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches'):
        try:
            switches += int(fields.get(key) or 0)
        except ValueError:
            pass
    return (fields.get('State') or '?')[:1], switches


class Progress(object):
    """Whether Keepalived's VRRP process makes progress, from samples.

    A sample is None (no Keepalived process) or (pid, state, switches). A new
    pid or a moved count is progress; a stopped process (state T) never is.
    A gap between two samples longer than half the stall (the sampler did
    not run: the whole node was frozen, or starved) is no evidence against
    Keepalived: its clock starts again."""

    def __init__(self, stall):
        self.stall = stall
        self.last = None
        self.since = None
        self.state = None
        self.seen_at = None

    def observe(self, sample, now):
        blind = self.seen_at is not None and now - self.seen_at > self.stall / 2.0
        self.seen_at = now
        if sample is None:
            self.last = self.since = self.state = None
            return
        pid, state, switches = sample
        self.state = state
        if ((pid, switches) != self.last and state != 'T') or self.since is None or blind:
            self.since = now
        self.last = (pid, switches)

    def running(self):
        return self.since is not None

    def stalled_for(self, now):
        """Seconds without progress (0 while it progresses; 0 with no process)."""
        return 0.0 if self.since is None else max(0.0, now - self.since)

    def alive(self, now):
        """A Keepalived runs and made progress within `stall` seconds."""
        return self.since is not None and self.stalled_for(now) < self.stall


def advert_interval(profile_file):
    """The advert interval of the profile the node runs (the keepalived role's
    vrrp.json), or None when it cannot be read."""
    try:
        with open(profile_file) as handle:
            return float(json.load(handle)['advert_int'])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def vrrp_sample(main_pid, proc='/proc'):
    """(pid, state, switches) of Keepalived's VRRP process: the child of the
    unit's main process (with only VRRP instances configured, its only one);
    counts summed over the children. None when there is none."""
    try:
        with open('%s/%d/task/%d/children' % (proc, main_pid, main_pid)) as handle:
            children = [int(pid) for pid in handle.read().split()]
    except (OSError, ValueError):
        return None
    states, total = [], 0
    for pid in children:
        try:
            with open('%s/%d/status' % (proc, pid)) as handle:
                state, switches = parse_status(handle.read())
        except OSError:
            continue
        states.append(state)
        total += switches
    if not states:
        return None
    return tuple(children), ('T' if 'T' in states else states[0]), total


def fence(node, state, config, why):
    """Keepalived is hung: kill it (systemd starts a fresh one), take the VIP
    off the interface, bring the stack to the BACKUP's state, hold failback off."""
    log(config['log_file'], 'watchdog: keepalived %s: fencing it (SIGKILL, the VIP taken off, the stack stopped, '
        'failback held off for %ss)' % (why, config['failback_holdoff_seconds']))
    state.update(master_failed_at=time.time())
    node.kill_keepalived()
    if node.drop_vip():
        log(config['log_file'], 'watchdog: the VIP was still on the interface: removed')
    try:
        sync(node, state, config)
    except HookError as exc:
        log(config['log_file'], 'ERROR watchdog: the stack did not stop: %s' % exc)


def watch(node, state, config, progress, stop=lambda: False, clock=time.monotonic, sleep=time.sleep,
          fenced=lambda: None):
    """Sample Keepalived's progress until stop(); fence it when it stalls
    past stall + fence_delay, then call fenced() (the metrics: a hung
    Keepalived runs no health round that would rewrite them). progress: the
    Progress the responder reads."""
    settings = config['keepalived']
    main_pid, looked_up, fenced_at = None, None, None
    while not stop():
        now = clock()
        if main_pid is None and (looked_up is None or now - looked_up >= 1.0):
            main_pid, looked_up = node.keepalived_pid(), now
        sample = vrrp_sample(main_pid) if main_pid else None
        if sample is None:
            main_pid = None  # gone or restarting: look it up again
        progress.observe(sample, now)
        stalled = progress.stalled_for(now)
        if (progress.running() and stalled >= progress.stall + settings['fence_delay']
                and (fenced_at is None or now - fenced_at >= REFENCE_AFTER)):
            fenced_at = now
            fence(node, state, config, '%s for %.1f s' % (
                'stopped (state T)' if progress.state == 'T' else 'made no progress', stalled))
            fenced()
            main_pid = None
        sleep(PERIOD)


def make_progress(config):
    """The Progress for this node's profile, or None (the watchdog off, or no profile to read)."""
    settings = config['keepalived']
    if not settings['watchdog']:
        return None
    interval = advert_interval(settings['profile_file']) if settings['profile_file'] else None
    if interval is None:
        log(config['log_file'], 'watchdog: off, the VRRP profile %s cannot be read' % settings['profile_file'])
        return None
    return Progress(STALL_ADVERTS * interval)
