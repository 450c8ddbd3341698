#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: node_files
short_description: Install several small files on a node in one call
version_added: 2.0.0
description:
  - Creates each directory of O(directories) that is missing, then writes each file of O(files)
    whose content differs from what is on the node (through a temporary file in the same
    directory, renamed over the old one), and sets the owner, group and mode of both. What is
    already right is left alone.
  - One call for all the files of a role's step, where M(ansible.builtin.file),
    M(ansible.builtin.copy) and M(ansible.builtin.template) cost one or two round trips per path
    (a stat, then the attributes); render templates with the
    P(ansible.builtin.template#lookup) lookup.
  - A secret goes in O(files[].secret_content), which is kept out of the module's output and of
    the diff. A file can be checked before it replaces the old one (O(files[].validate)). For
    remote sources use M(ansible.builtin.copy).
author:
  - Netsocs infrastructure team (@netsocs)
options:
  directories:
    description:
      - The directories the files go in, or that the role needs, created first. Missing parents
        are created with the same owner, group and mode.
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the directory on the node.
        type: path
        required: true
      owner:
        description: Its owner; default O(owner).
        type: str
      group:
        description: Its group; default O(group).
        type: str
      mode:
        description: Its permissions, as an octal string.
        type: str
        default: '0755'
  files:
    description: The files to install.
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the file on the node. Its directory must exist (or be in O(directories)).
        type: path
        required: true
      content:
        description:
          - The whole content of the file (text, written as UTF-8).
          - Omitted (and O(files[].secret_content) too), the file is created empty when it is
            missing and its content is never touched (a log file); only its owner, group and
            mode are kept right.
          - Mutually exclusive with O(files[].secret_content).
        type: str
      secret_content:
        description:
          - The whole content of a file that holds a secret (a password, a C(.env)). Treated as
            O(files[].content), but never shown (the module's output hides it, and the diff
            says only that the content changed).
        type: str
      validate:
        description:
          - A command that checks the new content before it replaces the file, run only when
            the content differs. C(%s) in it is the path of the new content (a temporary file
            beside the file). Every such file is checked before any path of the call is written;
            when a command fails, no file or directory is changed and the task fails with its
            output.
          - The command is split like a shell's words but run without a shell.
        type: str
      owner:
        description: Its owner; default O(owner).
        type: str
      group:
        description: Its group; default O(group).
        type: str
      mode:
        description: Its permissions, as an octal string; default O(mode).
        type: str
  owner:
    description: Owner of every directory and file that does not set its own.
    type: str
    default: root
  group:
    description: Group of every directory and file that does not set its own.
    type: str
    default: root
  mode:
    description: Permissions of the files that do not set their own.
    type: str
    default: '0644'
attributes:
  check_mode:
    support: full
    description: Reports which paths would change (in RV(changed_paths)) and writes nothing.
  diff_mode:
    support: full
    description: One diff per file whose content changes, the old content against the new, and one per directory created.
  idempotent:
    support: full
    description: A second run with the same files changes nothing.
'''

EXAMPLES = r'''
- name: Install a hook and its configuration
  netsocs.failover.node_files:
    directories:
      - path: /usr/local/libexec/netsocs-failover
      - path: /etc/netsocs-failover
    files:
      - path: /usr/local/libexec/netsocs-failover/check-stack
        content: "{{ lookup('ansible.builtin.file', 'check-stack.py', rstrip=false) }}"
        mode: "0755"
      - path: /etc/netsocs-failover/stack.json
        content: "{{ lookup('ansible.builtin.template', 'stack.json.j2') }}"
  notify: Restart the guard responder

- name: Write the VRRP password, then keepalived.conf once Keepalived's config test passes
  netsocs.failover.node_files:
    files:
      - path: /etc/keepalived/netsocs-auth.conf
        secret_content: "{{ lookup('ansible.builtin.template', 'auth.conf.j2') }}"
        mode: "0600"
      - path: /etc/keepalived/keepalived.conf
        content: "{{ lookup('ansible.builtin.template', 'keepalived.conf.j2') }}"
        validate: keepalived --config-test --use-file %s

- name: Create the transition log (its content is the node's)
  netsocs.failover.node_files:
    files:
      - path: /var/log/keepalived-failover.log
        owner: keepalived_script
        group: adm
        mode: "0640"
'''

RETURN = r'''
changed_paths:
  description: The directories and files created, or whose content or attributes changed (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/netsocs-failover/stack.json]
'''

import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text


SECRET = '(secret content, not shown)'


def read_bytes(path):
    """The file's content, or None when there is no file. A directory or
    anything else that is not a regular file is an error."""
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        raise ValueError('%s exists and is not a regular file' % path)
    with open(path, 'rb') as handle:
        return handle.read()


def write_atomically(module, path, data, validate=None, move=True):
    """Write through a temporary file in the same directory, checked with the
    `validate` command (%s: the temporary file), then renamed over `path`
    (with `move` false: only checked)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ValueError('%s: the directory %s does not exist' % (path, directory))
    handle, temp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
        if validate:
            rc, out, err = module.run_command(validate_command(validate, temp))
            if rc != 0:
                raise ValueError('%s: the new content failed to validate with `%s` (rc=%d), the file is left as it was: %s'
                                 % (path, validate, rc, (err or out).strip()[-2000:]))
        if move:
            module.atomic_move(temp, path, unsafe_writes=False)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def validate_first(module, files):
    """Check every new content that has a `validate` command before anything
    is written, so that a refused file leaves every other path of the call as
    it was (a password file listed before the configuration that includes it).
    A file whose directory does not exist yet, or whose validate command is
    not installed yet (this call installs it), is checked when it is written."""
    for spec in files:
        content = spec['secret_content'] if spec.get('secret_content') is not None else spec.get('content')
        if not spec.get('validate') or content is None or not os.path.isdir(os.path.dirname(spec['path'])):
            continue
        program = validate_command(spec['validate'], '')[0]
        if os.path.isabs(program) and not os.path.exists(program):
            continue
        wanted = to_bytes(content, errors='surrogate_or_strict')
        if read_bytes(spec['path']) != wanted:
            write_atomically(module, spec['path'], wanted, spec['validate'], move=False)


def validate_command(validate, temp):
    """The validate command's words, with %s the temporary file."""
    if '%s' not in validate:
        raise ValueError('validate must contain %%s (the new content): %s' % validate)
    return [word.replace('%s', temp) for word in shlex.split(validate)]


def attributes(module, path, spec, owner, group, mode, changed):
    changed = module.set_owner_if_different(path, spec.get('owner') or owner, changed)
    changed = module.set_group_if_different(path, spec.get('group') or group, changed)
    return module.set_mode_if_different(path, spec.get('mode') or mode, changed)


def missing_directories(path):
    """`path` and its missing parents, outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.insert(0, path)
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise ValueError('%s exists and is not a directory' % path)
    return missing


def make_directory(module, spec, owner, group):
    """Create one directory (and its missing parents): (changed, diff or None)."""
    path = spec['path']
    missing = missing_directories(path)
    diff = ({'before_header': path, 'after_header': path, 'before': {'state': 'absent'},
             'after': {'state': 'directory'}} if missing and module._diff else None)
    if missing and module.check_mode:
        return True, diff
    for created in missing:
        os.mkdir(created)
        attributes(module, created, spec, owner, group, spec['mode'], True)
    return attributes(module, path, spec, owner, group, spec['mode'], bool(missing)), diff


def install(module, spec, owner, group, default_mode):
    """Install one file: (changed, diff or None)."""
    path = spec['path']
    current = read_bytes(path)
    secret = spec.get('secret_content') is not None
    content = spec['secret_content'] if secret else spec.get('content')
    if content is None:  # the node's own content (a log): only make sure it is there
        wanted = current if current is not None else b''
    else:
        wanted = to_bytes(content, errors='surrogate_or_strict')
    differs = current != wanted
    diff = None
    if differs and module._diff:
        before, after = ((SECRET if current is not None else '', SECRET + ' (changed)') if secret else
                         (to_text(current or b'', errors='surrogate_or_replace'),
                          to_text(wanted, errors='surrogate_or_replace')))
        diff = {'before_header': path, 'after_header': path, 'before': before, 'after': after}
    if differs and not module.check_mode:
        write_atomically(module, path, wanted, spec.get('validate'))
    if current is None and module.check_mode:
        return True, diff  # nothing to set attributes on yet
    return attributes(module, path, spec, owner, group, default_mode, differs), diff


def main():
    module = AnsibleModule(
        argument_spec={
            'directories': {'type': 'list', 'elements': 'dict', 'options': {
                'path': {'type': 'path', 'required': True},
                'owner': {'type': 'str'},
                'group': {'type': 'str'},
                'mode': {'type': 'str', 'default': '0755'},
            }},
            'files': {'type': 'list', 'elements': 'dict', 'options': {
                'path': {'type': 'path', 'required': True},
                'content': {'type': 'str'},
                'secret_content': {'type': 'str', 'no_log': True},
                'validate': {'type': 'str'},
                'owner': {'type': 'str'},
                'group': {'type': 'str'},
                'mode': {'type': 'str'},
            }, 'mutually_exclusive': [('content', 'secret_content')]},
            'owner': {'type': 'str', 'default': 'root'},
            'group': {'type': 'str', 'default': 'root'},
            'mode': {'type': 'str', 'default': '0644'},
        },
        required_one_of=[('directories', 'files')],
        supports_check_mode=True,
    )
    params = module.params
    directories, files = params['directories'] or [], params['files'] or []
    paths = [spec['path'] for spec in directories + files]
    relative = [path for path in paths if not os.path.isabs(path)]
    twice = sorted(set(path for path in paths if paths.count(path) > 1))
    if relative or twice:
        module.fail_json(msg='every path must be absolute and given once: %s' % ', '.join(relative + twice))
    changed_paths, diffs = [], []
    try:
        if not module.check_mode:
            validate_first(module, files)
    except (OSError, ValueError) as exc:
        module.fail_json(msg='%s (installed so far: none)' % to_native(exc), changed=False, changed_paths=[])
    steps = ([(make_directory, spec, (params['owner'], params['group'])) for spec in directories]
             + [(install, spec, (params['owner'], params['group'], params['mode'])) for spec in files])
    for step, spec, args in steps:
        try:
            changed, diff = step(module, spec, *args)
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
