# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the VIP is: parse `ip -j addr`, build and read ARP frames, parse
Keepalived's data dump, and wait for a condition (the vip_status module, the
stack hook and the drill's sampler read the node through these).

Nothing here touches the system; callers pass text in and get plain data out,
so every decision is unit tested without a host.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import time


class VipError(ValueError):
    """Raised for input that cannot be parsed or a VIP that is not valid."""


def parse_ip_addr_json(text):
    """Turn `ip -j -4 addr show` output into a list of IPv4 addresses.

    Returns a list of dicts: {interface, address, prefix, secondary, label,
    dynamic} (dynamic: assigned by DHCP, with a lease that runs out).
    """
    try:
        links = json.loads(text or '[]')
    except ValueError as exc:
        raise VipError('cannot parse `ip -j addr` output: %s' % exc)
    if not isinstance(links, list):
        raise VipError('`ip -j addr` output is not a list')
    result = []
    for link in links:
        for info in link.get('addr_info') or []:
            if info.get('family') != 'inet':
                continue
            result.append({
                'interface': link.get('ifname'),
                'address': info.get('local'),
                'prefix': info.get('prefixlen'),
                'secondary': bool(info.get('secondary', False)),
                'label': info.get('label'),
                'dynamic': bool(info.get('dynamic', False)),
            })
    return result


def find_vip(addresses, vip, interface=None, prefix=None):
    """Return the entry of `addresses` that is the VIP, or None.

    `interface` and `prefix`, when given, must match too: a VIP configured with
    the wrong prefix or on the wrong interface does not count as held.
    """
    try:
        wanted = str(ipaddress.IPv4Address(vip))
    except ValueError as exc:
        raise VipError('%s is not a valid IPv4 address: %s' % (vip, exc))
    for entry in addresses:
        if entry['address'] != wanted:
            continue
        if interface and entry['interface'] != interface:
            continue
        if prefix is not None and entry['prefix'] != prefix:
            continue
        return entry
    return None


# An ARP request for the VIP, broadcast: whoever answers uses the address.
# ARP answers even where ICMP is filtered, which a ping would miss.
ETH_P_ARP = 0x0806
_ARP = struct.Struct('!HHBBH6s4s6s4s')


def arp_request(src_mac, src_ip, target_ip):
    """The Ethernet frame of an ARP request (who has target_ip, tell src_ip)."""
    try:
        mac = bytes.fromhex(src_mac.replace(':', ''))
        sender, target = socket.inet_aton(src_ip), socket.inet_aton(target_ip)
    except (ValueError, OSError) as exc:
        raise VipError('cannot build an ARP request from %s %s for %s: %s' % (src_mac, src_ip, target_ip, exc))
    if len(mac) != 6:
        raise VipError('%s is not a MAC address' % src_mac)
    return b'\xff' * 6 + mac + struct.pack('!H', ETH_P_ARP) + _ARP.pack(
        1, 0x0800, 6, 4, 1, mac, sender, b'\x00' * 6, target)


def parse_arp_reply(frame, target_ip):
    """The sender's MAC when the frame is an ARP reply from target_ip, else None."""
    if len(frame) < 14 + _ARP.size or frame[12:14] != struct.pack('!H', ETH_P_ARP):
        return None
    _htype, ptype, _hlen, _plen, op, sha, spa, _tha, _tpa = _ARP.unpack(frame[14:14 + _ARP.size])
    if ptype != 0x0800 or op != 2 or spa != socket.inet_aton(target_ip):
        return None
    return ':'.join('%02x' % byte for byte in bytearray(sha))


_LIVE_FIELDS = {
    'State': ('state', str),
    'Priority': ('priority', int),
    'Effective priority': ('effective_priority', int),
    'Master router': ('master_router', str),
    'Master priority': ('master_priority', int),
}


def parse_keepalived_data(text, instance=None):
    """Parse Keepalived's data dump (SIGUSR1, /tmp/keepalived.data).

    Returns the live view of one VRRP instance (the first, or `instance`):
    {"instance", "state", "priority", "effective_priority" (after tracked
    scripts' weights), "master_router", "master_priority"}, or None when the
    dump has no such instance. Only these fields are read: the dump also
    holds the VRRP password, which must never leave the node.
    """
    found = None
    for line in (text or '').splitlines():
        match = re.match(r'^ VRRP Instance = (\S+)\s*$', line)
        if match:
            if found is not None:
                break  # the wanted instance is complete
            if instance in (None, match.group(1)):
                found = {'instance': match.group(1)}
            continue
        if found is None:
            continue
        match = re.match(r'^   ([A-Za-z ]+?) = (.*?)\s*$', line)
        if match and match.group(1) in _LIVE_FIELDS:
            key, kind = _LIVE_FIELDS[match.group(1)]
            if key not in found:
                try:
                    found[key] = kind(match.group(2))
                except ValueError:
                    raise VipError('cannot parse %r in the Keepalived data dump' % line.strip())
    return found


def wait_until(probe, done, timeout, interval=0.1, clock=time.monotonic, sleep=time.sleep):
    """Call `probe()` until `done(result)` is true or `timeout` seconds pass.

    Returns (result, waited_seconds, reached). The probe runs at least once,
    so timeout=0 is a plain check.
    """
    start = clock()
    while True:
        result = probe()
        waited = clock() - start
        if done(result):
            return result, waited, True
        if waited >= timeout:
            return result, waited, False
        sleep(min(interval, max(timeout - waited, 0)))
