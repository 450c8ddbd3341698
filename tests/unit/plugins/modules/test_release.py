"""release on real files in a temporary directory: staged, committed, restored."""

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netsocs.failover.plugins.modules import release


def run(capsys, check=False, **params):
    args = dict(params)
    if check:
        args['_ansible_check_mode'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            release.main()
    return json.loads(capsys.readouterr().out)


def mode(path):
    return '%04o' % (os.stat(path).st_mode & 0o7777)


@pytest.fixture
def node(tmp_path):
    """A node's files: a compose file, a secret .env, a config directory."""
    etc = tmp_path / 'etc'
    (etc / 'keepalived').mkdir(parents=True)
    (etc / 'keepalived' / 'keepalived.conf').write_text('advert_int 0.2\n')
    (etc / 'keepalived' / '__pycache__').mkdir()
    (etc / 'keepalived' / '__pycache__' / 'x.pyc').write_text('cache')
    compose = tmp_path / 'docker-compose.yml'
    compose.write_text('services: {web: {image: caddy:2}}\n')
    env = tmp_path / '.env'
    env.write_text('PASSWORD=one\n')
    os.chmod(env, 0o600)
    return {'root': str(tmp_path / 'releases'), 'paths': [str(etc / 'keepalived'), str(compose), str(env),
                                                          str(tmp_path / 'absent.conf')],
            'conf': etc / 'keepalived' / 'keepalived.conf', 'compose': compose, 'env': env,
            'absent': tmp_path / 'absent.conf', 'cache': etc / 'keepalived' / '__pycache__' / 'x.pyc'}


def deploy(capsys, node, name, change):
    """One run of site.yml: staged, the roles (change()), committed."""
    staged = run(capsys, root=node['root'], state='staged', paths=node['paths'])
    assert staged['changed'] is False
    change()
    return run(capsys, root=node['root'], state='committed', release=name)


def test_a_run_that_changes_nothing_leaves_no_release(node, capsys):
    result = deploy(capsys, node, 'r1', lambda: None)
    assert result['changed'] is False and result['release'] is None and result['releases'] == []
    assert os.listdir(node['root']) == []


def test_a_changed_file_is_kept_as_the_release_and_put_back(node, capsys):
    def v2():
        node['compose'].write_text('services: {web: {image: caddy:2.8}}\n')
        node['env'].write_text('PASSWORD=two\n')
        node['absent'].write_text('new file\n')
        node['cache'].write_text('other cache')  # byte-code caches are not the release's business
    result = deploy(capsys, node, 'r1', v2)
    assert result['changed'] is True and result['release'] == 'r1'
    assert result['changed_paths'] == sorted([str(node['compose']), str(node['env']), str(node['absent'])])
    assert mode(node['root']) == '0700'
    kept = os.path.join(node['root'], 'r1', 'files', str(node['compose']).lstrip('/'))
    assert mode(kept) == '0600'  # the copies are root's alone, even of a world-readable file
    restored = run(capsys, root=node['root'], state='restored')
    assert restored['release'] == 'r1' and restored['changed'] is True
    assert sorted(restored['changed_paths']) == sorted([str(node['compose']), str(node['env']), str(node['absent'])])
    assert node['compose'].read_text() == 'services: {web: {image: caddy:2}}\n'
    assert node['env'].read_text() == 'PASSWORD=one\n' and mode(node['env']) == '0600'
    assert not node['absent'].exists()
    # the same release again: nothing left to do
    assert run(capsys, root=node['root'], state='restored')['changed'] is False


def test_check_mode_says_what_a_restore_would_change_and_changes_nothing(node, capsys):
    deploy(capsys, node, 'r1', lambda: node['conf'].write_text('advert_int 1\n'))
    result = run(capsys, check=True, root=node['root'], state='restored')
    assert result['changed_paths'] == [str(node['conf'])]
    assert node['conf'].read_text() == 'advert_int 1\n'


def test_a_mode_change_alone_is_a_change_and_is_put_back(node, capsys):
    deploy(capsys, node, 'r1', lambda: os.chmod(node['env'], 0o644))
    run(capsys, root=node['root'], state='restored')
    assert mode(node['env']) == '0600'


def test_the_staged_copy_of_a_failed_run_is_kept(node, capsys):
    run(capsys, root=node['root'], state='staged', paths=node['paths'])
    node['compose'].write_text('half way\n')  # the run fails here: no commit
    again = run(capsys, root=node['root'], state='staged', paths=node['paths'])
    assert again['staged'] == 'kept'
    node['compose'].write_text('finished\n')
    run(capsys, root=node['root'], state='committed', release='r2')
    run(capsys, root=node['root'], state='restored')
    assert node['compose'].read_text() == 'services: {web: {image: caddy:2}}\n'


def test_keep_prunes_the_oldest_and_restore_picks_by_name(node, capsys):
    for i in range(4):
        deploy(capsys, node, 'r%d' % i, lambda i=i: node['conf'].write_text('advert_int %d\n' % (i + 1)))
    listed = run(capsys, root=node['root'], state='committed', release='none', keep=2)
    assert listed['changed'] is False  # nothing staged
    deploy_result = deploy(capsys, node, 'r4', lambda: node['conf'].write_text('advert_int 9\n'))
    assert [r['name'] for r in deploy_result['releases']] == ['r4', 'r3', 'r2', 'r1', 'r0']
    pruned = deploy(capsys, node, 'r5', lambda: node['conf'].write_text('advert_int 10\n'))
    assert len(pruned['releases']) == 5
    kept = run(capsys, root=node['root'], state='staged', paths=node['paths'])
    kept = run(capsys, root=node['root'], state='committed', release='r6', keep=2)
    assert kept['release'] is None
    run(capsys, root=node['root'], state='staged', paths=node['paths'])
    node['conf'].write_text('advert_int 11\n')
    two = run(capsys, root=node['root'], state='committed', release='r7', keep=2)
    assert [r['name'] for r in two['releases']] == ['r7', 'r5']
    # r5 was staged before run 5 changed anything: advert_int 9
    run(capsys, root=node['root'], state='restored', release='r5')
    assert node['conf'].read_text() == 'advert_int 9\n'


def test_refusals(node, capsys):
    assert 'no release to put back' in run(capsys, root=node['root'], state='restored')['msg']
    assert 'absolute' in run(capsys, root=node['root'], state='staged', paths=['etc/x'])['msg']
    assert 'plain name' in run(capsys, root=node['root'], state='committed', release='../x')['msg']
    deploy(capsys, node, 'r1', lambda: node['conf'].write_text('x\n'))
    assert 'no release r9' in run(capsys, root=node['root'], state='restored', release='r9')['msg']
    run(capsys, root=node['root'], state='staged', paths=node['paths'])
    node['conf'].write_text('y\n')
    assert 'exists already' in run(capsys, root=node['root'], state='committed', release='r1')['msg']


def test_a_damaged_copy_is_refused(node, capsys):
    deploy(capsys, node, 'r1', lambda: node['conf'].write_text('x\n'))
    copy = os.path.join(node['root'], 'r1', 'files', str(node['conf']).lstrip('/'))
    with open(copy, 'w') as handle:
        handle.write('tampered\n')
    result = run(capsys, root=node['root'], state='restored')
    assert result['failed'] and 'damaged copy' in result['msg'] and node['conf'].read_text() == 'x\n'
