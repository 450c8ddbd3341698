# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack hook's configuration (stack.json, rendered by the docker_stack role)."""

from __future__ import annotations

import json
import os

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
    # Seconds any Docker call of the health check may take before the daemon
    # counts as hung (a demotion gives it `docker_stop_timeout`, then stops
    # the containers without it), and where the daemon keeps its records.
    'docker_timeout': 5,
    'docker_stop_timeout': 3,
    'docker_root': '/var/lib/docker',
    # The daemon's API socket (docker_api.py; the CLI where it cannot be reached).
    'docker_socket': '/var/run/docker.sock',
    'storage_check': None,
    # Where Keepalived's notify hook records the VRRP state (the keepalived
    # role's keepalived_state_file); a stack.json from before 1.1 lacks it.
    'vrrp_state_file': None,
    'storage_check_timeout': 15,
    # A critical container that dies on the MASTER is started again in place
    # up to `max` times in `window` seconds; past that (or when the start
    # fails) the health check fails and the VIP moves. max 0: always move.
    'restart_in_place': {'max': 1, 'window': 300},
    # The services the compose file defines that must run on the MASTER (the
    # operator's optional and one-shot ones left out); empty: the critical
    # containers alone. One that does not run is brought back in place
    # (docker compose up for it alone), at most `max` times in `window`
    # seconds, each bounded by `timeout`; the node reports itself degraded.
    'services': [],
    'reconcile': {'max': 3, 'window': 300, 'timeout': 10},
    # Seconds a stack started ahead (a switchover, a handover) may run on a BACKUP.
    'prestart_window': 30,
    # warm: a BACKUP stops its containers and keeps them (a promotion only
    # starts them); cold: it removes them (docker compose down).
    'standby': 'warm',
    # A start begins with the critical containers (docker start), then the rest.
    'critical_first': True,
    # A MASTER whose Keepalived is stopped on purpose hands the stack over
    # (needs the guard's responder; never with the storage lease): order
    # stop_first stops its stack, then the peer starts its (one writer);
    # overlap has the peer start first (two stacks for the start's time).
    # With stop_first, every promotion waits for the peer's stack to be down
    # (its responder says so), at most confirm_wait seconds.
    'handover': {'enabled': False, 'timeout': 20, 'order': 'stop_first', 'confirm_wait': 4},
    # The split-brain guard (guard.py): off unless the role renders it.
    'guard': {'enabled': False, 'witnesses': [], 'outranked': False, 'peers': [], 'port': 8007,
              'witness_deadline': 1, 'arp_deadline': 1, 'advert_window': 1.2, 'query_timeout': 1},
    # Keepalived's watchdog (watchdog.py, in the responder): Keepalived's
    # unit, the VRRP profile it runs (its advert interval sets the stall),
    # and the seconds past the stall before the node fences it.
    'keepalived': {'watchdog': False, 'unit': 'keepalived.service', 'profile_file': None, 'fence_delay': 0.5},
    # The storage lease (lease.py): only with a dedicated NFS host.
    'lease': {'enabled': False, 'file': None, 'unit': 'netsocs-stack-lease.service', 'wait': 15,
              'timeout': 5, 'interval': 1},
    # Replicated shares (replica.py): each node keeps the shares under `root`
    # on its own disk; the BACKUP pulls the MASTER's copy from its rsync
    # daemon (module, port) every interval. A BACKUP whose last pull is older
    # than max_lag is out of sync (its health check fails). Deadlines: a
    # peer's term (term_timeout, pull_timeout for a peer that just answered),
    # a pull (pull_timeout), the rsync I/O (io_timeout). Files a pull would
    # replace in a copy that may have diverged are kept under aside_dir.
    'replica': {'enabled': False, 'peer': '', 'port': 873, 'module': 'netsocs-shares', 'root': '/mnt/netsocs-nfs',
                'interval': 1, 'max_lag': 10, 'term_timeout': 0.5, 'pull_timeout': 60, 'io_timeout': 10,
                'aside_dir': '/var/lib/netsocs-failover/set-aside'},
    # cloud.py: on AWS (provider 'aws') a promotion associates the Elastic IP
    # (allocation_id) with this instance, within `deadline` seconds; endpoint
    # and metadata_url are AWS's unless set (an AWS-compatible endpoint).
    'cloud': {'provider': '', 'region': '', 'allocation_id': '', 'endpoint': '',
              'metadata_url': 'http://169.254.169.254', 'deadline': 20, 'retry_every': 10, 'check_every': 30},
    # balancer.py (load-balancer mode): where the health endpoint a balancer
    # follows listens, and how old the last health result may be for a 200.
    'balancer': {'enabled': False, 'address': '0.0.0.0', 'port': 8404, 'max_age': 10},
    # metrics.py: the file node_exporter's textfile collector reads (empty:
    # no metrics), and the record failover_drill.yml leaves on the node.
    'metrics_file': '',
    'drill_file': '',
}
REQUIRED = ('project_dir', 'vip', 'log_file', 'health_log_file', 'state_dir', 'hook_path')


class HookError(RuntimeError):
    """An action could not do its job (the message says why); exit status 1."""


class TimedOut(HookError):
    """A command did not finish within its timeout; `command` is its program
    (`docker`: the daemon did not answer in time)."""

    def __init__(self, message, command):
        super(TimedOut, self).__init__(message)
        self.command = command


def load_config(path=None):
    path = path or CONFIG_FILE
    config = dict(DEFAULTS)
    with open(path) as handle:
        loaded = json.load(handle)
    for key, value in loaded.items():
        # A section (replica, guard, ...) keeps the defaults of the keys it does not set.
        config[key] = dict(DEFAULTS[key], **value) if isinstance(DEFAULTS.get(key), dict) and isinstance(value, dict) else value
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        raise HookError('%s lacks %s' % (path, ', '.join(missing)))
    if not config['vrrp_state_file']:  # an older role's stack.json, until the converge renders it again
        config['vrrp_state_file'] = os.path.join(config['state_dir'], 'vrrp-state.json')
    return config
