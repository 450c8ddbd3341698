# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network filters the roles use to validate their input before any change."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r'''
name: in_network
short_description: Tell whether an IPv4 address lies inside a network
version_added: 1.0.0
description:
  - Returns V(true) when the address is inside the network, given in CIDR form
    (V(192.168.1.0/24)) or as an interface address with its prefix (V(192.168.1.10/24)).
  - Raises an error naming the bad value when either side is not valid IPv4.
options:
  _input:
    description: The address to test.
    type: str
    required: true
  network:
    description: The network, as C(address/prefix).
    type: str
    required: true
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Refuse a VIP outside the interface's subnet
  ansible.builtin.assert:
    that: vip | netsocs.failover.in_network('192.168.1.10/24')
'''

RETURN = r'''
_value:
  description: Whether the address is inside the network.
  type: bool
'''


def in_network(address, network):
    try:
        addr = ipaddress.IPv4Address(str(address).strip())
    except ValueError:
        raise AnsibleFilterError('in_network: %r is not a valid IPv4 address' % (address,))
    try:
        net = ipaddress.IPv4Network(str(network).strip(), strict=False)
    except ValueError:
        raise AnsibleFilterError('in_network: %r is not a valid IPv4 network (address/prefix)' % (network,))
    return addr in net


class FilterModule(object):
    def filters(self):
        return {'in_network': in_network}
