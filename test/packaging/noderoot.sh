#!/bin/bash
# Build (once) the package tests' clean Debian root with Debian's own nodejs and npm added, and
# nothing else: a fresh machine "with Node.js", for the fresh-clone tests. Cached outside the clone.
#   noderoot.sh SUITE CACHE_DIR   → prints the root's path on stdout (SUITE: bookworm | trixie)
# The cache key hashes this recipe (test/helpers/rootfs.sh) and the clean root's path (whose
# name carries the clean root's own key): a new recipe for either builds a new root.
set -euo pipefail
suite=${1:?usage: noderoot.sh SUITE CACHE_DIR}
cache=${2:?usage: noderoot.sh SUITE CACHE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../helpers/rootfs.sh
. "$here/../helpers/rootfs.sh"
base=$(bash "$here/debroot.sh" "$suite" "$cache")
root_begin "$cache" "noderoot-$suite" root "${BASH_SOURCE[0]}" -- "$base"

echo "building $dest: $base with nodejs and npm (apt-get, once)" >&2
cp -a "$base" "$tmp/root"
# the machine's network, its own mount namespace; no boot: apt-get is all that runs
logged "$tmp/apt.log" systemd-nspawn -q -D "$tmp/root" --register=no --keep-unit --as-pid2 \
  -E DEBIAN_FRONTEND=noninteractive \
  bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm && apt-get clean'
root_finish
