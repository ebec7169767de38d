# shellcheck shell=bash
# What every recipe of a cached Debian root or image does, sourced by them (test/systemd/rootfs.sh,
# test/packaging/debroot.sh and noderoot.sh, test/qemu/image.sh): a cache entry per recipe,
# named by a hash of the recipe and of this file; built once under a lock, in a temporary
# directory moved into place whole; entries of earlier recipes removed.
#
#   root_begin CACHE NAME PRINTED INPUT...   sets $dest (CACHE/NAME-KEY, KEY hashing this file
#       and each INPUT: files, or words after --) and $tmp; prints PRINTED (relative to $dest,
#       "" for $dest itself) and exits when the entry is built already
#   root_finish                             moves $tmp into place, prints what root_begin would
#   debian_mirror                           the mirror this machine's apt uses, else deb.debian.org
#   logged LOG CMD...                       runs CMD into LOG; on failure, LOG's tail and exit 1
#   mask_units ROOT UNIT...                 units that only slow a test boot down

_ROOTFS_LIB=${BASH_SOURCE[0]}

root_begin() {
  local cache=$1 name=$2 input
  _root_printed=$3
  _root_name=$name
  _root_cache=$cache
  shift 3
  local words=0
  key=$(
    {
      cat "$_ROOTFS_LIB"
      for input in "$@"; do
        if [[ $input == -- ]]; then
          words=1
        elif ((words)); then
          echo "$input"
        else
          cat "$input"
        fi
      done
    } | sha256sum | cut -c1-12
  )
  dest=$cache/$name-$key
  [[ -f $dest/.complete ]] && _root_done
  mkdir -p "$cache"
  exec 9>"$cache/.$name.lock"
  flock 9 # a parallel test file may be building the same root
  [[ -f $dest/.complete ]] && _root_done
  tmp=$dest.tmp.$$
  rm -rf --one-file-system "$dest".tmp.* # left by a build that was killed; the lock says none runs
  mkdir -p "$tmp"
  trap 'umount -R "$tmp/root/proc" 2>/dev/null || true; rm -rf --one-file-system "$tmp"' EXIT
  _root_t0=$SECONDS
}

_root_done() {
  echo "$dest${_root_printed:+/$_root_printed}"
  exit 0
}

root_finish() {
  rm -rf --one-file-system "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
  touch "$dest/.complete"
  local old
  # entries of earlier recipes: nothing will use them again
  for old in "$_root_cache/$_root_name"-*; do
    [[ $old == "$dest" || $old == *.tmp.* ]] || rm -rf --one-file-system "$old"
  done
  echo "built $dest in $((SECONDS - _root_t0)) s" >&2
  _root_done
}

debian_mirror() {
  local mirror
  # deb822 or one-line sources
  mirror=$(
    {
      grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
      grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'
    } | grep -E '/debian/?$' | sed -n 1p
  ) || true
  echo "${mirror:-http://deb.debian.org/debian}"
}

logged() {
  local log=$1
  shift
  "$@" >>"$log" 2>&1 </dev/null || {
    tail -30 "$log" >&2
    exit 1
  }
}

mask_units() {
  local root=$1 u
  shift
  for u in "$@"; do ln -sf /dev/null "$root/etc/systemd/system/$u"; done
}

# nothing in the tests logs in; consoles and timers only slow a boot down
# shellcheck disable=SC2034 # read by the recipes
QUIET_UNITS=(console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer
  apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer)
