#!/bin/bash
# Build (once) a clean Debian root for the package tests, cached outside the clone.
#   debroot.sh SUITE CACHE_DIR   → prints the root's path on stdout (SUITE: bookworm | trixie)
# The cache key hashes this recipe (test/helpers/rootfs.sh), the suite and the dependencies.
#
# The root has systemd and apt but no nodejs and no iptables: `apt install ./island_*.deb`
# must pull them. The container boots with a private network, so apt cannot reach a mirror
# then; the lists and the .debs of the package's dependencies (the Depends line of
# packaging/debian/control, part of the cache key) are fetched here from the mirror this
# machine's apt uses and left in the root's apt cache, not installed.
set -euo pipefail
suite=${1:?usage: debroot.sh SUITE CACHE_DIR}
cache=${2:?usage: debroot.sh SUITE CACHE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../helpers/rootfs.sh
. "$here/../helpers/rootfs.sh"
# the package's own dependencies (not the ${...} substitutions): what apt will want
deps=$(sed -n 's/^Depends: //p' "$here/../../packaging/debian/control" | tr ',' '\n' | grep -v '\$' | awk '{print $1}' | tr '\n' ' ')
root_begin "$cache" "pkgroot-$suite" root "${BASH_SOURCE[0]}" -- "$suite $deps"

mirror=$(debian_mirror)
echo "building $dest from $mirror (debootstrap $suite, once)" >&2
logged "$tmp/debootstrap.log" debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2 \
  "$suite" "$tmp/root" "$mirror"
r=$tmp/root
echo island-pkgtest >"$r/etc/hostname"
mask_units "$r" "${QUIET_UNITS[@]}"
# what the island .deb depends on, downloaded, not installed (recommends too, as a plain
# `apt install` takes them)
mount -t proc proc "$r/proc"
logged "$tmp/apt.log" chroot "$r" apt-get update -qq
# shellcheck disable=SC2086 # a list of package names
logged "$tmp/apt.log" chroot "$r" apt-get install -y -qq --download-only $deps
umount "$r/proc"
root_finish
