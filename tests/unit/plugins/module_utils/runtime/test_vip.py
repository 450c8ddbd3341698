"""Parsing and decision logic behind vip_status, on recorded `ip -j` output."""

import json

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import vip as _vip

# Recorded on a MASTER node (iproute2 6.x): node address plus the VIP as a secondary.
MASTER_IP_JSON = json.dumps([
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo"}]},
    {"ifindex": 9, "ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "172.30.99.11", "prefixlen": 24, "scope": "global", "label": "eth0"},
        {"family": "inet", "local": "172.30.99.100", "prefixlen": 24, "scope": "global",
         "secondary": True, "label": "eth0"},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
])
BACKUP_IP_JSON = json.dumps([
    {"ifindex": 9, "ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "172.30.99.12", "prefixlen": 24, "label": "eth0"}]},
])


def test_parse_lists_ipv4_only():
    addrs = _vip.parse_ip_addr_json(MASTER_IP_JSON)
    assert [a['address'] for a in addrs] == ['127.0.0.1', '172.30.99.11', '172.30.99.100']
    assert addrs[2] == {'interface': 'eth0', 'address': '172.30.99.100', 'prefix': 24,
                        'secondary': True, 'label': 'eth0', 'dynamic': False}


def test_an_address_from_dhcp_is_marked_dynamic():
    # what iproute2 shows for a DHCP lease (the preflight refuses such a node address)
    leased = json.dumps([{"ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "10.0.0.5", "prefixlen": 24, "dynamic": True, "valid_life_time": 3500}]}])
    assert [a['dynamic'] for a in _vip.parse_ip_addr_json(leased)] == [True]


@pytest.mark.parametrize('text', ['', '[]', '[{"ifname": "eth0"}]'])
def test_parse_empty(text):
    assert _vip.parse_ip_addr_json(text) == []


@pytest.mark.parametrize('text', ['not json', '{"a": 1}'])
def test_parse_rejects_garbage(text):
    with pytest.raises(_vip.VipError):
        _vip.parse_ip_addr_json(text)


@pytest.mark.parametrize('kwargs, found', [
    ({}, True),
    ({'interface': 'eth0'}, True),
    ({'interface': 'eth1'}, False),
    ({'prefix': 24}, True),
    ({'prefix': 32}, False),
])
def test_find_vip_on_master(kwargs, found):
    entry = _vip.find_vip(_vip.parse_ip_addr_json(MASTER_IP_JSON), '172.30.99.100', **kwargs)
    assert (entry is not None) is found


def test_find_vip_on_backup():
    assert _vip.find_vip(_vip.parse_ip_addr_json(BACKUP_IP_JSON), '172.30.99.100') is None


def test_find_vip_rejects_bad_address():
    with pytest.raises(_vip.VipError, match='not a valid IPv4'):
        _vip.find_vip([], '172.30.99.300')


def test_wait_until_reaches(fake_clock):
    fake = fake_clock
    results = iter([False, False, True])
    result, waited, reached = _vip.wait_until(lambda: next(results), bool, 10, 0.5,
                                              fake.clock, fake.sleep)
    assert reached and result is True and waited == pytest.approx(1.0)


def test_wait_until_times_out(fake_clock):
    fake = fake_clock
    result, waited, reached = _vip.wait_until(lambda: False, bool, 2, 0.5, fake.clock, fake.sleep)
    assert not reached and waited == pytest.approx(2.0)


def test_wait_until_zero_timeout_checks_once():
    calls = []
    _result, waited, reached = _vip.wait_until(lambda: calls.append(1), lambda r: False, 0)
    assert calls == [1] and not reached


# An excerpt of a real Keepalived 2.3 data dump (SIGUSR1) from node-b while its
# storage check failed: priority 100, weight -80.
KEEPALIVED_DATA = """------< Global definitions >------
 Network namespace = (default)
------< VRRP Topology >------
 VRRP Instance = VI_NETSOCS
   VRRP Version = 2
   State = BACKUP
   Master router = 172.30.99.11
   Master priority = 150
   Flags: none
   Wantstate = BACKUP
   Virtual Router ID = 51
   Priority = 100
   Effective priority = 20
   Total priority = 20
   Authentication type = SIMPLE_PASSWORD
   Password = s3cret
   Tracked scripts :
     chk_netsocs_stack weight -80
------< VRRP Scripts >------
 VRRP Script = chk_netsocs_stack
   State = idle
 VRRP Instance = VI_OTHER
   State = MASTER
   Priority = 200
   Effective priority = 200
"""


def test_parse_keepalived_data_reads_the_live_priorities():
    assert _vip.parse_keepalived_data(KEEPALIVED_DATA) == {
        'instance': 'VI_NETSOCS', 'state': 'BACKUP', 'master_router': '172.30.99.11',
        'master_priority': 150, 'priority': 100, 'effective_priority': 20}


def test_parse_keepalived_data_never_returns_the_password():
    assert 's3cret' not in repr(_vip.parse_keepalived_data(KEEPALIVED_DATA))


def test_parse_keepalived_data_picks_the_named_instance():
    other = _vip.parse_keepalived_data(KEEPALIVED_DATA, 'VI_OTHER')
    assert other['state'] == 'MASTER' and other['effective_priority'] == 200
    assert _vip.parse_keepalived_data(KEEPALIVED_DATA, 'VI_NONE') is None
    assert _vip.parse_keepalived_data('') is None


def test_parse_keepalived_data_refuses_garbage_numbers():
    with pytest.raises(_vip.VipError, match='Effective priority'):
        _vip.parse_keepalived_data(' VRRP Instance = X\n   Effective priority = high\n')


def test_arp_request_asks_who_has_the_vip():
    frame = _vip.arp_request('02:42:ac:1e:63:0b', '172.30.99.11', '172.30.99.100')
    assert frame[:6] == b'\xff' * 6 and frame[6:12] == bytes.fromhex('0242ac1e630b')
    assert frame[12:14] == b'\x08\x06' and len(frame) == 42
    # htype 1 (Ethernet), ptype IPv4, 6/4 byte addresses, op 1 (request)
    assert frame[14:22] == bytes.fromhex('0001080006040001')
    assert frame[28:32] == bytes([172, 30, 99, 11]) and frame[38:42] == bytes([172, 30, 99, 100])


def reply(sender_mac, sender_ip, op=2):
    mac = bytes.fromhex(sender_mac.replace(':', ''))
    import socket
    import struct
    return (bytes.fromhex('0242ac1e630b') + mac + b'\x08\x06'
            + struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op, mac, socket.inet_aton(sender_ip),
                          bytes.fromhex('0242ac1e630b'), socket.inet_aton('172.30.99.11')))


def test_arp_reply_names_who_uses_the_vip():
    assert _vip.parse_arp_reply(reply('02:42:ac:1e:63:0d', '172.30.99.100'), '172.30.99.100') == '02:42:ac:1e:63:0d'


@pytest.mark.parametrize('frame', [
    reply('02:42:ac:1e:63:0d', '172.30.99.12'),            # a reply about another address
    reply('02:42:ac:1e:63:0d', '172.30.99.100', op=1),     # a request (ours, seen going out)
    reply('02:42:ac:1e:63:0d', '172.30.99.100')[:30],      # cut short
    b'\x00' * 12 + b'\x08\x00' + b'\x00' * 40,             # not ARP
])
def test_other_frames_are_no_answer(frame):
    assert _vip.parse_arp_reply(frame, '172.30.99.100') is None


def test_a_bad_mac_is_refused():
    with pytest.raises(_vip.VipError):
        _vip.arp_request('02:42:ac', '172.30.99.11', '172.30.99.100')
