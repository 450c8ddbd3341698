#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: vip_status
short_description: Report whether this node holds the Virtual IP, and wait for it to come or go
version_added: 1.0.0
description:
  - Reads the IPv4 addresses of the node (C(ip -j addr)) and tells whether the Virtual IP is
    configured, on which interface and with which prefix.
  - Reports the local VRRP state that the Keepalived notify hook of the
    M(netsocs.failover.keepalived) role records, or C(STOPPED) when Keepalived does not run.
  - Reports the stack hook's last health round, and whether the node serves degraded (part of
    its stack down, being brought back in place) with the services that do not run.
  - With O(state=present) or O(state=absent) it waits up to O(timeout) seconds for the VIP to
    appear or leave, returns how long it waited, and fails when the time runs out.
  - The module only observes; it never changes the node.
author:
  - Netsocs infrastructure team (@netsocs)
options:
  address:
    description: The Virtual IP (IPv4).
    type: str
    required: true
    aliases: [vip]
  interface:
    description: Only count the VIP when it is on this interface.
    type: str
  prefix:
    description: Only count the VIP when it has this prefix length.
    type: int
  state:
    description:
      - V(present) waits until this node holds the VIP, V(absent) until it does not.
      - Omit it to report the current state without waiting.
    type: str
    choices: [present, absent]
  timeout:
    description: Seconds to wait for O(state). V(0) checks once.
    type: float
    default: 30
  interval:
    description: Seconds between two checks while waiting.
    type: float
    default: 0.1
  state_file:
    description: File where the Keepalived notify hook records the VRRP state.
    type: path
    default: /run/netsocs-failover/vrrp-state.json
  stack_state_file:
    description:
      - File where the C(netsocs.failover.docker_stack) role's stack hook records its last health
        round (RV(stack_health)) and the services of the stack that do not run (RV(services_down)).
        A missing or unreadable file reports V(null) and no services.
    type: path
    default: /run/netsocs-failover/stack-state.json
    version_added: 2.0.0
  pid_file:
    description: Keepalived's PID file, used to tell whether it runs.
    type: path
    default: /run/keepalived.pid
  live:
    description:
      - Also ask the running Keepalived for its live view and return it as RV(vrrp_live), with the
        state, the configured and the effective priority (after the tracked checks' weights) and
        the master it last heard from with that master's priority.
      - Keepalived writes a data dump to O(data_file) on C(SIGUSR1); only the fields above are
        read from it (the dump also holds the VRRP password). Nothing else changes.
    type: bool
    default: false
  data_file:
    description: Where Keepalived writes its data dump.
    type: path
    default: /tmp/keepalived.data
  arp_probe:
    description:
      - Also ask the segment of O(interface) who uses the VIP (two broadcast ARP requests, sent from
        the interface's first IPv4 address) and return the MAC addresses that answered as
        RV(arp_answers). ARP answers where ICMP is filtered, so this finds a host a ping would miss.
      - Needs O(interface) and root (a raw packet socket). Sending ARP requests changes nothing on
        any host.
    type: bool
    default: false
  arp_timeout:
    description: Seconds to wait for ARP answers with O(arp_probe=true).
    type: float
    default: 1.0
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so it runs unchanged in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to show.
  idempotent:
    support: full
    description: Reading the same state twice gives the same result.
notes:
  - Needs the C(ip) command from iproute2 (with JSON output, iproute2 4.13 or later).
seealso:
  - module: netsocs.failover.compose_state
'''

EXAMPLES = r'''
- name: Tell whether this node holds the VIP
  netsocs.failover.vip_status:
    address: 192.168.1.100
  register: vip

- name: Wait until the VIP has left this node after keepalived was stopped
  netsocs.failover.vip_status:
    address: 192.168.1.100
    interface: eth0
    state: absent
    timeout: 10

- name: Read the effective priority, lowered by a failing health check
  netsocs.failover.vip_status:
    address: 192.168.1.100
    live: true
  register: vip_live

- name: Ask the segment whether another host answers for the VIP
  netsocs.failover.vip_status:
    address: 192.168.1.100
    interface: eth0
    arp_probe: true
  register: vip_arp

- name: Wait until the peer holds the VIP, and show how long it took
  netsocs.failover.vip_status:
    address: 192.168.1.100
    prefix: 24
    state: present
    timeout: 15
  register: takeover

- name: Show the take-over time
  ansible.builtin.debug:
    msg: "VIP arrived after {{ takeover.waited }} s"
'''

RETURN = r'''
present:
  description: Whether this node holds the VIP (on O(interface) and with O(prefix) when given).
  returned: always
  type: bool
  sample: true
interface:
  description: Interface that carries the VIP, or V(null) when the node does not hold it.
  returned: always
  type: str
  sample: eth0
prefix:
  description: Prefix length of the VIP on this node, or V(null).
  returned: always
  type: int
  sample: 24
vrrp_state:
  description:
    - VRRP state of the node, V(MASTER), V(BACKUP), V(FAULT), V(STOP) as the notify hook last
      recorded it; V(STOPPED) when Keepalived does not run; V(UNKNOWN) when it runs but no
      transition was recorded yet.
  returned: always
  type: str
  sample: MASTER
vrrp_priority:
  description: Priority reported with the last transition, or V(null).
  returned: always
  type: int
  sample: 150
vrrp_since:
  description: Time of the last recorded transition (ISO 8601), or V(null).
  returned: always
  type: str
  sample: "2026-11-25T17:02:03.123456+00:00"
stack_health:
  description:
    - The stack hook's last health round on this node (O(stack_state_file)), V(null) when none was
      recorded. C(ok) is what Keepalived's tracked check last got; C(status) is C(healthy), C(degraded)
      (the MASTER serves with a service of the stack down; healthy to Keepalived) or C(failed);
      C(reason) says why; C(at) is when (seconds since the epoch).
  returned: always
  type: dict
  sample: {ok: true, status: degraded, reason: "MASTER degraded: recorder not running (exited), brought back 1 of 3",
           at: 1764781200.5}
  version_added: 2.0.0
degraded:
  description:
    - Whether the last health round found the node serving with part of its stack down; the VIP
      stays, and the health check brings the missing services (RV(services_down)) back in place.
      Distinct from a failed health check (C(stack_health.ok) false), which moves the VIP.
  returned: always
  type: bool
  sample: false
  version_added: 2.0.0
services_down:
  description: With RV(degraded), each service of the stack that does not run and its state (C(absent) without a container).
  returned: always
  type: dict
  sample: {recorder: exited}
  version_added: 2.0.0
keepalived_running:
  description: Whether the Keepalived process of O(pid_file) runs.
  returned: always
  type: bool
  sample: true
vrrp_live:
  description:
    - With O(live=true), Keepalived's live view of the instance; V(null) otherwise or when
      Keepalived does not run.
  returned: always
  type: dict
  sample: {instance: VI_NETSOCS, state: BACKUP, priority: 100, effective_priority: 20,
           master_router: 192.168.1.10, master_priority: 150}
arp_answers:
  description:
    - With O(arp_probe=true), the MAC addresses that answered an ARP request for the VIP on
      O(interface) (empty when nobody uses it); V(null) otherwise.
  returned: always
  type: list
  elements: str
  sample: ["02:42:ac:1e:63:0d"]
addresses:
  description:
    - The node's IPv4 addresses, as C(ip -4 addr) shows them at the last look. C(dynamic) marks
      an address assigned by DHCP (a lease that runs out).
  returned: always
  type: list
  elements: dict
  sample: [{interface: eth0, address: 192.168.1.10, prefix: 24, secondary: false, label: eth0, dynamic: false}]
waited:
  description: Seconds spent waiting for O(state); V(0) when O(state) is not set.
  returned: always
  type: float
  sample: 1.42
'''

import os
import select
import signal
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netsocs.failover.plugins.module_utils.runtime.vip import (
    ETH_P_ARP,
    VipError,
    arp_request,
    find_vip,
    parse_arp_reply,
    parse_ip_addr_json,
    parse_keepalived_data,
    wait_until,
)
from ansible_collections.netsocs.failover.plugins.module_utils.runtime.state import read_json
from ansible_collections.netsocs.failover.plugins.module_utils.runtime.vrrp import (
    VrrpStateError,
    effective_state,
    parse_state,
)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def keepalived_running(pid_file):
    text = _read(pid_file)
    if not text or not text.strip().isdigit():
        return False
    return os.path.exists('/proc/%s' % text.strip())


def keepalived_live(data_file, pid_file, timeout=5.0):
    """Ask Keepalived for a data dump and parse it; None when it does not run."""
    text = _read(pid_file)
    if not text or not text.strip().isdigit():
        return None
    before = os.stat(data_file).st_mtime_ns if os.path.exists(data_file) else 0
    try:
        os.kill(int(text.strip()), signal.SIGUSR1)
    except OSError:
        return None

    def fresh():
        if not os.path.exists(data_file) or os.stat(data_file).st_mtime_ns == before:
            return None
        return parse_keepalived_data(_read(data_file))

    live, waited, reached = wait_until(fresh, lambda seen: seen is not None, timeout, 0.05)
    if not reached:
        raise VipError('Keepalived wrote no data dump to %s within %.0f s of SIGUSR1' % (data_file, timeout))
    return live


def arp_answers(interface, addresses, vip, timeout, count=2):
    """MAC addresses that answer an ARP request for the VIP on the interface."""
    sources = [a['address'] for a in addresses if a['interface'] == interface and a['address'] != vip]
    if not sources:
        raise VipError('%s has no IPv4 address to send ARP requests from' % interface)
    mac = _read('/sys/class/net/%s/address' % interface)
    if not mac:
        raise VipError('cannot read the MAC address of %s' % interface)
    frame = arp_request(mac.strip(), sources[0], vip)
    answers = set()
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except OSError as exc:
        raise VipError('cannot open a packet socket for ARP (root is needed): %s' % exc)
    try:
        sock.bind((interface, 0))
        deadline = time.monotonic() + timeout
        for _attempt in range(count):
            sock.send(frame)
            wait_end = min(deadline, time.monotonic() + timeout / count)
            while time.monotonic() < wait_end:
                ready, _w, _x = select.select([sock], [], [], max(0.0, wait_end - time.monotonic()))
                if ready:
                    answer = parse_arp_reply(sock.recv(2048), vip)
                    if answer:
                        answers.add(answer)
    finally:
        sock.close()
    return sorted(answers)


def stack_view(data):
    """(stack_health, degraded, services_down) from the stack hook's state
    (read_json: {} when missing or unreadable): its last health round, and
    the services it found down when that round said the node is degraded."""
    if not isinstance(data.get('last_health'), dict):
        return None, False, {}
    last = data['last_health']
    health = {'ok': bool(last.get('ok')), 'reason': last.get('reason'), 'at': last.get('at')}
    if last.get('status') in ('healthy', 'degraded', 'failed'):
        degraded = last['status'] == 'degraded'
    else:  # a runtime before 1.2 records no status: its reason says it
        degraded = health['ok'] and str(health['reason'] or '').startswith('MASTER degraded')
    health['status'] = last.get('status') or ('degraded' if degraded else 'healthy' if health['ok'] else 'failed')
    down = data.get('services_down') if degraded and isinstance(data.get('services_down'), dict) else {}
    return health, degraded, down


def read_addresses(module):
    """The node's IPv4 addresses (`ip -j -4 addr`)."""
    ip_bin = module.get_bin_path('ip', required=True)
    rc, out, err = module.run_command([ip_bin, '-j', '-4', 'addr', 'show'])
    if rc != 0:
        module.fail_json(msg='ip -j addr show failed: %s' % err.strip())
    return parse_ip_addr_json(out)


def observe(module):
    """Take one look at the node: the VIP and the VRRP state."""
    params = module.params
    addresses = read_addresses(module)
    entry = find_vip(addresses, params['address'], params['interface'], params['prefix'])
    recorded = parse_state(_read(params['state_file']))
    running = keepalived_running(params['pid_file'])
    health, degraded, down = stack_view(read_json(params['stack_state_file']))
    return {
        'present': entry is not None,
        'interface': entry['interface'] if entry else None,
        'prefix': entry['prefix'] if entry else None,
        'vrrp_state': effective_state(recorded, running),
        'vrrp_priority': recorded.get('priority') if recorded else None,
        'vrrp_since': recorded.get('time') if recorded else None,
        'keepalived_running': running,
        'stack_health': health,
        'degraded': degraded,
        'services_down': down,
        'addresses': addresses,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type='str', required=True, aliases=['vip']),
            interface=dict(type='str'),
            prefix=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent']),
            timeout=dict(type='float', default=30),
            interval=dict(type='float', default=0.1),
            state_file=dict(type='path', default='/run/netsocs-failover/vrrp-state.json'),
            stack_state_file=dict(type='path', default='/run/netsocs-failover/stack-state.json'),
            pid_file=dict(type='path', default='/run/keepalived.pid'),
            live=dict(type='bool', default=False),
            data_file=dict(type='path', default='/tmp/keepalived.data'),
            arp_probe=dict(type='bool', default=False),
            arp_timeout=dict(type='float', default=1.0),
        ),
        required_if=[('arp_probe', True, ('interface',))],
        supports_check_mode=True,
    )
    wanted = module.params['state']
    try:
        if wanted is None:
            result, waited = observe(module), 0.0
        else:
            result, waited, reached = wait_until(
                lambda: observe(module),
                lambda seen: seen['present'] == (wanted == 'present'),
                module.params['timeout'], module.params['interval'])
            if not reached:
                module.fail_json(
                    msg='VIP %s is still %s on this node after %.1f s' % (
                        module.params['address'],
                        'absent' if wanted == 'present' else 'present', waited),
                    changed=False, waited=round(waited, 3), **result)
        # Once, after any wait: each dump makes Keepalived write a file.
        result['vrrp_live'] = None
        if module.params['live'] and result['keepalived_running']:
            result['vrrp_live'] = keepalived_live(module.params['data_file'], module.params['pid_file'])
        result['arp_answers'] = None
        if module.params['arp_probe']:
            result['arp_answers'] = arp_answers(module.params['interface'], read_addresses(module),
                                                module.params['address'], module.params['arp_timeout'])
    except (VipError, VrrpStateError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, waited=round(waited, 3), **result)


if __name__ == '__main__':
    main()
