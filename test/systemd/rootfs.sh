#!/bin/bash
# Build (once) a Debian 12 root with systemd for the nspawn tests, cached outside the clone.
#   rootfs.sh CACHE_DIR   → prints the root's path on stdout
# Debian's own nodejs (18.x) is inside on purpose: island must run on it, not on the Node the
# tests use. The cache entry's key hashes this recipe (test/helpers/rootfs.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../helpers/rootfs.sh
. "$here/../helpers/rootfs.sh"
root_begin "${1:?usage: rootfs.sh CACHE_DIR}" bookworm root "${BASH_SOURCE[0]}"

mirror=$(debian_mirror)
echo "building $dest from $mirror (debootstrap bookworm: ~1-2 min, once)" >&2
logged "$tmp/debootstrap.log" debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,iproute2,iptables,nodejs,procps,kmod bookworm "$tmp/root" "$mirror"
r=$tmp/root
# a fixed machine id: the journal of one boot is found again after a reboot of the container
echo 5a1a4d1e7e5700000000000000000001 >"$r/etc/machine-id"
echo island-test >"$r/etc/hostname"
mask_units "$r" "${QUIET_UNITS[@]}"
mkdir -p "$r/var/log/journal"
rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
chroot "$r" node --version >"$tmp/node-version"
root_finish
