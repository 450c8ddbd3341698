"""AWS: the Elastic IP follows the MASTER (runtime/cloud.py). The signer is
checked against botocore's; the association against moto's EC2 server (an
AWS-compatible endpoint) with an IMDSv2 stand-in."""

import datetime
import importlib.util
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import cloud

_spec = importlib.util.spec_from_file_location('aws_standin', pathlib.Path(__file__).parents[4] / 'tools' / 'aws_standin.py')
STANDIN = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(STANDIN)

CREDENTIALS = {'key': 'AKIDEXAMPLE', 'secret': 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'token': 'session-token'}
NOW = datetime.datetime(2026, 12, 4, 12, 36, 0, tzinfo=datetime.timezone.utc)


def test_the_signature_is_botocores(monkeypatch):
    botocore_auth = pytest.importorskip('botocore.auth')
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = b'Action=DescribeAddresses&AllocationId.1=eipalloc-12345678&Version=2016-11-15'
    url = 'https://ec2.eu-west-1.amazonaws.com/'
    ours = cloud.signature_headers('POST', url, body, 'eu-west-1', 'ec2', CREDENTIALS, NOW)

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return NOW.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return NOW if tz else NOW.replace(tzinfo=None)
    monkeypatch.setattr(botocore_auth.datetime, 'datetime', Frozen)
    request = AWSRequest(method='POST', url=url, data=body,
                         headers={'content-type': ours['content-type']})
    botocore_auth.SigV4Auth(Credentials(CREDENTIALS['key'], CREDENTIALS['secret'], CREDENTIALS['token']),
                            'ec2', 'eu-west-1').add_auth(request)
    assert request.headers['Authorization'] == ours['authorization']
    assert request.headers['X-Amz-Security-Token'] == ours['x-amz-security-token']


class FakeAws(object):
    """Scripted answers: identity() and call() pop from their lists (an exception is raised)."""

    def __init__(self, owner='i-0a', calls=()):
        self.owner, self.calls, self.made = owner, list(calls), []

    def identity(self):
        return 'i-0b', CREDENTIALS

    def call(self, credentials, action, params):
        self.made.append(action)
        failure = self.calls.pop(0) if self.calls else None
        if failure is not None:
            raise failure
        if action == 'DescribeAddresses':
            return ('<DescribeAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><addressesSet><item>'
                    '<publicIp>198.51.100.7</publicIp><allocationId>eipalloc-1</allocationId>'
                    '<instanceId>%s</instanceId></item></addressesSet></DescribeAddressesResponse>' % self.owner).encode()
        return b'<AssociateAddressResponse><associationId>eipassoc-9</associationId></AssociateAddressResponse>'


def test_an_address_already_here_is_left_alone():
    aws, lines = FakeAws(owner='i-0b'), []
    assert 'already: no call' in cloud.associate(aws, 'eipalloc-1', lines.append, 5)
    assert aws.made == ['DescribeAddresses']


def test_the_address_moves_here_with_reassociation():
    aws, lines = FakeAws(owner='i-0a'), []
    assert cloud.associate(aws, 'eipalloc-1', lines.append, 5).endswith('eipassoc-9')
    assert aws.made == ['DescribeAddresses', 'AssociateAddress']
    assert 'is associated with i-0a: associating it with this instance (i-0b)' in lines[0]


def test_throttling_is_retried_with_backoff():
    throttled = cloud.CloudError('AssociateAddress: HTTP 503 RequestLimitExceeded', code='RequestLimitExceeded', retry=True)
    aws, lines, pauses = FakeAws(calls=[None, throttled, None, throttled, None]), [], []
    assert cloud.associate(aws, 'eipalloc-1', lines.append, 10, sleep=pauses.append).endswith('eipassoc-9')
    assert pauses == [0.2, 0.4] and sum('trying again' in line for line in lines) == 2


def test_a_wrong_allocation_id_fails_at_once():
    wrong = cloud.CloudError('DescribeAddresses: HTTP 400 InvalidAllocationID.NotFound', code='InvalidAllocationID.NotFound')
    with pytest.raises(cloud.CloudError, match='gave up: .*InvalidAllocationID.NotFound') as raised:
        cloud.associate(FakeAws(calls=[wrong]), 'eipalloc-1', [].append, 10, sleep=pytest.fail)
    assert raised.value.code == 'InvalidAllocationID.NotFound'


def test_no_credentials_gives_up_at_the_deadline():
    class NoRole(FakeAws):
        def identity(self):
            raise cloud.CloudError('the instance metadata (IMDSv2): 404', code='Metadata', retry=True)
    ticks = iter(range(100))
    with pytest.raises(cloud.CloudError, match='gave up: the instance metadata'):
        cloud.associate(NoRole(), 'eipalloc-1', [].append, 3, sleep=lambda s: None, clock=lambda: next(ticks))


# ---------------------------------------------------------------- against moto's EC2 server

def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def moto():
    """moto's server mode: an AWS-compatible EC2 endpoint on a free port."""
    boto3 = pytest.importorskip('boto3')
    pytest.importorskip('moto.server')
    port = free_port()
    server = subprocess.Popen([sys.executable, '-m', 'moto.server', '-p', str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = 'http://127.0.0.1:%d/' % port
    ec2 = boto3.client('ec2', region_name='eu-west-1', endpoint_url=url, aws_access_key_id='test',
                       aws_secret_access_key='test')
    deadline = time.monotonic() + 30
    while True:
        try:
            ec2.describe_regions()
            break
        except Exception:  # pylint: disable=broad-exception-caught  # not listening yet
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)
    yield url, ec2
    server.terminate()
    server.wait(10)


def imds(instance_id):
    """make cloud-test's IMDSv2 stand-in (tests/tools/aws_standin.py) for one instance, on the loopback."""
    return STANDIN.imds('127.0.0.1', instance_id)


def test_the_address_follows_the_master_on_an_aws_compatible_endpoint(moto):
    url, ec2 = moto
    image = ec2.describe_images()['Images'][0]['ImageId']
    a, b = [i['InstanceId'] for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)['Instances']]
    allocation = ec2.allocate_address(Domain='vpc')['AllocationId']
    ec2.associate_address(AllocationId=allocation, InstanceId=a)
    servers = {}
    try:
        for instance in (a, b):
            servers[instance] = imds(instance)
        lines = []
        node_b = cloud.Aws({'region': 'eu-west-1', 'endpoint': url, 'metadata_url': servers[b][1]})
        said = cloud.associate(node_b, allocation, lines.append, 10)
        assert 'associated with this instance (%s)' % b in said
        assert ec2.describe_addresses(AllocationIds=[allocation])['Addresses'][0]['InstanceId'] == b
        # again: check first, no second call
        assert 'already: no call' in cloud.associate(node_b, allocation, lines.append, 10)
        # and back to node A on its promotion
        node_a = cloud.Aws({'region': 'eu-west-1', 'endpoint': url, 'metadata_url': servers[a][1]})
        cloud.associate(node_a, allocation, lines.append, 10)
        assert ec2.describe_addresses(AllocationIds=[allocation])['Addresses'][0]['InstanceId'] == a
        # a wrong allocation id: EC2's error, at once
        with pytest.raises(cloud.CloudError, match='InvalidAllocationID.NotFound'):
            cloud.associate(node_a, 'eipalloc-0000000000000000', lines.append, 10, sleep=pytest.fail)
    finally:
        for server, _url in servers.values():
            server.shutdown()


def test_follow_records_the_result_and_never_raises(tmp_path):
    from ansible_collections.netsocs.failover.plugins.module_utils.runtime import config as settings
    from ansible_collections.netsocs.failover.plugins.module_utils.runtime import state as files
    state, lines = files.State(str(tmp_path)), []
    config = dict(settings.DEFAULTS, cloud=dict(settings.DEFAULTS['cloud'], provider='aws', allocation_id='eipalloc-1',
                                                deadline=0))
    record = cloud.follow(state, config, lines.append, now=100.0, aws=FakeAws(owner='i-0a'))
    assert record['ok'] and state.read()['cloud']['ok'] and 'associated with this instance' in lines[-1]
    wrong = cloud.CloudError('DescribeAddresses: HTTP 400 InvalidAllocationID.NotFound', code='InvalidAllocationID.NotFound')
    record = cloud.follow(state, config, lines.append, now=200.0, aws=FakeAws(calls=[wrong]))
    assert not record['ok'] and record['code'] == 'InvalidAllocationID.NotFound' and 'gave up' in lines[-1]
    # the MASTER's health round tries again, every retry_every seconds, only after a failure
    assert not cloud.due(state.read(), config, 205.0) and cloud.due(state.read(), config, 210.0)
    assert not cloud.due({'cloud': {'ok': True, 'at': 190.0}}, config, 210.0)
    # and every check_every seconds all the same: the peer may have taken it in a partition
    assert cloud.due({'cloud': {'ok': True, 'at': 180.0}}, config, 210.0)
    assert not cloud.due(state.read(), dict(config, cloud=dict(config['cloud'], provider='')), 210.0)
