# -*- coding: utf-8 -*-
# Managed by Ansible (netsocs.failover.keepalived, from node/ in the collection):
# local changes are overwritten.
"""Keepalived notify hook: log every VRRP transition and record the state.

Keepalived calls it as:
    vrrp-notify --log-file=PATH --state-file=PATH TYPE NAME STATE PRIORITY
(the options come from keepalived.conf, Keepalived appends the rest; TYPE is
INSTANCE or GROUP, STATE is MASTER, BACKUP, FAULT or STOP).

It appends one timestamped line to the transition log and atomically replaces
the state file with {"instance", "state", "priority", "time"}, which the
vip_status module reads. Standard library only; it must never hang or raise
into Keepalived, so failures are reported on stderr (the journal) and the exit
status, nothing else.
"""

import datetime
import json
import os
import sys
import tempfile

STATES = ('MASTER', 'BACKUP', 'FAULT', 'STOP')


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


def write_state(path, record):
    """Replace the state file atomically (readers never see half a file)."""
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.vrrp-state.')
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(record, handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv, now=None):
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
            write_state(paths['state_file'],
                        {'instance': name, 'state': state, 'priority': priority, 'time': now.isoformat()})
        except OSError as exc:
            sys.stderr.write('vrrp-notify: cannot write %s: %s\n' % (paths['state_file'], exc))
            status = 1
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
