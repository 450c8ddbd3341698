import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netsocs.failover.plugins.filter.network import in_network
from ansible_collections.netsocs.failover.plugins.test.ipv4 import ipv4
from ansible_collections.netsocs.failover.plugins.test.ipv4_net import ipv4_net


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


@pytest.mark.parametrize('value, expected', [
    ('192.168.1.11', True), ('192.168.1.0/24', True), ('10.0.0.0/8', True),
    ('192.168.1.5/24', True),  # host bits set: still the 192.168.1.0/24 network
    ('0.0.0.0/0', False), ('*', False), ('192.168.1.*', False), ('node-b', False),
    ('@netgroup', False), ('fe80::1', False), ('', False), (None, False),
])
def test_ipv4_net(value, expected):
    assert ipv4_net(value) is expected


def test_node_address_prefers_the_inventory_then_the_facts():
    from ansible_collections.netsocs.failover.plugins.filter.node_address import node_address
    hostvars = {
        'node-a': {'failover_node_ip': '192.168.1.10', 'ansible_facts': {'default_ipv4': {'address': '10.0.0.1'}}},
        'node-b': {'ansible_facts': {'default_ipv4': {'address': '192.168.1.11'}}},
        'node-c': {'ansible_facts': {}},
    }
    assert node_address('node-a', hostvars) == '192.168.1.10'
    assert node_address('node-b', hostvars) == '192.168.1.11'
    with pytest.raises(AnsibleFilterError, match='no address for node-c'):
        node_address('node-c', hostvars)
    with pytest.raises(AnsibleFilterError, match='not in the inventory'):
        node_address('node-x', hostvars)
