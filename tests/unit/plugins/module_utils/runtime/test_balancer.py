"""Load-balancer mode: when the endpoint tells a balancer to send clients here."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import balancer, health
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings
from ansible_collections.netsocs.failover.plugins.module_utils.runtime import state as files

CONFIG = dict(settings.DEFAULTS, balancer=dict(settings.DEFAULTS['balancer'], max_age=10))
# A MASTER whose last round, 1 s ago, found its stack serving.
SERVING = {'last_health': {'ok': True, 'serving': True, 'reason': 'MASTER healthy', 'at': 199.0}}


def test_a_healthy_master_serves():
    assert balancer.verdict(True, SERVING, CONFIG, 200.0) == (True, 'MASTER healthy')


def test_a_backup_never_serves_even_with_a_healthy_round():
    serve, reason = balancer.verdict(False, SERVING, CONFIG, 200.0)
    assert not serve and reason.startswith('BACKUP')


def test_a_master_whose_stack_is_still_starting_does_not_serve():
    # just promoted: its last round is still the BACKUP's, then the grace period's (both pass)
    for reason in ('BACKUP healthy (docker daemon answers)', 'MASTER in grace period (1s of 60s)'):
        recorded = {'last_health': {'ok': True, 'serving': False, 'reason': reason, 'at': 199.0}}
        serve, why = balancer.verdict(True, recorded, CONFIG, 200.0)
        assert not serve and why.startswith('MASTER: its stack is not serving yet')


def test_the_health_round_records_whether_the_masters_stack_serves(tmp_path):
    # what the endpoint reads: set from the result's type (health.Serving), never its wording
    recorded = files.State(str(tmp_path))
    config = dict(CONFIG, health_log_file=str(tmp_path / 'health.log'))
    health.report_health(recorded, config, True, health.Serving('MASTER healthy'), now=1.0)
    assert recorded.read()['last_health']['serving'] is True
    health.report_health(recorded, config, True, health.Degraded('MASTER degraded: recorder exited'), now=2.0)
    assert recorded.read()['last_health']['serving'] is True
    health.report_health(recorded, config, True, 'MASTER in grace period (1s of 60s)', now=3.0)
    assert recorded.read()['last_health']['serving'] is False
    health.report_health(recorded, config, False, health.Serving('MASTER healthy'), now=4.0)
    assert recorded.read()['last_health']['serving'] is False


def test_a_failed_round_drains_the_master_before_the_vip_moves():
    recorded = dict(SERVING, last_health={'ok': False, 'serving': False, 'reason': 'docker daemon not answering',
                                          'at': 199.0})
    assert balancer.verdict(True, recorded, CONFIG, 200.0) == (False, 'MASTER unhealthy: docker daemon not answering')


def test_a_stale_health_result_does_not_serve():
    serve, reason = balancer.verdict(True, SERVING, CONFIG, 210.5)
    assert not serve and 'no health result for 12 s' in reason
    assert balancer.verdict(True, SERVING, CONFIG, 208.0)[0]


def test_a_master_handing_over_does_not_serve():
    recorded = dict(SERVING, handover_at=195.0)
    serve, reason = balancer.verdict(True, recorded, CONFIG, 200.0)
    assert not serve and 'handing over' in reason


class Node(object):
    def __init__(self, master):
        self.master = master

    def is_master(self):
        if isinstance(self.master, Exception):
            raise self.master
        return self.master


@pytest.fixture
def state(tmp_path):
    recorded = files.State(str(tmp_path))
    recorded.update(**SERVING)
    return recorded


def test_answer_is_200_or_503_with_the_reason(state):
    status, body = balancer.answer(Node(True), state, CONFIG, now=200.0)
    assert status == 200 and json.loads(body)['serve'] is True
    status, body = balancer.answer(Node(False), state, CONFIG, now=200.0)
    assert status == 503 and json.loads(body)['reason'].startswith('BACKUP')
    status, body = balancer.answer(Node(settings.HookError('ip timed out')), state, CONFIG, now=200.0)
    assert status == 503 and 'cannot be read' in json.loads(body)['reason']


def test_the_endpoint_answers_over_http(state, monkeypatch):
    # a real server on a free port: a 503 for a BACKUP, a 200 once it is MASTER
    node = Node(False)
    config = dict(CONFIG, balancer=dict(CONFIG['balancer'], address='127.0.0.1', port=0))
    servers = []
    real = balancer.ThreadingHTTPServer

    def keep(*args, **kwargs):
        servers.append(real(*args, **kwargs))
        return servers[-1]
    monkeypatch.setattr(balancer, 'ThreadingHTTPServer', keep)
    monkeypatch.setattr(balancer.time, 'time', lambda: 200.0)
    threading.Thread(target=balancer.serve_forever, args=(node, state, config), daemon=True).start()
    while not servers:
        threading.Event().wait(0.01)
    url = 'http://127.0.0.1:%d/healthz' % servers[0].server_address[1]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 503
    node.master = True
    with urllib.request.urlopen(url, timeout=5) as served:
        assert served.status == 200 and json.loads(served.read())['reason'] == 'MASTER healthy'
    servers[0].shutdown()
