#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: installed_packages
short_description: The packages dpkg lists as installed, as the package facts
version_added: 2.0.0
description:
  - Reads the packages that dpkg lists as installed (C(dpkg-query), status C(install ok installed))
    and returns them as the fact C(packages), in the form of M(ansible.builtin.package_facts).
  - One C(dpkg-query) call, about a tenth of a second, where M(ansible.builtin.package_facts) with
    the C(apt) manager loads the whole apt cache (a second or more). The roles of this collection
    skip their apt task when these facts list every package it needs.
  - Debian and Ubuntu only (dpkg).
author:
  - Netsocs infrastructure team (@netsocs)
options:
  names:
    description:
      - Only these packages (the others are left out of the facts). Default, all installed packages.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so has nothing to show.
  facts:
    support: full
    description: Sets C(ansible_facts.packages).
  idempotent:
    support: full
    description: Reads only.
seealso:
  - module: ansible.builtin.package_facts
'''

EXAMPLES = r'''
- name: Read the installed packages
  netsocs.failover.installed_packages:

- name: Install ufw unless it is there
  ansible.builtin.apt:
    name: ufw
  when: "'ufw' not in ansible_facts.packages"
'''

RETURN = r'''
ansible_facts:
  description: The installed packages.
  returned: always
  type: dict
  contains:
    packages:
      description: By package name, a list with one entry per installed architecture.
      returned: always
      type: dict
      sample: {ufw: [{name: ufw, version: 0.36.2-1, arch: all, source: dpkg}]}
'''

from ansible.module_utils.basic import AnsibleModule

FORMAT = '${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n'


def parse(output, names=None):
    """dpkg-query's lines (FORMAT) into the package facts: installed only."""
    packages = {}
    for line in output.splitlines():
        fields = line.split('\t')
        if len(fields) != 4 or fields[0] != 'installed' or (names and fields[1] not in names):
            continue
        packages.setdefault(fields[1], []).append(
            {'name': fields[1], 'version': fields[2], 'arch': fields[3], 'source': 'dpkg'})
    return packages


def main():
    module = AnsibleModule(argument_spec={'names': {'type': 'list', 'elements': 'str'}},
                           supports_check_mode=True)
    dpkg_query = module.get_bin_path('dpkg-query', required=True)
    rc, out, err = module.run_command([dpkg_query, '--show', '--showformat', FORMAT])
    if rc != 0:
        module.fail_json(msg='dpkg-query failed (rc=%d): %s' % (rc, err.strip()))
    module.exit_json(changed=False, ansible_facts={'packages': parse(out, module.params['names'])})


if __name__ == '__main__':
    main()
