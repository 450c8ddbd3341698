"""Send VRRP adverts by hand, as a rogue router (or a spoofer) would.

    vrrp_advert.py --version 3 --vrid 51 --priority 254 --vip 172.30.99.100 \
        [--source 172.30.99.12] [--count 10] [--interval 0.2] [--advert-int 0.2]
    AUTH_PASS=secret vrrp_advert.py --version 2 ...     (VRRPv2, PASS authentication)

The tests run it from a container that is not a node, to show that the
firewall drops adverts from anyone but the peer (and, with --source set to
the peer's address, that the adverts are valid: a spoofed one gets through
and demotes the MASTER). Builds the IP header itself (IPPROTO_RAW): TTL 255,
as VRRP requires, and any source address. Needs CAP_NET_RAW. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time

VRRP_PROTO = 112
VRRP_GROUP = '224.0.0.18'


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--vrid', type=int, required=True)
    parser.add_argument('--priority', type=int, default=254)
    parser.add_argument('--vip', action='append', required=True)
    parser.add_argument('--source', default='0.0.0.0', help='source address to claim (default: our own)')
    parser.add_argument('--destination', default=VRRP_GROUP)
    parser.add_argument('--count', type=int, default=10)
    parser.add_argument('--interval', type=float, default=0.2)
    parser.add_argument('--version', type=int, choices=(2, 3), default=2)
    parser.add_argument('--advert-int', type=float, default=1.0, help='interval the advert announces')
    args = parser.parse_args(argv)
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
