#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: release
short_description: Keep the files a deployment replaces as the node's previous release, and put them back
version_added: 2.2.0
description:
  - A deployment that changes a node first stages a copy of every file it may replace
    (O(state=staged)); once it has run, the copy becomes a release (O(state=committed)) if any
    of those files changed, and is dropped otherwise. A release holds each file's content, owner,
    group and mode, and which files did not exist.
  - O(state=restored) puts a release back, file by file (through a temporary file renamed over
    the old one), removes the files that did not exist in it, and says which paths it changed.
    The playbook restarts what reads them (playbooks/rollback.yml).
  - Without O(state), lists the node's releases, newest first.
  - Releases live in O(root), readable by root only (they hold the C(.env) and the VRRP password).
    Committing keeps the newest O(keep) releases.
author:
  - Netsocs infrastructure team (@netsocs)
options:
  root:
    description: The directory that holds the releases.
    type: path
    default: /var/lib/netsocs-failover/releases
  state:
    description:
      - V(staged) copies the current files of O(paths). A staged copy left by a run that did not
        commit (it failed half way) is kept as it is, since it is the state before that run, the
        one to go back to.
      - V(committed) turns the staged copy into the release O(release) when any file of it
        changed since it was staged, or removes it when none did.
      - V(restored) puts the release O(release) (default the newest) back.
      - Omitted, nothing changes and RV(releases) lists what is kept.
    type: str
    choices: [staged, committed, restored]
  paths:
    description:
      - With O(state=staged), the files to keep, as absolute paths. A directory stands for every
        regular file under it (Python byte-code caches left out). A path that does not exist is
        kept as absent, so that putting the release back removes it.
    type: list
    elements: path
  release:
    description:
      - With O(state=committed), the name of the new release (give every node of a run the same,
        for example the run's UTC time C(20261204T061500Z)).
      - With O(state=restored), the release to put back; default the newest.
    type: str
  keep:
    description: With O(state=committed), how many releases to keep (the oldest go first).
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: V(staged) and V(committed) do nothing; V(restored) reports the paths it would change.
  diff_mode:
    support: none
    description: RV(changed_paths) says which files a restore changes; their content is not shown (a release holds secrets).
  idempotent:
    support: full
    description: Putting the same release back twice changes nothing the second time.
notes:
  - Staging is bookkeeping, not a change of the node. It reports C(changed=false), so that a
    deployment that changes nothing stays idempotent.
'''

EXAMPLES = r'''
- name: Keep what this run may replace
  netsocs.failover.release:
    state: staged
    paths: [/opt/netsocs/docker-compose.yml, /opt/netsocs/.env, /etc/keepalived]

# ... the roles run ...

- name: Keep it as a release when anything changed
  netsocs.failover.release:
    state: committed
    release: 20261204T061500Z

- name: Put the newest release back
  netsocs.failover.release:
    state: restored
  register: restored

- name: List the releases
  netsocs.failover.release:
  register: releases
'''

RETURN = r'''
release:
  description: The release committed or restored (none when the commit found nothing changed).
  returned: when state is committed or restored
  type: str
  sample: 20261204T061500Z
releases:
  description: The releases kept, newest first, each with the time it was staged and its files.
  returned: always
  type: list
  elements: dict
  sample: [{name: 20261204T061500Z, staged_at: 1796363700.0, files: 42, changed: [/opt/netsocs/docker-compose.yml]}]
changed_paths:
  description:
    - With state committed, the files that differ from the release (what the run changed). With
      state restored, the files put back or removed.
  returned: when state is committed or restored
  type: list
  elements: str
staged:
  description: With state staged, whether a copy of an unfinished run was found and kept.
  returned: when state is staged
  type: str
  sample: kept
'''

import hashlib
import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

STAGED = '.staged'
MANIFEST = 'manifest.json'
SKIPPED_DIRS = ('__pycache__',)


def expand(paths):
    """Every regular file the paths stand for, with the roots they came from:
    ({file: root}). A directory stands for the files under it."""
    found = {}
    for root in paths:
        if os.path.isdir(root) and not os.path.islink(root):
            for directory, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
                for name in sorted(files):
                    full = os.path.join(directory, name)
                    if os.path.isfile(full) and not os.path.islink(full) and not name.endswith('.pyc'):
                        found[full] = root
        elif os.path.isfile(root):
            found[root] = root
    return found


def digest(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def describe(path):
    info = os.stat(path)
    return {'sha256': digest(path), 'mode': '%04o' % (info.st_mode & 0o7777), 'uid': info.st_uid, 'gid': info.st_gid}


def snapshot(paths):
    """The current files of `paths`: {file: description}."""
    return dict((path, describe(path)) for path in sorted(expand(paths)))


def differences(manifest, now):
    """Files whose content or attributes differ between a manifest's files
    and `now` (both {file: description}), or that exist in one only."""
    return sorted(path for path in set(manifest) | set(now) if manifest.get(path) != now.get(path))


def read_manifest(directory):
    with open(os.path.join(directory, MANIFEST), encoding='utf-8') as handle:
        return json.load(handle)


def write_manifest(directory, manifest):
    with open(os.path.join(directory, MANIFEST), 'w', encoding='utf-8') as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)


def stored(directory, path):
    """Where a release keeps the content of `path`."""
    return os.path.join(directory, 'files', path.lstrip('/'))


def releases(root):
    """The committed releases, newest first."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        if name.startswith('.') or not os.path.isfile(os.path.join(root, name, MANIFEST)):
            continue
        manifest = read_manifest(os.path.join(root, name))
        found.append({'name': name, 'staged_at': manifest.get('staged_at'), 'files': len(manifest['files']),
                      'changed': manifest.get('changed', [])})
    return sorted(found, key=lambda r: (r['staged_at'] or 0, r['name']), reverse=True)


def stage(root, paths):
    """Copy the current files of `paths` into root/.staged (kept when there)."""
    directory = os.path.join(root, STAGED)
    if os.path.isfile(os.path.join(directory, MANIFEST)):
        return 'kept'
    if os.path.isdir(directory):
        shutil.rmtree(directory)  # an interrupted copy
    os.makedirs(root, mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)
    building = tempfile.mkdtemp(dir=root, prefix='.staging.')
    files = snapshot(paths)
    for path in files:
        target = stored(building, path)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, 0o600)  # a copy is root's alone, whatever the file's own mode (put back from the manifest)
    write_manifest(building, {'paths': sorted(paths), 'files': files, 'staged_at': time.time()})
    os.rename(building, directory)
    return 'new'


def commit(root, name, keep):
    """The staged copy becomes release `name` if anything changed since:
    (release or None, changed paths)."""
    directory = os.path.join(root, STAGED)
    if not os.path.isfile(os.path.join(directory, MANIFEST)):
        return None, []
    manifest = read_manifest(directory)
    changed = differences(manifest['files'], snapshot(manifest['paths']))
    if not changed:
        shutil.rmtree(directory)
        return None, []
    target = os.path.join(root, name)
    if os.path.exists(target):
        raise ValueError('a release named %s exists already' % name)
    manifest['changed'] = changed
    write_manifest(directory, manifest)
    os.rename(directory, target)
    for old in releases(root)[keep:]:
        shutil.rmtree(os.path.join(root, old['name']))
    return name, changed


def put_back(module, directory, check):
    """Restore the release in `directory`: the paths changed (or that would be)."""
    manifest = read_manifest(directory)
    kept = manifest['files']
    now = snapshot(manifest['paths'])
    changed = differences(kept, now)
    if check:
        return changed
    for path in changed:
        if path not in kept:
            os.unlink(path)
            continue
        want = kept[path]
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755)
        handle, temp = tempfile.mkstemp(dir=parent, prefix='.%s.' % os.path.basename(path))
        os.close(handle)
        try:
            shutil.copyfile(stored(directory, path), temp)
            os.chown(temp, want['uid'], want['gid'])
            os.chmod(temp, int(want['mode'], 8))
            if digest(temp) != want['sha256']:
                raise ValueError('%s: the release holds a damaged copy (checksum differs)' % path)
            module.atomic_move(temp, path, unsafe_writes=False)
            # atomic_move keeps the old file's attributes: the release's win
            os.chown(path, want['uid'], want['gid'])
            os.chmod(path, int(want['mode'], 8))
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
    return changed


def main():
    module = AnsibleModule(
        argument_spec={
            'root': {'type': 'path', 'default': '/var/lib/netsocs-failover/releases'},
            'state': {'type': 'str', 'choices': ['staged', 'committed', 'restored']},
            'paths': {'type': 'list', 'elements': 'path'},
            'release': {'type': 'str'},
            'keep': {'type': 'int', 'default': 5},
        },
        required_if=[('state', 'staged', ['paths']), ('state', 'committed', ['release'])],
        supports_check_mode=True,
    )
    params = module.params
    root, state = params['root'], params['state']
    result = {'changed': False}
    try:
        if params['paths'] and any(not os.path.isabs(p) for p in params['paths']):
            raise ValueError('every path must be absolute: %s' % ', '.join(params['paths']))
        if params['keep'] < 1:
            raise ValueError('keep must be at least 1')
        name = params['release']
        if name is not None and (not name or name.startswith('.') or '/' in name):
            raise ValueError('release must be a plain name (no dot first, no slash): %s' % name)
        if state == 'staged' and not module.check_mode:
            result['staged'] = stage(root, params['paths'])
        elif state == 'committed':
            result['release'], result['changed_paths'] = (None, []) if module.check_mode else commit(root, name, params['keep'])
            result['changed'] = bool(result['release'])
        elif state == 'restored':
            known = releases(root)
            if not known:
                raise ValueError('%s holds no release to put back' % root)
            if name is None:
                name = known[0]['name']
            elif name not in [r['name'] for r in known]:
                raise ValueError('no release %s in %s (there are: %s)' % (name, root, ', '.join(r['name'] for r in known)))
            result['release'] = name
            result['changed_paths'] = put_back(module, os.path.join(root, name), module.check_mode)
            result['changed'] = bool(result['changed_paths'])
    except (OSError, ValueError, KeyError) as exc:
        module.fail_json(msg=to_native(exc), **result)
    result['releases'] = releases(root)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
