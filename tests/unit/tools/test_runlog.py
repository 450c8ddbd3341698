"""The run log: timed lines, and the failed tasks summarised from molecule's framed output."""

import importlib.util
import io
import pathlib

spec = importlib.util.spec_from_file_location(
    'runlog', pathlib.Path(__file__).parents[2] / 'tools' / 'runlog.py')
runlog = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runlog)

# As molecule prints ansible's YAML callback: coloured, framed.
FRAMED = """\
  \x1b[2m\u2502\x1b[0m PLAY [Verify the transition logs]
  \x1b[2m\u2502\x1b[0m TASK [Check that every transition was logged]
  \x1b[2m\x1b[31m\u2502\x1b[0m \x1b[0;31mfatal: [node-b]: FAILED! => \x1b[0m
  \x1b[2m\x1b[31m\u2502\x1b[0m \x1b[31m    assertion: _faults | length == 0\x1b[0m
  \x1b[2m\x1b[31m\u2502\x1b[0m \x1b[0;31m    changed: false\x1b[0m
  \x1b[2m\x1b[31m\u2502\x1b[0m \x1b[31m    msg: 'a FAULT at 07:29:31'\x1b[0m
  \x1b[2m\u2502\x1b[0m PLAY RECAP
"""


def test_tee_times_and_cleans_each_line(tmp_path):
    ticks = iter([100.0, 100.5, 161.2])
    sink = io.StringIO()
    log = tmp_path / 'run.log'
    runlog.tee(log, source=io.StringIO('\x1b[31mone\x1b[0m\n  \u2502 two\n'), sink=sink, clock=lambda: next(ticks))
    assert sink.getvalue() == '\x1b[31mone\x1b[0m\n  \u2502 two\n'  # the console keeps the original
    assert log.read_text().splitlines() == ['0:00 one', '1:01 two']


def test_failures_name_play_task_host_and_the_assertion(tmp_path):
    ticks = iter(float(t) for t in range(0, 600, 60))
    log = tmp_path / 'run.log'
    runlog.tee(log, source=io.StringIO(FRAMED), sink=io.StringIO(), clock=lambda: next(ticks))
    blocks = runlog.failures(log.read_text().splitlines())
    assert blocks == [[
        '[3:00] Verify the transition logs / Check that every transition was logged / node-b',
        '    assertion: _faults | length == 0',
        "    msg: 'a FAULT at 07:29:31'",
    ]]


def test_no_failure_no_block():
    assert runlog.failures(['0:01 TASK [ok]', '0:02 ok: [node-a]']) == []


def test_a_wrapped_message_keeps_its_continuation_lines():
    log = ['0:01 TASK [Check the trial]', '0:02 fatal: [localhost]: FAILED! =>',
           "0:02     assertion: _report.reached", "0:02     changed: false",
           "0:02     msg: '{\"action\": \"stop-keepalived\",", '0:02       "log": {"node-a": ["handover: refused"]},',
           '0:02       "reached": false}\'', '0:02     other: 1']
    assert runlog.failures(log) == [[
        '[0:02] None / Check the trial / localhost', '    assertion: _report.reached',
        "    msg: '{\"action\": \"stop-keepalived\",", '      "log": {"node-a": ["handover: refused"]},',
        '      "reached": false}\'']]
