#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: node_files
short_description: Install several small files on a node in one call
version_added: 1.1.0
description:
  - Writes each file of O(files) whose content differs from what is on the node (through a
    temporary file in the same directory, renamed over the old one), and sets its owner, group and
    mode. A file that is already right is left alone.
  - One call for all the files of a role's step, where M(ansible.builtin.copy) and
    M(ansible.builtin.template) each cost two round trips per file (a stat, then the file's
    attributes); render templates with the P(ansible.builtin.template#lookup) lookup.
  - The parent directories must exist. For secrets, validation commands or remote sources use
    M(ansible.builtin.template) or M(ansible.builtin.copy).
author:
  - Netsocs infrastructure team (@netsocs)
options:
  files:
    description: The files to install.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file on the node.
        type: path
        required: true
      content:
        description: The whole content of the file (text, written as UTF-8).
        type: str
        required: true
      mode:
        description: Its permissions, as an octal string; default O(mode).
        type: str
  owner:
    description: Owner of every file.
    type: str
    default: root
  group:
    description: Group of every file.
    type: str
    default: root
  mode:
    description: Permissions of the files that do not set their own.
    type: str
    default: '0644'
attributes:
  check_mode:
    support: full
    description: Reports which files would change (O(files[].path) in RV(changed_paths)) and writes nothing.
  diff_mode:
    support: full
    description: One diff per file whose content changes, the old content against the new.
  idempotent:
    support: full
    description: A second run with the same files changes nothing.
'''

EXAMPLES = r'''
- name: Install the hook and its configuration
  netsocs.failover.node_files:
    files:
      - path: /usr/local/libexec/netsocs-failover/stack-hook
        content: "{{ lookup('ansible.builtin.file', 'node/stack_hook.py', rstrip=false) }}"
        mode: "0755"
      - path: /etc/netsocs-failover/stack.json
        content: "{{ lookup('ansible.builtin.template', 'stack.json.j2') }}"
  notify: Restart the guard responder
'''

RETURN = r'''
changed_paths:
  description: The files whose content or attributes changed (or would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/netsocs-failover/stack.json]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text


def read_bytes(path):
    """The file's content, or None when there is no file. A directory or
    anything else that is not a regular file is an error."""
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        raise ValueError('%s exists and is not a regular file' % path)
    with open(path, 'rb') as handle:
        return handle.read()


def write_atomically(module, path, data):
    """Write through a temporary file in the same directory, renamed over `path`."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ValueError('%s: the directory %s does not exist' % (path, directory))
    handle, temp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
        module.atomic_move(temp, path, unsafe_writes=False)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def install(module, spec, owner, group, default_mode):
    """Install one file: (changed, diff or None)."""
    path = spec['path']
    wanted = to_bytes(spec['content'], errors='surrogate_or_strict')
    current = read_bytes(path)
    differs = current != wanted
    diff = None
    if differs and module._diff:
        diff = {'before_header': path, 'after_header': path,
                'before': to_text(current or b'', errors='surrogate_or_replace'),
                'after': spec['content']}
    if differs and not module.check_mode:
        write_atomically(module, path, wanted)
    if current is None and module.check_mode:
        return True, diff  # nothing to set attributes on yet
    changed = module.set_owner_if_different(path, owner, differs)
    changed = module.set_group_if_different(path, group, changed)
    changed = module.set_mode_if_different(path, spec.get('mode') or default_mode, changed)
    return changed, diff


def main():
    module = AnsibleModule(
        argument_spec={
            'files': {'type': 'list', 'elements': 'dict', 'required': True, 'options': {
                'path': {'type': 'path', 'required': True},
                'content': {'type': 'str', 'required': True},
                'mode': {'type': 'str'},
            }},
            'owner': {'type': 'str', 'default': 'root'},
            'group': {'type': 'str', 'default': 'root'},
            'mode': {'type': 'str', 'default': '0644'},
        },
        supports_check_mode=True,
    )
    params = module.params
    paths = [spec['path'] for spec in params['files']]
    relative = [path for path in paths if not os.path.isabs(path)]
    twice = sorted(set(path for path in paths if paths.count(path) > 1))
    if relative or twice:
        module.fail_json(msg='every path must be absolute and given once: %s' % ', '.join(relative + twice))
    changed_paths, diffs = [], []
    for spec in params['files']:
        try:
            changed, diff = install(module, spec, params['owner'], params['group'], params['mode'])
        except (OSError, ValueError) as exc:
            module.fail_json(msg='%s (installed so far: %s)' % (to_native(exc), ', '.join(changed_paths) or 'none'),
                             changed=bool(changed_paths), changed_paths=changed_paths)
        if changed:
            changed_paths.append(spec['path'])
        if diff:
            diffs.append(diff)
    result = {'changed': bool(changed_paths), 'changed_paths': changed_paths}
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
