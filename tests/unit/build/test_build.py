"""The collection tarball never ships what git ignores.

A working tree that an operator used holds failover-env.sh (node addresses and
AUTH_PASS), reports, caches and a virtualenv. `ansible-galaxy collection build`
run in such a tree must leave all of them out (galaxy.yml's build_ignore).
"""

import importlib.util
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location('collection_tree', ROOT / 'tests' / 'tools' / 'collection_tree.py')
collection_tree = importlib.util.module_from_spec(spec)
spec.loader.exec_module(collection_tree)

# What an operator's or a developer's tree gathers, at the top and deeper down.
DECOYS = [
    'failover-env.sh', 'inventories/prod/failover-env.sh',
    'reports/drill-freeze-20261126T000000Z.md', 'reports/partitions.txt',
    '.pytest_cache/v/cache/lastfailed', 'tests/unit/.pytest_cache/README.md',
    '.venv/bin/python', '.cache/collection/x', '.node-image', '.node-image-bookworm',
    '__pycache__/x.cpython-311.pyc', 'plugins/modules/__pycache__/vip_status.cpython-311.pyc', 'plugins/module_utils/runtime/__pycache__/x.pyc',
    'tests/output/junit/units.xml', 'netsocs-failover-0.9.0.tar.gz', 'importer_result.json',
]


ignored_by = collection_tree.ignored_by


def gitignore_patterns():
    return collection_tree.gitignore_patterns(str(ROOT))


def test_every_gitignore_pattern_has_a_decoy():
    # A pattern added to .gitignore without a decoy here would go unchecked.
    missing = [p for p in gitignore_patterns() if not any(ignored_by(p, d) for d in DECOYS)]
    assert missing == []


def test_every_decoy_is_git_ignored():
    assert [d for d in DECOYS if not any(ignored_by(p, d) for p in gitignore_patterns())] == []


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    tree = tmp_path_factory.mktemp('used') / 'failover'
    collection_tree.copy_tree(str(ROOT), str(tree))
    for decoy in DECOYS:
        path = tree / decoy
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('AUTH_PASS=decoy\n')
    out = tmp_path_factory.mktemp('dist')
    galaxy = shutil.which('ansible-galaxy', path=str(pathlib.Path(sys.executable).parent)) or 'ansible-galaxy'
    subprocess.run([galaxy, 'collection', 'build', str(tree), '--output-path', str(out)],
                   check=True, capture_output=True)
    (built,) = out.glob('netsocs-failover-*.tar.gz')
    with tarfile.open(built) as tar:
        return [name.removeprefix('./') for name in tar.getnames()]


def test_the_tarball_ships_no_ignored_file(tarball):
    shipped = [name for name in tarball if any(ignored_by(p, name) for p in gitignore_patterns())]
    assert shipped == []
    assert not [name for name in tarball if name in DECOYS]


def test_the_tarball_ships_the_collection(tarball):
    for name in ['MANIFEST.json', 'FILES.json', 'LICENSE', 'README.md', 'roles/keepalived/README.md',
                 'playbooks/site.yml', 'playbooks/failover_drill.yml', 'plugins/module_utils/runtime/cli.py',
                 'plugins/lookup/node_runtime.py',
                 'plugins/modules/vip_status.py']:
        assert name in tarball
    assert not [name for name in tarball if name.startswith(('.ci/', 'collections/', '.git/'))]
