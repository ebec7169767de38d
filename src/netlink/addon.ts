/**
 * Which native addon node-netlink loads. The prebuilt one shipped in the npm
 * tarball aborts the process on a netlink receive overflow; island needs the
 * copy patched and built from source at install (scripts/build-native.mjs).
 * node-gyp-build silently falls back to the prebuild when that build is
 * missing, so the daemon checks and says so at start.
 */
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';

export function netlinkAddonPath(): string {
  const pkg = createRequire(import.meta.url).resolve('netlink/package.json');
  // resolved from netlink itself: the same node-gyp-build it loads with
  const gypBuild = createRequire(pkg)('node-gyp-build') as { path(dir: string): string };
  return gypBuild.path(dirname(pkg));
}

export function patchedAddonLoaded(): boolean {
  try {
    return netlinkAddonPath().includes(`${sep}build${sep}Release${sep}`);
  } catch {
    return false;
  }
}
