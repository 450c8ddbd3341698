# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the states of several systemd units from one `systemctl show`."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r'''
name: unit_states
short_description: The properties of systemd units, from the output of one C(systemctl show)
version_added: 2.0.0
description:
  - Parses the output of C(systemctl show --property=Id,ActiveState,UnitFileState UNIT...)
    (one block of C(NAME=VALUE) lines per unit, blocks apart by a blank line) into a
    dictionary keyed by each unit's C(Id).
  - One read answers for every unit, where M(ansible.builtin.systemd_service) costs a call per
    unit; the roles call that module only for a unit whose state is not yet the wanted one.
  - Raises an error when a block has no C(Id) (the property must be asked for).
options:
  _input:
    description: The output of C(systemctl show) with C(Id) among the properties.
    type: str
    required: true
author:
  - Netsocs infrastructure team (@netsocs)
'''

EXAMPLES = r'''
- name: Read the units' states
  ansible.builtin.command:
    argv: [systemctl, show, "--property=Id,ActiveState,UnitFileState", docker.service, keepalived.service]
  register: units
  changed_when: false

- name: Start Docker unless it runs already
  ansible.builtin.systemd_service:
    name: docker
    state: started
  when: (units.stdout | netsocs.failover.unit_states)['docker.service'].ActiveState != 'active'
'''

RETURN = r'''
_value:
  description: Each unit's properties, by its C(Id) (for example V(docker.service)).
  type: dict
  sample: {docker.service: {Id: docker.service, ActiveState: active, UnitFileState: enabled}}
'''


def unit_states(output):
    units = {}
    for block in str(output).strip().split('\n\n'):
        if not block.strip():
            continue
        properties = dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
        if 'Id' not in properties:
            raise AnsibleFilterError('unit_states: a block of the systemctl show output has no Id: %r' % block)
        units[properties['Id']] = properties
    return units


class FilterModule(object):
    def filters(self):
        return {'unit_states': unit_states}
