# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared-storage check (`storage-check`, configured by the nfs_client role).

    storage-check            exit 0 when every share is usable, 1 otherwise

A share is usable when it is a mount point and a small file can be written,
read back and removed in it. The whole check must finish within the timeout:
a hard NFS mount whose server is gone blocks instead of failing, so the check
runs in a worker thread and a check that does not come back counts as failed.
The stack health check (stack-hook health) calls this, so a node whose shared
storage is broken drops below its healthy peer and never takes the VIP from it.
Standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading

CONFIG_FILE = os.environ.get('NETSOCS_STORAGE_CONFIG', '/etc/netsocs-failover/storage.json')


def check_share(path, probe_name, ismount=os.path.ismount):
    """None when the share is usable, else what is wrong with it."""
    if not os.path.isdir(path):
        return '%s: missing' % path
    if not ismount(path):
        return '%s: not a mount point (the share is not mounted)' % path
    probe = os.path.join(path, probe_name)
    try:
        with open(probe, 'w') as handle:
            handle.write('netsocs storage check\n')
            handle.flush()
            os.fsync(handle.fileno())
        with open(probe) as handle:
            if handle.read() != 'netsocs storage check\n':
                return '%s: read back differs from what was written' % path
        os.unlink(probe)
    except OSError as exc:
        return '%s: not writable (%s)' % (path, exc.strerror or exc)
    return None


def check_all(paths, timeout, probe_name, ismount=os.path.ismount):
    """(ok, problems). A check still blocked after `timeout` seconds fails."""
    problems = []
    done = threading.Event()

    def work():
        for path in paths:
            problem = check_share(path, probe_name, ismount)
            if problem:
                problems.append(problem)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    if not done.wait(timeout):
        return False, ['no answer within %ss (a hung NFS mount?); so far: %s'
                       % (timeout, '; '.join(problems) or 'no problem found')]
    return not problems, problems


def probe_file_name(host, pid):
    return '.netsocs-storage-check.%s.%d' % (host, pid)


# The last check's process. One blocked in the kernel on a hung mount can
# neither exit nor be reaped (its /proc entry stays): the next check sees it
# and says so at once, instead of leaving one more process stuck on the
# mount every health round.
PID_FILE = os.environ.get('NETSOCS_STORAGE_PID', '/run/lock/netsocs-storage-check.pid')


def stuck_since(pid_file, timeout, proc='/proc'):
    """Seconds the last check's process has outlived its timeout, or None
    when it is gone (or is not a storage check: the pid was reused)."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        with open('%s/%d/comm' % (proc, pid)) as handle:
            if not handle.read().startswith('storage-check'):
                return None
        with open('%s/%d/stat' % (proc, pid)) as handle:
            started = int(handle.read().rsplit(')', 1)[1].split()[19]) / os.sysconf('SC_CLK_TCK')
        with open('%s/uptime' % proc) as handle:
            age = float(handle.read().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None
    return age - timeout if age > timeout + 1 else None


def main(config_file=None):
    with open(config_file or CONFIG_FILE) as handle:
        config = json.load(handle)
    timeout = config.get('timeout', 10)
    stuck = stuck_since(PID_FILE, timeout)
    if stuck is not None:
        sys.stdout.write('a check is still blocked on the shares %.0f s past its %ss timeout (a hung NFS mount?)\n'
                         % (stuck, timeout))
        return 1
    try:
        with open(PID_FILE, 'w') as handle:
            handle.write(str(os.getpid()))
    except OSError:
        pass
    # One name per node and process: the health check (every second) and a
    # deploy's preflight may check the same share at the same moment, and
    # one must not remove the other's probe.
    probe_name = probe_file_name(socket.gethostname(), os.getpid())
    ok, problems = check_all(config['paths'], timeout, probe_name)
    if ok:
        sys.stdout.write('shared storage OK: %d shares mounted and writable\n' % len(config['paths']))
        return 0
    sys.stdout.write('; '.join(problems) + '\n')
    return 1


def run(argv):
    """`storage-check`: no options (the paths come from storage.json)."""
    del argv
    sys.stdout.flush()
    code = main()
    sys.stdout.flush()
    # os._exit: a worker blocked in the kernel (a hung mount) must not hold up the verdict.
    os._exit(code)
