# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja test: is the value a plain IPv4 address (no prefix, no host name)?"""

from __future__ import annotations

import ipaddress

DOCUMENTATION = r'''
name: ipv4
short_description: Is the value a plain IPv4 address
version_added: 1.0.0
description:
  - True for a dotted-quad IPv4 address such as V(192.168.1.100); false for host names,
    prefixes (V(192.168.1.0/24)), IPv6 and anything else.
options:
  _input:
    description: The value to test.
    type: raw
    required: true
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Refuse a VIP that is not an IPv4 address
  ansible.builtin.assert:
    that: vip is netsocs.failover.ipv4
'''

RETURN = r'''
_value:
  description: Whether the value is an IPv4 address.
  type: bool
'''


def ipv4(value):
    try:
        ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        return False
    return '/' not in str(value)


class TestModule(object):
    def tests(self):
        return {'ipv4': ipv4}
