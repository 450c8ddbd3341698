# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files the runtime writes: JSON state (atomic, versioned), the stack
state with its lock, the stack lock, and the log lines.

Every JSON file the runtime writes goes through ``write_json``: a unique
temporary file in the same directory, then a rename, so a reader never sees
half a file; each record carries ``schema`` (SCHEMA). One owner per file:

    vrrp-state.json    vrrp.notify (Keepalived's notify)       read by everyone
    stack-state.json   State: lifecycle, health, guard, lease  read by status.yml
    stack.lock         StackLock: whoever acts on the stack (sync, prestart,
                       a restart in place, a bring-back)
    health.lock        one health round at a time
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys
import tempfile
import time

from .config import HookError

SCHEMA = 1


def write_json(path, record, mode=0o644):
    """Replace `path` with `record` (plus its schema version) atomically."""
    data = dict(record, schema=SCHEMA)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or '.', prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return data


def read_json(path):
    """The record in `path`, or {} when it is missing or unreadable."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')


def log(path, message, tag='stack-hook'):
    """Append one line (a multi-line message folded in) for humans and audit;
    no component reads these lines back to learn a state."""
    line = '%s %s[%d] %s\n' % (now_iso(), tag, os.getpid(), ' | '.join(str(message).split('\n')))
    try:
        with open(path, 'a') as handle:
            handle.write(line)
    except OSError:
        sys.stderr.write(line)


class State(object):
    """stack-state.json in state_dir, shared by trigger, sync, health, the
    guard and the lease holder: the last role acted on, the last VRRP state
    Keepalived reported (and when), the promotion time, the last MASTER
    health failure, the last health result, the guard's and the lease's.

    Every change is a read-modify-write under an exclusive lock
    (stack-state.lock), so concurrent hooks never lose each other's keys."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.path = os.path.join(state_dir, 'stack-state.json')
        self.lock_path = os.path.join(state_dir, 'stack-state.lock')

    def read(self):
        return read_json(self.path)

    def change(self, func):
        """Apply func(data) -> dict of new values under the lock; returns the new data."""
        with open(self.lock_path, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            data.update(func(dict(data)) or {})
            return write_json(self.path, data)

    def update(self, **values):
        return self.change(lambda data: values)


class StackLockBusy(HookError):
    """Another hook holds the stack lock."""


class StackLock(object):
    """The exclusive lock every action on the stack takes (sync, prestart,
    a restart in place), or another one by `name` (health.lock: one health
    round at a time). wait: seconds to wait for it; 0 tries once and raises
    Busy when another hook holds it."""

    Busy = StackLockBusy

    def __init__(self, state_dir, wait, name='stack.lock'):
        self.path = os.path.join(state_dir, name)
        self.wait = wait
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, 'a')
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.handle.close()
                    raise self.Busy('another stack-hook holds %s' % self.path)
                time.sleep(0.1)

    def __exit__(self, *exc):
        self.handle.close()
