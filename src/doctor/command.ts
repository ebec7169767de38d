/**
 * `island doctor`, and the same checks as warnings for `island check` run on the host whose
 * file it is.
 */
import { type IslandFile, localIdentity, resolveSelf } from '../config/island.js';
import { formatDiagnostic, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { gatherFacts } from './gather.js';
import { CHECKS, diagnose } from './index.js';
import { formatFinding } from './types.js';

export async function doctorCommand(path: string): Promise<number> {
  const r = await loadConfig(path);
  const notes: string[] = [];
  let invalid = false;
  let config: Config | undefined;
  if (r.ok) config = r.config;
  else if (r.errors.length === 1 && /^cannot read: no such file/.test(r.errors[0]?.message ?? ''))
    notes.push(`${path}: no such file: the host was checked without the island's links and routes`);
  else {
    invalid = true;
    for (const d of r.errors) process.stderr.write(`${formatDiagnostic(d)}\n`);
    notes.push(`${path}: invalid: the host was checked without the island's links and routes (island check says more)`);
  }
  const facts = await gatherFacts(config);
  const findings = diagnose(facts);
  for (const f of findings) process.stdout.write(`${formatFinding(f)}\n`);
  for (const u of facts.unread) notes.push(`not read: ${u}`);
  if (process.getuid?.() !== 0) notes.push('not root: run as root for every check (the firewall, all processes)');
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  process.stdout.write(
    findings.length
      ? `island doctor: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`
      : `island doctor: nothing known to fight the island here (${CHECKS.map((c) => c.family).join(', ')})\n`,
  );
  return errors || invalid ? 1 : 0;
}

/**
 * Whether a file `island check` validated is this host's: a per-host file is; a one-file island
 * is when this host found its part in it, unless --host names another host than its addresses
 * say (then check reads it for that host, on this one).
 */
export function isThisHost(cfg: Config, hostOption: string | undefined): boolean {
  const m = cfg.island;
  if (!m) return true;
  if (!m.self) return false;
  if (hostOption === undefined) return true;
  const mine = resolveSelf(m as IslandFile['model'], { addresses: localIdentity().addresses });
  return typeof mine !== 'string' && mine.host === m.self.host && mine.site === m.self.site;
}

/** The doctor's findings as `island check` prints them: warnings, less what check says itself. */
export async function hostWarnings(cfg: Config): Promise<string[]> {
  try {
    const facts = await gatherFacts(cfg, { frugal: true });
    // check's own keepalive advice says it with the file's line
    return diagnose(facts)
      .filter((f) => f.family !== 'keepalive')
      .map((f) => formatFinding(f, 'warning'));
  } catch (e) {
    return [`island check: the host checks (island doctor) failed: ${(e as Error).message}`];
  }
}
