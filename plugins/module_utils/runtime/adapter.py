# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every effect the stack hook has on the node (docker, ip, the storage check,
the guard's probes, systemctl), behind one object that unit tests replace.

Every command has a timeout; a command that cannot run or times out raises
HookError with what it was."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import time

from . import compose as _compose
from . import docker_api as _docker_api
from . import guard as _guard
from . import responder as _responder
from . import vip as _vip
from . import vrrp as _vrrp
from .config import HookError, TimedOut


def run_bounded(args, timeout, reap=1.0, started=None, merged=False):
    """subprocess.run(args, capture_output, text) that never waits past its
    deadline (TimeoutExpired). subprocess.run kills a command past its timeout
    and then waits for it without a limit; a command blocked in the kernel on a
    hung mount (a FUSE or hard NFS request its server never answers) cannot
    die, nor can its parent reap it, so that wait is forever. Here the
    command's whole process group (its forked children too) is killed and
    given `reap` seconds; one that is still there is left behind (init reaps
    it once the mount answers). started(pid): called once the command runs
    (who else may stop it must know its group); merged: stderr into stdout."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                            text=True, start_new_session=True)
    if started is not None:
        started(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        try:
            proc.communicate(timeout=reap)
        except subprocess.TimeoutExpired:
            proc.returncode = -9  # not reaped: nobody waits for it again
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def kill_group(pid):
    """SIGKILL a command's process group (its forked children too), or the command alone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Node(object):
    """What the hooks ask of the node."""

    def __init__(self, config):
        self.config = config

    def run(self, args, timeout=None, check=True):
        timeout = timeout or self.config['command_timeout']
        try:
            res = run_bounded(args, timeout)
        except subprocess.TimeoutExpired:
            raise TimedOut('%s timed out after %ss' % (' '.join(args[:3]), timeout), args[0])
        except OSError as exc:
            raise HookError('%s: %s' % (args[0], exc))
        if check and res.returncode != 0:
            raise HookError('%s failed (rc=%d): %s' % (' '.join(args[:3]), res.returncode,
                                                       (res.stderr or res.stdout).strip()[:300]))
        return res

    # ------------------------------------------------------------ the VIP

    def vip_entry(self):
        """The VIP's entry on the node's interface ({'address', 'prefix', 'interface'}), or None."""
        args = ['ip', '-j', '-4', 'addr', 'show']
        if self.config['interface']:
            args += ['dev', self.config['interface']]
        return _vip.find_vip(_vip.parse_ip_addr_json(self.run(args, timeout=10).stdout), self.config['vip'])

    def is_master(self):
        """The node's role is read, not remembered: MASTER exactly when it holds the VIP."""
        return self.vip_entry() is not None

    def drop_vip(self):
        """Take the VIP off the interface (a fenced Keepalived left it there): True when it was there."""
        entry = self.vip_entry()
        if entry is None:
            return False
        self.run(['ip', 'addr', 'del', '%s/%s' % (entry['address'], entry['prefix']), 'dev', entry['interface']],
                 timeout=10)
        return True

    # ------------------------------------------------------------ Keepalived

    def keepalived_pid(self):
        """The main process of Keepalived's unit, or None when it does not run."""
        res = self.run(['systemctl', 'show', '--property=MainPID', '--value', self.config['keepalived']['unit']],
                       timeout=10, check=False)
        try:
            pid = int(res.stdout.strip() or 0)
        except ValueError:
            return None
        return pid or None

    def kill_keepalived(self):
        """SIGKILL to every process of Keepalived's unit (a stopped one too)."""
        self.run(['systemctl', 'kill', '--signal=SIGKILL', self.config['keepalived']['unit']], timeout=10, check=False)

    # ------------------------------------------------------------ the stack

    def compose(self, args, timeout=None):
        return self.run(['docker', 'compose', '--project-directory', self.config['project_dir']] + args, timeout)

    def containers(self, timeout=None):
        """The project's containers (compose.parse_ps's form), from the Engine
        API; `docker compose ps` where the API cannot be reached."""
        try:
            return self._api(_docker_api.containers, self.config['project_dir'], timeout=timeout)
        except _docker_api.DockerAPIError:
            return _compose.parse_ps(self.compose(['ps', '--all', '--format', 'json'], timeout).stdout)

    def _api(self, call, *args, **kwargs):
        """An Engine API call (docker_api), bounded like a command: one that
        times out raises TimedOut (the daemon is hung: no CLI fallback would
        answer either); one that cannot connect raises DockerAPIError."""
        timeout = kwargs.pop('timeout', None) or self.config['command_timeout']
        try:
            return call(*args, timeout=timeout, socket_path=self.config['docker_socket'])
        except _docker_api.DockerAPITimeout as exc:
            raise TimedOut('the Docker API timed out after %ss: %s' % (timeout, exc), 'docker')

    def start(self, name):
        """`docker start NAME` (the API; the CLI where it cannot be reached): None, or why it failed."""
        try:
            return self._api(_docker_api.start, name)
        except _docker_api.DockerAPIError:
            res = self.run(['docker', 'start', name], check=False)
            return None if res.returncode == 0 else (res.stderr or res.stdout).strip()[:200]

    def docker_started_at(self, pid_file='/run/docker.pid'):
        """When the running Docker daemon started (epoch seconds), read from
        its pid file and /proc without a call to it; None when they cannot be
        read."""
        return _vrrp.started_at(pid_file)

    def docker_ok(self, timeout=None):
        """The Docker daemon answers within `timeout` seconds (config docker_timeout)."""
        try:
            return self.run(['docker', 'info', '--format', '{{.ServerVersion}}'],
                            timeout=timeout or self.config['docker_timeout'], check=False).returncode == 0
        except HookError:  # timed out: a hung daemon
            return False

    def stack_processes(self):
        """(name, pid) of the main process of every running container of the
        project, without the Docker daemon: found in its own records
        (config.v2.json) and checked against /proc (the process's cgroup
        names the container; a record says Running after a kill the daemon
        never saw)."""
        root = os.path.join(self.config['docker_root'], 'containers')
        records = []
        for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            try:
                with open(os.path.join(root, entry, 'config.v2.json')) as handle:
                    records.append(json.load(handle))
            except (OSError, ValueError):
                continue
        alive = []
        for name, pid, ident in project_processes(records, self.config['project_dir']):
            try:
                with open('/proc/%d/cgroup' % pid) as handle:
                    if ident in handle.read():
                        alive.append((name, pid))
            except OSError:
                continue  # gone
        return alive

    def kill_without_docker(self, wait=2.0):
        """The Docker daemon does not answer: SIGKILL the main process of every
        running container of the project (stack_processes). Killing a
        container's first process ends its PID namespace, every process in
        it. Returns the names killed."""
        killed = []
        for name, pid in self.stack_processes():
            try:
                os.kill(pid, 9)
                killed.append((name, pid))
            except OSError:
                continue
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(os.path.exists('/proc/%d' % pid) for _name, pid in killed):
            time.sleep(0.05)
        return [name for name, _pid in killed]

    def running_count(self):
        """How many containers of the project run (`docker ps`, cheaper than `docker compose ps`)."""
        res = self.run(['docker', 'ps', '--quiet', '--filter',
                        'label=com.docker.compose.project.working_dir=%s' % self.config['project_dir']],
                       timeout=self.config['docker_timeout'], check=False)
        return len(res.stdout.split()) if res.returncode == 0 else 0

    def running(self, name):
        res = self.run(['docker', 'inspect', '--format', '{{.State.Running}}', name],
                       timeout=self.config['docker_timeout'], check=False)
        return res.returncode == 0 and res.stdout.strip() == 'true'

    def announce_neighbours(self, names):
        """Tell the kernel where the containers just started are (`ip neigh
        replace`, on the Docker bridges). A client's SYN that reached a
        published port while its container was starting waits for ARP, which
        asks again only once a second; this sends it on at once. Returns the
        addresses set (best effort: a failure only costs that second)."""
        if not names:
            return []
        try:
            inspected = self._api(_docker_api.inspect, list(names), timeout=10)
        except _docker_api.DockerAPIError:
            inspected = None  # the CLI's, parsed below
        except HookError:
            return []
        routes = self.run(['ip', '-j', '-4', 'route', 'show'], timeout=10, check=False)
        try:
            if inspected is None:
                inspected = json.loads(self.run(['docker', 'inspect'] + list(names), timeout=10, check=False).stdout
                                       or '[]')
            entries = neighbour_entries(inspected, json.loads(routes.stdout or '[]'),
                                        lambda dev: os.path.isdir('/sys/class/net/%s/bridge' % dev))
        except ValueError:
            return []
        return [address for address, mac, dev in entries
                if self.run(['ip', 'neigh', 'replace', address, 'lladdr', mac, 'dev', dev, 'nud', 'stale'],
                            timeout=10, check=False).returncode == 0]

    def port_open(self, port):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=2):
                return True
        except OSError:
            return False

    def storage_problem(self):
        """None when the shared storage check passes (or none is configured)."""
        if not self.config['storage_check']:
            return None
        try:
            res = self.run([self.config['storage_check']], timeout=self.config['storage_check_timeout'], check=False)
        except HookError as exc:
            return str(exc)
        return None if res.returncode == 0 else ((res.stdout or res.stderr).strip() or 'rc=%d' % res.returncode)

    # ------------------------------------------------------------ the guard's probes

    def probes(self):
        return _guard.Probes(self.config['interface'] or 'eth0', self.config['vip'])

    def connectivity(self):
        """{'witnesses': True when a witness answers, 'peer': how the peer is
        heard when none does (its responder answers; or, on a node without
        the VIP, whose MASTER peer advertises, its VRRP adverts arrive), or None}."""
        guard = self.config['guard']
        if self.probes().witness_answers(guard['witnesses'], guard['witness_deadline']):
            return {'witnesses': True, 'peer': None}
        if _responder.query_peer(guard['peers'], guard['port'], guard['query_timeout']) is not None:
            return {'witnesses': False, 'peer': 'answers on the second path'}
        if not self.is_master() and _guard.advert_heard(guard['peers'], guard['advert_window']):
            return {'witnesses': False, 'peer': 'sends VRRP adverts'}
        return {'witnesses': False, 'peer': None}

    def isolated(self):
        """None when the node is connected (or the guard is off), else why it is cut off (guard.isolation)."""
        guard = self.config['guard']
        return _guard.isolation(self.connectivity(), guard['witnesses']) if guard['enabled'] else None

    def other_holders(self):
        return self.probes().other_holders(self.config['guard']['arp_deadline'])

    def advert_heard(self):
        guard = self.config['guard']
        return _guard.advert_heard(guard['peers'], guard['advert_window'])

    def peer_holds(self):
        guard = self.config['guard']
        return _responder.ask_peer(guard['peers'], guard['port'], guard['query_timeout'])

    def peer_stack(self, timeout):
        """The names of the containers of the stack that run on the peer (its
        responder reads /proc), or None when it does not say (no answer
        within `timeout`, or a responder that does not know the question)."""
        guard = self.config['guard']
        reply = _responder.query_peer(guard['peers'], guard['port'], timeout, query=_responder.STACK)
        stack = reply.get('stack') if reply else None
        return stack if isinstance(stack, list) else None

    def peer_silence(self):
        """How long the peer's responder has not answered this node's pulse
        (seconds, from this node's responder), or None when that is not known."""
        return _responder.peer_silence(self.config['guard']['port'])

    def announce(self):
        self.probes().announce()

    # ------------------------------------------------------------ the storage lease

    def take_lease(self, state):
        """Start the lease holder and wait until it holds the lease: None, or why not."""
        lease = self.config['lease']
        self.run(['systemctl', 'start', '--no-block', lease['unit']], timeout=10)
        deadline = time.monotonic() + lease['wait']
        while time.monotonic() < deadline:
            record = state.read().get('lease') or {}
            if record.get('held'):
                return None
            time.sleep(0.2)
        record = state.read().get('lease') or {}
        return 'no storage lease within %ss (%s)' % (lease['wait'], record.get('reason') or 'no answer')

    def drop_lease(self):
        self.run(['systemctl', 'stop', self.config['lease']['unit']], timeout=30, check=False)


def project_processes(records, project_dir):
    """(name, pid, id) of each running container of the Compose project in
    `project_dir`, from the daemon's config.v2.json records."""
    found = []
    for record in records:
        labels = (record.get('Config') or {}).get('Labels') or {}
        state = record.get('State') or {}
        if (labels.get('com.docker.compose.project.working_dir') == project_dir and state.get('Running')
                and int(state.get('Pid') or 0) > 0 and record.get('ID')):
            found.append(((record.get('Name') or '').lstrip('/'), int(state['Pid']), record['ID']))
    return found


def neighbour_entries(inspected, routes, is_bridge):
    """(address, MAC, bridge) of each container address on a local bridge.

    inspected: `docker inspect` output (a stopped container has no address);
    routes: `ip -j -4 route show` (the bridges' link routes); is_bridge(dev)."""
    links = [(ipaddress.ip_network(r['dst'], strict=False), r['dev']) for r in routes
             if r.get('scope') == 'link' and '/' in r.get('dst', '') and r.get('dev') and is_bridge(r['dev'])]
    entries = []
    for container in inspected:
        for network in ((container.get('NetworkSettings') or {}).get('Networks') or {}).values():
            address, mac = network.get('IPAddress'), network.get('MacAddress')
            dev = next((d for net, d in links if address and ipaddress.ip_address(address) in net), None)
            if dev and mac:
                entries.append((address, mac, dev))
    return entries
