#!/bin/bash
# Build (once) the package tests' clean Debian root with Debian's own nodejs and npm added, and
# nothing else: a fresh machine "with Node.js", for the fresh-clone tests. Cached outside the clone.
#   noderoot.sh SUITE CACHE_DIR   → prints the root's path on stdout (SUITE: bookworm | trixie)
# The cache key is a hash of this script and of the clean root's path (whose name carries the
# clean root's own key): a new recipe for either builds a new root.
set -euo pipefail
suite=${1:?usage: noderoot.sh SUITE CACHE_DIR}
cache=${2:?usage: noderoot.sh SUITE CACHE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
base=$(bash "$here/debroot.sh" "$suite" "$cache")
key=$( (cat "${BASH_SOURCE[0]}"; echo "$base") | sha256sum | cut -c1-12)
dest=$cache/noderoot-$suite-$key
done_() { echo "$dest/root"; exit 0; }
[[ -f $dest/.complete ]] && done_
exec 9>"$cache/.noderoot-$suite.lock"
flock 9 # a parallel test file may be building the same root
[[ -f $dest/.complete ]] && done_

tmp=$dest.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf --one-file-system "$tmp"' EXIT
t0=$SECONDS
echo "building $dest: $base with nodejs and npm (apt-get, once)" >&2
cp -a "$base" "$tmp/root"
# the machine's network, its own mount namespace; no boot: apt-get is all that runs
systemd-nspawn -q -D "$tmp/root" --register=no --keep-unit --as-pid2 -E DEBIAN_FRONTEND=noninteractive \
  bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm && apt-get clean' \
  >"$tmp/apt.log" 2>&1 </dev/null || { tail -30 "$tmp/apt.log" >&2; exit 1; }
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.complete"
# roots of earlier recipes: nothing will use them again
for old in "$cache"/noderoot-$suite-*; do
  [[ $old == "$dest" || $old == *.tmp.* ]] || rm -rf --one-file-system "$old"
done
echo "built $dest in $((SECONDS - t0)) s" >&2
done_
