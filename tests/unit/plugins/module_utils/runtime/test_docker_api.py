# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Engine API calls (docker_api) against a unix-socket HTTP server that
answers as dockerd does, and the Node's fallback to the CLI."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import UnixStreamServer

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import adapter, docker_api
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings

# GET /containers/json?all=1 as dockerd answers it (trimmed), and each
# container's inspect (GET /containers/ID/json). The list lags: it still says
# netsocs-caddy runs, its inspect that it exited.
LISTED = [{'Id': c, 'Names': ['/x'], 'State': 'running', 'Status': 'Up 2 minutes'} for c in ('c1', 'c2', 'c3', 'c4')]


def inspected(cid, name, service, status, exit_code=0, health=None):
    state = {'Status': status, 'ExitCode': exit_code, 'Running': status == 'running'}
    if health:
        state['Health'] = {'Status': health}
    return {'Id': cid, 'Name': '/' + name, 'State': state, 'Config': {'Labels': {'com.docker.compose.service': service}}}


def publishing(record, bindings):
    """The inspect record with HostConfig.PortBindings (a stopped container keeps them)."""
    return dict(record, HostConfig={'PortBindings': bindings})


# netsocs-caddy publishes 80 and 443 (443 on both families), exposes 9000 and 9001 unpublished.
CADDY_BINDINGS = {'80/tcp': [{'HostIp': '', 'HostPort': '80'}],
                  '443/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '443'}, {'HostIp': '::', 'HostPort': '443'}],
                  '9000/tcp': None, '9001/tcp': [{'HostIp': '127.0.0.1', 'HostPort': ''}]}
INSPECTED = {'c1': publishing(inspected('c1', 'netsocs-caddy', 'caddy', 'exited', 0, 'unhealthy'), CADDY_BINDINGS),
             'c2': inspected('c2', 'traefik', 'traefik', 'exited', 137),
             'c3': inspected('c3', 'mediamtx', 'mediamtx', 'created'),
             'c4': inspected('c4', 'netsocs-recorder', 'recorder', 'running', 0, 'starting')}
PARSED = [
    {'id': 'c1', 'name': 'netsocs-caddy', 'service': 'caddy', 'state': 'exited', 'health': 'unhealthy', 'exit_code': 0,
     'ports': [80, 443]},
    {'id': 'c3', 'name': 'mediamtx', 'service': 'mediamtx', 'state': 'created', 'health': '', 'exit_code': 0,
     'ports': []},
    {'id': 'c4', 'name': 'netsocs-recorder', 'service': 'recorder', 'state': 'running', 'health': 'starting',
     'exit_code': 0, 'ports': []},
    {'id': 'c2', 'name': 'traefik', 'service': 'traefik', 'state': 'exited', 'health': '', 'exit_code': 137,
     'ports': []},
]


def test_inspect_records_read_as_compose_ps_does():
    assert docker_api.parse_inspected(INSPECTED.values()) == PARSED


@pytest.mark.parametrize('answer', [{'message': 'page not found'}, ['not a container'], [{'Names': ['/x']}]])
def test_a_list_that_is_not_one_is_an_error(answer):
    with pytest.raises(docker_api.DockerAPIError):
        docker_api.listed_ids(answer)


def test_the_list_asks_for_the_projects_containers_only():
    path = docker_api.list_path('/opt/netsocs')
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert query['all'] == ['1']
    assert json.loads(query['filters'][0]) == {'label': ['com.docker.compose.project.working_dir=/opt/netsocs',
                                                         'com.docker.compose.oneoff=False']}


class _Server(UnixStreamServer, HTTPServer):
    def server_bind(self):
        UnixStreamServer.server_bind(self)
        self.server_name, self.server_port = 'docker', 0


class Daemon(object):
    """A unix-socket HTTP server: `routes` maps (method, path) to (status, body);
    `hang` accepts and never answers (a hung daemon)."""

    def __init__(self, path, routes=None, hang=False):
        self.requests, self.routes = [], routes or {}
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                outer.requests.append((self.command, self.path))
                if hang:
                    outer.release.wait(5)
                    return
                status, body = outer.routes.get((self.command, urllib.parse.urlsplit(self.path).path),
                                                (404, {'message': 'No such container'}))
                data = json.dumps(body).encode() if body is not None else b''
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = _Server(path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sock(tmp_path):
    return str(tmp_path / 'docker.sock')


@pytest.fixture
def node_config(tmp_path, sock):
    return dict(settings.DEFAULTS, project_dir='/opt/netsocs', docker_socket=sock, docker_timeout=5,
                log_file=str(tmp_path / 'log'))


def test_the_node_lists_starts_and_inspects_through_the_api(node_config, sock, monkeypatch):
    routes = {('GET', '/containers/json'): (200, LISTED),
              ('POST', '/containers/traefik/start'): (204, None),
              ('POST', '/containers/netsocs-caddy/start'): (304, None)}
    routes.update({('GET', '/containers/%s/json' % cid): (200, record) for cid, record in INSPECTED.items()})
    # c4 removed between the list and its inspect: left out
    del routes[('GET', '/containers/c4/json')]
    routes[('GET', '/containers/traefik/json')] = (200, INSPECTED['c2'])
    daemon = Daemon(sock, routes)

    def no_cli(args, timeout, reap=1.0):
        raise AssertionError('the CLI was called: %s' % args)
    monkeypatch.setattr(adapter, 'run_bounded', no_cli)
    try:
        node = adapter.Node(node_config)
        # the states are the inspects' (the list said all four run)
        assert node.containers(5) == [c for c in PARSED if c['id'] != 'c4']
        # started now (204) or running already (304): both are a start done
        assert node.start('traefik') is None and node.start('netsocs-caddy') is None
        assert node.start('gone') == 'HTTP 404: No such container'
        assert docker_api.inspect(['traefik', 'gone'], 5, sock) == [INSPECTED['c2']]
    finally:
        daemon.close()
    assert daemon.requests[0][0] == 'GET' and daemon.requests[0][1].startswith('/containers/json?all=1&filters=')


def test_a_hung_daemon_times_out_with_no_cli_fallback(node_config, sock, monkeypatch):
    # the daemon takes the connection and does not answer: TimedOut after the
    # caller's timeout (the health round's docker_timeout), as `docker` would
    daemon = Daemon(sock, hang=True)
    cli = []
    monkeypatch.setattr(adapter, 'run_bounded', lambda args, timeout, reap=1.0: cli.append(args))
    try:
        node = adapter.Node(node_config)
        with pytest.raises(settings.TimedOut) as raised:
            node.containers(0.3)
        assert raised.value.command == 'docker' and 'timed out after 0.3s' in str(raised.value)
    finally:
        daemon.close()
    assert cli == []


def test_no_socket_falls_back_to_docker_compose_ps(node_config, monkeypatch):
    seen = []

    def cli(args, timeout, reap=1.0):
        seen.append(args)
        out = json.dumps({'ID': 'c1', 'Name': 'traefik', 'Service': 'traefik', 'State': 'running'})
        return adapter.subprocess.CompletedProcess(args, 0, out, '')
    monkeypatch.setattr(adapter, 'run_bounded', cli)
    node = adapter.Node(node_config)
    assert [c['name'] for c in node.containers(5)] == ['traefik']
    assert node.start('traefik') is None
    assert seen == [['docker', 'compose', '--project-directory', '/opt/netsocs', 'ps', '--all', '--format', 'json'],
                    ['docker', 'start', 'traefik']]


def test_a_socket_nobody_listens_on_is_not_a_hang(sock):
    # a stale socket file (the daemon stopped): refused at once, not a timeout
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock)
    stale.close()
    with pytest.raises(docker_api.DockerAPIError) as raised:
        docker_api.containers('/opt/netsocs', 5, sock)
    assert not isinstance(raised.value, docker_api.DockerAPITimeout)
