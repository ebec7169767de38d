/** Reading the file for a command: its diagnostics on stderr. No netlink here: `check` imports it. */
import { type Diagnostic, formatDiagnostic, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { CommandError } from '../control/errors.js';
import { say } from './say.js';

export function printDiagnostics(ds: Diagnostic[]): void {
  if (ds.length) say(2, ds.map((d) => `${formatDiagnostic(d)}\n`).join(''));
}

/** The file, valid, for a command that changes the host: anything else changes nothing. */
export async function mustLoad(path: string): Promise<Config> {
  const r = await loadConfig(path);
  printDiagnostics(r.warnings);
  if (!r.ok) {
    printDiagnostics(r.errors);
    throw new CommandError(`${path}: invalid (${r.errors.length} error(s)), nothing changed`);
  }
  return r.config;
}
