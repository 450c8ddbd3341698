"""tests/tools/run_unit.py: a service file's settings read as systemd reads them."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location('run_unit', Path(__file__).resolve().parents[2] / 'tools' / 'run_unit.py')
run_unit = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run_unit)

UNIT = """# comment
[Unit]
Description=x
ExecStart=/bin/false
[Service]
Type=oneshot
Environment=A=1
Environment="B=two words" C=3
EnvironmentFile=-/nonexistent
ExecStart=/bin/echo hello
"""


def test_only_the_service_section_counts_and_environment_accumulates(tmp_path):
    entries = run_unit.service_section(UNIT)
    assert ('ExecStart', '/bin/echo hello') in entries and ('ExecStart', '/bin/false') not in entries
    env = run_unit.environment(entries, {'A': '0', 'HOME': '/root'})
    assert env['A'] == '1' and env['B'] == 'two words' and env['C'] == '3' and env['HOME'] == '/root'


def test_an_environment_file_is_read(tmp_path):
    path = tmp_path / 'env'
    path.write_text('# inputs\nVIP_ADDRESS="192.0.2.100"\nNETWORK_IFACE=eth0\n')
    env = run_unit.environment([('EnvironmentFile', str(path))], {})
    assert env == {'VIP_ADDRESS': '192.0.2.100', 'NETWORK_IFACE': 'eth0'}


def test_exec_start_then_stop_post_run_and_the_status_is_exec_starts(tmp_path):
    mark = tmp_path / 'post'
    unit = tmp_path / 'x.service'
    unit.write_text('[Service]\nWorkingDirectory=%s\nExecStart=/bin/false\nExecStopPost=/usr/bin/touch %s\n' % (tmp_path, mark))
    assert run_unit.main([str(unit)]) == 1
    assert mark.exists()
