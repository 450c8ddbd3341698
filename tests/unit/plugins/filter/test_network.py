import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netsocs.failover.plugins.filter.network import in_network
from ansible_collections.netsocs.failover.plugins.test.ipv4 import ipv4


@pytest.mark.parametrize('address, network, expected', [
    ('192.168.1.100', '192.168.1.0/24', True),
    ('192.168.1.100', '192.168.1.10/24', True),  # interface address with prefix
    ('192.168.2.100', '192.168.1.10/24', False),
    ('10.0.0.1', '10.0.0.0/8', True),
    ('172.30.99.100', '172.30.99.11/32', False),
])
def test_in_network(address, network, expected):
    assert in_network(address, network) is expected


@pytest.mark.parametrize('address, network', [
    ('vip.example', '192.168.1.0/24'),
    ('192.168.1.1', 'nonsense'),
    ('192.168.1.1', '/'),
])
def test_in_network_errors_name_the_value(address, network):
    with pytest.raises(AnsibleFilterError, match='in_network'):
        in_network(address, network)


@pytest.mark.parametrize('value, expected', [
    ('192.168.1.100', True), (' 10.0.0.1 ', True), ('192.168.1.0/24', False),
    ('vip.example', False), ('fe80::1', False), ('', False), (None, False), (3232235876, False),
])
def test_ipv4(value, expected):
    assert ipv4(value) is expected
