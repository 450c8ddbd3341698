#!/usr/bin/env bash
# Make sure a Docker engine answers: install docker.io from the Debian archive
# and start dockerd in the background when `docker info` fails.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "installing docker.io" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log="${DOCKERD_LOG:-/var/log/netsocs-dockerd.log}"
  echo "starting dockerd (log: $log)" >&2
  if command -v systemctl >/dev/null 2>&1 && systemctl start docker 2>/dev/null; then :; else
    nohup dockerd >"$log" 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done
  echo "dockerd did not answer within 60 s; see $log" >&2
  exit 1
fi
