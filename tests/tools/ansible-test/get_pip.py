"""Offline stand-in for the get-pip.py that ansible-test downloads.

ansible-test bootstraps pip in the virtual environments of its sanity tests
with https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py,
a host this test bed cannot reach. It runs a cached copy instead when one
exists at ~/.ansible/test/cache/get_pip_<version>.py. `make sanity` points
HOME at a directory of its own and puts this file there:

    python3 tests/tools/ansible-test/get_pip.py --install HOME

(the version is the one the installed ansible-test asks for). Run by
ansible-test, it does what
get-pip.py does with the same arguments: bring pip into the running
interpreter (ensurepip, from the standard library), then install the
requested packages with it (from the configured package index).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

# get-pip.py's own options; pip install does not know them.
GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}


def install(home):
    """Put this file where ansible-test looks for its cached get-pip.py."""
    import ansible_test  # pylint: disable=import-outside-toplevel
    source = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
    version = re.search(r"pip='([0-9.]+)'", source.read_text()).group(1)
    target = pathlib.Path(home) / '.ansible' / 'test' / 'cache' / ('get_pip_%s.py' % version.replace('.', '_'))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, target)
    print(target)


def main(args):
    if args[:1] == ['--install']:
        install(os.path.abspath(args[1]))
        return
    subprocess.run([sys.executable, '-m', 'ensurepip', '--upgrade'], check=True, stdout=subprocess.DEVNULL)
    pip_args = [arg for arg in args if arg not in GET_PIP_ONLY]
    subprocess.run([sys.executable, '-m', 'pip', 'install'] + pip_args, check=True)


if __name__ == '__main__':
    main(sys.argv[1:])
