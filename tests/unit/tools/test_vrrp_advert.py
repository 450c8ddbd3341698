"""The rogue-advert tool builds exactly what Keepalived sends."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[3]
spec = importlib.util.spec_from_file_location('vrrp_advert', ROOT / 'tests' / 'tools' / 'vrrp_advert.py')
vrrp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vrrp)

# An advert captured from Keepalived 2.3 on node-a (vrid 51, priority 150,
# VIP 172.30.99.100, PASS "m0lecule"), IP header stripped.
CAPTURED = bytes.fromhex('2133960101018ed6ac1e63646d306c6563756c65')


def test_advert_matches_keepalived_byte_for_byte():
    assert vrrp.build_advert(51, 150, ['172.30.99.100'], 'm0lecule') == CAPTURED


def test_checksum_verifies():
    packet = vrrp.build_advert(51, 254, ['172.30.99.100', '172.30.99.101'], 'x')
    assert vrrp.inet_checksum(packet) == 0
    assert packet[3] == 2 and packet[2] == 254


def test_ip_header_carries_ttl_255_and_protocol_112():
    header = vrrp.build_ip(CAPTURED, '224.0.0.18', '172.30.99.12')[:20]
    assert header[8] == 255 and header[9] == 112
    assert header[12:16] == bytes([172, 30, 99, 12]) and header[16:20] == bytes([224, 0, 0, 18])
    assert int.from_bytes(header[2:4], 'big') == 20 + len(CAPTURED)


@pytest.mark.parametrize('vrid, priority', [(0, 100), (256, 100), (51, 256)])
def test_bad_fields_are_refused(vrid, priority):
    with pytest.raises(ValueError):
        vrrp.build_advert(vrid, priority, ['10.0.0.1'])


def test_v3_advert_checksum_covers_the_pseudo_header():
    packet = vrrp.build_advert_v3(51, 150, ['172.30.99.100'], '172.30.99.11', '224.0.0.18', 0.2)
    assert packet[0] == 0x31 and packet[1] == 51 and packet[2] == 150 and packet[3] == 1
    assert int.from_bytes(packet[4:6], 'big') == 20  # centiseconds, reserved bits zero
    pseudo = bytes([172, 30, 99, 11, 224, 0, 0, 18, 0, 112, 0, len(packet)])
    assert vrrp.inet_checksum(pseudo + packet) == 0
    # another source, another checksum: a v3 advert cannot be replayed from elsewhere unchanged
    assert vrrp.build_advert_v3(51, 150, ['172.30.99.100'], '172.30.99.12', '224.0.0.18', 0.2) != packet


@pytest.mark.parametrize('advert_int', [0.001, 41.0])
def test_v3_interval_out_of_range_is_refused(advert_int):
    with pytest.raises(ValueError):
        vrrp.build_advert_v3(51, 150, ['10.0.0.1'], '10.0.0.2', '224.0.0.18', advert_int)


# A VRRPv3 advert captured from Keepalived 2.2.7 (Debian 12) on node-a, the
# default profile (vrid 51, priority 150, 0.2 s, VIP 172.30.99.100, multicast).
CAPTURED_V3 = bytes.fromhex('313396010014397bac1e6364')


def test_v3_advert_matches_keepalived_byte_for_byte():
    assert vrrp.build_advert_v3(51, 150, ['172.30.99.100'], '172.30.99.11', '224.0.0.18', 0.2) == CAPTURED_V3


def _frame(source, destination, payload):
    import struct
    import socket
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0xC0, 20 + len(payload), 0, 0, 255, 112, 0,
                     socket.inet_aton(source), socket.inet_aton(destination))
    return b'\x01\x00\x5e\x00\x00\x12' + b'\x02' * 6 + b'\x08\x00' + ip + payload


def test_an_advert_read_off_the_wire_says_its_version_interval_and_destination():
    v3 = vrrp.build_advert_v3(51, 150, ['172.30.99.100'], '172.30.99.11', '172.30.99.12', 0.2)
    assert vrrp.read_advert(_frame('172.30.99.11', '172.30.99.12', v3)) == {
        'source': '172.30.99.11', 'destination': '172.30.99.12', 'vrid': 51, 'priority': 150,
        'version': 3, 'advert_int': 0.2}
    v2 = vrrp.read_advert(_frame('172.30.99.11', '224.0.0.18', CAPTURED))
    assert (v2['version'], v2['advert_int'], v2['destination']) == (2, 1.0, '224.0.0.18')
    assert vrrp.read_advert(_frame('172.30.99.11', '224.0.0.18', b'')) is None


def test_the_summary_is_per_router_and_leaves_out_a_router_giving_up():
    advert = {'source': 'a', 'destination': '224.0.0.18', 'vrid': 51, 'priority': 150, 'version': 3,
              'advert_int': 0.2}
    adverts = [(t, advert) for t in (0.0, 0.2, 0.41, 0.6)] + [(0.7, dict(advert, source='b', priority=0))]
    assert vrrp.summarise(adverts) == {'a': {
        'adverts': 4, 'gap_median_s': 0.2, 'versions': [3], 'advert_ints': [0.2],
        'destinations': ['224.0.0.18'], 'priorities': [150]}}


def test_sending_needs_a_router_id_and_a_vip():
    with pytest.raises(SystemExit):
        vrrp.main(['--count', '1'])
