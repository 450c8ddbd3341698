#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the netsocs.failover.warn action (plugins/action/warn.py)."""

from __future__ import annotations

DOCUMENTATION = r'''
module: warn
short_description: Print a warning in the play output without failing or changing anything
version_added: 1.0.0
description:
  - Shows O(msg) as a C([WARNING]) line in the play output and in the recap's warnings,
    where C(ansible.builtin.debug) would only print it as an ordinary message.
  - Used for designs that work but carry a risk the operator should accept knowingly, such as
    an NFS server that is also one of the failover nodes.
options:
  msg:
    description: The warning.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: The warning is shown in check mode too; nothing is changed either way.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller only; the target is never contacted.
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Warn that the NFS server is a failover node
  netsocs.failover.warn:
    msg: node-a serves the NFS shares; losing node-a takes the shares with it.
  when: inventory_hostname in groups['failover_nodes']
'''

RETURN = r'''
msg:
  description: The warning that was shown.
  type: str
  returned: always
'''
