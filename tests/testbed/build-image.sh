#!/usr/bin/env bash
# Build an offline node image for the Molecule scenarios and the lab.
#   debootstrap (Debian archive only) -> docker import -> systemd layer.
#   NODE_SUITE=trixie (default): Debian 13 with its own docker.io and Compose v2.
#   NODE_SUITE=bookworm: Debian 12 with docker.io 20.10 and no Compose of its
#     own: Debian 12's archive has only Compose v1, so the trixie image's
#     Compose v2 plugin binary (linked only to libc) is placed where Docker
#     CE's docker-compose-plugin puts it, as on hosts that run Docker CE.
# The image tag carries a hash of its recipe, so it is rebuilt only when this
# script or node-image/ changes. Prints the tag it made or found.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite="${NODE_SUITE:-trixie}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
case "$suite" in
  trixie) engine="docker.io docker-cli docker-compose" ;;
  bookworm) engine="docker.io" ;;
  *) echo "NODE_SUITE: trixie or bookworm, not $suite" >&2; exit 2 ;;
esac
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
if [ "$suite" = trixie ]; then
  docker build --build-arg BASE="$base" --build-arg ENGINE="$engine" -t "$tag" "$here/node-image" >&2
else
  trixie="$(NODE_SUITE=trixie "$0")"
  docker build --build-arg BASE="$base" --build-arg ENGINE="$engine" -t "$tag-nocompose" "$here/node-image" >&2
  docker build -t "$tag" - >&2 <<EOF
FROM $trixie AS compose
FROM $tag-nocompose
COPY --from=compose /usr/libexec/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose
EOF
  docker rmi "$tag-nocompose" >/dev/null
fi
docker tag "$tag" "${repo}:${suite}"
echo "$tag"
