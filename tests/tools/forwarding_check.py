"""Did every forwarded log line arrive, once, with the node's time? Compares
what the nodes wrote with what the syslog receiver on the outsider stored
(molecule/resources/files/rsyslog-receiver.conf: one file per sender and
program, each line "<time the sender gave it> <message>"), read with
`docker exec`, until they agree or --wait runs out.

    forwarding_check.py --nodes node-a,node-b --file /var/log/keepalived-failover.log=keepalived-failover ...
        [--journal-since EPOCH] [--wait 90]

Per node and file: lines written, received, lost (written, never received)
and doubled (received more often than written), and the largest gap between a
line's own timestamp and the time it arrived with. With --journal-since, the
same for Keepalived's journal lines since then, and the lines written since
then must carry their own time (within 5 s), not the time they arrived. Prints JSON; exit 1 unless
every count matches.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import subprocess
import sys
import time

RECEIVED = '/var/log/received/%s/%s.log'
# imfile reads a line within a second of its writing: its syslog time is that read.
MAX_TIME_GAP_S = 5.0


def read(container, *argv):
    done = subprocess.run(['docker', 'exec', container] + list(argv), capture_output=True, text=True, timeout=30,
                          check=False)
    return done.stdout.splitlines() if done.returncode == 0 else []


def parse_time(text):
    try:
        return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()
    except ValueError:
        return None


def split_received(lines):
    """[(time the sender gave, message)] from the receiver's lines."""
    out = []
    for line in lines:
        stamp, _sep, message = line.partition(' ')
        out.append((parse_time(stamp), message.strip()))
    return out


def compare(written, received):
    """Counts of one stream: written and received as lists of messages."""
    want, got = collections.Counter(written), collections.Counter(received)
    lost = sum((want - got).values())
    doubled = sum((got - want).values())
    return {'written': len(written), 'received': len(received), 'lost': lost, 'doubled': doubled,
            'ok': lost == 0 and doubled == 0}


def time_kept(received, since=None):
    """The largest gap between a line's own leading timestamp and the time it
    was received with, for the lines written since `since` (None when no
    such line starts with a timestamp). Lines a file held before rsyslog first
    read it carry the time of that read."""
    gaps = []
    for sent, message in received:
        own = parse_time(message.split(' ', 1)[0]) if message else None
        if own is not None and sent is not None and (since is None or own >= since):
            gaps.append(abs(sent - own))
    return round(max(gaps), 3) if gaps else None


def snapshot(args):
    report = {'ok': True, 'streams': {}}
    for node in args.nodes:
        for spec in args.file:
            path, tag = spec.split('=', 1)
            written = [line.strip() for line in read(node, 'cat', path) if line.strip()]
            received = split_received(read(args.receiver, 'cat', RECEIVED % (node, tag)))
            entry = compare(written, [m for _t, m in received])
            if args.journal_since is not None:
                # a line written while the receiver was down arrives with the time it was written
                entry['largest_time_gap_s'] = time_kept(received, args.journal_since)
                entry['written_since'] = sum(1 for line in written
                                             if (parse_time(line.split(' ', 1)[0]) or 0) >= args.journal_since)
                entry['ok'] = entry['ok'] and (entry['largest_time_gap_s'] or 0) <= MAX_TIME_GAP_S
            report['streams']['%s %s' % (node, tag)] = entry
            report['ok'] = report['ok'] and entry['ok']
        if args.journal_since is not None:
            idents = ['--identifier=%s' % p for p in args.programs]
            journal = read(node, 'journalctl', *idents, '--output=cat', '--since=@%d' % int(args.journal_since))
            written = [line.strip() for line in journal if line.strip()]
            received = []
            for program in args.programs:
                received += [m for t, m in split_received(read(args.receiver, 'cat', RECEIVED % (node, program)))
                             if t is not None and t >= int(args.journal_since)]
            entry = compare(written, received)
            entry['written_since'] = len(written)
            report['streams']['%s journal keepalived' % node] = entry
            report['ok'] = report['ok'] and entry['ok'] and entry['written'] > 0
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nodes', type=lambda s: s.split(','), default=['node-a', 'node-b'])
    parser.add_argument('--receiver', default='outsider')
    parser.add_argument('--file', action='append', required=True, metavar='PATH=TAG')
    parser.add_argument('--journal-since', type=float, help="compare Keepalived's journal lines since this epoch")
    parser.add_argument('--programs', type=lambda s: s.split(','), default=['Keepalived', 'Keepalived_vrrp'])
    parser.add_argument('--wait', type=float, default=0.0, help='seconds to wait for the counts to agree')
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    started = time.monotonic()
    while True:
        report = snapshot(args)
        if report['ok'] or time.monotonic() >= deadline:
            break
        time.sleep(1)
    report['waited_s'] = round(time.monotonic() - started, 1)
    print(json.dumps(report, sort_keys=True))
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
