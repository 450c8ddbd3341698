# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS: the Elastic IP follows the MASTER (config `cloud`, provider `aws`).

On AWS an address does not move by ARP. A node that becomes MASTER associates
the pair's Elastic IP with its own instance, through the EC2 API, as
ClusterLabs' awseip agent does:
- the instance's identity and the instance role's credentials come from
  IMDSv2 (a session token first);
- the current association is read first, and nothing is called when it is
  this instance's already;
- AssociateAddress with AllowReassociation, retried with backoff on
  throttling and server errors, within a total deadline;
- every call and its result is logged.
A BACKUP does nothing: the address is only ever taken, never released, so an
API failure cannot leave it with a second holder. The hook moves the
address; Keepalived, the guard and the stack rules decide who is MASTER.

Standard library only: SigV4 signing (checked against botocore's in the unit
tests), the EC2 Query API over HTTPS, its XML answers.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import time
import urllib.parse

from .config import HookError

EC2_VERSION = '2016-11-15'
# Seconds the MASTER's health round gives a retry after a failed association
# (Keepalived's timeout for the round is 15 s, and its Docker calls 5 s each).
RETRY_DEADLINE = 3
# EC2's error codes worth another try (the API's own throttling and hiccups).
RETRYABLE = ('RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'InternalError', 'Unavailable',
             'ServiceUnavailable')


class CloudError(HookError):
    """An EC2 or metadata call failed; `code` is EC2's error code (or the HTTP status), `retry` whether another
    try may succeed."""

    def __init__(self, message, code='', retry=False):
        super(CloudError, self).__init__(message)
        self.code, self.retry = code, retry


def signature_headers(method, url, body, region, service, credentials, now):
    """The headers that sign a request with AWS Signature Version 4 (content
    type, host, date, token and Authorization). credentials: {'key',
    'secret', 'token'}; now: a UTC datetime."""
    parsed = urllib.parse.urlsplit(url)
    amz_date, day = now.strftime('%Y%m%dT%H%M%SZ'), now.strftime('%Y%m%d')
    headers = {'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'host': parsed.netloc,
               'x-amz-date': amz_date}
    if credentials.get('token'):
        headers['x-amz-security-token'] = credentials['token']
    names = sorted(headers)
    query = '&'.join('%s=%s' % (urllib.parse.quote(k, safe='-_.~'), urllib.parse.quote(v, safe='-_.~'))
                     for k, v in sorted(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)))
    canonical = '\n'.join([method, parsed.path or '/', query, ''.join('%s:%s\n' % (n, headers[n].strip()) for n in names),
                           ';'.join(names), hashlib.sha256(body).hexdigest()])
    scope = '%s/%s/%s/aws4_request' % (day, region, service)
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ('AWS4' + credentials['secret']).encode()
    for part in (day, region, service, 'aws4_request'):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers['authorization'] = 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (
        credentials['key'], scope, ';'.join(names), signature)
    return headers


def strip_ns(element):
    return element.tag.rsplit('}', 1)[-1]


def find_text(root, name):
    """The text of the first element called `name` anywhere below root (EC2's XML has a namespace), or ''."""
    for element in root.iter():
        if strip_ns(element) == name:
            return (element.text or '').strip()
    return ''


def xml(body):
    """The parsed XML answer. The XML parser and urllib.request are imported
    where they are used: every hook run imports this module, and only a node
    with failover_cloud set calls it (a promotion waits for its hooks to start)."""
    from xml.etree import ElementTree  # pylint: disable=import-outside-toplevel
    return ElementTree.fromstring(body)


def parse_error(body):
    """(code, message) of an EC2 error answer."""
    from xml.etree import ElementTree  # pylint: disable=import-outside-toplevel
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return '', body[:200].decode(errors='replace') if isinstance(body, bytes) else str(body)[:200]
    return find_text(root, 'Code'), find_text(root, 'Message')


def parse_address(body):
    """DescribeAddresses' answer: {'public_ip', 'allocation_id', 'instance_id', 'association_id'} of its first address."""
    root = xml(body)
    for element in root.iter():
        if strip_ns(element) == 'item' and find_text(element, 'allocationId'):
            return {key: find_text(element, name) for key, name in (
                ('public_ip', 'publicIp'), ('allocation_id', 'allocationId'), ('instance_id', 'instanceId'),
                ('association_id', 'associationId'))}
    raise CloudError('DescribeAddresses listed no address', code='NoAddress')


class Aws(object):
    """What the hook asks of AWS: IMDSv2 and two EC2 calls."""

    def __init__(self, settings, opener=None, clock=time.time):
        # The standard library's opener (proxies from the environment, as any HTTP client).
        import urllib.request  # pylint: disable=import-outside-toplevel  # see xml()
        self.settings, self.clock = settings, clock
        self.opener = opener or urllib.request.build_opener().open
        self.endpoint = settings.get('endpoint') or 'https://ec2.%s.amazonaws.com/' % settings['region']

    def metadata(self, path, token):
        import urllib.request  # pylint: disable=import-outside-toplevel
        request = urllib.request.Request(self.settings['metadata_url'].rstrip('/') + path,
                                         headers={'X-aws-ec2-metadata-token': token})
        with self.opener(request, timeout=2) as answer:
            return answer.read().decode()

    def identity(self):
        """(instance id, credentials) from IMDSv2: a session token first, then the instance id and the instance
        role's temporary credentials."""
        import urllib.request  # pylint: disable=import-outside-toplevel
        try:
            request = urllib.request.Request(self.settings['metadata_url'].rstrip('/') + '/latest/api/token',
                                             method='PUT', headers={'X-aws-ec2-metadata-token-ttl-seconds': '300'})
            with self.opener(request, timeout=2) as answer:
                token = answer.read().decode()
            instance = self.metadata('/latest/meta-data/instance-id', token)
            role = self.metadata('/latest/meta-data/iam/security-credentials/', token).split()[0]
            found = json.loads(self.metadata('/latest/meta-data/iam/security-credentials/' + role, token))
        except (OSError, ValueError, IndexError) as exc:
            raise CloudError('the instance metadata (IMDSv2) at %s: %s' % (self.settings['metadata_url'], exc),
                             code='Metadata', retry=True)
        return instance, {'key': found['AccessKeyId'], 'secret': found['SecretAccessKey'], 'token': found.get('Token')}

    def call(self, credentials, action, params):
        """One EC2 Query API call: its XML answer (bytes), or CloudError."""
        import urllib.error  # pylint: disable=import-outside-toplevel
        import urllib.request  # pylint: disable=import-outside-toplevel
        body = urllib.parse.urlencode(dict(params, Action=action, Version=EC2_VERSION)).encode()
        now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
        headers = signature_headers('POST', self.endpoint, body, self.settings['region'], 'ec2', credentials, now)
        request = urllib.request.Request(self.endpoint, data=body, method='POST', headers=headers)
        try:
            with self.opener(request, timeout=5) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            code, message = parse_error(exc.read())
            raise CloudError('%s: HTTP %d %s %s' % (action, exc.code, code, message), code=code or str(exc.code),
                             retry=code in RETRYABLE or exc.code >= 500)
        except OSError as exc:  # no route, a timeout: the endpoint may answer the next try
            raise CloudError('%s: %s' % (action, exc), code='Network', retry=True)


def associate(aws, allocation_id, log, deadline, sleep=time.sleep, clock=time.monotonic):
    """Associate the Elastic IP with this instance, check first: what was done
    (a sentence for the log). Retries with backoff (0.2 s, doubling, at most
    2 s) what may succeed, until `deadline` seconds; raises CloudError when it
    gives up or the error cannot pass (a wrong allocation id, no permission)."""
    end, pause = clock() + deadline, 0.2
    while True:
        try:
            instance, credentials = aws.identity()
            current = parse_address(aws.call(credentials, 'DescribeAddresses', {'AllocationId.1': allocation_id}))
            if current['instance_id'] == instance:
                return '%s (%s) is associated with this instance (%s) already: no call' % (
                    current['public_ip'], allocation_id, instance)
            log('cloud: %s (%s) is associated with %s: associating it with this instance (%s)' % (
                current['public_ip'], allocation_id, current['instance_id'] or 'no instance', instance))
            answer = aws.call(credentials, 'AssociateAddress', {'AllocationId': allocation_id, 'InstanceId': instance,
                                                                'AllowReassociation': 'true'})
            return '%s (%s) associated with this instance (%s): %s' % (
                current['public_ip'], allocation_id, instance, find_text(xml(answer),
                                                                         'associationId') or 'done')
        except CloudError as exc:
            left = end - clock()
            if not exc.retry or left <= 0:
                raise CloudError('cloud: gave up: %s' % exc, code=exc.code)
            log('cloud: %s; trying again in %.1f s' % (exc, min(pause, left)))
            sleep(min(pause, left))
            pause = min(pause * 2, 2.0)


def follow(state, config, log, now=None, aws=None, deadline=None):
    """The Elastic IP to this instance (a promotion, or the MASTER's health
    round after a failed try, with a shorter deadline): records {'ok',
    'said', 'at'} as the state's `cloud` (status, metrics) and returns it.
    Never raises: an API that does not answer is logged and retried, it never
    fails the node over."""
    now = now if now is not None else time.time()
    settings = config['cloud']
    # Under way: the health round does not start a second one meanwhile (cloud.due).
    state.update(cloud=dict(state.read().get('cloud') or {}, at=now))
    try:
        said = associate(aws or Aws(settings), settings['allocation_id'], log,
                         deadline if deadline is not None else settings['deadline'])
        record = {'ok': True, 'said': said, 'at': now}
    except CloudError as exc:
        record = {'ok': False, 'said': str(exc), 'code': exc.code, 'at': now}
    except Exception as exc:  # pylint: disable=broad-exception-caught  # an answer it cannot read: logged, retried
        record = {'ok': False, 'said': 'cloud: gave up: %s: %s' % (type(exc).__name__, exc), 'code': 'Unexpected',
                  'at': now}
    log('cloud: %s' % record['said'] if record['ok'] else str(record['said']))
    state.update(cloud=record)
    return record


def due(recorded, config, now):
    """The MASTER's health round looks again: the last try failed
    retry_every seconds ago or more, or check_every seconds passed (the
    address may have gone to the peer while it held the VIP too, in a
    partition the guard then resolved: check first, one DescribeAddresses)."""
    if config['cloud'].get('provider') != 'aws':
        return False
    last = recorded.get('cloud') or {}
    age = now - float(last.get('at') or 0)
    return age >= config['cloud']['check_every'] or (not last.get('ok', True) and age >= config['cloud']['retry_every'])
