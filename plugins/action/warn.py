# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for netsocs.failover.warn: print an Ansible warning, change nothing."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(('msg',))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        msg = self._task.args.get('msg')
        if not isinstance(msg, str) or not msg.strip():
            result.update(failed=True, msg='warn: msg must be a non-empty string')
            return result
        result.update(changed=False, msg=msg, warnings=[msg])
        return result
