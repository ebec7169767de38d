#!/bin/bash
# Build the Debian package: dist/island_<version>_<arch>.deb (`npm run package`).
#
# usage: scripts/package.sh [--version V] [--out DIR]
#   --version V   package version (default: package.json's); a version other than the top
#                 entry of packaging/debian/changelog gets a changelog entry of its own, so a
#                 test can build a real higher version of the same tree
#   --out DIR     where the .deb goes (default: dist/, next to tsc's JavaScript)
#
# The source tree dpkg-buildpackage sees is staged in a temporary directory: debian/ from
# packaging/debian, and root/, the final file tree. The app is compiled here, its production
# node_modules come from the lock file (npm ci --omit=dev), get island's netlink patch and a
# native addon built from that patched source, then are pruned of what only a build or an
# editor reads. Needs: node, npm (its cache, or the registry), a C++ toolchain, debhelper,
# dpkg-dev; no root.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=
OUT=$REPO/dist
while (($#)); do
  case $1 in
    --version) VERSION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "package.sh: unknown argument $1 (usage: scripts/package.sh [--version V] [--out DIR])" >&2; exit 2 ;;
  esac
done
[[ -n $VERSION ]] || VERSION=$(node -p "require('$REPO/package.json').version")
for tool in dpkg-buildpackage dh node npm make g++; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool not found (apt install debhelper dpkg-dev build-essential nodejs npm)" >&2; exit 1; }
done
step() { printf '::: package: %s\n' "$*"; }
t0=$EPOCHREALTIME

WORK=$(mktemp -d /tmp/island-package.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SRC=$WORK/island-$VERSION
ROOT=$SRC/root
APP=$ROOT/usr/lib/island
mkdir -p "$SRC" "$APP"

step "compile (tsc) and bundle (esbuild)"
# into the staging tree, not dist/: tests may be running dist/cli.js while a package builds.
# The package ships the bundles (dist/island.cjs, and island-check.cjs and island-apply.cjs for
# check, apply, plan, down; their entries dist/cli.cjs, which /usr/sbin/island runs, and
# dist/cli.js, scripts/bundle.mjs), without code caches: postinst makes them on the host, for its
# node, with dist/code-cache.mjs (scripts/code-cache.mjs); tsc's module-by-module output
# is only read here, by the schema generator, after npm ci below has put the node_modules it
# imports next to it.
(cd "$REPO" && node node_modules/typescript/bin/tsc -p tsconfig.json --outDir "$WORK/npm/tsc" --sourceMap false) >&2
mkdir -p "$APP/dist"
node "$REPO/scripts/bundle.mjs" "$APP/dist" --no-cache >&2
# what makes the code caches on the host, for its node (postinst, debian/island.postinst)
install -m 0644 "$REPO/scripts/code-cache.mjs" "$APP/dist/code-cache.mjs"
# /usr/sbin/island runs cli.cjs with /usr/bin/node: the shebangs would only invite running them directly
sed -i '1{/^#!/d}' "$APP/dist/cli.cjs" "$APP/dist/cli.js"
chmod 0644 "$APP/dist/cli.cjs" "$APP/dist/cli.js" "$APP/dist/"island*.cjs
# what node needs to run the app as ESM; nothing else of the development manifest
node -e '
  const p = require(process.argv[1]);
  const out = { name: p.name, version: process.argv[2], private: true, license: p.license, type: p.type };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' "$REPO/package.json" "$VERSION" >"$APP/package.json"

step "production node_modules (npm ci --omit=dev)"
mkdir -p "$WORK/npm"
cp "$REPO/package.json" "$REPO/package-lock.json" "$WORK/npm/"
cp -r "$REPO/patches" "$WORK/npm/"
# scripts are off: island's postinstall needs its development dependencies; the two steps
# it stands for (patch, addon build) follow by hand
(cd "$WORK/npm" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
(cd "$WORK/npm" && node "$REPO/node_modules/patch-package/index.js" >/dev/null)
grep -q '\[island patch\]' "$WORK/npm/node_modules/netlink/src/binding.cc" ||
  { echo 'package.sh: patches/netlink+0.3.0.patch did not apply' >&2; exit 1; }

step "netlink addon from the patched source (node-gyp, N-API)"
gyp=(rebuild --loglevel=warn)
prefix=$(dirname "$(dirname "$(command -v node)")")
# any Node's headers build an N-API addon; the local ones keep the build offline
[[ -f $prefix/include/node/node_api.h ]] && gyp+=("--nodedir=$prefix")
# Debian's hardening flags (lintian checks the ELF for them)
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
(cd "$WORK/npm/node_modules/netlink" && node "$REPO/node_modules/node-gyp/bin/node-gyp.js" "${gyp[@]}")

step "prune"
NM=$WORK/npm/node_modules
# the built addon only: no sources, no object files, no prebuilt (unpatched) binaries that
# node-gyp-build could fall back to
addon=$NM/netlink/build/Release/netlink_binding.node
mv "$addon" "$WORK/netlink_binding.node"
rm -rf "$NM/netlink/build" "$NM/netlink/src" "$NM/netlink/prebuilds" "$NM/netlink/binding.gyp"
mkdir -p "$NM/netlink/build/Release"
mv "$WORK/netlink_binding.node" "$addon"
# build-time only: node-addon-api is C++ headers, @types are TypeScript declarations
rm -rf "$NM/node-addon-api" "$NM/netlink/node_modules/@types" "$NM/@types"
# read the license files before they go
node "$REPO/scripts/package-copyright.mjs" "$NM" "$REPO/packaging/debian/copyright.in" >"$WORK/copyright"
# command-line entry points of dependencies (island runs none of them)
node -e '
  const fs = require("fs"), path = require("path");
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (!e.isDirectory()) continue;
      if (e.name.startsWith("@") || e.name === "node_modules") { walk(p); continue; }
      if (!fs.existsSync(path.join(p, "package.json"))) continue;
      const pkg = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"));
      const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
      for (const b of bins) if (path.normalize(b) !== path.normalize(pkg.main ?? "index.js")) fs.rmSync(path.join(p, b), { force: true });
      walk(p);
    }
  };
  walk(process.argv[1]);
' "$NM"
# what node loads, nothing else: no TypeScript, source maps, docs, images, tests, scripts
find "$NM" -type f ! \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name '*.json' -o -name '*.node' \) -delete
find "$NM" -depth \( -name '*.d.ts' -o -name 'tsconfig*.json' -o -name '.*' \
  -o \( -type d \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples -o -name docs \
  -o -name benchmarks -o -name bench \) \) \) -exec rm -rf {} +
find "$NM" -depth -type d -empty -delete
cp -r "$NM" "$APP/node_modules"
chmod -R u=rwX,go=rX "$APP"

step "smoke test of the staged app"
# under the node on PATH; the package tests run it under Debian 12's and 13's own nodejs
node "$APP/dist/cli.cjs" check -c "$REPO/etc/island.toml" >/dev/null
# the one module the bundle leaves outside; island's patch (sd_notify's datagrams among it) inside
node -e 'const a = require(process.argv[1]); a.NativeNetlink && a.sendUnixDatagram || process.exit(1)' "$addon"

step "file tree"
install -D -m 0755 "$REPO/packaging/island.sh" "$ROOT/usr/sbin/island"
install -D -m 0644 "$REPO/etc/island.toml" "$ROOT/etc/island.toml"
install -D -m 0644 "$REPO/packaging/rt_protos.d/island.conf" "$ROOT/etc/iproute2/rt_protos.d/island.conf"
install -D -m 0644 "$REPO/packaging/completion/island" "$ROOT/usr/share/bash-completion/completions/island"
# the one-file island of the README, as an example (not a conffile: nothing reads it)
install -D -m 0644 "$REPO/etc/examples/lab.toml" "$ROOT/usr/share/doc/island/examples/lab.toml"
mkdir -p "$ROOT/usr/share/island"
node "$REPO/scripts/package-schema.mjs" "$WORK/npm/tsc" >"$ROOT/usr/share/island/island.toml.schema.json"
# units: whatever units/ holds; debhelper 13.11 (Debian 12) enables and starts what it finds in
# /lib/systemd/system, which usrmerge makes /usr/lib/systemd/system on Debian 12 and 13
shopt -s nullglob
for u in "$REPO"/units/*.service "$REPO"/units/*.socket "$REPO"/units/*.timer "$REPO"/units/*.path; do
  install -D -m 0644 "$u" "$ROOT/lib/systemd/system/$(basename "$u")"
done
for d in "$REPO"/units/*.d; do
  for f in "$d"/*.conf; do
    install -D -m 0644 "$f" "$ROOT/lib/systemd/system/$(basename "$d")/$(basename "$f")"
  done
done
shopt -u nullglob

step "debian/"
cp -r "$REPO/packaging/debian" "$SRC/debian"
mkdir -p "$SRC/man"
cp "$REPO"/packaging/man/* "$SRC/man/"
(cd "$SRC" && ls man/* >debian/island.manpages)
(cd "$SRC" && for d in root/*; do echo "$d /"; done >debian/island.install)
cp "$WORK/copyright" "$SRC/debian/copyright"
rm -f "$SRC/debian/copyright.in"
top=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
if [[ $top != "$VERSION" ]]; then
  {
    printf 'island (%s) unstable; urgency=medium\n\n  * Rebuilt as %s from the same tree.\n\n' "$VERSION" "$VERSION"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Maintainer)" "$(date -R)"
    cat "$SRC/debian/changelog"
  } >"$SRC/debian/changelog.new"
  mv "$SRC/debian/changelog.new" "$SRC/debian/changelog"
fi

step "dpkg-buildpackage"
(cd "$SRC" && dpkg-buildpackage -b -us -uc >"$WORK/build.log" 2>&1) || { tail -40 "$WORK/build.log" >&2; exit 1; }
mkdir -p "$OUT"
deb=$(cd "$WORK" && ls island_"${VERSION}"_*.deb)
mv "$WORK/$deb" "$OUT/$deb"
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "::: package: $OUT/$deb ($(du -k "$OUT/$deb" | cut -f1) KiB, ${took}s)"
