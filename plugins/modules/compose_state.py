#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: compose_state
short_description: Report and set the state of a Docker Compose v2 project, with the failover rules
version_added: 1.0.0
description:
  - Reads the containers of a Compose project with C(docker compose ps) and reports each service
    with its state and the number of running containers.
  - With O(state=running) it starts the project (C(docker compose up --detach --no-recreate))
    when fewer than O(min_running) containers run, and leaves it alone otherwise.
  - With O(state=restarted) it does the same when too few run, and restarts the project when it
    already runs; this is what a node does when it becomes the VRRP MASTER.
  - With O(state=stopped) it runs C(docker compose down) while any container of the project
    exists, then checks that none is left.
  - With O(state=standby) (the warm standby) it runs C(docker compose stop) while any container
    runs, and otherwise C(docker compose create), which creates the containers (or recreates those
    whose configuration or image changed) without starting any; then it checks that none runs.
    A later O(state=running) only starts them. C(changed) says whether any container was stopped,
    created or recreated.
  - With O(state=applied) it runs C(docker compose up --detach --wait), which recreates only the
    containers whose configuration or image changed; C(changed) says whether any container was
    created or recreated. This applies a changed compose file or C(.env) on the node that runs the stack.
  - Without O(state) it only reports and never changes anything (the read-only interface).
author:
  - Netsocs infrastructure team (@netsocs)
options:
  project_src:
    description: Directory that holds the Compose file (and its C(.env)).
    type: path
    required: true
  files:
    description: Compose files relative to O(project_src); default is Compose's own lookup.
    type: list
    elements: str
  project_name:
    description: Compose project name; default is Compose's (the directory name).
    type: str
  state:
    description: Wanted state of the project. Omit it to report only.
    type: str
    choices: [running, stopped, standby, restarted, applied]
  min_running:
    description: The project counts as running when at least this many containers run.
    type: int
    default: 3
  timeout:
    description: Seconds any one C(docker compose) command may take.
    type: int
    default: 120
  expected_services:
    description:
      - The services that must run (on the MASTER, every service of the compose file the operator did not
        mark optional). With it the result says which of them do not run (RV(services_down)) and whether
        the project is RV(degraded). Nothing is started for them; the health check brings them back.
    type: list
    elements: str
    version_added: 2.0.0
attributes:
  check_mode:
    support: partial
    description: Reports the action it would take and C(changed) without taking it.
    details: >-
      With V(applied) or V(standby) it cannot tell whether Compose would create or recreate a
      container, and reports C(changed=false) with C(action=apply) or C(action=create).
  diff_mode:
    support: none
    description: The module shows no diff; the containers it starts or stops are in its result.
  idempotent:
    support: partial
    description: V(running), V(stopped), V(standby) and V(applied) are idempotent; V(restarted) restarts a running project every time.
notes:
  - Needs the Docker CLI with the Compose v2 plugin (C(docker compose)) on the target.
seealso:
  - module: netsocs.failover.vip_status
  - module: community.docker.docker_compose_v2
'''

EXAMPLES = r'''
- name: Report where the stack runs
  netsocs.failover.compose_state:
    project_src: /opt/netsocs
  register: stack

- name: Start the stack on the node that holds the VIP
  netsocs.failover.compose_state:
    project_src: /opt/netsocs
    state: running
    min_running: 3

- name: Stop the stack on the BACKUP and make sure nothing is left
  netsocs.failover.compose_state:
    project_src: /opt/netsocs
    state: stopped

- name: Keep the BACKUP warm - containers created and up to date, none running
  netsocs.failover.compose_state:
    project_src: /opt/netsocs
    state: standby
'''

RETURN = r'''
action:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: str
  choices: [none, up, restart, down, stop, create, apply]
  sample: up
active_after:
  description:
    - Number of containers of the project that run, restart or are paused after acting. A BACKUP must
      have none, whether its containers were removed (V(stopped)) or kept (V(standby)).
  returned: always
  type: int
  sample: 0
services_down:
  description:
    - Each service of O(expected_services) that does not run, with the state of its container
      (C(absent) when it has none). Empty without O(expected_services).
  returned: always
  type: dict
  sample: {"mediamtx": "exited"}
  version_added: 2.0.0
degraded:
  description: Whether a service of O(expected_services) does not run.
  returned: always
  type: bool
  sample: false
  version_added: 2.0.0
running_before:
  description: Number of running containers of the project before acting.
  returned: always
  type: int
  sample: 0
running_after:
  description: Number of running containers after acting (the same as before in check mode).
  returned: always
  type: int
  sample: 3
services:
  description: The project's containers after acting, sorted by service.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: Compose service name.
      type: str
    id:
      description: Container ID.
      type: str
    name:
      description: Container name.
      type: str
    state:
      description: Container state (running, exited, ...).
      type: str
    health:
      description: Health status when the service has a health check, else empty.
      type: str
    exit_code:
      description: Exit code of a stopped container.
      type: int
  sample:
    - {service: caddy, id: 3f2a9c1e0b7d, name: netsocs-caddy, state: running, health: "", exit_code: 0}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netsocs.failover.plugins.module_utils.runtime.compose import (
    ComposeError,
    active_count,
    compose_args,
    decide,
    parse_ps,
    reached,
    recreated,
    running_count,
    services_down,
)


class Compose(object):
    def __init__(self, module):
        self.module = module
        params = module.params
        self.base = [module.get_bin_path('docker', required=True), 'compose',
                     '--project-directory', params['project_src']]
        for name in params['files'] or []:
            self.base += ['--file', name]
        if params['project_name']:
            self.base += ['--project-name', params['project_name']]
        self.timeout = params['timeout']

    def run(self, args):
        # `timeout` bounds every command: a hung daemon must not hang the play.
        cmd = ['timeout', '--kill-after=10', str(self.timeout)] + self.base + args
        rc, out, err = self.module.run_command(cmd, cwd=self.module.params['project_src'])
        if rc != 0:
            self.module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(args[:1]), rc, (err or out).strip()),
                                  cmd=cmd, rc=rc, stdout=out, stderr=err)
        return out

    def ps(self):
        return parse_ps(self.run(['ps', '--all', '--format', 'json']))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_src=dict(type='path', required=True),
            files=dict(type='list', elements='str'),
            project_name=dict(type='str'),
            state=dict(type='str', choices=['running', 'stopped', 'standby', 'restarted', 'applied']),
            min_running=dict(type='int', default=3),
            timeout=dict(type='int', default=120),
            expected_services=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    compose = Compose(module)
    try:
        before = compose.ps()
        action = decide(params['state'], before, params['min_running']) if params['state'] else 'none'
        after = before
        if action != 'none' and not module.check_mode:
            compose.run(compose_args(action, params['timeout']))
            after = compose.ps()
            if not reached(params['state'], after, params['min_running']):
                module.fail_json(
                    msg='project is not %s after docker compose %s: %d of %d containers run' % (
                        params['state'], action, running_count(after), params['min_running']),
                    action=action, services=after, running_before=running_count(before),
                    running_after=running_count(after), active_after=active_count(after))
    except ComposeError as exc:
        module.fail_json(msg=str(exc))
    changed = action != 'none'
    if action in ('apply', 'create'):
        changed = not module.check_mode and recreated(before, after)
    down = services_down(params['expected_services'] or [], after)
    module.exit_json(changed=changed, action=action, services=after,
                     running_before=running_count(before), running_after=running_count(after),
                     active_after=active_count(after), services_down=down,
                     degraded=bool(params['expected_services']) and bool(down))


if __name__ == '__main__':
    main()
