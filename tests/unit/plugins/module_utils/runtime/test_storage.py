"""The shared-storage check (storage-check): mount point, write/read/remove, bounded time."""

import threading

from ansible_collections.netsocs.failover.plugins.module_utils.runtime import storage as check


def mounted(path):
    return True


def test_usable_share_leaves_no_probe(tmp_path):
    assert check.check_share(str(tmp_path), '.probe', ismount=mounted) is None
    assert list(tmp_path.iterdir()) == []


def test_unmounted_share_is_reported(tmp_path):
    # an empty mount point: writes would land on the local disk, unseen by the peer
    problem = check.check_share(str(tmp_path), '.probe', ismount=lambda p: False)
    assert 'not a mount point' in problem
    assert list(tmp_path.iterdir()) == []


def test_missing_share_is_reported(tmp_path):
    assert 'missing' in check.check_share(str(tmp_path / 'nope'), '.probe', ismount=mounted)


def test_read_only_share_is_reported(tmp_path):
    # a directory in place of the probe file makes the write fail like EROFS/EACCES would
    (tmp_path / '.probe').mkdir()
    assert 'not writable' in check.check_share(str(tmp_path), '.probe', ismount=mounted)


def test_check_all_lists_every_problem(tmp_path):
    good, bad = tmp_path / 'good', tmp_path / 'bad'
    good.mkdir()
    bad.mkdir()
    ok, problems = check.check_all([str(good), str(bad)], 5, '.probe', ismount=lambda p: p == str(good))
    assert ok is False and len(problems) == 1 and 'bad: not a mount point' in problems[0]
    assert check.check_all([str(good)], 5, '.probe', ismount=mounted) == (True, [])


def test_hung_share_fails_within_the_timeout(tmp_path):
    release = threading.Event()

    def hung(path):  # a hard NFS mount whose server is gone blocks like this
        release.wait(10)
        return True

    ok, problems = check.check_all([str(tmp_path)], 0.2, '.probe', ismount=hung)
    release.set()
    assert ok is False and 'no answer within 0.2s' in problems[0]


def test_two_checks_at_once_on_one_node_do_not_share_a_probe(tmp_path):
    # the health check runs every second; a deploy's preflight runs the same
    # check: with one probe name per node, one removed the other's probe
    # ("not writable (No such file or directory)", seen in make migrate)
    first, second = check.probe_file_name('node-b', 101), check.probe_file_name('node-b', 102)
    assert first != second and first.startswith('.netsocs-storage-check.node-b.')
    # the first check's probe is still there while the second one runs
    (tmp_path / first).write_text('netsocs storage check\n')
    assert check.check_share(str(tmp_path), second, ismount=mounted) is None
    assert (tmp_path / first).exists() and not (tmp_path / second).exists()


def test_a_check_still_blocked_on_the_shares_is_not_joined_by_another(tmp_path, monkeypatch, capsys):
    """A check stuck in the kernel on a hung mount can be neither killed nor
    reaped: its /proc entry stays. The next check says so at once instead of
    getting stuck as well (one more process every health round)."""
    import json
    import os
    proc = tmp_path / 'proc'
    (proc / '4242').mkdir(parents=True)
    (proc / '4242' / 'comm').write_text('storage-check\n')
    ticks = os.sysconf('SC_CLK_TCK')
    # started 100 s after boot; fields after the command: state, then 18 more, then starttime
    (proc / '4242' / 'stat').write_text('4242 (storage-check) Z ' + ' '.join(['0'] * 18) + ' %d 0 0\n' % (100 * ticks))
    pid_file = tmp_path / 'storage-check.pid'
    pid_file.write_text('4242')
    (proc / 'uptime').write_text('112.00 0.00\n')
    assert check.stuck_since(str(pid_file), 10, str(proc)) == 2.0  # 12 s old, past its 10 s
    (proc / 'uptime').write_text('105.00 0.00\n')
    assert check.stuck_since(str(pid_file), 10, str(proc)) is None  # a check still within its time
    (proc / '4242' / 'comm').write_text('bash\n')
    (proc / 'uptime').write_text('112.00 0.00\n')
    assert check.stuck_since(str(pid_file), 10, str(proc)) is None  # the pid went to another program
    # main() reports a stuck check without touching the shares
    (proc / '4242' / 'comm').write_text('storage-check\n')
    monkeypatch.setattr(check, 'PID_FILE', str(pid_file))
    monkeypatch.setattr(check, 'stuck_since', lambda pid_file, timeout: 2.0)

    def touched(*args):
        raise AssertionError('touched the shares')
    monkeypatch.setattr(check, 'check_all', touched)
    config = tmp_path / 'storage.json'
    config.write_text(json.dumps({'paths': ['/nowhere'], 'timeout': 10}))
    assert check.main(str(config)) == 1
    assert 'still blocked on the shares 2 s past its 10s timeout' in capsys.readouterr().out
