# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replicated shares (failover_storage: replicated): no node depends on the other's disk.

Each node keeps the shares on its own disk, and its rsync daemon offers them
read-only to the peer (the storage_replica role). Only the MASTER runs the
stack, so only the MASTER writes; the other node follows its copy:

    follow      netsocs-replica.service (`stack-hook replica`): every interval,
                read the peer's stamp; a BACKUP whose stack is down pulls the
                peer's copy when it is not older than its own; a MASTER whose
                stack runs renews its own stamp
    catch_up    a promotion, once the peer's stack is down: one last pull
                (nothing lost in a handover, a preemption, a switchover),
                then a new stamp, before the stack starts
    problem     the health check: a BACKUP out of sync does not take the VIP
                back; a MASTER whose peer holds a newer copy hands it over

The stamp (TERM_FILE, in the copy itself, so a pull brings the MASTER's) says
until when the copy was served, and in which term (the promotions that
started the stack): the copy served last is the newer one, the term breaks a
tie. So a node that returns after a hard loss (rebooted, thawed, its link
back) never serves its older copy for long: as BACKUP it is out of sync until
it has pulled, and as MASTER (a frozen node thaws holding the VIP) it kills its
stack and fails its health check once it reads the peer's newer stamp. And a
node that served for a moment in a partition and yielded does not outrank the
one that served on. A pull into a copy that may have diverged (the node served
since its last pull, or it just started) sets the files it replaces aside
under aside_dir, never deletes them. Every rsync runs under a deadline: a
frozen peer costs the promotion at most term_timeout, never a hang. The nodes'
clocks must agree (NTP): stamps are wall-clock times.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

from .adapter import kill_group, run_bounded
from .config import HookError
from .state import StackLock, log, now_iso

TERM_FILE = '.netsocs-replica-term'
# A serving MASTER renews its stamp every interval: one this old means the
# node was not serving (frozen, cut off). Only such a node yields to a peer's
# newer copy; two that both serve (a split brain) are the guard's business.
STALE = 5.0
LOCK = 'replica.lock'
PID = 'replica.pid'


def read_stamp(path):
    """The stamp of the copy at `path` (a directory or the term file):
    (served until, term), (0.0, 0) for a copy never served."""
    path = os.path.join(path, TERM_FILE) if os.path.isdir(path) else path
    try:
        with open(path) as handle:
            words = handle.read().split()
        return (float(words[3]) if len(words) > 3 else 0.0), int(words[0])
    except (OSError, ValueError, IndexError):
        return 0.0, 0


def write_stamp(root, stamp, node):
    """Record this copy's stamp (fsynced: before the stack starts, a promotion's)."""
    path = os.path.join(root, TERM_FILE)
    served, term = stamp
    with open(path + '.tmp', 'w') as handle:
        handle.write('%d %s %s %.3f\n' % (term, node, now_iso(), served))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path + '.tmp', path)


def describe(stamp):
    return 'term %d, served until %s' % (stamp[1], time.strftime('%H:%M:%S', time.gmtime(stamp[0])) if stamp[0] else 'never')


def source(replica):
    return 'rsync://%s:%d/%s/' % (replica['peer'], int(replica['port']), replica['module'])


def pull_args(replica, set_aside=None):
    """The rsync command line that makes this node's copy the peer's."""
    args = ['rsync', '-a', '--delete', '--timeout=%d' % int(replica['io_timeout']), '--contimeout=1',
            '--exclude=/%s.tmp' % TERM_FILE, '--exclude=.netsocs-storage-check.*']
    if set_aside:
        # A copy that may have diverged: compare contents, not size and time
        # (a line written here and one written there can be the same length,
        # within the same second), and keep what is replaced.
        args += ['--checksum', '--backup', '--backup-dir=%s' % set_aside]
    return args + [source(replica), replica['root'].rstrip('/') + '/']


def term_args(replica, dest):
    # --ignore-times: two terms are the same size, and may be written within
    # the same second: rsync's quick check (size and time) must not skip one.
    return ['rsync', '--ignore-times', '--timeout=1', '--contimeout=1', source(replica) + TERM_FILE, dest]


def decide(role, stack_runs, own, peer):
    """What the follower does this round with the copies' stamps: 'pull', or why not."""
    if role == 'master' or stack_runs:
        return 'serving: this copy is the reference'
    if peer is None:
        return "the peer's copy cannot be read"
    if tuple(peer) < tuple(own):
        return "the peer's copy is older (%s; this one %s): kept, not pulled" % (describe(peer), describe(own))
    return 'pull'


def problem(record, role, own, now, max_lag):
    """The health check's verdict on this node's copy: None (fine) or why not.
    record: the follower's last state (replica in stack-state.json)."""
    record = record or {}
    peer, peer_at = record.get('peer'), float(record.get('peer_at') or 0)
    fresh = peer is not None and 0 <= now - peer_at <= max_lag
    if role == 'master':
        if fresh and tuple(peer) > tuple(own) and now - own[0] > STALE:
            return 'the peer holds a newer copy (%s; this one %s): it must serve' % (describe(peer), describe(own))
        return None
    if fresh and tuple(own) > tuple(peer):
        return None  # this node holds the newest copy
    last = float(record.get('pulled_at') or 0)
    if not last:
        return 'not in sync: no pull from the peer since this node started (%s)' % (
            record.get('error') or 'waiting for the first')
    if now - last > max_lag:
        return 'not in sync: last pull from the peer %.0f s ago (max %ss)%s' % (
            now - last, max_lag, ': ' + record['error'] if record.get('error') else '')
    return None


def run_rsync(config, args, deadline):
    """Run rsync under its deadline (adapter.run_bounded: past it, its whole
    process group is killed, for a child blocked on a frozen peer would hold
    the output open), its group recorded so that a promotion can stop a pull
    in flight; (exit status, or None when past the deadline; seconds; what it
    said)."""
    start = time.monotonic()
    pid_file = os.path.join(config['state_dir'], PID)

    def record(pid):
        with open(pid_file, 'w') as handle:
            handle.write(str(pid))
    try:
        res = run_bounded(args, deadline, reap=2, started=record, merged=True)
        rc, said = res.returncode, (res.stdout or '').strip()[-300:] or 'rc=%d' % res.returncode
    except subprocess.TimeoutExpired:
        rc, said = None, 'no result within %ss' % deadline
    finally:
        try:
            os.unlink(pid_file)
        except OSError:
            pass
    return rc, time.monotonic() - start, said


# rsync's exit status when the daemon answered but the file is not there
# (a copy no promotion has written a term to yet): term 0.
MISSING = 23


def peer_stamp(config, deadline):
    """The stamp of the peer's copy, or None when it cannot be read within the deadline."""
    dest = os.path.join(config['state_dir'], 'peer-term')
    try:
        os.unlink(dest)  # never read the last round's stamp as this one's
    except OSError:
        pass
    rc, _seconds, _said = run_rsync(config, term_args(config['replica'], dest), deadline)
    if rc == MISSING:
        return 0.0, 0
    return read_stamp(dest) if rc == 0 else None


def set_aside_dir(config):
    return os.path.join(config['replica']['aside_dir'], time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))


def pull(config, state, set_aside):
    """Pull the peer's copy; record the result. Returns (ok, seconds, said)."""
    aside = set_aside_dir(config) if set_aside else None
    rc, seconds, said = run_rsync(config, pull_args(config['replica'], aside), config['replica']['pull_timeout'])
    ok = rc == 0
    if ok and aside and os.path.isdir(aside):
        log(config['log_file'], 'replica: files this copy held that the peer did not are kept in %s' % aside)
    return ok, seconds, said


def follow_round(node, state, config, now=None):
    """One round of the follower (netsocs-replica.service), under the copy's
    lock (a promotion's catch-up holding it: nothing to do this round)."""
    record = dict(state.read().get('replica') or {})
    try:
        with StackLock(config['state_dir'], 0, name=LOCK):
            record = read_and_pull(node, state, config, record, now)
    except StackLock.Busy:
        return record
    if record.get('error') != (state.read().get('replica') or {}).get('error'):
        log(config['health_log_file'], 'replica: %s' % (record['error'] or 'in sync with the peer again'))
    state.update(replica=record)
    return record


def read_and_pull(node, state, config, record, now=None, clock=time.monotonic):
    """Read the peer's stamp; kill a stack that serves an older copy; renew a
    serving MASTER's stamp; pull when decide() says so. Returns the
    follower's new record."""
    replica = config['replica']
    read_at = clock()
    peer = peer_stamp(config, replica['term_timeout'])
    now = now if now is not None else time.time()
    if peer is not None:
        record.update(peer=list(peer), peer_at=now)
    role = 'master' if node.is_master() else 'backup'
    own = read_stamp(replica['root'])
    stack_runs = bool(node.stack_processes())
    if stack_runs and peer is not None and tuple(peer) > own and now - own[0] > STALE:
        # A node that served on while its peer took over (a frozen node
        # thawed): its stack writes to the older copy. Stop it at once
        # (the health check fails on the same verdict and the VIP moves).
        log(config['log_file'], "replica: the peer holds a newer copy (%s; this one %s): killing this node's stack"
            % (describe(peer), describe(own)))
        # The health check reads the same verdict first: it must not start the stack again in place.
        state.change(lambda data: {'replica': dict(data.get('replica') or {}, peer=list(peer), peer_at=now)})
        node.compose(['kill'])
        stack_runs = False
    elif stack_runs and role == 'master' and clock() - read_at < 1.0:
        # Serving: renew the stamp. Not on a reading of the peer older than
        # a second (this process was frozen since: its stamp must stay stale).
        own = (now, own[1])
        write_stamp(replica['root'], own, socket.gethostname())
    verdict = decide(role, stack_runs, own, peer)
    record.update(term=own[1], served=own[0], role=role, verdict=verdict)
    if verdict == 'pull':
        # Diverged, maybe: this node served since its last pull (or just started).
        diverged = float(state.read().get('promoted_at') or 0) >= float(record.get('pulled_at') or 0)
        ok, seconds, said = pull(config, state, set_aside=diverged)
        if ok:
            own = read_stamp(replica['root'])
            record.update(pulled_at=now, pull_seconds=round(seconds, 3), error='', term=own[1], served=own[0])
        else:
            record.update(error='pull failed: %s' % said)
    elif peer is None:
        record.update(error="the peer's rsync daemon does not answer")
    else:
        record.update(error='')
    return record


def follow(node, state, config, stop=None):
    """`stack-hook replica`: follow rounds every interval until stopped."""
    stop = stop or (lambda: False)
    while not stop():
        started = time.monotonic()
        follow_round(node, state, config)
        time.sleep(max(0.0, float(config['replica']['interval']) - (time.monotonic() - started)))
    return 0


def stop_pull_in_flight(config):
    """A promotion does not wait for a follower's pull (from a peer that may be
    frozen): it kills it."""
    try:
        with open(os.path.join(config['state_dir'], PID)) as handle:
            kill_group(int(handle.read().strip()))
    except (OSError, ValueError):
        pass


def catch_up(state, config, peer_answered=False):
    """A promotion, the peer's stack down (or not answering): pull the last of
    the peer's copy when it is not older than this node's, then start a new
    term. A peer that just answered (its stack is down) has pull_timeout to
    give its term; one that did not, term_timeout (frozen, cut off: the
    promotion does not wait for it). A follower's pull in flight is killed,
    not waited for. Returns what the log says."""
    try:
        with StackLock(config['state_dir'], 0, name=LOCK):
            return last_pull(state, config, peer_answered)
    except StackLock.Busy:
        stop_pull_in_flight(config)
    try:
        with StackLock(config['state_dir'], 2, name=LOCK):
            return last_pull(state, config, peer_answered)
    except StackLock.Busy:
        # Never seen: a killed pull frees it. The stack stays down (the
        # follower may still write to the copy) and the sync says why.
        raise HookError("the replica's lock is still held 2 s after its pull was killed")


def last_pull(state, config, peer_answered):
    replica = config['replica']
    own = read_stamp(replica['root'])
    peer = peer_stamp(config, replica['pull_timeout'] if peer_answered else replica['term_timeout'])
    if peer is None:
        said = "the peer's copy cannot be read (within %ss): serving this node's copy (%s)" % (
            replica['term_timeout'], describe(own))
    elif tuple(peer) < own:
        said = "the peer's copy is older (%s; this one %s): serving this node's" % (describe(peer), describe(own))
    else:
        ok, seconds, out = pull(config, state, set_aside=False)
        said = ("pulled the peer's last changes in %.2f s" % seconds if ok
                else 'the last pull failed (%s): serving this node\'s copy' % out)
        own = read_stamp(replica['root'])
    new = (time.time(), max(own[1], peer[1] if peer else 0) + 1)
    write_stamp(replica['root'], new, socket.gethostname())
    state.change(lambda data: {'replica': dict(data.get('replica') or {}, term=new[1], served=new[0])})
    return '%s; term %d' % (said, new[1])
