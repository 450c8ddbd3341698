"""Print a node's metrics as the runtime renders them, every metric present
(`make lint` pipes it to `promtool check metrics`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'))
from runtime import metrics  # noqa: E402  pylint: disable=wrong-import-position

STACK = {'last_health': {'ok': True, 'status': 'degraded', 'kind': 'MASTER degraded: recorder not running'},
         'guard': {'ok': True}, 'master_failed_at': 0}
VRRP = {'state': 'MASTER', 'time': '2026-12-03T08:00:00+00:00', 'transitions': {'BACKUP': 1, 'MASTER': 1}}
sys.stdout.write(metrics.render(metrics.collect(STACK, VRRP, True, 4, {'at': 1764748800.0, 'passed': True},
                                                1764750000.0, holdoff_seconds=120)))
