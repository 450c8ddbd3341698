#!/usr/bin/env bash
# Build the offline node image used by the Molecule scenarios.
#   debootstrap (Debian archive only) -> docker import -> systemd layer.
# The image tag carries a hash of its recipe, so it is rebuilt only when this
# script or node-image/ changes. Prints the tag it made or found.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite="${NODE_SUITE:-trixie}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
recipe_hash="$(cat "$0" "$here"/node-image/* | sha256sum | cut -c1-12)"
repo="netsocs-failover/node"
tag="${repo}:${suite}-${recipe_hash}"
base="netsocs-failover/${suite}-minbase:${recipe_hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "node image $tag is up to date" >&2
  echo "$tag"; exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  rootfs="$(mktemp -d /var/tmp/netsocs-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap $suite into $rootfs" >&2
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >&2
  tar -C "$rootfs" -c . | docker import - "$base" >&2
fi

echo "building $tag" >&2
docker build --build-arg BASE="$base" -t "$tag" "$here/node-image" >&2
docker tag "$tag" "${repo}:latest"
echo "$tag"
