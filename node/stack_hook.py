# -*- coding: utf-8 -*-
# Managed by Ansible (netsocs.failover.docker_stack, from node/ in the collection):
# local changes are overwritten.
"""Keepalived hooks for the Netsocs Compose stack. Standard library only.

    stack-hook trigger STATE   keepalived notify_*: log, then schedule `sync`
                               in its own transient systemd unit (outside
                               keepalived's cgroup, so stopping keepalived
                               cannot kill a `docker compose down` half way)
    stack-hook sync            under an exclusive lock, act on the node's
                               *current* role, re-read it, repeat until stable
    stack-hook health          keepalived track_script, state-aware
    stack-hook boot            at boot, before keepalived: take the stack down
    stack-hook guard           keepalived track_script (weight 0): the
                               split-brain guard (_guard.py); failing puts the
                               instance in FAULT, which releases the VIP
    stack-hook respond         the guard's second path: answer the peer's
                               status query (netsocs-guard-responder.service)
    stack-hook lease           hold the storage lease while the stack runs
                               (netsocs-stack-lease.service, started by sync)
    stack-hook clear-holdoff   the operator fixed this node's stack: lift the
                               failback hold-off so it may take the VIP back,
                               and reset the count of restarts in place
    stack-hook prestart        a planned switchover's first step, on the node
                               about to take over: start its stack while it is
                               still BACKUP (kept for prestart_window seconds),
                               so that the promotion finds it running
    stack-hook handover        Keepalived's ExecStop: a MASTER being stopped on
                               purpose asks the peer's responder to prestart,
                               and waits (handover.timeout at most) before
                               Keepalived gives the VIP up

The current role is read, not remembered: the node is MASTER exactly when it
holds the VIP. Keepalived runs notify scripts asynchronously and in no
guaranteed order; every `sync` takes the lock, then looks, so the last one
always acts on the final state of a MASTER-BACKUP-MASTER flap.

State (stack-state.json in state_dir) is written by trigger, sync and health:
every change is a read-modify-write under a lock, through a unique temporary
file. `health` reads it only after it knows the role, and a node that holds
the VIP before its MASTER trigger was recorded counts as being promoted.
Every path comes from the configuration file the role renders.
"""

import concurrent.futures
import datetime
import fcntl
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import _compose  # noqa: E402  (the collection's module_utils/_compose.py, installed beside)
import _guard  # noqa: E402  (node/_guard.py, installed beside)
import _vip  # noqa: E402  (the collection's module_utils/_vip.py, installed beside)

CONFIG_FILE = os.environ.get('NETSOCS_STACK_CONFIG', '/etc/netsocs-failover/stack.json')
# The role renders every key (docker_stack/templates/stack.json.j2); these
# are the behaviour defaults only. The paths (project_dir, log_file,
# health_log_file, state_dir, hook_path) have none: they are the pair's facts.
DEFAULTS = {
    'interface': None,
    'min_containers': 3,
    'critical_containers': ['netsocs-caddy', 'traefik'],
    'port': 80,
    'grace_seconds': 60,
    'failback_holdoff_seconds': 120,
    'command_timeout': 120,
    'lock_timeout': 600,
    'storage_check': None,
    'storage_check_timeout': 15,
    # A critical container that dies on the MASTER is started again in place
    # up to `max` times in `window` seconds; past that (or when the start
    # fails) the health check fails and the VIP moves. max 0: always move.
    'restart_in_place': {'max': 1, 'window': 300},
    # Seconds a stack started ahead (a switchover, a handover) may run on a BACKUP.
    'prestart_window': 30,
    # warm: a BACKUP stops its containers and keeps them (a promotion only
    # starts them); cold: it removes them (docker compose down).
    'standby': 'warm',
    # A start begins with the critical containers (docker start), then the rest.
    'critical_first': True,
    # A MASTER whose Keepalived is stopped on purpose has the peer prestart
    # first (needs the guard's responder; never with the storage lease).
    'handover': {'enabled': False, 'timeout': 20},
    # The split-brain guard (_guard.py): off unless the role renders it.
    'guard': {'enabled': False, 'witnesses': [], 'outranked': False, 'peers': [], 'port': 8007,
              'witness_deadline': 1, 'arp_deadline': 1, 'advert_window': 1.2, 'query_timeout': 1},
    # The storage lease (_guard.Lease): only with a dedicated NFS host.
    'lease': {'enabled': False, 'file': None, 'unit': 'netsocs-stack-lease.service', 'wait': 15,
              'timeout': 5, 'interval': 1},
}
REQUIRED = ('project_dir', 'vip', 'log_file', 'health_log_file', 'state_dir', 'hook_path')


class HookError(RuntimeError):
    pass


def load_config(path=CONFIG_FILE):
    config = dict(DEFAULTS)
    with open(path) as handle:
        config.update(json.load(handle))
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        raise HookError('%s lacks %s' % (path, ', '.join(missing)))
    return config


def vrrp_state(config):
    """The VRRP state the notify hook last recorded (vrrp-state.json), or None."""
    try:
        with open(os.path.join(config['state_dir'], 'vrrp-state.json')) as handle:
            return json.load(handle).get('state')
    except (OSError, ValueError):
        return None


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds')


def log(path, message):
    # One line per event: a command's multi-line output is folded in.
    line = '%s stack-hook[%d] %s\n' % (now_iso(), os.getpid(), ' | '.join(str(message).split('\n')))
    try:
        with open(path, 'a') as handle:
            handle.write(line)
    except OSError:
        sys.stderr.write(line)


class Node(object):
    """What the hooks ask of the node; every command has a timeout."""

    def __init__(self, config):
        self.config = config

    def run(self, args, timeout=None, check=True):
        timeout = timeout or self.config['command_timeout']
        try:
            res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise HookError('%s timed out after %ss' % (' '.join(args[:3]), timeout))
        except OSError as exc:
            raise HookError('%s: %s' % (args[0], exc))
        if check and res.returncode != 0:
            raise HookError('%s failed (rc=%d): %s' % (' '.join(args[:3]), res.returncode,
                                                       (res.stderr or res.stdout).strip()[:300]))
        return res

    def is_master(self):
        args = ['ip', '-j', '-4', 'addr', 'show']
        if self.config['interface']:
            args += ['dev', self.config['interface']]
        return _vip.find_vip(_vip.parse_ip_addr_json(self.run(args, timeout=10).stdout),
                             self.config['vip']) is not None

    def compose(self, args):
        return self.run(['docker', 'compose', '--project-directory', self.config['project_dir']] + args)

    def containers(self):
        return _compose.parse_ps(self.compose(['ps', '--all', '--format', 'json']).stdout)

    def docker_ok(self):
        return self.run(['docker', 'info', '--format', '{{.ServerVersion}}'], timeout=10, check=False).returncode == 0

    def running(self, name):
        res = self.run(['docker', 'inspect', '--format', '{{.State.Running}}', name], timeout=10, check=False)
        return res.returncode == 0 and res.stdout.strip() == 'true'

    def announce_neighbours(self, names):
        """Tell the kernel where the containers just started are (`ip neigh
        replace`, on the Docker bridges). A client's SYN that reached a
        published port while its container was starting waits for ARP, which
        asks again only once a second; this sends it on at once. Returns the
        addresses set (best effort: a failure only costs that second)."""
        if not names:
            return []
        inspected = self.run(['docker', 'inspect'] + list(names), timeout=10, check=False)
        routes = self.run(['ip', '-j', '-4', 'route', 'show'], timeout=10, check=False)
        try:
            entries = neighbour_entries(json.loads(inspected.stdout or '[]'), json.loads(routes.stdout or '[]'),
                                        lambda dev: os.path.isdir('/sys/class/net/%s/bridge' % dev))
        except ValueError:
            return []
        return [address for address, mac, dev in entries
                if self.run(['ip', 'neigh', 'replace', address, 'lladdr', mac, 'dev', dev, 'nud', 'stale'],
                            timeout=10, check=False).returncode == 0]

    def storage_problem(self):
        """None when the shared storage check passes (or none is configured)."""
        if not self.config['storage_check']:
            return None
        try:
            res = self.run([self.config['storage_check']], timeout=self.config['storage_check_timeout'], check=False)
        except HookError as exc:
            return str(exc)
        return None if res.returncode == 0 else ((res.stdout or res.stderr).strip() or 'rc=%d' % res.returncode)

    def probes(self):
        return _guard.Probes(self.config['interface'] or 'eth0', self.config['vip'])

    def isolated(self):
        """None when a witness answers (or the guard is off), else why the node is cut off."""
        guard = self.config['guard']
        if not guard['enabled'] or self.probes().witness_answers(guard['witnesses'], guard['witness_deadline']):
            return None
        return 'no witness answers (%s)' % ', '.join(guard['witnesses'])

    def other_holders(self):
        return self.probes().other_holders(self.config['guard']['arp_deadline'])

    def advert_heard(self):
        guard = self.config['guard']
        return _guard.advert_heard(guard['peers'], guard['advert_window'])

    def peer_holds(self):
        guard = self.config['guard']
        return _guard.ask_peer(guard['peers'], guard['port'], guard['query_timeout'])

    def announce(self):
        self.probes().announce()

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

    def port_open(self, port):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=2):
                return True
        except OSError:
            return False


class State(object):
    """Small JSON record in state_dir, shared by trigger, sync and health:
    the last role acted on, the last VRRP state Keepalived reported (and when),
    the promotion time, the last MASTER health failure, the last health result.

    Every change is a read-modify-write under an exclusive lock, written
    through a unique temporary file and renamed, so concurrent hooks neither
    lose each other's keys nor tear the file."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.path = os.path.join(state_dir, 'stack-state.json')
        self.lock_path = os.path.join(state_dir, 'stack-state.lock')

    def read(self):
        try:
            with open(self.path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def change(self, func):
        """Apply func(data) -> dict of new values under the lock; returns the new data."""
        with open(self.lock_path, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            data.update(func(dict(data)) or {})
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix='.stack-state.')
            try:
                with os.fdopen(fd, 'w') as handle:
                    json.dump(data, handle)
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            return data

    def update(self, **values):
        return self.change(lambda data: values)


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


def plan(role, last_role, containers, min_containers, standby='cold'):
    """The compose action for the node's current role.

    MASTER: start when fewer than min_containers run; restart a stack that
    already runs, but only on the transition into MASTER (a sync that finds the
    node still MASTER must not restart a healthy stack). BACKUP: with a cold
    standby, down while any container of the project exists; with a warm one,
    stop while any container runs (the containers stay, so a promotion is a
    start, not a create; the role creates them at deploy, never a hook, which
    could pull an image).
    """
    if role == 'master':
        wanted = 'restarted' if last_role != 'master' else 'running'
    else:
        wanted = 'standby' if standby == 'warm' else 'stopped'
    action = _compose.decide(wanted, containers, min_containers)
    return wanted, 'none' if action == 'create' else action


def start_blocked(node, state, config):
    """Why a MASTER must not start its stack now (the split-brain guard, the
    storage lease), or None."""
    if config['guard']['enabled']:
        if (state.read().get('guard') or {}).get('yielded'):
            return 'the guard yielded to another holder of the VIP'
        problem = node.isolated()
        if problem:
            return problem
    if config['lease']['enabled']:
        return node.take_lease(state)
    return None


def prestarted(state, config, now=None, recorded=None):
    """Whether a stack started ahead (a switchover, a handover) is still within
    its window (recorded: the state already read, to read it only once)."""
    now = now if now is not None else time.time()
    recorded = recorded if recorded is not None else state.read()
    return 0 <= now - float(recorded.get('prestarted_at') or 0) < config['prestart_window']


def act(node, config, wanted, action, before):
    """Run the compose action and check that the project reached `wanted`
    (the containers after, or HookError). A start begins with the critical
    containers a warm standby kept (`docker start`, the front door serves
    sooner); `docker compose up` then starts the rest, in order."""
    started_first = []  # their neighbour entries are set already
    if action == 'up' and config['critical_first']:
        first = _compose.first_to_start(config['critical_containers'], before)
        if first:
            # One `docker start` each, side by side (one command starts them in turn).
            with concurrent.futures.ThreadPoolExecutor(len(first)) as pool:
                answers = list(pool.map(lambda name: node.run(['docker', 'start', name], check=False), first))
            failed = ['%s (%s)' % (name, (res.stderr or '').strip()[:200])
                      for name, res in zip(first, answers) if res.returncode != 0]
            started_first = [name for name, res in zip(first, answers) if res.returncode == 0]
            announced = node.announce_neighbours(started_first)
            log(config['log_file'], 'critical container(s) %s started first%s%s' % (
                ', '.join(first), ' (neighbours set: %s)' % ', '.join(announced) if announced else '',
                '; failed, docker compose up follows: ' + ', '.join(failed) if failed else ''))
    if action != 'none':
        node.compose(_compose.compose_args(action, config['command_timeout']))
    after = node.containers()
    if action in ('up', 'restart'):
        node.announce_neighbours([c['name'] for c in after if c['state'] == 'running'
                                  and c['name'] not in started_first])
    if not _compose.reached(wanted, after, config['min_containers']):
        raise HookError('stack is not %s after docker compose %s: %s' % (
            wanted, action, ', '.join('%s=%s' % (c['name'], c['state']) for c in after) or 'no containers'))
    return after


def apply_role(node, state, config, role):
    last = state.read().get('role')
    before = node.containers()
    blocked = start_blocked(node, state, config) if role == 'master' else None
    if blocked:
        # Never start a stack that may be a second one: keep it down, and let
        # the guard take the VIP away (FAULT).
        log(config['log_file'], 'sync: node is MASTER but %s: the stack stays down' % blocked)
        role = 'blocked'
    ahead = role in ('master', 'backup') and prestarted(state, config)
    # A stack started ahead (a switchover, a handover): the promotion keeps it
    # running (no restart), and a BACKUP leaves it up until its window ends.
    wanted, action = plan(role, 'master' if ahead else last, before, config['min_containers'], config['standby'])
    if ahead and role == 'backup':
        wanted, action = 'running', 'none'
    log(config['log_file'], 'sync: node is %s (was %s), %d container(s) running: %s%s'
        % (role.upper(), (last or 'unknown').upper(), _compose.running_count(before),
           'nothing to do' if action == 'none' else 'docker compose ' + action,
           ' (started ahead: a switchover or a handover)' if ahead else ''))
    if role == 'master' and last != 'master':
        state.update(promoted_at=time.time(), prestarted_at=0)
    after = act(node, config, wanted, action, before)
    if wanted in ('stopped', 'standby') and config['lease']['enabled']:
        # The stack is down: the other node may take the storage now.
        node.drop_lease()
    state.update(role=role)
    log(config['log_file'], 'sync: stack %s, %d container(s) running' % (
        {'stopped': 'stopped, no container left',
         'standby': 'stopped, %d container(s) kept for a warm start' % len(after)}.get(wanted, 'running'),
        _compose.running_count(after)))


def prestart(node, state, config, why='a planned switchover'):
    """Start the stack on a BACKUP about to take over (`why`). Refused where
    the guard or the lease would refuse a promotion. The promotion that
    follows keeps the stack (no restart); if none follows within
    prestart_window, the health check has a sync take it down."""
    with StackLock(config, config['lock_timeout']):
        if node.is_master():
            log(config['log_file'], 'prestart: this node holds the VIP already: nothing to do')
            return
        blocked = start_blocked(node, state, config)
        if blocked:
            raise HookError('prestart refused: %s' % blocked)
        state.update(prestarted_at=time.time())
        before = node.containers()
        action = _compose.decide('running', before, config['min_containers'])
        log(config['log_file'], 'prestart: starting the stack ahead of %s (%s), for %ss'
            % (why, 'docker compose ' + action if action != 'none' else 'already running', config['prestart_window']))
        after = act(node, config, 'running', action, before)
        log(config['log_file'], 'prestart: stack running, %d container(s)' % _compose.running_count(after))


def handover_skipped(config):
    """Why this node neither asks for nor grants a handover, or None."""
    if not config['handover']['enabled']:
        return 'handover is off'
    if not config['guard']['enabled']:
        return 'the guard, and so its responder, is off'
    if config['lease']['enabled']:
        return 'the storage lease allows one stack at a time'
    return None


def handover(node, config, request=_guard.request_handover):
    """Keepalived is being stopped on purpose (its unit's ExecStop runs this
    before the stop): a MASTER asks the peer to start its stack first, so that
    clients wait only for the VIP to move, not for a start. Bounded by
    handover.timeout; whatever the answer, Keepalived stops next."""
    skipped = handover_skipped(config)
    if skipped:
        log(config['log_file'], 'handover: keepalived stopping; no handover: %s' % skipped)
        return False
    if not node.is_master():
        return False  # a BACKUP being stopped has nothing to hand over
    guard = config['guard']
    started = time.monotonic()
    ready, reason = request(guard['peers'], guard['port'], guard['query_timeout'], config['handover']['timeout'])
    log(config['log_file'], 'handover: keepalived stopping on the MASTER; after %.1f s the peer %s (%s)' % (
        time.monotonic() - started,
        'runs the stack' if ready else 'has not started its stack (it starts it once promoted)', reason))
    return ready


def grant_handover(node, state, config):
    """The peer's Keepalived is stopping (a handover request, in the
    responder): prestart when this node is the BACKUP that takes over.
    (ready, reason)."""
    skipped = handover_skipped(config)
    if skipped:
        return False, skipped
    vrrp = vrrp_state(config)
    if vrrp != 'BACKUP':
        return False, 'not BACKUP (Keepalived reports %s)' % (vrrp or 'nothing')
    try:
        prestart(node, state, config, why="the peer's graceful stop (handover)")
    except HookError as exc:
        log(config['log_file'], 'ERROR handover: %s' % exc)
        return False, str(exc)
    return True, 'stack running'


class StackLock(object):
    """The exclusive lock every action on the stack takes (sync, prestart,
    a restart in place). wait: seconds to wait for it; 0 tries once and
    raises Busy when another hook holds it."""

    class Busy(HookError):
        pass

    def __init__(self, config, wait):
        self.path = os.path.join(config['state_dir'], 'stack.lock')
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


def sync(node, state, config, max_rounds=5):
    """Act on the current role until the role no longer changes under us."""
    with StackLock(config, config['lock_timeout']):
        for _round in range(max_rounds):
            role = 'master' if node.is_master() else 'backup'
            apply_role(node, state, config, role)
            if ('master' if node.is_master() else 'backup') == role:
                return role
        raise HookError('VRRP role kept changing during %d rounds' % max_rounds)


def promotion_started(state, now):
    """When this node's current MASTER term began, for the grace period.

    Called only once the node is known to hold the VIP. Keepalived adds the VIP
    before it runs the MASTER notify, so a check can see the VIP before
    `trigger MASTER` recorded the promotion: then the last recorded VRRP state
    is not MASTER (or the promotion time predates it), the promotion is in
    progress, and it is recorded as starting now."""
    def record(data):
        promoted = float(data.get('promoted_at') or 0)
        if data.get('vrrp_state') != 'MASTER' and promoted <= float(data.get('vrrp_state_at') or 0):
            return {'promoted_at': now}
        return {}
    return float(state.change(record)['promoted_at'])


def health(node, state, config, now=None):
    """(ok, reason). MASTER: Docker, critical containers, the port; a failure
    within the grace period from promotion still counts as healthy. BACKUP:
    Docker only, so a standby whose stack is correctly stopped stays
    eligible; but after its own stack failed as
    MASTER it reports unhealthy for the failback hold-off, so the VIP does not
    bounce straight back to a broken node. The role is read first, the state
    after it."""
    now = now if now is not None else time.time()
    if not node.docker_ok():
        return False, 'docker daemon not answering'
    # Either role: a node without its shared storage must not take the VIP
    # from a healthy peer, and a MASTER that loses it hands the VIP over.
    problem = node.storage_problem()
    if problem:
        return False, 'shared storage broken (%s)' % problem
    if node.is_master():
        promoted = promotion_started(state, now)
        since = now - promoted
        # The grace period excuses a stack still starting: it ends early once
        # the stack has been seen healthy in this MASTER term.
        in_grace = since < config['grace_seconds'] and state.read().get('healthy_term') != promoted
        failure = None
        missing = [name for name in config['critical_containers'] if not node.running(name)]
        if missing and not in_grace:
            # Pacemaker's migration-threshold: start it again here first.
            refused = restart_in_place(node, state, config, missing, now)
            if refused is None:
                missing = [name for name in missing if not node.running(name)]
                if not missing:
                    return True, 'MASTER healthy (restarted in place)'
                refused = 'the start in place did not bring it back'
            failure = 'MASTER: critical container(s) not running: %s (%s)' % (', '.join(missing), refused)
        elif missing:
            failure = 'MASTER: critical container(s) not running: %s' % ', '.join(missing)
        elif config['port'] and not node.port_open(config['port']):
            failure = 'MASTER: nothing answers on port %s' % config['port']
        if failure is None:
            # Healthy as soon as the stack is: the grace period excuses a
            # stack still starting, it does not hide one that is up.
            if state.read().get('healthy_term') != promoted:
                state.update(healthy_term=promoted)
            return True, 'MASTER healthy'
        if in_grace:
            return True, 'MASTER in grace period (%.0fs of %ss)' % (since, config['grace_seconds'])
        # Demoted while we looked (the stack is going down because the node is
        # no longer MASTER): judge it as the BACKUP it now is.
        if node.is_master():
            state.update(master_failed_at=now)
            return False, failure
    recorded = state.read()
    if recorded.get('prestarted_at') and not prestarted(state, config, now, recorded):
        # A planned switchover started the stack here and no promotion
        # followed: a sync takes it down (the BACKUP's rule).
        state.update(prestarted_at=0)
        log(config['log_file'], 'health: the stack started ahead of a switchover outlived its %ss on a BACKUP: '
            'scheduling a sync' % config['prestart_window'])
        schedule_sync(config, 'prestart window over')
    failed_ago = now - float(recorded.get('master_failed_at') or 0)
    if failed_ago < config['failback_holdoff_seconds']:
        return False, 'BACKUP holding off failback: the stack failed here %.0fs ago' % failed_ago
    return True, 'BACKUP healthy (docker daemon answers)'


def restart_in_place(node, state, config, names, now):
    """Start dead critical containers again on the MASTER, within the budget
    (restart_in_place: max starts per window seconds). Returns None when it
    started them, else why not: the budget is spent, a sync holds the stack
    (a transition is under way), the node is no longer MASTER, or `docker
    start` failed (a container that was removed, not one that died)."""
    budget = config['restart_in_place']
    recent = [t for t in state.read().get('restarts_in_place') or [] if now - t < budget['window']]
    if len(recent) >= budget['max']:
        return 'restarted in place %d time(s) in the last %ss: moving' % (len(recent), budget['window'])
    try:
        with StackLock(config, 0):
            if not node.is_master():
                return 'no longer MASTER'
            state.update(restarts_in_place=recent + [now])
            failed = [name for name in names
                      if node.run(['docker', 'start', name], timeout=config['command_timeout'], check=False).returncode]
            node.announce_neighbours([name for name in names if name not in failed])
    except StackLock.Busy:
        return 'a stack sync is running'
    log(config['log_file'], 'health: critical container(s) %s dead on the MASTER: started again in place '
        '(%d of %d in %ss)%s' % (', '.join(names), len(recent) + 1, budget['max'], budget['window'],
                                 ', failed: ' + ', '.join(failed) if failed else ''))
    return 'docker start failed: %s' % ', '.join(failed) if failed else None


def guard(node, state, config, now=None):
    """The split-brain guard's check: (ok, reason). Records its verdict in the
    state (status.yml shows a yielded node and why) and logs every change of
    verdict with its reason."""
    now = now if now is not None else time.time()
    before = state.read().get('guard') or {}
    yielded = bool(before.get('yielded'))
    isolated = node.isolated()
    holds = node.is_master()
    others = heard = peer = None
    if not isolated and (yielded or holds):
        # Ask only what the verdict needs: a second holder first (ARP), then
        # whether VRRP still works (adverts) and the peer is alive and holds it.
        others = node.other_holders()
        if others:
            heard = node.advert_heard()
            if not heard:
                peer = node.peer_holds()
    ok, yielded, reason, announce = _guard.decide(isolated, holds, others, yielded, heard, peer,
                                                  config['guard']['outranked'])
    if announce and not node.is_master():
        # The VIP left this node while the probes ran (Keepalived stopped, a
        # hand-over): the other holder is the new MASTER, not a second one,
        # and a gratuitous ARP now would pull the clients back to a node
        # that no longer answers for the VIP.
        announce, reason = False, 'ok'
    if announce:
        node.announce()
    kind = reason.split(':')[0]
    if ok != before.get('ok') or kind != before.get('kind') or announce:
        log(config['log_file'], 'guard: %s %s' % ('OK' if ok else 'FAIL', reason))
    state.update(guard={'ok': ok, 'yielded': yielded, 'reason': reason, 'kind': kind, 'at': now,
                        'since': before.get('since', now) if before.get('kind') == kind else now})
    return ok, reason


def hold_lease(node, state, config, stop=None, clock=time.time):
    """The storage lease holder (`stack-hook lease`): take the lease, then
    refresh it every interval; when a refresh fails (the NFS lease expired, the
    server is gone, the mount hangs) the stack is killed at once: a node that
    lost its lease must not go on writing. Returns when stopped (the lock is
    released with the file) or after fencing."""
    lease_cfg = config['lease']
    lease = _guard.Lease(lease_cfg['file'], socket.gethostname(), lease_cfg['timeout'])
    stop = stop or (lambda: False)
    waiting_logged = False
    try:
        while not stop():
            try:
                if lease.try_acquire():
                    break
                reason = 'held by another node (%s)' % (lease.holder() or 'no token')
            except _guard.LeaseError as exc:
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
            except _guard.LeaseError as exc:
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


def report_health(state, config, ok, reason, now=None):
    """Record the result for status.yml (last_health) and log a health line
    on every change of result and on every failure."""
    now = now if now is not None else time.time()
    kind = reason.split(' (')[0]  # the reason without its changing numbers
    before = state.read().get('last_health') or {}
    if not ok or before.get('kind') != kind:
        log(config['health_log_file'], '%s %s' % ('OK' if ok else 'FAIL', reason))
    state.update(last_health={'ok': ok, 'reason': reason, 'kind': kind, 'at': now,
                              'since': before.get('since', now) if before.get('kind') == kind else now})


def trigger(config, state, vrrp_state, run=subprocess.run):
    log(config['log_file'], 'keepalived reports %s: scheduling a stack sync' % vrrp_state)
    now = time.time()
    values = {'vrrp_state': vrrp_state, 'vrrp_state_at': now}
    if vrrp_state == 'MASTER':
        # The health check's grace period counts from the transition itself,
        # not from when a queued sync gets the lock.
        values['promoted_at'] = now
    state.update(**values)
    schedule_sync(config, 'after VRRP %s' % vrrp_state, run)


def schedule_sync(config, why, run=subprocess.run):
    """Run `sync` in its own transient systemd unit (outside keepalived's cgroup)."""
    unit = 'netsocs-stack-sync-%d' % time.time_ns()
    res = run(['systemd-run', '--no-block', '--collect', '--quiet', '--unit', unit,
               '--description', 'Netsocs stack sync %s' % why,
               config['hook_path'], 'sync'], capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        system = run(['systemctl', 'is-system-running'], capture_output=True, text=True, timeout=10, check=False)
        if system.stdout.strip() == 'stopping':
            # Shutting down: Docker stops the containers, and at the next boot
            # netsocs-stack-boot takes the stack down before Keepalived starts.
            log(config['log_file'], 'system is shutting down: no sync, the boot unit takes the stack down')
            return
        raise HookError('systemd-run failed: %s' % res.stderr.strip())


def main(argv):
    if not argv or argv[0] not in ('trigger', 'sync', 'health', 'guard', 'respond', 'lease', 'boot', 'clear-holdoff',
                                   'prestart', 'handover'):
        sys.stderr.write('usage: stack-hook trigger STATE | sync | health | guard | respond | lease | boot | '
                         'clear-holdoff | prestart | handover\n')
        return 2
    try:
        config = load_config()
    except (OSError, ValueError, HookError) as exc:
        sys.stderr.write('stack-hook: cannot read its configuration: %s\n' % exc)
        return 1
    os.makedirs(config['state_dir'], exist_ok=True)
    node, state = Node(config), State(config['state_dir'])
    try:
        if argv[0] == 'trigger':
            trigger(config, state, argv[1].upper() if len(argv) > 1 else 'UNKNOWN')
        elif argv[0] == 'sync':
            sync(node, state, config)
        elif argv[0] == 'health':
            ok, reason = health(node, state, config)
            report_health(state, config, ok, reason)
            return 0 if ok else 1
        elif argv[0] == 'guard':
            try:
                return 0 if guard(node, state, config)[0] else 1
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # A probe that broke is no evidence of isolation or of a split
                # brain: keep the last verdict (a traceback would read as a
                # failed check, FAULT, and drop the VIP), and say so.
                kept = (state.read().get('guard') or {}).get('ok', True)
                log(config['log_file'], 'guard: %s verdict kept, a probe failed: %s: %s'
                    % ('OK' if kept else 'FAIL', type(exc).__name__, exc))
                return 0 if kept else 1
        elif argv[0] == 'lease':
            stopping = []
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            return hold_lease(node, state, config, stop=lambda: bool(stopping))
        elif argv[0] == 'respond':
            # The guard's second path: tell the peer whether this node holds
            # the VIP; and take its stack over ahead when it hands over.
            _guard.respond(config['guard']['port'], config['guard']['peers'],
                           lambda: _guard.status_reply(socket.gethostname(), node.is_master(), vrrp_state(config)),
                           handover=lambda: grant_handover(node, state, config))
        elif argv[0] == 'clear-holdoff':
            # The operator fixed this node's stack: allow failback now, and
            # restarts in place again.
            state.update(master_failed_at=0, restarts_in_place=[])
            log(config['log_file'], 'clear-holdoff: failback hold-off and restart-in-place count lifted by the operator')
        elif argv[0] == 'prestart':
            prestart(node, state, config)
        elif argv[0] == 'handover':
            handover(node, config)
        elif argv[0] == 'boot':
            log(config['log_file'], 'boot: taking the stack down before keepalived starts')
            state.update(prestarted_at=0)
            apply_role(node, state, config, 'backup')
    except HookError as exc:
        log(config['log_file'] if argv[0] != 'health' else config['health_log_file'], 'ERROR %s: %s' % (argv[0], exc))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
