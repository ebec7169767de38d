/**
 * `island doctor`, and the same checks as warnings for `island check` run on the host whose
 * file it is.
 */
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
