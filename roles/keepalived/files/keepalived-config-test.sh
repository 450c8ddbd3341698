#!/bin/sh
# Installed by the netsocs.failover.keepalived role.
# keepalived --config-test of one file (default: the live keepalived.conf).
#
# Keepalived 2.2.x before 2.2.8 (Debian 12 ships 2.2.7, Ubuntu 22.04 2.2.4)
# kills its own config test (exit 143, "Terminated") when a script runs as a
# user other than root (keepalived issues #2587 and #2617, fixed in 2.2.8 by
# commit aae8e91); the daemon itself runs such scripts correctly. On those
# versions the copy that is tested names root wherever the file names a
# script user; every other line is tested as written.
set -eu
conf="${1:-/etc/keepalived/keepalived.conf}"
version="$(keepalived --version 2>&1 | sed -n 's/^Keepalived v\([0-9][0-9.]*\).*/\1/p')"
if [ -n "$version" ] && [ "$version" != 2.2.8 ] \
   && printf '%s\n2.2.8\n' "$version" | sort -V -C; then
  tested="$(mktemp)"
  trap 'rm -f "$tested"' EXIT
  sed -E -e 's/^([[:space:]]*(script_)?user)[[:space:]].*/\1 root/' \
    -e 's/^([[:space:]]*notify[a-z_]*[[:space:]]+"[^"]*")[[:space:]]+[^[:space:]].*/\1 root/' \
    "$conf" > "$tested"
  conf="$tested"
fi
keepalived --config-test -f "$conf"
