# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VRRP state: Keepalived's notify hook writes it, and this is its one reader.

Keepalived calls the notify hook (``vrrp-notify``) as:
    vrrp-notify --log-file=PATH --state-file=PATH TYPE NAME STATE PRIORITY
(the options come from keepalived.conf, Keepalived appends the rest; TYPE is
INSTANCE or GROUP, STATE is MASTER, BACKUP, FAULT or STOP).

It appends one timestamped line to the transition log and atomically replaces
the state file (vrrp-state.json) with {"instance", "state", "priority",
"time", "forked", "transitions", "schema"} (unless the file holds a later transition
already: "forked" is the hook's boot id, fork time and pid: Keepalived's order), which
the stack hook, the guard's responder, the vip_status module and the drill's
sampler read through ``read_state``. It
must never hang or raise into Keepalived, so failures are reported on stderr
(the journal) and the exit status, nothing else.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys
import time

from . import state as files

STATES = ('MASTER', 'BACKUP', 'FAULT', 'STOP')


class VrrpStateError(ValueError):
    pass


def parse_state(text):
    """The state file's record with `state` upper-cased, or None for an empty
    file; VrrpStateError when it is not a record of a known state."""
    if not text or not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise VrrpStateError('cannot parse VRRP state file: %s' % exc)
    if not isinstance(data, dict) or 'state' not in data:
        raise VrrpStateError('VRRP state file has no "state" key')
    data['state'] = str(data['state']).upper()
    if data['state'] not in STATES:
        raise VrrpStateError('unknown VRRP state %r' % data['state'])
    return data


def read_record(path):
    """The state file's record, or None when nothing readable was recorded."""
    try:
        with open(path) as handle:
            return parse_state(handle.read())
    except (OSError, VrrpStateError):
        return None


def read_state(path):
    """The VRRP state Keepalived last reported on this node ('MASTER', ...),
    or None when nothing readable was recorded."""
    record = read_record(path)
    return record['state'] if record else None


def effective_state(recorded, keepalived_running):
    """The node's VRRP state: what the hook recorded, or STOPPED when
    Keepalived is not running (a stale file must not claim MASTER)."""
    if not keepalived_running:
        return 'STOPPED'
    if recorded is None:
        return 'UNKNOWN'
    return recorded['state']


def split_options(argv):
    """Split the leading --log-file= and --state-file= options (both required:
    the paths are the pair's facts, rendered into keepalived.conf) from
    Keepalived's arguments."""
    paths = {}
    rest = list(argv)
    while rest and rest[0].startswith('--'):
        key, _sep, value = rest.pop(0)[2:].partition('=')
        key = key.replace('-', '_')
        if key not in ('log_file', 'state_file') or not value:
            raise ValueError('unknown option --%s' % key)
        paths[key] = value
    missing = [key for key in ('log_file', 'state_file') if key not in paths]
    if missing:
        raise ValueError('missing --%s' % ', --'.join(m.replace('_', '-') for m in missing))
    return paths, rest


def parse_args(argv):
    """Return (kind, name, state, priority) from Keepalived's arguments."""
    if len(argv) < 3:
        raise ValueError('usage: vrrp-notify TYPE NAME STATE [PRIORITY]')
    kind, name, state = argv[0].upper(), argv[1], argv[2].upper()
    if kind not in ('INSTANCE', 'GROUP'):
        raise ValueError('unknown notify type %r' % argv[0])
    if state not in STATES:
        raise ValueError('unknown VRRP state %r' % argv[2])
    priority = int(argv[3]) if len(argv) > 3 and argv[3].isdigit() else None
    return kind, name, state, priority


def log_line(now, kind, name, state, priority):
    line = '%s %s %s %s' % (now.isoformat(timespec='milliseconds'), kind, name, state)
    if priority is not None:
        line += ' priority=%d' % priority
    return line + '\n'


def parse_start_ticks(stat):
    """A process's start time, in clock ticks since boot, from the text of
    its /proc/PID/stat (field 22; the name in parentheses may hold spaces)."""
    return int(stat[stat.rindex(')') + 2:].split()[19])


def started_at(pid_file, now=None):
    """When the process named in `pid_file` started, in epoch seconds to the
    clock tick (its /proc start ticks against /proc/uptime), or None when it
    cannot be read (no pid file, the process gone)."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        with open('/proc/%d/stat' % pid) as handle:
            ticks = parse_start_ticks(handle.read())
        with open('/proc/uptime') as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    now = time.time() if now is None else now
    return now - uptime + ticks / float(os.sysconf('SC_CLK_TCK'))


def fork_order(pid=None):
    """[boot id, start time in clock ticks since boot, pid] of this process:
    the order in which Keepalived forked its notify hooks (a clock read after
    the interpreter's start is not: two hooks forked 50 ms apart start in
    either order on a loaded node). None when /proc cannot tell."""
    try:
        with open('/proc/sys/kernel/random/boot_id') as boot, open('/proc/self/stat') as stat:
            return [boot.read().strip(), parse_start_ticks(stat.read()), pid or os.getpid()]
    except (OSError, ValueError, IndexError):
        return None


def is_later(current, record):
    """True when `record` reports a later transition than `current` (the
    file's record, or None): by fork order when both were forked in this boot
    by two processes, else by time."""
    if not current:
        return True
    mine, theirs = record.get('forked'), current.get('forked')
    if mine and theirs and mine[0] == theirs[0] and mine != theirs:
        return tuple(mine[1:]) > tuple(theirs[1:])
    try:
        return datetime.datetime.fromisoformat(record['time']) >= datetime.datetime.fromisoformat(current['time'])
    except (KeyError, TypeError, ValueError):
        return True


def record_state(path, record):
    """Write the record, unless the file holds a later one: Keepalived forks
    its notify scripts in order but they run side by side, and a quick
    MASTER-BACKUP flip (a node that starts before it hears its peer) must not
    end with the older MASTER written last. Either way the file counts the
    transition (``transitions``: how many of each state were reported since
    the state directory was created, i.e. since boot), for tools that watch
    the node without reading its log. True when the record was written."""
    with open(path + '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = files.read_json(path)
        counts = dict((current or {}).get('transitions') or {})
        counts[record['state']] = int(counts.get(record['state'], 0)) + 1
        later = is_later(current, record)
        files.write_json(path, dict(record if later else current, transitions=counts))
        return later


def transitions(path):
    """{state: count} of the transitions the notify hook reported (see
    record_state); {} when nothing readable was recorded."""
    return dict((read_record(path) or {}).get('transitions') or {})


def notify(argv, now=None, forked=None):
    """The notify hook (``vrrp-notify``): 0, 1 when a file could not be
    written, 2 for arguments it does not understand."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        paths, argv = split_options(argv)
        kind, name, state, priority = parse_args(argv)
    except ValueError as exc:
        sys.stderr.write('vrrp-notify: %s\n' % exc)
        return 2
    status = 0
    try:
        with open(paths['log_file'], 'a') as handle:
            handle.write(log_line(now, kind, name, state, priority))
    except OSError as exc:
        sys.stderr.write('vrrp-notify: cannot write %s: %s\n' % (paths['log_file'], exc))
        status = 1
    if kind == 'INSTANCE':
        try:
            record_state(paths['state_file'], {'instance': name, 'state': state, 'priority': priority,
                                               'time': now.isoformat(), 'forked': forked or fork_order()})
        except (OSError, ValueError) as exc:
            sys.stderr.write('vrrp-notify: cannot write %s: %s\n' % (paths['state_file'], exc))
            status = 1
    return status
