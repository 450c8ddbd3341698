"""The wiring of the pair (docs/architecture.md), checked statically:

* every shipped play that applies the keepalived role renders the whole
  configuration: the transition hook and the stack's tracked health check;
* no role reads another role's variables;
* the pair's facts have one definition: the node scripts' and modules'
  built-in paths are the ones playbooks/vars/pair.yml names.
"""

import ast
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).parents[3]
RUNTIME = ROOT / 'plugins' / 'module_utils' / 'runtime'
ROLES = ['keepalived', 'docker_stack', 'nfs_server', 'nfs_client', 'firewall', 'observability']
SHIPPED = sorted(set(ROOT.glob('*.yml')) | set((ROOT / 'playbooks').rglob('*.yml')))


def load(path):
    return yaml.safe_load(path.read_text()) or []


def role_uses(node):
    """(role name, tasks_from) of every role a play or task list applies."""
    if isinstance(node, list):
        for item in node:
            yield from role_uses(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == 'roles':
                for role in value or []:
                    yield (role['role'] if isinstance(role, dict) else role), None
            elif key.split('.')[-1] in ('include_role', 'import_role') and isinstance(value, dict):
                yield value.get('name'), value.get('tasks_from')
            else:
                yield from role_uses(value)


def play_vars(play, path):
    variables = {}
    for name in play.get('vars_files', []):
        variables.update(yaml.safe_load((path.parent / name).read_text()))
    variables.update(play.get('vars') or {})
    return variables


def tracked_checks(variables):
    """The track scripts a play renders: a list, or an expression over named
    checks (roles.yml: the health check always, the guard unless turned off)."""
    checks = variables.get('keepalived_track_scripts') or []
    if isinstance(checks, str):
        names = re.findall(r'\b(roles_[a-z_]+_check)\b', checks)
        assert 'roles_health_check' in checks.split('+')[0], 'the health check must not be optional'
        checks = [variables[name] for name in names]
    return checks


def plays():
    for path in SHIPPED:
        for play in load(path):
            if isinstance(play, dict) and 'hosts' in play:
                yield path, play


def test_the_keepalived_role_is_applied_by_one_play_with_its_hooks():
    applying = []
    for path, play in plays():
        uses = [tasks_from for name, tasks_from in role_uses(play)
                if name == 'netsocs.failover.keepalived' and tasks_from != 'validate']
        if not uses:
            continue
        applying.append(path.relative_to(ROOT))
        variables = play_vars(play, path)
        hook = variables.get('keepalived_transition_hook') or ''
        assert hook.endswith(' trigger') and '{{ pair_stack_hook }}' in hook, path
        scripts = [c.get('script', '') for c in tracked_checks(variables)]
        assert any(s.endswith(' health') for s in scripts), path
        assert any(s.endswith(' guard') for s in scripts), path
    # Nothing else can render keepalived.conf: no task file applies the role
    # outside a play (the play's vars would be missing).
    for path in SHIPPED:
        for name, tasks_from in role_uses(load(path) if not isinstance(load(path), list) or not load(path)
                                          or 'hosts' not in load(path)[0] else []):
            assert not (name == 'netsocs.failover.keepalived' and tasks_from != 'validate'), path
    assert applying == [pathlib.Path('playbooks/failover.yml')]


def test_the_test_catches_a_play_without_hooks(tmp_path):
    # The check above can fail: a play applying the role without the wiring.
    play = {'hosts': 'failover_nodes', 'roles': [{'role': 'netsocs.failover.keepalived'}]}
    variables = play_vars(play, tmp_path / 'p.yml')
    assert [name for name, _vars in role_uses(play)] == ['netsocs.failover.keepalived']
    assert not (variables.get('keepalived_transition_hook') or '').endswith(' trigger')


def variable_names(role):
    """Variable-like names used by a role's tasks, templates, handlers, defaults and vars
    (comments left out)."""
    names = set()
    for sub in ('tasks', 'templates', 'handlers', 'defaults', 'vars'):
        for path in (ROOT / 'roles' / role / sub).glob('*'):
            text = '\n'.join(line.split(' #')[0] for line in path.read_text().splitlines()
                             if not line.lstrip().startswith(('#', '{#')))
            names |= set(re.findall(r'\b_?(?:%s)_[a-z0-9_]+' % '|'.join(ROLES), text))
    return names


@pytest.mark.parametrize('role', ROLES)
def test_no_role_reads_another_roles_variables(role):
    foreign = sorted(n for n in variable_names(role) if not n.lstrip('_').startswith(role + '_'))
    # nfs_server_* is not nfs_client_* (and the reverse); a file name such as
    # netsocs-failover-keepalived is not a variable.
    assert foreign == [], '%s reads %s' % (role, foreign)


def test_no_playbook_reads_a_roles_private_facts():
    for path in SHIPPED:
        assert not re.search(r'\b_(keepalived|docker_stack|nfs_server|nfs_client|firewall|observability)_', path.read_text()), path


def pair():
    return yaml.safe_load((ROOT / 'playbooks' / 'vars' / 'pair.yml').read_text())


def constant(path, name):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == name for t in node.targets):
            return ast.literal_eval(node.value.args[1]) if isinstance(node.value, ast.Call) else ast.literal_eval(node.value)
    raise AssertionError('%s has no %s' % (path, name))


def test_node_scripts_find_their_configuration_where_the_roles_put_it():
    config_dir = pair()['pair_runtime']['config_dir']
    assert constant(RUNTIME / 'config.py', 'CONFIG_FILE') == config_dir + '/stack.json'
    assert constant(RUNTIME / 'storage.py', 'CONFIG_FILE') == config_dir + '/storage.json'


def test_vip_status_default_state_file_is_the_pairs():
    docs = yaml.safe_load(constant(ROOT / 'plugins' / 'modules' / 'vip_status.py', 'DOCUMENTATION'))
    expected = pair()['pair_vrrp_state_file'].replace('{{ pair_runtime.state_dir }}', pair()['pair_runtime']['state_dir'])
    assert docs['options']['state_file']['default'] == expected


def test_runtime_paths_are_written_once():
    # Outside pair.yml, the node runtime's directories appear only in the
    # guarded constants above and in documentation.
    runtime = pair()['pair_runtime']
    literal = re.compile('|'.join(re.escape(runtime[k]) for k in ('bin_dir', 'state_dir', 'log_file', 'health_log_file')))
    found = []
    for path in list((ROOT / 'roles').rglob('*')) + SHIPPED + list((ROOT / 'playbooks').rglob('*.py')):
        if path.is_file() and path.name != 'pair.yml' and path.suffix != '.md' and literal.search(path.read_text()):
            found.append(str(path.relative_to(ROOT)))
    assert found == []
