"""Run a oneshot systemd service's commands as systemd would, on a controller
where systemd is not PID 1 (the CI machines): its Environment= and
EnvironmentFile= settings, its WorkingDirectory=, ExecStart=, then
ExecStopPost= whatever ExecStart returned. Used by make schedule-test on the
unit drill_schedule.yml writes, so the command the timer would start is the
command tested. Exit status: ExecStart's (or ExecStopPost's when it fails).

    run_unit.py UNIT_FILE
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys


def service_section(text):
    """[(key, value)] of the [Service] section, in order (keys repeat)."""
    entries, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        if section == 'Service' and '=' in line:
            key, value = line.split('=', 1)
            entries.append((key.strip(), value.strip()))
    return entries


def environment(entries, base):
    env = dict(base)
    for key, value in entries:
        if key == 'Environment':
            for assignment in shlex.split(value):
                name, _sep, val = assignment.partition('=')
                env[name] = val
        elif key == 'EnvironmentFile':
            optional = value.startswith('-')
            path = value.lstrip('-')
            if not os.path.exists(path) and optional:
                continue
            with open(path) as handle:
                for line in handle:
                    line = line.strip()
                    if line and not line.startswith('#') and '=' in line:
                        name, val = line.split('=', 1)
                        env[name.strip()] = val.strip().strip('"\'')
    return env


def main(argv):
    if len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[0]) as handle:
        entries = service_section(handle.read())
    env = environment(entries, os.environ)
    cwd = next((v for k, v in entries if k == 'WorkingDirectory'), None)
    rc = 0
    for key in ('ExecStart', 'ExecStopPost'):
        for _k, command in [(k, v) for k, v in entries if k == key]:
            print('%s: %s' % (key, command), flush=True)
            done = subprocess.run(shlex.split(command), cwd=cwd, env=env, check=False)
            rc = rc or done.returncode
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
