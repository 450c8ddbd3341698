"""The node runtime as the roles install it: the lookup's files, written to a
directory as node_files writes them, run through their entry points."""

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

from ansible.errors import AnsibleLookupError
from ansible_collections.netsocs.failover.plugins.lookup import node_runtime

RUNTIME = pathlib.Path(node_runtime.SOURCE).resolve()


def install(directory):
    """Write the lookup's entries as node_files does (the entry points' python is this one)."""
    for entry in node_runtime.runtime_files(str(directory)):
        path = pathlib.Path(entry['path'])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry['content'].replace('#!/usr/bin/python3', '#!' + sys.executable, 1))
        path.chmod(int(entry['mode'], 8))


def test_every_module_of_the_package_and_the_three_entry_points_are_listed(tmp_path):
    entries = node_runtime.runtime_files(str(tmp_path) + '/')
    paths = [e['path'] for e in entries]
    modules = sorted(p.name for p in RUNTIME.glob('*.py'))
    assert paths == ['%s/runtime/%s' % (tmp_path, m) for m in modules] + \
        ['%s/%s' % (tmp_path, n) for n in ('stack-hook', 'vrrp-notify', 'storage-check')]
    assert {e['mode'] for e in entries[:len(modules)]} == {'0644'}
    assert {e['mode'] for e in entries[len(modules):]} == {'0755'}
    assert all(e['content'].startswith('#!/usr/bin/python3\n') for e in entries[len(modules):])


def test_a_relative_directory_is_refused():
    with pytest.raises(ValueError, match='absolute path'):
        node_runtime.runtime_files('usr/local/libexec')
    with pytest.raises(AnsibleLookupError, match='one term'):
        node_runtime.LookupModule().run(['/a', '/b'])


def test_the_installed_entry_points_run_the_package(tmp_path):
    bin_dir = tmp_path / 'libexec'
    install(bin_dir)
    assert stat.S_IMODE((bin_dir / 'stack-hook').stat().st_mode) == 0o755
    env = dict(os.environ, PYTHONPATH='', NETSOCS_STACK_CONFIG=str(tmp_path / 'none.json'),
               NETSOCS_STORAGE_CONFIG=str(tmp_path / 'storage.json'))

    def run(*args):
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=60, check=False)

    usage = run(bin_dir / 'stack-hook')
    assert usage.returncode == 2 and 'usage: stack-hook trigger STATE | sync' in usage.stderr
    # An entry point copied aside (as a mutation or an operator's wrapper does) still finds the package.
    aside = tmp_path / 'aside'
    aside.mkdir()
    (aside / 'stack-hook').write_text((bin_dir / 'stack-hook').read_text())
    assert run(sys.executable, aside / 'stack-hook').returncode == 2
    missing = run(bin_dir / 'stack-hook', 'health')
    assert missing.returncode == 1 and 'cannot read its configuration' in missing.stderr
    state = tmp_path / 'vrrp-state.json'
    notified = run(bin_dir / 'vrrp-notify', '--log-file=%s' % (tmp_path / 'vrrp.log'), '--state-file=%s' % state,
                   'INSTANCE', 'VI_1', 'MASTER', '150')
    assert notified.returncode == 0, notified.stderr
    assert json.loads(state.read_text())['state'] == 'MASTER'
    share = tmp_path / 'share'
    share.mkdir()
    (tmp_path / 'storage.json').write_text(json.dumps({'paths': [str(share)], 'timeout': 5}))
    checked = run(bin_dir / 'storage-check')
    # A plain directory is not a mount point: the check says so and fails.
    assert checked.returncode == 1 and 'not a mount point' in checked.stdout
