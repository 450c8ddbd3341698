# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address a node is known by on the cluster network, from the inventory or its facts."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r'''
name: node_address
short_description: The cluster address of an inventory host
version_added: 1.0.0
description:
  - Returns the host's C(failover_node_ip) when the inventory sets it (the reference
    NODE_A_IP / NODE_B_IP), otherwise the address of its default IPv4 route from its facts.
  - The roles use it to point NFS exports, NFS mounts and firewall rules at the other nodes
    without repeating addresses in the inventory.
  - Raises an error naming the host when neither is known (facts not gathered).
options:
  _input:
    description: Inventory hostname.
    type: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: raw
    required: true
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Export to every NFS client
  ansible.builtin.set_fact:
    nfs_server_clients: "{{ groups['nfs_clients'] | map('netsocs.failover.node_address', hostvars) | list }}"
'''

RETURN = r'''
_value:
  description: The host's IPv4 address on the cluster network.
  type: str
'''


def node_address(host, hostvars):
    try:
        variables = hostvars[host]
    except KeyError:
        raise AnsibleFilterError('node_address: %r is not in the inventory' % (host,))
    address = variables.get('failover_node_ip')
    if not address:
        address = ((variables.get('ansible_facts') or {}).get('default_ipv4') or {}).get('address')
    if not address:
        raise AnsibleFilterError('node_address: no address for %s: set failover_node_ip in the inventory '
                                 'or gather its facts in an earlier play' % host)
    return str(address)


class FilterModule(object):
    def filters(self):
        return {'node_address': node_address}
