"""node_files on real files in a temporary directory (owner and group: the test's own)."""

import grp
import json
import os
import pwd

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netsocs.failover.plugins.modules import node_files

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(capsys, files, check=False, diff=False, **params):
    args = dict({'files': files, 'owner': OWNER, 'group': GROUP}, **params)
    if check:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            node_files.main()
    return json.loads(capsys.readouterr().out)


def mode(path):
    return '%04o' % (os.stat(path).st_mode & 0o7777)


def test_installs_then_leaves_alone(tmp_path, capsys):
    hook, conf = tmp_path / 'stack-hook', tmp_path / 'stack.json'
    files = [{'path': str(hook), 'content': '#!/usr/bin/python3\nprint(1)\n', 'mode': '0755'},
             {'path': str(conf), 'content': '{"vip": "10.0.0.100"}\n'}]
    first = run(capsys, files)
    assert first['changed'] and first['changed_paths'] == [str(hook), str(conf)]
    assert hook.read_text() == '#!/usr/bin/python3\nprint(1)\n' and mode(hook) == '0755' and mode(conf) == '0644'
    again = run(capsys, files)
    assert again['changed'] is False and again['changed_paths'] == []
    # No temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['stack-hook', 'stack.json']


def test_only_what_differs_changes_content_or_mode(tmp_path, capsys):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.write_text('same\n')
    b.write_text('old\n')
    os.chmod(a, 0o600)
    os.chmod(b, 0o644)
    result = run(capsys, [{'path': str(a), 'content': 'same\n'}, {'path': str(b), 'content': 'new\n'}])
    assert result['changed_paths'] == [str(a), str(b)]
    assert mode(a) == '0644' and a.read_text() == 'same\n' and b.read_text() == 'new\n'


def test_check_mode_changes_nothing_and_diff_shows_the_content(tmp_path, capsys):
    old, new = tmp_path / 'old', tmp_path / 'new'
    old.write_text('port 80\n')
    result = run(capsys, [{'path': str(old), 'content': 'port 443\n'}, {'path': str(new), 'content': 'x\n'}],
                 check=True, diff=True)
    assert result['changed'] and result['changed_paths'] == [str(old), str(new)]
    assert old.read_text() == 'port 80\n' and not new.exists()
    assert [(d['before'], d['after']) for d in result['diff']] == [('port 80\n', 'port 443\n'), ('', 'x\n')]


@pytest.mark.parametrize('files, message', [
    ([{'path': 'relative', 'content': ''}], 'every path must be absolute and given once: relative'),
    ([{'path': '/tmp/x', 'content': ''}, {'path': '/tmp/x', 'content': 'y'}], 'given once: /tmp/x'),
])
def test_bad_paths_are_refused_before_any_write(capsys, files, message):
    result = run(capsys, files)
    assert result['failed'] and message in result['msg']


def test_a_missing_directory_or_a_directory_in_the_way_fails_and_says_what_was_done(tmp_path, capsys):
    done, blocked = tmp_path / 'done', tmp_path / 'blocked'
    blocked.mkdir()
    result = run(capsys, [{'path': str(done), 'content': 'ok\n'}, {'path': str(blocked), 'content': 'x\n'}])
    assert result['failed'] and 'is not a regular file' in result['msg']
    assert result['changed_paths'] == [str(done)] and 'installed so far: %s' % done in result['msg']
    result = run(capsys, [{'path': str(tmp_path / 'missing' / 'f'), 'content': 'x\n'}])
    assert result['failed'] and 'does not exist' in result['msg']


def test_directories_come_first_with_their_missing_parents(tmp_path, capsys):
    top = tmp_path / 'srv' / 'netsocs'
    share = top / 'recordings'
    result = run(capsys, [{'path': str(share / 'README'), 'content': 'shared\n'}],
                 directories=[{'path': str(share), 'mode': '0775'}, {'path': str(tmp_path / 'etc')}])
    assert result['changed_paths'] == [str(share), str(tmp_path / 'etc'), str(share / 'README')]
    # the parents it had to create get the same attributes
    assert mode(share) == '0775' and mode(top) == '0775' and mode(tmp_path / 'etc') == '0755'
    assert (share / 'README').read_text() == 'shared\n'
    again = run(capsys, [{'path': str(share / 'README'), 'content': 'shared\n'}],
                directories=[{'path': str(share), 'mode': '0775'}, {'path': str(tmp_path / 'etc')}])
    assert again['changed'] is False
    os.chmod(share, 0o700)
    fixed = run(capsys, [], directories=[{'path': str(share), 'mode': '0775'}])
    assert fixed['changed_paths'] == [str(share)] and mode(share) == '0775'


def test_a_missing_directory_in_check_mode_is_reported_not_made(tmp_path, capsys):
    new = tmp_path / 'new'
    result = run(capsys, [], check=True, diff=True, directories=[{'path': str(new)}])
    assert result['changed_paths'] == [str(new)] and not new.exists()
    assert result['diff'] == [{'before_header': str(new), 'after_header': str(new),
                               'before': {'state': 'absent'}, 'after': {'state': 'directory'}}]


def test_a_file_where_a_directory_should_be_is_refused(tmp_path, capsys):
    (tmp_path / 'plain').write_text('x')
    result = run(capsys, [], directories=[{'path': str(tmp_path / 'plain' / 'sub')}])
    assert result['failed'] and 'is not a directory' in result['msg']


def test_a_file_without_content_is_created_empty_and_then_never_rewritten(tmp_path, capsys):
    log = tmp_path / 'failover.log'
    first = run(capsys, [{'path': str(log), 'mode': '0640'}])
    assert first['changed_paths'] == [str(log)] and log.read_text() == '' and mode(log) == '0640'
    log.write_text('2026-11-27 MASTER\n')
    again = run(capsys, [{'path': str(log), 'mode': '0640'}], diff=True)
    assert again['changed'] is False and log.read_text() == '2026-11-27 MASTER\n' and again['diff'] == []


def test_each_path_may_set_its_own_owner_group_and_mode(tmp_path, capsys):
    path = tmp_path / 'own'
    result = run(capsys, [{'path': str(path), 'content': '', 'owner': OWNER, 'group': GROUP, 'mode': '0600'}],
                 owner='nobody-such-user')
    assert result['changed'] and mode(path) == '0600'


def test_nothing_to_do_is_an_error(capsys):
    with patch_module_args({}):
        with pytest.raises(SystemExit):
            node_files.main()
    result = json.loads(capsys.readouterr().out)
    assert result['failed'] and 'one of the following is required: directories, files' in result['msg']


def test_a_secret_is_written_but_never_shown(tmp_path, capsys):
    env = tmp_path / '.env'
    env.write_text('DB_PASSWORD=old-secret\n')
    result = run(capsys, [{'path': str(env), 'secret_content': 'DB_PASSWORD=s3cr3t-value\n', 'mode': '0600'}],
                 diff=True)
    assert result['changed_paths'] == [str(env)] and env.read_text() == 'DB_PASSWORD=s3cr3t-value\n'
    assert mode(env) == '0600'
    # neither the old nor the new content is in the output (diff, invocation)
    out = json.dumps(result)
    assert 's3cr3t-value' not in out and 'old-secret' not in out
    assert result['diff'][0]['before'] != result['diff'][0]['after']
    assert run(capsys, [{'path': str(env), 'secret_content': 'DB_PASSWORD=s3cr3t-value\n', 'mode': '0600'}],
               diff=True)['changed'] is False


def test_content_and_secret_content_are_exclusive(tmp_path, capsys):
    result = run(capsys, [{'path': str(tmp_path / 'x'), 'content': 'a', 'secret_content': 'b'}])
    assert result['failed'] and 'mutually exclusive' in result['msg']


def test_new_content_replaces_the_file_only_when_its_validate_command_passes(tmp_path, capsys):
    # the command sees the new content (at %s), not the old file
    conf, after = tmp_path / 'keepalived.conf', tmp_path / 'after'
    conf.write_text('good\n')
    check = 'grep -qx good %s'
    bad = run(capsys, [{'path': str(conf), 'content': 'bad\n', 'validate': check},
                       {'path': str(after), 'content': 'x\n'}])
    assert bad['failed'] and 'failed to validate with `grep -qx good %s` (rc=1), the file is left as it was' in bad['msg']
    # nothing replaced, no temporary file left, the files after it not installed
    assert conf.read_text() == 'good\n' and sorted(p.name for p in tmp_path.iterdir()) == ['keepalived.conf']
    good = run(capsys, [{'path': str(conf), 'content': 'good\n', 'validate': 'false %s'}])
    assert good['changed'] is False  # the same content: nothing to validate
    (tmp_path / 'new').write_text('')
    assert run(capsys, [{'path': str(tmp_path / 'new'), 'content': 'good\n', 'validate': check}])['changed']


def test_a_validate_command_without_the_placeholder_is_refused(tmp_path, capsys):
    result = run(capsys, [{'path': str(tmp_path / 'x'), 'content': 'a', 'validate': 'true'}])
    assert result['failed'] and 'validate must contain %s' in result['msg'] and not (tmp_path / 'x').exists()


def test_a_refused_file_leaves_the_files_before_it_as_they_were(tmp_path, capsys):
    # the password file comes before the configuration that includes it: a
    # configuration the test refuses must not leave a new password behind
    password, conf = tmp_path / 'auth.conf', tmp_path / 'keepalived.conf'
    password.write_text('old\n')
    conf.write_text('good\n')
    result = run(capsys, [{'path': str(tmp_path / 'sub'), 'content': 'x'},
                          {'path': str(password), 'secret_content': 'new\n'},
                          {'path': str(conf), 'content': 'bad\n', 'validate': 'grep -qx good %s'}])
    assert result['failed'] and result['changed'] is False and 'installed so far: none' in result['msg']
    assert password.read_text() == 'old\n' and conf.read_text() == 'good\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['auth.conf', 'keepalived.conf']


def test_a_validate_command_the_call_installs_is_run_when_its_file_is_written(tmp_path, capsys):
    # a fresh node: the configuration test comes in the same call, before the file it checks
    check, conf = tmp_path / 'config-test', tmp_path / 'keepalived.conf'
    files = [{'path': str(check), 'content': '#!/bin/sh\ngrep -qx good "$1"\n', 'mode': '0755'},
             {'path': str(conf), 'content': 'good\n', 'validate': '%s %%s' % check}]
    assert run(capsys, files, check=True)['changed'] and not check.exists()
    assert run(capsys, files)['changed'] and conf.read_text() == 'good\n'
    files[1]['content'] = 'bad\n'
    assert run(capsys, files)['failed'] and conf.read_text() == 'good\n'
