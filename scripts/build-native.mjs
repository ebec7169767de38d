#!/usr/bin/env node
/**
 * Builds node-netlink's native addon from the patched source
 * (patches/netlink+0.3.0.patch, applied by patch-package in postinstall).
 *
 * Why: the prebuilt addon that ships with netlink 0.3.0 aborts the whole
 * process (SIGABRT) when a subscribed socket's receive buffer overflows
 * (ENOBUFS). node-gyp-build loads build/Release before prebuilds/, so a
 * build here replaces the shipped binary.
 *
 * Idempotent: does nothing when build/Release/netlink_binding.node is newer
 * than src/binding.cc. `--force` rebuilds anyway.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const MARKER = '[island patch]';

function fail(msg) {
  console.error(`\nbuild-native: ${msg}\n`);
  console.error(
    'island needs the patched netlink addon: the prebuilt one aborts the process when the kernel\n' +
      'drops netlink events (ENOBUFS). Building it needs python3, make, a C++ compiler and the Node\n' +
      'headers (node-gyp uses --nodedir / npm_config_nodedir, or downloads them). Fix that and run\n' +
      '`npm run postinstall` (or `node scripts/build-native.mjs --force`).',
  );
  process.exit(1);
}

if (process.platform !== 'linux') {
  console.log(`build-native: skipped on ${process.platform} (netlink is Linux-only)`);
  process.exit(0);
}

let pkgDir;
try {
  pkgDir = dirname(require.resolve('netlink/package.json'));
} catch {
  fail('cannot find node_modules/netlink (was `npm install` run?)');
}
const source = join(pkgDir, 'src', 'binding.cc');
const addon = join(pkgDir, 'build', 'Release', 'netlink_binding.node');
const rel = (p) => relative(root, p);

if (!existsSync(source)) fail(`${rel(source)} is missing`);
if (!readFileSync(source, 'utf8').includes(MARKER)) {
  fail(`${rel(source)} is not patched; run \`npx patch-package\` first (patches/netlink+0.3.0.patch)`);
}

const force = process.argv.includes('--force');
if (!force && existsSync(addon) && statSync(addon).mtimeMs > statSync(source).mtimeMs) {
  console.log(`build-native: ${rel(addon)} is up to date`);
  verify();
  process.exit(0);
}

// node-gyp wants the Node headers. Use the ones installed next to this node
// binary (e.g. /usr/include/node for a distro node) when they match; else
// leave it to npm_config_nodedir or to node-gyp's own download.
const args = ['rebuild', '--loglevel=warn'];
if (!process.env.npm_config_nodedir) {
  const prefix = dirname(dirname(process.execPath));
  const versionH = join(prefix, 'include', 'node', 'node_version.h');
  if (existsSync(versionH)) {
    const h = readFileSync(versionH, 'utf8');
    const num = (name) => h.match(new RegExp(`#define ${name} (\\d+)`))?.[1];
    const headers = `v${num('NODE_MAJOR_VERSION')}.${num('NODE_MINOR_VERSION')}.${num('NODE_PATCH_VERSION')}`;
    if (headers === process.version) args.push(`--nodedir=${prefix}`);
  }
}

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  fail('node-gyp is not installed (it is a devDependency of island)');
}

const started = Date.now();
console.log(`build-native: node-gyp ${args.join(' ')} in ${rel(pkgDir)}`);
const res = spawnSync(process.execPath, [gyp, ...args], { cwd: pkgDir, stdio: 'inherit' });
if (res.error) fail(`could not run node-gyp: ${res.error.message}`);
if (res.status !== 0) fail(`node-gyp rebuild failed (exit ${res.status ?? res.signal}); see the output above`);
console.log(`build-native: built ${rel(addon)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
verify();

/** The addon netlink will actually load must be ours, and must load. */
function verify() {
  let loaded;
  try {
    loaded = createRequire(join(pkgDir, 'package.json'))('node-gyp-build').resolve(pkgDir);
  } catch (e) {
    fail(`node-gyp-build cannot resolve the addon: ${e.message}`);
  }
  if (loaded !== addon) fail(`netlink would load ${loaded}, not ${rel(addon)}`);
  try {
    const exported = require(addon);
    if (typeof exported.NativeNetlink !== 'function') throw new Error('no NativeNetlink export');
    for (const f of ['setsockoptInt', 'sendUnixDatagram', 'mallocTrim'])
      if (typeof exported[f] !== 'function') throw new Error(`no ${f} export (patch not applied?)`);
    if (typeof exported.NativeNetlink.prototype.sendOnThread !== 'function')
      throw new Error('no NativeNetlink sendOnThread (patch not applied?)');
  } catch (e) {
    fail(`${rel(addon)} does not load: ${e.message}`);
  }
}
