"""unit_states: one `systemctl show` for several units."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netsocs.failover.plugins.filter.unit_states import unit_states

# systemctl show --property=Id,ActiveState,UnitFileState docker.service netsocs-none.service
OUTPUT = '''ActiveState=active
UnitFileState=enabled
Id=docker.service

ActiveState=inactive
UnitFileState=
Id=netsocs-none.service
'''


def test_each_unit_by_its_id_whatever_the_order_of_the_properties():
    assert unit_states(OUTPUT) == {
        'docker.service': {'Id': 'docker.service', 'ActiveState': 'active', 'UnitFileState': 'enabled'},
        'netsocs-none.service': {'Id': 'netsocs-none.service', 'ActiveState': 'inactive', 'UnitFileState': ''},
    }


def test_nothing_read_is_no_unit_and_a_block_without_id_is_an_error():
    assert unit_states('') == {}
    with pytest.raises(AnsibleFilterError, match='has no Id'):
        unit_states('ActiveState=active\n')
