# -*- coding: utf-8 -*-
# Copyright: Netsocs
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node runtime of netsocs.failover: everything that runs on a failover node.

One package, standard library only, installed whole on every node (the
``netsocs.failover.node_runtime`` lookup lists its files and the three entry
points; the keepalived, docker_stack and nfs_client roles install them). The
``compose_state`` and ``vip_status`` modules import its parsers (``compose``,
``vip``, ``vrrp``), so the modules and the hooks read the node the same way.
README.md beside this file is the map: which module does what, who calls
which action, who writes which state file.
"""

# The collection's version this runtime came with (galaxy.yml's; a unit test
# keeps them equal): the metrics publish it.
__version__ = '2.2.0'
