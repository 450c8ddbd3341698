# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three Docker Engine API calls the hooks make, over the daemon's unix
socket, without a `docker` process for each: list the project's containers,
start one, inspect some. A promotion's `docker compose ps` alone took 0.1 s
on the test bed; the same four containers from the API (the list, then each
one's inspect) take 2-3 ms (make lab). Anything that fails here (no socket, an answer that cannot be parsed)
raises DockerAPIError, and the caller falls back to the CLI; a daemon that
takes the connection and does not answer in time raises DockerAPITimeout."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote

SOCKET = '/var/run/docker.sock'


class DockerAPIError(Exception):
    """The API cannot be reached, or did not answer as expected."""


class DockerAPITimeout(DockerAPIError):
    """The daemon took the connection and did not answer in time (it is hung)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('localhost', timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def request(method, path, timeout, socket_path=SOCKET):
    """(status, parsed JSON body or None) of one API request."""
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request(method, path, headers={'Host': 'docker'})
        res = conn.getresponse()
        body = res.read()
    except socket.timeout as exc:
        raise DockerAPITimeout('%s %s: %s' % (method, path.split('?')[0], exc))
    except (OSError, http.client.HTTPException) as exc:
        raise DockerAPIError('%s %s: %s' % (method, path.split('?')[0], exc))
    finally:
        conn.close()
    try:
        return res.status, json.loads(body) if body else None
    except ValueError as exc:
        raise DockerAPIError('%s %s: %s' % (method, path.split('?')[0], exc))


def list_path(project_dir):
    """GET path: every container (stopped ones too) of the Compose project in
    project_dir, one-off ones (`docker compose run`) left out."""
    filters = {'label': ['com.docker.compose.project.working_dir=%s' % project_dir,
                         'com.docker.compose.oneoff=False']}
    return '/containers/json?all=1&filters=%s' % quote(json.dumps(filters, separators=(',', ':')))


def listed_ids(items):
    """The container IDs in GET /containers/json's answer."""
    if not isinstance(items, list) or not all(isinstance(item, dict) and item.get('Id') for item in items):
        raise DockerAPIError('unexpected container list: %r' % (items,))
    return [item['Id'] for item in items]


def published_ports(record):
    """The host ports an inspect record's container publishes, sorted: from
    HostConfig.PortBindings, which a stopped container keeps (a warm
    standby's)."""
    bindings = ((record.get('HostConfig') or {}).get('PortBindings') or {}).values()
    ports = set()
    for binding in bindings:
        for entry in binding or ():
            try:
                ports.add(int((entry or {}).get('HostPort') or 0))
            except (TypeError, ValueError):
                continue
    return sorted(ports - {0})


def parse_inspected(records):
    """`docker inspect` records as compose.parse_ps returns `docker compose
    ps`: [{id, name, service, state, health, exit_code}], sorted by service
    then name; and `ports`, the host ports each publishes (published_ports)."""
    result = []
    for record in records:
        state = record.get('State') or {}
        result.append({
            'id': record.get('Id'),
            'name': (record.get('Name') or '').lstrip('/'),
            'service': ((record.get('Config') or {}).get('Labels') or {}).get('com.docker.compose.service'),
            'state': (state.get('Status') or '').lower(),
            'health': ((state.get('Health') or {}).get('Status') or '').lower(),
            'exit_code': state.get('ExitCode', 0),
            'ports': published_ports(record),
        })
    return sorted(result, key=lambda c: (c['service'] or '', c['name'] or ''))


def containers(project_dir, timeout, socket_path=SOCKET):
    """The project's containers: which from the list, their states from each
    one's inspect. The list is a view the daemon updates after it has told
    the stop's caller that the container stopped, so a list read right after
    `docker compose stop` can still say running (seen in CI: a demotion's
    check found netsocs-caddy running 0.01 s after the stop); inspect reads
    the container itself."""
    status, body = request('GET', list_path(project_dir), timeout, socket_path)
    if status != 200:
        raise DockerAPIError('container list: HTTP %d: %s' % (status, body))
    return parse_inspected(inspect(listed_ids(body), timeout, socket_path))


def start(name, timeout, socket_path=SOCKET):
    """Start a container: None when it runs (started now, or already), else why not."""
    status, body = request('POST', '/containers/%s/start' % quote(name, safe=''), timeout, socket_path)
    if status in (204, 304):
        return None
    return 'HTTP %d: %s' % (status, (body or {}).get('message', body) if isinstance(body, dict) else body)


def inspect(names, timeout, socket_path=SOCKET):
    """`docker inspect NAME...` as the API gives it: one record per container
    that exists (one removed since it was listed is left out)."""
    found = []
    for name in names:
        status, body = request('GET', '/containers/%s/json' % quote(name, safe=''), timeout, socket_path)
        if status == 200 and isinstance(body, dict):
            found.append(body)
    return found
