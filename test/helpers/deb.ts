/**
 * The island .deb for package tests, built from this tree by scripts/package.sh.
 *
 * Several test files need the same package at once: builds run one at a time under a lock
 * and land in /tmp/island-test-debs/<hash of the tree's inputs>/, so the second test file
 * finds the first one's package, and a changed source builds a new one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './island.js';
import { mustRun } from './netns.js';

/** Everything scripts/package.sh reads from the tree. */
const INPUTS = [
  'src',
  'etc',
  'units',
  'packaging',
  'patches',
  'scripts/package.sh',
  'scripts/bundle.mjs',
  'scripts/code-cache.mjs',
  'scripts/package-schema.mjs',
  'scripts/package-copyright.mjs',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

function hashTree(): string {
  const h = createHash('sha256');
  const add = (rel: string) => {
    const p = join(REPO, rel);
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) add(join(rel, e));
    } else {
      h.update(`${rel}\0`);
      h.update(readFileSync(p));
    }
  };
  for (const i of INPUTS) add(i);
  return h.digest('hex').slice(0, 16);
}

export const DEB_DIR = '/tmp/island-test-debs';
export const BASE_VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;

/** Path of island_<version>_amd64.deb built from this tree (built now unless already there). */
export async function buildDeb(version = BASE_VERSION): Promise<string> {
  const dir = join(DEB_DIR, hashTree());
  const deb = join(dir, `island_${version}_amd64.deb`);
  if (existsSync(deb)) return deb;
  await mustRun(['mkdir', '-p', dir]);
  // the check inside the lock: another test file may have built it while this one waited
  // packages of earlier trees go when a new tree builds (no test wants them again)
  const prune = `find ${DEB_DIR} -mindepth 1 -maxdepth 1 -type d ! -name ${dir.split('/').pop()} -mmin +60 -exec rm -rf {} +`;
  const script = `[[ -e ${deb} ]] || { ${prune}; bash ${join(REPO, 'scripts', 'package.sh')} --version ${version} --out ${dir}; }`;
  await mustRun(['flock', join(DEB_DIR, '.lock'), 'bash', '-euo', 'pipefail', '-c', script], { timeoutMs: 600_000 });
  if (!existsSync(deb)) throw new Error(`scripts/package.sh did not produce ${deb}`);
  return deb;
}
