"""VRRP adverts on the wire: send them by hand, as a rogue router (or a
spoofer) would, or read what the routers send.

    vrrp_advert.py --version 3 --vrid 51 --priority 254 --vip 172.30.99.100 \
        [--source 172.30.99.12] [--count 10] [--interval 0.2] [--advert-int 0.2]
    AUTH_PASS=secret vrrp_advert.py --version 2 ...     (VRRPv2, PASS authentication)
    vrrp_advert.py --listen eth0 [--seconds 2]          (what arrives on eth0, as JSON)

`--listen` reads every advert that reaches an interface for --seconds (a
packet socket, so before any firewall) and prints, per advertising router,
the VRRP version, the interval its adverts announce, the gaps measured
between them and where they went (the multicast group, or a unicast peer):
the profile a router runs, read off the wire rather than its configuration.

To send, the tests run it from a container that is not a node, to show that the
firewall drops adverts from anyone but the peer (and, with --source set to
the peer's address, that the adverts are valid: a spoofed one gets through
and demotes the MASTER). Builds the IP header itself (IPPROTO_RAW): TTL 255,
as VRRP requires, and any source address. Needs CAP_NET_RAW. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

VRRP_PROTO = 112
VRRP_GROUP = '224.0.0.18'
ETH_P_IP = 0x0800


def inet_checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_advert(vrid, priority, addresses, password='', advert_int=1):
    """A VRRPv2 advertisement (RFC 3768), with simple-text auth when a password is given."""
    if not 1 <= vrid <= 255 or not 0 <= priority <= 255:
        raise ValueError('vrid must be 1-255 and priority 0-255')
    auth = password.encode()[:8].ljust(8, b'\0') if password else b'\0' * 8
    body = b''.join(socket.inet_aton(a) for a in addresses) + auth
    header = struct.pack('!BBBBBBH', 0x21, vrid, priority, len(addresses), 1 if password else 0, advert_int, 0)
    checksum = inet_checksum(header + body)
    return header[:6] + struct.pack('!H', checksum) + body


def build_advert_v3(vrid, priority, addresses, source, destination, advert_int=1.0):
    """A VRRPv3 advertisement (RFC 5798): no authentication, the interval in
    centiseconds, the checksum over an IPv4 pseudo-header (so the source must
    be the one on the wire)."""
    if not 1 <= vrid <= 255 or not 0 <= priority <= 255:
        raise ValueError('vrid must be 1-255 and priority 0-255')
    centis = int(round(advert_int * 100))
    if not 1 <= centis <= 4095:
        raise ValueError('advert_int must be 0.01-40.95 s')
    body = b''.join(socket.inet_aton(a) for a in addresses)
    header = struct.pack('!BBBBHH', 0x31, vrid, priority, len(addresses), centis, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack(
        '!BBH', 0, VRRP_PROTO, len(header) + len(body))
    checksum = inet_checksum(pseudo + header + body)
    return header[:6] + struct.pack('!H', checksum) + body


def own_source(destination):
    """The address the kernel would send from towards destination."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((destination, 9))
        return probe.getsockname()[0]


def build_ip(payload, destination, source='0.0.0.0'):
    """IPv4 header with TTL 255 and protocol 112; the kernel fills a 0.0.0.0 source,
    the id and the header checksum."""
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0xC0, 20 + len(payload), 0, 0, 255, VRRP_PROTO, 0,
                       socket.inet_aton(source), socket.inet_aton(destination)) + payload


def read_advert(frame):
    """The fields of an Ethernet frame carrying a VRRP advert ({'source',
    'destination', 'vrid', 'priority', 'version', 'advert_int'}: the interval
    it announces, in seconds), or None for anything else."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b'\x08\x00':
        return None
    ip = frame[14:]
    if ip[0] >> 4 != 4 or ip[9] != VRRP_PROTO:
        return None
    payload = ip[(ip[0] & 0x0F) * 4:]
    if len(payload) < 8:
        return None
    version = payload[0] >> 4
    if version == 3:  # 4 reserved bits, then 12 bits of centiseconds
        advert_int = (struct.unpack('!H', payload[4:6])[0] & 0x0FFF) / 100.0
    else:
        advert_int = float(payload[5])
    return {'source': socket.inet_ntoa(ip[12:16]), 'destination': socket.inet_ntoa(ip[16:20]),
            'vrid': payload[1], 'priority': payload[2], 'version': version, 'advert_int': advert_int}


def bridge_of(network):
    """The host's bridge of a Docker network (`docker network inspect`'s record)."""
    return network['Options'].get('com.docker.network.bridge.name') or 'br-' + network['Id'][:12]


def listen(interface, seconds, clock=time.monotonic, until=None):
    """[(t, advert)] of every advert that reaches `interface` for `seconds`;
    with until(advert), up to the first one it accepts (then the last)."""
    adverts = []
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)) as sock:
        sock.bind((interface, 0))
        deadline = clock() + seconds
        while clock() < deadline:
            ready, _w, _x = select.select([sock], [], [], max(0.0, deadline - clock()))
            if ready:
                advert = read_advert(sock.recv(2048))
                if advert:
                    adverts.append((clock(), advert))
                    if until is not None and until(advert):
                        break
    return adverts


def summarise(adverts):
    """Per advertising router: {'adverts', 'versions', 'advert_ints',
    'destinations', 'priorities', 'gap_median_s'} (priority 0, a router giving up, is left out)."""
    routers = {}
    for t, advert in adverts:
        if advert['priority'] == 0:
            continue
        router = routers.setdefault(advert['source'], {
            'times': [], 'versions': set(), 'advert_ints': set(), 'destinations': set(), 'priorities': set()})
        router['times'].append(t)
        router['versions'].add(advert['version'])
        router['advert_ints'].add(advert['advert_int'])
        router['destinations'].add(advert['destination'])
        router['priorities'].add(advert['priority'])
    summary = {}
    for source, router in routers.items():
        gaps = sorted(b - a for a, b in zip(router['times'], router['times'][1:]))
        summary[source] = {'adverts': len(router['times']),
                           'gap_median_s': round(gaps[len(gaps) // 2], 3) if gaps else None}
        summary[source].update({key: sorted(router[key]) for key in
                                ('versions', 'advert_ints', 'destinations', 'priorities')})
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--vrid', type=int)
    parser.add_argument('--priority', type=int, default=254)
    parser.add_argument('--vip', action='append')
    parser.add_argument('--source', default='0.0.0.0', help='source address to claim (default: our own)')
    parser.add_argument('--destination', default=VRRP_GROUP)
    parser.add_argument('--count', type=int, default=10)
    parser.add_argument('--interval', type=float, default=0.2)
    parser.add_argument('--version', type=int, choices=(2, 3), default=2)
    parser.add_argument('--advert-int', type=float, default=1.0, help='interval the advert announces')
    parser.add_argument('--listen', metavar='INTERFACE', help='read the adverts that reach INTERFACE instead')
    parser.add_argument('--seconds', type=float, default=2.0, help='how long --listen reads')
    args = parser.parse_args(argv)
    if args.listen:
        print(json.dumps(summarise(listen(args.listen, args.seconds)), sort_keys=True))
        return 0
    if args.vrid is None or not args.vip:
        parser.error('sending needs --vrid and --vip')
    if args.version == 3:
        source = own_source(args.destination) if args.source == '0.0.0.0' else args.source
        packet = build_ip(build_advert_v3(args.vrid, args.priority, args.vip, source, args.destination,
                                          args.advert_int), args.destination, source)
    else:
        # The password comes from the environment, never the command line.
        packet = build_ip(build_advert(args.vrid, args.priority, args.vip, os.environ.get('AUTH_PASS', ''),
                                       int(args.advert_int)), args.destination, args.source)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for n in range(args.count):
        sock.sendto(packet, (args.destination, 0))
        if n + 1 < args.count:
            time.sleep(args.interval)
    print('sent %d VRRPv%d adverts (vrid %d, priority %d, source %s) to %s'
          % (args.count, args.version, args.vrid, args.priority, args.source, args.destination))
    return 0


if __name__ == '__main__':
    sys.exit(main())
