#!/bin/bash
# Build (once) the QEMU guest for the IPIP test, cached outside the clone.
#   image.sh CACHE_DIR   → prints the image directory (root.img, vmlinuz, initrd.img)
# A debootstrapped Debian 12 with Debian's own kernel, systemd, nodejs and iptables (what the
# island .deb depends on: the guests have no route to a mirror), and the test agent. The
# tests boot it with -snapshot, so it stays clean. The cache key hashes this recipe.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../helpers/rootfs.sh
. "$here/../helpers/rootfs.sh"
root_begin "${1:?usage: image.sh CACHE_DIR}" qemu-bookworm "" "$here/image.sh" "$here/agent" "$here/island-qtest.service"

mirror=$(debian_mirror)
echo "building $dest from $mirror (debootstrap bookworm + kernel, once)" >&2
logged "$tmp/debootstrap.log" debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,udev,dbus,iproute2,iptables,kmod,iputils-ping,procps,linux-image-amd64,nodejs \
  bookworm "$tmp/root" "$mirror"
r=$tmp/root
echo island-qtest >"$r/etc/hostname"
printf '/dev/vda / ext4 defaults,noatime 0 1\n' >"$r/etc/fstab"
# nothing logs in, nothing needs the time or a session: under TCG every unit costs seconds
mask_units "$r" "${QUIET_UNITS[@]}" serial-getty@ttyS0.service getty.target systemd-logind.service \
  e2scrub_reap.service systemd-update-utmp.service systemd-update-utmp-runlevel.service \
  modprobe@loop.service modprobe@dm_mod.service modprobe@fuse.service modprobe@drm.service modprobe@configfs.service \
  sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount \
  dev-hugepages.mount dev-mqueue.mount systemd-random-seed.service systemd-journal-flush.service \
  keyboard-setup.service systemd-pstore.service
install -m 0755 "$here/agent" "$r/usr/local/sbin/island-qtest-agent"
install -m 0644 "$here/island-qtest.service" "$r/etc/systemd/system/island-qtest.service"
ln -sf /etc/systemd/system/island-qtest.service "$r/etc/systemd/system/multi-user.target.wants/island-qtest.service"
# a small initrd (the kernel phase under TCG: ~10 s with the default one, ~4 s with this)
sed -i 's/^MODULES=.*/MODULES=list/' "$r/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\ncrc32c_generic\n' >>"$r/etc/initramfs-tools/modules"
mount -t proc proc "$r/proc"
logged "$tmp/initramfs.log" chroot "$r" update-initramfs -u -k all
umount "$r/proc"
rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
k=$(ls "$r"/boot/vmlinuz-* | sort -V | tail -1)
cp "$k" "$tmp/vmlinuz"
cp "$r/boot/initrd.img-${k##*/vmlinuz-}" "$tmp/initrd.img"
chroot "$r" node --version >"$tmp/node-version"
truncate -s 2G "$tmp/root.img"
mkfs.ext4 -q -F -L islandq -d "$r" "$tmp/root.img"
rm -rf "$r"
root_finish
