#!/usr/bin/env bash
# Build the offline base image hastack-base:bookworm: debootstrap Debian bookworm
# (minbase + the packages in packages.txt; debootstrap pulls their Depends, not their
# Recommends) into a temporary directory, drop apt caches and documentation, then
# `docker import` the tree with the label io.hastack.inputs=<digest of this script and
# packages.txt>. Needs root, debootstrap and a Docker engine; no registry.
#
#   containers/build-base.sh [TAG]          (default tag: hastack-base:bookworm)
#   HASTACK_MIRROR=http://deb.debian.org/debian  HASTACK_SUITE=bookworm
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-hastack-base:bookworm}"
suite="${HASTACK_SUITE:-bookworm}"
mirror="${HASTACK_MIRROR:-http://deb.debian.org/debian}"

missing=()
[ "$(id -u)" = 0 ] || { echo "build-base.sh: needs root (debootstrap chroots)" >&2; exit 2; }
command -v debootstrap >/dev/null || missing+=("debootstrap (apt-get install -y debootstrap)")
command -v docker >/dev/null || missing+=("docker (the Docker CLI, for docker import)")
if [ "${#missing[@]}" -gt 0 ]; then
  printf 'build-base.sh: missing: %s\n' "${missing[@]}" >&2
  exit 2
fi

# The inputs digest: this script and the package list, byte for byte (harness/image.py
# computes the same to decide whether the base is up to date).
digest="$(cat "$here/build-base.sh" "$here/packages.txt" | sha256sum | cut -d' ' -f1)"
packages="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/,$//')"

root="$(mktemp -d /var/tmp/hastack-base.XXXXXX)"
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -f "$root/debootstrap/debootstrap.log" ]; then
    cp "$root/debootstrap/debootstrap.log" /var/tmp/hastack-base-debootstrap.log
    echo "build-base.sh: failed; debootstrap's log: /var/tmp/hastack-base-debootstrap.log" >&2
  fi
  # debootstrap may leave proc/sys mounted when interrupted
  for m in proc sys dev/pts; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "build-base.sh: debootstrap $suite from $mirror into $root"
echo "build-base.sh: packages: $packages"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror"

# Lean: no package caches, lists, docs (copyright files stay), manuals or locales.
echo "build-base.sh: cleaning"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
       "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/usr/share/man/* \
       "$root"/usr/share/info/* "$root"/tmp/* "$root"/var/tmp/*
find "$root"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find "$root"/usr/share/doc -mindepth 1 -type d -empty -delete
find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 -not -name 'locale.alias' -exec rm -rf {} +
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
: > "$root/etc/hostname"

echo "build-base.sh: importing as $tag (inputs $digest)"
tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
  docker import \
    --change "LABEL io.hastack.inputs=$digest" \
    --change "LABEL io.hastack.suite=$suite" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag"
echo "build-base.sh: done: $tag"
