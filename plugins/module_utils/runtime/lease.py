# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage lease: with a dedicated NFS host, the shared storage arbitrates.

A node runs the stack only while it holds an exclusive lock on a lease file on
a share. On NFSv4 the lock is the server's: a node cut off from the server
loses it when its NFS lease expires, and the other node can then take it.
Every file operation runs in a worker thread with a deadline, so a hung hard
mount never blocks the holder: a deadline missed counts as lost. `hold` is
`stack-hook lease` (netsocs-stack-lease.service, started by a promotion).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time

from .state import log


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


def hold(node, state, config, stop=None, clock=time.time):
    """The storage lease holder (`stack-hook lease`): take the lease, then
    refresh it every interval; when a refresh fails (the NFS lease expired, the
    server is gone, the mount hangs) the stack is killed at once: a node that
    lost its lease must not go on writing. Returns when stopped (the lock is
    released with the file) or after fencing."""
    lease_cfg = config['lease']
    lease = Lease(lease_cfg['file'], socket.gethostname(), lease_cfg['timeout'])
    stop = stop or (lambda: False)
    waiting_logged = False
    try:
        while not stop():
            try:
                if lease.try_acquire():
                    break
                reason = 'held by another node (%s)' % (lease.holder() or 'no token')
            except LeaseError as exc:
                reason = 'the lease file cannot be locked: %s' % exc
            state.update(lease={'held': False, 'reason': reason, 'at': clock()})
            if not waiting_logged:
                log(config['log_file'], 'lease: waiting, %s' % reason)
                waiting_logged = True
            time.sleep(lease_cfg['interval'])
        else:
            return 0
        log(config['log_file'], 'lease: held (%s)' % lease_cfg['file'])
        while not stop():
            try:
                lease.refresh(clock())
            except LeaseError as exc:
                reason = 'lost: %s' % exc
                state.update(lease={'held': False, 'reason': reason, 'at': clock()})
                log(config['log_file'], 'lease: %s: killing the stack' % reason)
                node.compose(['kill'])
                return 1
            state.update(lease={'held': True, 'reason': 'held', 'at': clock()})
            time.sleep(lease_cfg['interval'])
        return 0
    finally:
        lease.release()
        state.change(lambda data: {'lease': dict(data.get('lease') or {}, held=False)})
