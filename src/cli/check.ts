/** `island check`: the file's diagnostics, then what island doctor finds on this host, as warnings. */
import { existsSync } from 'node:fs';
import { describeSelf } from '../config/island.js';
import { loadConfig } from '../config/load.js';
import { unsafeConfigFile } from '../daemon/perms.js';
import type { Args } from './args.js';
import { printDiagnostics } from './load.js';
import { oneShot } from './one-shot.js';
import { say } from './say.js';

/** Without TurboFan but for sha256 (one-shot.ts): ExecReload runs check on every reload. */
export const run = (args: Args): Promise<number> => oneShot(() => checkFile(args));

async function checkFile({ path, values }: Args): Promise<number> {
  // the daemon's rule too: `systemctl reload` runs check first and must refuse what the daemon would
  const unsafe = await unsafeConfigFile(path);
  if (unsafe) say(2, `${unsafe}\n`);
  // [forward] names neither declared nor on this host are likely typos; only check looks
  const r = await loadConfig(path, {
    linkExists: (name) => existsSync(`/sys/class/net/${name}`),
    adviseKeepalive: true,
    // the file is the same on every host: valid is valid, whichever host this is
    anyHost: values.host === undefined && process.env.ISLAND_HOST === undefined,
    // nothing is applied: no object needs the line that declared it
    lines: false,
  });
  printDiagnostics(r.warnings);
  if (!r.ok) {
    printDiagnostics(r.errors);
    return 1;
  }
  if (unsafe) return 1;
  // the same checks as island doctor, as warnings, where the file is this host's
  const { hostWarnings, isThisHost } = await import('../doctor/check.js');
  if (isThisHost(r.config, values.host)) for (const w of await hostWarnings(r.config)) say(2, `${w}\n`);
  const self = r.config.island?.self;
  say(1, `${path}: ok${self ? ` (${describeSelf(self)})` : ''}\n`);
  return 0;
}
