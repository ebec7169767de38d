#!/bin/bash
# Install island from the built tree into a root, laid out as the Debian package lays it out
# (scripts/package.sh): the app in /usr/lib/island, /usr/sbin/island, the units and drop-ins in
# /lib/systemd/system. The .deb replaces this step with `dpkg -i` inside the root.
#   install.sh ROOT REPO
set -euo pipefail
root=${1:?usage: install.sh ROOT REPO}
repo=${2:?usage: install.sh ROOT REPO}
[[ -f $repo/dist/cli.js ]] || {
  echo "install.sh: $repo/dist/cli.js missing: build first (npx tsc -p .)" >&2
  exit 1
}
app=$root/usr/lib/island
rm -rf "$app"
mkdir -p "$app/node_modules"
cp -r "$repo/dist" "$repo/package.json" "$app/"
# production dependencies only (their closure), as npm resolved them; npm prints real paths,
# so a node_modules that is a symlink is stripped by its real path
nm=$(cd "$repo/node_modules" && pwd -P)
# npm ls exits 1 over an extraneous package a developer left in node_modules; its list still holds
list=$(cd "$repo" && npm ls --omit=dev --all --parseable 2>/dev/null) || true
tail -n +2 <<<"$list" | while read -r dir; do
  rel=${dir#"$nm"/}
  rel=${rel#"$repo"/node_modules/}
  mkdir -p "$app/node_modules/$(dirname "$rel")"
  cp -r "$dir" "$app/node_modules/$rel"
done
[[ -d $app/node_modules/netlink ]] || {
  echo "install.sh: no production node_modules copied (npm ls failed?)" >&2
  exit 1
}
install -D -m 0755 /dev/stdin "$root/usr/sbin/island" <<'WRAP'
#!/bin/sh
exec /usr/bin/node /usr/lib/island/dist/cli.cjs "$@"
WRAP
# every unit, as scripts/package.sh ships them (island-hosts.path/.service come with island.service)
for u in "$repo"/units/*.service "$repo"/units/*.path; do
  install -D -m 0644 "$u" "$root/lib/systemd/system/$(basename "$u")"
done
for f in "$repo"/units/island.service.d/*.conf; do
  install -D -m 0644 "$f" "$root/lib/systemd/system/island.service.d/$(basename "$f")"
done
install -D -m 0644 "$repo/packaging/rt_protos.d/island.conf" "$root/etc/iproute2/rt_protos.d/island.conf"
# what the package's postinst does through deb-systemd-helper
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /lib/systemd/system/island.service "$root/etc/systemd/system/multi-user.target.wants/island.service"
