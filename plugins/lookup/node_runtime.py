# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
name: node_runtime
short_description: The node runtime's files, ready for M(netsocs.failover.node_files)
version_added: 2.0.0
description:
  - Lists what the collection installs to run on a failover node, as entries of the O(netsocs.failover.node_files#module:files)
    option of M(netsocs.failover.node_files), for the runtime directory given as the term.
  - The C(runtime) package (the collection's C(plugins/module_utils/runtime/), standard library only) goes to
    C(DIR/runtime/), and its three entry points, C(stack-hook), C(vrrp-notify) and C(storage-check), to C(DIR/),
    executable, run by the node's C(/usr/bin/python3).
  - The keepalived, docker_stack and nfs_client roles install the same list, so a node runs one copy of the
    runtime whichever roles it has.
author:
  - Netsocs infrastructure team (@netsocs)
options:
  _terms:
    description: The runtime directory on the node (one absolute path).
    required: true
    type: list
    elements: path
'''

EXAMPLES = r'''
- name: Install the node runtime
  netsocs.failover.node_files:
    directories:
      - path: /usr/local/libexec/netsocs-failover
      - path: /usr/local/libexec/netsocs-failover/runtime
    files: "{{ query('netsocs.failover.node_runtime', '/usr/local/libexec/netsocs-failover') }}"
'''

RETURN = r'''
_raw:
  description: One entry per file, with its path on the node, its content and its mode.
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the file on the node.
      type: str
    content:
      description: The file's content.
      type: str
    mode:
      description: Its permissions (C(0755) for the entry points, C(0644) for the package).
      type: str
'''

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

SOURCE = os.path.join(os.path.dirname(os.path.realpath(__file__)), '..', 'module_utils', 'runtime')
# Each entry point imports only the module it runs (Keepalived's notify must start fast).
ENTRY_POINTS = {'stack-hook': ('cli', 'stack_hook'), 'vrrp-notify': ('vrrp', 'notify'),
                'storage-check': ('storage', 'run')}
WRAPPER = '''#!/usr/bin/python3
# Managed by Ansible (netsocs.failover): the node runtime's {name} entry point
# (runtime/{module}.py in {directory}); local changes are overwritten.
import sys

sys.path.insert(0, {directory!r})
from runtime import {module}  # noqa: E402

raise SystemExit({module}.{function}(sys.argv[1:]))
'''


def runtime_files(directory, source=SOURCE):
    """The node_files entries that install the runtime in `directory`."""
    if not os.path.isabs(directory):
        raise ValueError('the runtime directory must be an absolute path, not %r' % directory)
    directory = directory.rstrip('/')
    entries = []
    for name in sorted(os.listdir(source)):
        if name.endswith('.py'):
            with open(os.path.join(source, name), encoding='utf-8') as handle:
                entries.append({'path': '%s/runtime/%s' % (directory, name), 'content': handle.read(),
                                'mode': '0644'})
    entries += [{'path': '%s/%s' % (directory, name), 'mode': '0755',
                 'content': WRAPPER.format(name=name, directory=directory, module=module, function=function)}
                for name, (module, function) in ENTRY_POINTS.items()]
    return entries


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError('node_runtime takes one term, the runtime directory; got %d' % len(terms))
        try:
            return runtime_files(str(terms[0]))
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError('node_runtime: %s' % exc)
