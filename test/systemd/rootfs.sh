#!/bin/bash
# Build (once) a Debian 12 root with systemd for the nspawn tests, cached outside the clone.
#   rootfs.sh CACHE_DIR   → prints the root's path on stdout
# The cache key is a hash of this script: a changed recipe builds a new root beside the old one.
# Debian's own nodejs (18.x) is inside on purpose: island must run on it, not on the Node the
# tests use.
set -euo pipefail
cache=${1:?usage: rootfs.sh CACHE_DIR}
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
dest=$cache/bookworm-$key
if [[ -f $dest/.complete ]]; then
  echo "$dest/root"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # another test run may be building the same root
if [[ -f $dest/.complete ]]; then
  echo "$dest/root"
  exit 0
fi

# the Debian mirror this machine's apt uses (deb822 or one-line format), deb.debian.org otherwise
mirror=$(
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'
  } | grep -E '/debian/?$' | sed -n 1p
) || true
mirror=${mirror:-http://deb.debian.org/debian}

PACKAGES=systemd,systemd-sysv,dbus,iproute2,iptables,nodejs,procps,kmod
tmp=$dest.tmp.$$
rm -rf "$dest".tmp.* # left by a build that was killed; the lock says none is running
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "building $dest from $mirror (debootstrap bookworm: ~1-2 min, once)" >&2
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
  {
    tail -30 "$tmp/debootstrap.log" >&2
    exit 1
  }
r=$tmp/root
# a fixed machine id: the journal of one boot is found again after a reboot of the container
echo 5a1a4d1e7e5700000000000000000001 >"$r/etc/machine-id"
echo island-test >"$r/etc/hostname"
# nothing in the tests logs in; consoles and timers only slow the boot down
for u in console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer \
  apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
mkdir -p "$r/var/log/journal"
rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
chroot "$r" node --version >"$tmp/node-version"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.complete"
echo "$dest/root"
