"""installed_packages: dpkg-query's lines into the package facts."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netsocs.failover.plugins.modules import installed_packages

OUTPUT = ('installed\tufw\t0.36.2-1\tall\n'
          'config-files\tnfs-kernel-server\t1:2.6.2-4\tamd64\n'  # removed, its configuration kept
          'half-installed\tkeepalived\t1:2.2.7-1\tamd64\n'
          'installed\tlibc6\t2.36-9\tamd64\n'
          'installed\tlibc6\t2.36-9\ti386\n'
          'not-installed\tdocker.io\t\tamd64\n')


def test_only_installed_packages_are_facts_one_entry_per_architecture():
    assert installed_packages.parse(OUTPUT) == {
        'ufw': [{'name': 'ufw', 'version': '0.36.2-1', 'arch': 'all', 'source': 'dpkg'}],
        'libc6': [{'name': 'libc6', 'version': '2.36-9', 'arch': 'amd64', 'source': 'dpkg'},
                  {'name': 'libc6', 'version': '2.36-9', 'arch': 'i386', 'source': 'dpkg'}],
    }
    assert list(installed_packages.parse(OUTPUT, ['ufw', 'keepalived'])) == ['ufw']


@pytest.mark.parametrize('rc, expected', [(0, None), (2, 'dpkg-query failed (rc=2): database locked')])
def test_the_module_returns_the_facts_or_says_why_not(monkeypatch, capsys, rc, expected):
    calls = []
    monkeypatch.setattr(installed_packages.AnsibleModule, 'get_bin_path', lambda self, n, required=False: '/usr/bin/' + n)
    monkeypatch.setattr(installed_packages.AnsibleModule, 'run_command',
                        lambda self, cmd, **kw: (calls.append(cmd), (rc, OUTPUT, 'database locked\n'))[1])
    with patch_module_args({'names': ['ufw'], '_ansible_check_mode': True}):
        with pytest.raises(SystemExit):
            installed_packages.main()
    result = json.loads(capsys.readouterr().out)
    assert calls == [['/usr/bin/dpkg-query', '--show', '--showformat', installed_packages.FORMAT]]
    if expected:
        assert result['failed'] and result['msg'] == expected
    else:
        assert result['changed'] is False and list(result['ansible_facts']['packages']) == ['ufw']
