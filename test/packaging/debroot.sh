#!/bin/bash
# Build (once) a clean Debian root for the package tests, cached outside the clone.
#   debroot.sh SUITE CACHE_DIR   → prints the root's path on stdout (SUITE: bookworm | trixie)
# The cache key is a hash of this script and the suite: a changed recipe builds a new root.
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
# the package's own dependencies (not the ${...} substitutions): what apt will want
deps=$(sed -n 's/^Depends: //p' "$here/../../packaging/debian/control" | tr ',' '\n' | grep -v '\$' | awk '{print $1}' | tr '\n' ' ')
key=$( (cat "${BASH_SOURCE[0]}"; echo "$suite $deps") | sha256sum | cut -c1-12)
dest=$cache/pkgroot-$suite-$key
done_() { echo "$dest/root"; exit 0; }
[[ -f $dest/.complete ]] && done_
mkdir -p "$cache"
exec 9>"$cache/.pkgroot-$suite.lock"
flock 9 # a parallel test file may be building the same root
[[ -f $dest/.complete ]] && done_

# the Debian mirror this machine's apt uses (deb822 or one-line format), deb.debian.org otherwise
mirror=$(
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'
  } | grep -E '/debian/?$' | sed -n 1p
) || true
mirror=${mirror:-http://deb.debian.org/debian}

tmp=$dest.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'umount -R "$tmp/root/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
t0=$SECONDS
echo "building $dest from $mirror (debootstrap $suite, once)" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2 "$suite" "$tmp/root" "$mirror" \
  >"$tmp/debootstrap.log" 2>&1 || { tail -30 "$tmp/debootstrap.log" >&2; exit 1; }
r=$tmp/root
echo island-pkgtest >"$r/etc/hostname"
# nothing logs in; consoles and timers only slow the boot down
for u in console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer \
  apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
# what the island .deb depends on, downloaded, not installed (recommends too, as a plain
# `apt install` takes them)
# shellcheck disable=SC2086 # a list of package names
mount -t proc proc "$r/proc"
chroot "$r" apt-get update -qq >"$tmp/apt.log" 2>&1 &&
  chroot "$r" apt-get install -y -qq --download-only $deps >>"$tmp/apt.log" 2>&1 ||
  { tail -30 "$tmp/apt.log" >&2; exit 1; }
umount "$r/proc"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.complete"
# roots of earlier recipes: nothing will use them again
for old in "$cache"/pkgroot-$suite-*; do
  [[ $old == "$dest" || $old == *.tmp.* ]] || rm -rf "$old"
done
echo "built $dest in $((SECONDS - t0)) s" >&2
done_
