# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load-balancer mode: the health endpoint a provider's balancer follows
(`stack-hook balancer`, netsocs-balancer.service).

Where a Virtual IP cannot move (GCP, Azure, most on-premises balancers in
front of two nodes), the balancer sends clients to the node whose endpoint
answers 200. Keepalived still elects the MASTER (unicast VRRP) and the hooks
still run the stack on it alone; the endpoint only says so: 200 exactly while
this node holds the VIP, its last health round (recent) found the MASTER's
stack serving (health.Serving: not the grace period of a stack still
starting, not a BACKUP's round from before the promotion), and it is not
handing the stack over. Anything else is 503, with the reason in the body, so
the balancer drains the node as soon as its health round fails, before the
VIP moves.
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .lifecycle import handing_over


def verdict(holds_vip, recorded, config, now):
    """(serve, reason): whether the balancer may send clients here.

    holds_vip: this node holds the VIP (it is the MASTER); recorded: the
    runtime's state (last_health, handover_at)."""
    if not holds_vip:
        return False, 'BACKUP: the peer holds the VIP'
    if handing_over(recorded, config, now):
        return False, 'MASTER handing over: the stack stopped first'
    last = recorded.get('last_health') or {}
    age = now - float(last.get('at') or 0)
    if age > config['balancer']['max_age']:
        return False, 'MASTER: no health result for %.0f s' % age
    if not last.get('ok'):
        return False, 'MASTER unhealthy: %s' % last.get('reason', '?')
    if not last.get('serving'):
        return False, 'MASTER: its stack is not serving yet (%s)' % last.get('reason', '?')
    return True, last['reason']


def answer(node, state, config, now=None):
    """(HTTP status, JSON body bytes) for one request of the balancer."""
    now = now if now is not None else time.time()
    try:
        holds_vip = node.is_master()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The VIP's place unreadable: no evidence this node should serve.
        serve, reason = False, 'the VIP cannot be read: %s' % exc
    else:
        serve, reason = verdict(holds_vip, state.read(), config, now)
    body = {'node': socket.gethostname(), 'serve': serve, 'reason': str(reason)}
    return (200 if serve else 503), json.dumps(body).encode() + b'\n'


def serve_forever(node, state, config):
    """Answer the balancer's health checks (any path, GET or HEAD) on
    balancer.address:balancer.port until stopped."""
    class Handler(BaseHTTPRequestHandler):
        def respond(self, with_body):
            status, body = answer(node, state, config)
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server's name)
            self.respond(True)

        def do_HEAD(self):  # noqa: N802
            self.respond(False)

        def log_message(self, *args):  # a probe every second: no log line for each
            return

    server = ThreadingHTTPServer((config['balancer']['address'], config['balancer']['port']), Handler)
    server.daemon_threads = True
    server.serve_forever()
