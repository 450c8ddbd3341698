"""Copy the collection into DEST/ansible_collections/netsocs/failover.

ansible-test wants the collection at that path, in a real directory (not the
symlink under collections/). Only what git tracks or would track is copied
(`git ls-files --cached --others --exclude-standard`), so nothing git-ignored
(the operator's failover-env.sh, reports, caches, virtualenvs) gets in.

    python3 tests/tools/collection_tree.py DEST    prints the collection's path
"""
import fnmatch
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gitignore_patterns(root):
    with open(os.path.join(root, '.gitignore'), encoding='utf-8') as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith('#')]


def ignored_by(pattern, path):
    """Whether a .gitignore pattern (ours: no negations, no anchors) matches the relative path."""
    pattern = pattern.rstrip('/')
    if '/' in pattern:
        return path == pattern or path.startswith(pattern + '/')
    return any(fnmatch.fnmatch(part, pattern) for part in path.split('/'))


def tracked_files(root):
    """Files git tracks or would track in root, minus the collections/ link farm.

    Outside a git work tree (a copy made by this tool, an unpacked tarball),
    every file that .gitignore would not ignore.
    """
    if os.path.isdir(os.path.join(root, '.git')):
        out = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                             cwd=root, check=True, capture_output=True).stdout.decode()
        names = out.split('\0')
    else:
        patterns = gitignore_patterns(root)
        names = [os.path.relpath(os.path.join(top, name), root)
                 for top, _dirs, files in os.walk(root) for name in files]
        names = [name for name in names if not any(ignored_by(p, name) for p in patterns)]
    return sorted(name for name in names
                  if name and not name.startswith('collections/')
                  and os.path.lexists(os.path.join(root, name)))


def copy_tree(root, dest):
    """Replace dest by a copy of root's tracked files; returns the file count."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    names = tracked_files(root)
    for name in names:
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(root, name), target, follow_symlinks=False)
    return len(names)


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: collection_tree.py DEST')
    dest = os.path.join(os.path.abspath(argv[1]), 'ansible_collections', 'netsocs', 'failover')
    copy_tree(ROOT, dest)
    print(dest)


if __name__ == '__main__':
    main(sys.argv)
