"""The ansible-vault recipe for the secrets, followed as docs/operations.md
("Secrets") and inventories/prod/group_vars/failover_nodes.yml write it, on a
copy of the production inventory: the vaulted VRRP password and a stack secret
reach the failover nodes. And the recipe the docs once gave (a vault.yml
directly in group_vars/) does not: that file belongs to a group called `vault`;
nor does a vault directory left beside failover_nodes.yml (the directory wins).
Real ansible-vault and ansible runs on the controller; the debug action
contacts no node.
"""

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[2]
BIN = pathlib.Path(sys.executable).parent
ENVIRONMENT = {'NODE_A_IP': '192.0.2.10', 'NODE_B_IP': '192.0.2.11', 'VIP_ADDRESS': '192.0.2.100',
               'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0',
               'ANSIBLE_COLLECTIONS_PATH': str(ROOT / 'collections')}
AUTH_LINE = "keepalived_auth_pass: \"{{ lookup('ansible.builtin.env', 'AUTH_PASS') }}\"\n"


def run(argv, cwd):
    env = {k: v for k, v in os.environ.items() if k != 'AUTH_PASS'}
    env.update(ENVIRONMENT)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def inventory_with_vault(tmp_path, vault_file, variables='failover_nodes/main.yml'):
    """The production inventory with the recipe's steps 1-3 done: the group's
    variables moved to `variables`, the vault file at `vault_file` (both
    relative to group_vars/)."""
    inventory = tmp_path / 'prod'
    shutil.copytree(ROOT / 'inventories' / 'prod', inventory)
    group_vars = inventory / 'group_vars' / 'failover_nodes.yml'
    text = group_vars.read_text()
    assert AUTH_LINE in text and '# docker_stack_env:\n#   MYSQL_PASSWORD:' in text
    # step 1: the password (and a stack secret) from the vault's variables
    text = text.replace(AUTH_LINE, 'keepalived_auth_pass: "{{ vault_keepalived_auth_pass }}"\n')
    text = text.replace('# docker_stack_env:\n#   MYSQL_PASSWORD:', 'docker_stack_env:\n  MYSQL_PASSWORD:')
    group_vars.unlink()
    # step 2: the group's variables a directory
    moved = inventory / 'group_vars' / variables
    moved.parent.mkdir(parents=True, exist_ok=True)
    moved.write_text(text)
    # step 3: the vault, encrypted
    vault = inventory / 'group_vars' / vault_file
    vault.parent.mkdir(parents=True, exist_ok=True)
    vault.write_text('vault_keepalived_auth_pass: s3cr3t\nvault_mysql_password: db-secret\n')
    password = tmp_path / 'vault-password'
    password.write_text('correct horse\n')
    res = run([str(BIN / 'ansible-vault'), 'encrypt', '--vault-password-file', str(password), str(vault)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert vault.read_text().startswith('$ANSIBLE_VAULT;')
    return inventory, password


def secrets_on(inventory, password, host='node-a'):
    """(rc, output) of the two secrets as `host` sees them (step 4: the vault password given)."""
    res = run([str(BIN / 'ansible'), host, '-i', str(inventory), '--vault-password-file', str(password),
               '-m', 'ansible.builtin.debug', '-a', 'msg={{ keepalived_auth_pass }}/{{ docker_stack_env.MYSQL_PASSWORD }}'],
              inventory.parent)
    return res.returncode, res.stdout + res.stderr


def test_the_documented_recipe_gives_the_nodes_their_secrets(tmp_path):
    inventory, password = inventory_with_vault(tmp_path, 'failover_nodes/vault.yml')
    for host in ('node-a', 'node-b'):
        rc, out = secrets_on(inventory, password, host)
        assert rc == 0 and '"msg": "s3cr3t/db-secret"' in out, out


def test_a_vault_file_directly_in_group_vars_is_never_read(tmp_path):
    inventory, password = inventory_with_vault(tmp_path, 'vault.yml', variables='failover_nodes.yml')
    rc, out = secrets_on(inventory, password)
    assert rc != 0 and 'vault_keepalived_auth_pass' in out and 'is undefined' in out, out


def test_a_directory_beside_the_file_hides_the_file(tmp_path):
    # why step 2 moves the file: group_vars/failover_nodes/ wins over failover_nodes.yml
    inventory, password = inventory_with_vault(tmp_path, 'failover_nodes/vault.yml', variables='failover_nodes.yml')
    rc, out = secrets_on(inventory, password)
    assert rc != 0 and 'keepalived_auth_pass' in out and 'is undefined' in out, out
