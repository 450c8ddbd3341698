"""Jinja test: is the value an IPv4 address or a network narrower than the world?"""

from __future__ import annotations

import ipaddress

DOCUMENTATION = r'''
name: ipv4_net
short_description: Is the value an IPv4 address or a network that is not the whole world
version_added: 1.0.0
description:
  - True for an IPv4 address (V(192.168.1.11)) or network (V(192.168.1.0/24)).
  - False for V(0.0.0.0/0), wildcards (V(*), V(192.168.1.*)), host names, netgroups and IPv6,
    so that NFS exports and firewall rules never open to the world by accident.
options:
  _input:
    description: The value to test.
    type: raw
    required: true
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Refuse wildcard NFS clients
  ansible.builtin.assert:
    that: nfs_server_clients | reject('netsocs.failover.ipv4_net') | list | length == 0
'''

RETURN = r'''
_value:
  description: Whether the value is an IPv4 address or a narrower-than-world IPv4 network.
  type: bool
'''


def ipv4_net(value):
    try:
        network = ipaddress.IPv4Network(str(value).strip(), strict=False)
    except ValueError:
        return False
    return network.prefixlen > 0


class TestModule(object):
    def tests(self):
        return {'ipv4_net': ipv4_net}
