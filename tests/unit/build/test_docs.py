"""The docs name files that exist.

Every repository path the documentation writes in backquotes (`playbooks/drill/`,
`tests/promises.yml`, ...) must be a file or directory of the repository, so
a path renamed in the code cannot stay behind in the docs. What the tools
write when they run (`reports/...`) and generic names (`meta/argument_specs.yml`
of any role) are not repository paths.
"""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOCS = sorted(['README.md', 'CONTRIBUTING.md'] + [str(p.relative_to(ROOT)) for p in ROOT.glob('docs/*.md')]
              + [str(p.relative_to(ROOT)) for p in ROOT.glob('roles/*/README.md')]
              + [str(p.relative_to(ROOT)) for p in ROOT.glob('plugins/**/README.md')])
DOCS = [doc for doc in DOCS if (ROOT / doc).exists()]
# Written by the tools when they run, never committed.
GENERATED = ('reports/',)
# Named generically (each role has one).
GENERIC = {'meta/argument_specs.yml', 'meta/main.yml', 'defaults/main.yml', 'tasks/main.yml'}


def repository_paths(text, tops):
    """The backquoted tokens of `text` that name a path under one of `tops`
    (a trailing ':line' or punctuation dropped; patterns and placeholders left out)."""
    paths = []
    for match in re.finditer(r'`([^`\s]+)`', text):
        token = match.group(1).rstrip('.,;')
        if '/' not in token or token.split('/')[0] not in tops or re.search(r'[<>*{}$]', token):
            continue
        paths.append(token.split(':')[0])
    return paths


def test_repository_paths_finds_paths_only():
    text = 'see `playbooks/drill/`, `tests/promises.yml:12`, `roles/<role>/x`, `a/b`, `ip -j addr`, `docs/x.md`.'
    assert repository_paths(text, {'playbooks', 'tests', 'roles', 'docs'}) == [
        'playbooks/drill/', 'tests/promises.yml', 'docs/x.md']


@pytest.mark.parametrize('doc', DOCS)
def test_every_path_the_docs_name_exists(doc):
    tops = {p.name for p in ROOT.iterdir() if not p.name.startswith('.')} | {'reports'}
    missing = [path for path in repository_paths((ROOT / doc).read_text(encoding='utf-8'), tops)
               if not path.startswith(GENERATED) and path not in GENERIC and not (ROOT / path).exists()]
    assert not missing, '%s names paths that do not exist: %s' % (doc, missing)


def test_the_version_is_the_last_release_everywhere():
    """galaxy.yml's version is the changelog's last release (antsibull-changelog
    release), and the README installs that tarball."""
    version = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version']
    releases = yaml.safe_load((ROOT / 'changelogs' / 'changelog.yaml').read_text())['releases']
    assert version == max(releases, key=lambda v: tuple(int(p) for p in v.split('.')))
    tarballs = set(re.findall(r'netsocs-failover-(\d+\.\d+\.\d+)\.tar\.gz', (ROOT / 'README.md').read_text()))
    assert tarballs == {version}
    # the node runtime publishes it (netsocs_failover_build_info)
    runtime = (ROOT / 'plugins' / 'module_utils' / 'runtime' / '__init__.py').read_text()
    assert re.search(r"^__version__ = '%s'$" % re.escape(version), runtime, re.M)
