"""AWS stood in for make cloud-test: moto's EC2 server (an AWS-compatible
endpoint) and one IMDSv2 stand-in per node, on the controller's address of
the lab network.

    aws_standin.py serve --address 172.30.99.1 --nodes node-a,node-b --out DIR
        two instances and one Elastic IP, associated with the first node's;
        writes DIR/cloud-inventory.yml (the lab's extra inventory: the pair's
        failover_cloud settings, each node's metadata URL) and DIR/aws.json;
        serves until SIGTERM.
    aws_standin.py watch --state DIR/aws.json --seconds N [--stop-file F]
        prints, as JSON, each change of the Elastic IP's instance (epoch
        time, instance, node) seen by polling DescribeAddresses every 50 ms,
        for N seconds or until F exists.
"""

import argparse
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

REGION = 'eu-west-1'


def free_port(address):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def imds(address, instance_id):
    """An IMDSv2 stand-in for one instance: a session token on PUT; the
    instance id and a role's credentials on GET, only with that token.
    Returns (the server, its URL); the unit tests use it too."""
    token = 'token-%s' % instance_id

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, code, text):
            self.send_response(code)
            self.send_header('Content-Length', str(len(text)))
            self.end_headers()
            self.wfile.write(text.encode())

        def do_PUT(self):  # noqa: N802
            if not self.headers.get('X-aws-ec2-metadata-token-ttl-seconds'):
                return self.reply(400, '')
            return self.reply(200, token)

        def do_GET(self):  # noqa: N802
            if self.headers.get('X-aws-ec2-metadata-token') != token:
                return self.reply(401, '')
            answers = {'/latest/meta-data/instance-id': instance_id,
                       '/latest/meta-data/iam/security-credentials/': 'netsocs-failover',
                       '/latest/meta-data/iam/security-credentials/netsocs-failover': json.dumps(
                           {'AccessKeyId': 'test', 'SecretAccessKey': 'test', 'Token': 'session'})}
            return self.reply(200, answers[self.path]) if self.path in answers else self.reply(404, '')

        def log_message(self, *args):
            return

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, 'http://%s:%d' % (address, server.server_address[1])


def client(endpoint):
    import boto3  # with moto[server] (requirements-test.txt)
    return boto3.client('ec2', region_name=REGION, endpoint_url=endpoint, aws_access_key_id='test',
                        aws_secret_access_key='test')


def serve(args):
    from moto.server import ThreadedMotoServer
    port = free_port(args.address)
    moto = ThreadedMotoServer(ip_address=args.address, port=port)
    moto.start()
    endpoint = 'http://%s:%d/' % (args.address, port)
    ec2 = client(endpoint)
    image = ec2.describe_images()['Images'][0]['ImageId']
    started = ec2.run_instances(ImageId=image, MinCount=len(args.nodes), MaxCount=len(args.nodes))
    instances = [i['InstanceId'] for i in started['Instances']]
    allocation = ec2.allocate_address(Domain='vpc')['AllocationId']
    ec2.associate_address(AllocationId=allocation, InstanceId=instances[0])
    nodes = dict(zip(args.nodes, instances))
    metadata = {node: imds(args.address, instance)[1] for node, instance in nodes.items()}
    state = {'endpoint': endpoint, 'region': REGION, 'allocation_id': allocation, 'instances': nodes}
    os.makedirs(args.out, exist_ok=True)
    inventory = {'all': {'vars': {'failover_cloud': 'aws', 'failover_cloud_region': REGION,
                                  'failover_cloud_allocation_id': allocation, 'failover_cloud_endpoint': endpoint},
                         'hosts': {node: {'failover_cloud_metadata_url': url} for node, url in metadata.items()}}}
    with open(os.path.join(args.out, 'cloud-inventory.yml'), 'w') as handle:
        json.dump(inventory, handle, indent=2)  # JSON is YAML
    with open(os.path.join(args.out, 'aws.json'), 'w') as handle:
        json.dump(state, handle, indent=2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    moto.stop()
    return 0


def watch(args):
    """Each change of the address's instance, polled every 50 ms for --seconds."""
    with open(args.state) as handle:
        state = json.load(handle)
    ec2 = client(state['endpoint'])
    names = {instance: node for node, instance in state['instances'].items()}
    changes, last, end = [], None, time.time() + args.seconds
    while time.time() < end and not (args.stop_file and os.path.exists(args.stop_file)):
        address = ec2.describe_addresses(AllocationIds=[state['allocation_id']])['Addresses'][0]
        instance = address.get('InstanceId')
        if instance != last:
            changes.append({'t': round(time.time(), 3), 'instance': instance, 'node': names.get(instance)})
            last = instance
        time.sleep(0.05)
    json.dump({'changes': changes}, sys.stdout)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    one = sub.add_parser('serve')
    one.add_argument('--address', required=True)
    one.add_argument('--nodes', required=True, type=lambda s: s.split(','))
    one.add_argument('--out', required=True)
    two = sub.add_parser('watch')
    two.add_argument('--state', required=True)
    two.add_argument('--seconds', type=float, required=True)
    two.add_argument('--stop-file')
    args = parser.parse_args(argv)
    return serve(args) if args.command == 'serve' else watch(args)


if __name__ == '__main__':
    sys.exit(main())
