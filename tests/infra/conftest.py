"""Options for the testinfra tests (tests/infra)."""


def pytest_addoption(parser):
    parser.addoption('--inventory', default=None,
                     help='the inventory the nodes were deployed from (default: inventories/lab/hosts.yml)')
