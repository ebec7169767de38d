/**
 * `island test`: from this host, through the island, is every other [[host]] of a one-file
 * island reachable? ICMP, each TCP port the file names for it, and the kernel's route to it;
 * a table (or --json), exit 0 when every check passed, 1 when one failed.
 */
import { TEST_TIMEOUT_MS } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import { CommandError } from '../control/errors.js';
import { parseTimeout, printDiagnostics } from '../try/command.js';
import { type ProbeOptions, probeAll } from './probe.js';
import { formatJson, formatTable, type Report } from './table.js';
import { exitCode, summarize, type Target, type TargetResult, targets } from './targets.js';

export const MIN_TIMEOUT_MS = 100;
export const MAX_TIMEOUT_MS = 10_000;
/** probes in flight at once: ping processes and sockets */
export const CONCURRENCY = 32;
/** probes not started within this are reported "not run"; the command ends by then plus one timeout */
export const TOTAL_MS = 60_000;

export interface TestOptions {
  json?: boolean;
  /** per probe, e.g. "2s", "500ms", integer seconds */
  timeout?: string;
}

export type Prober = (list: Target[], o: ProbeOptions) => Promise<TargetResult[]>;

export async function testCommand(path: string, opts: TestOptions, probe: Prober = probeAll): Promise<number> {
  const timeoutMs = parseTimeout(opts.timeout, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, TEST_TIMEOUT_MS);
  const r = await loadConfig(path);
  printDiagnostics(r.warnings);
  if (!r.ok) {
    printDiagnostics(r.errors);
    throw new CommandError(`${path}: invalid (${r.errors.length} error(s)), nothing tested`);
  }
  const model = r.config.island;
  if (!model)
    throw new CommandError(`${path}: not a one-file island (no [[site]]): island test checks the [[host]]s of one`);
  // loadConfig finds this host or fails; a model without it would test from nowhere
  const self = model.self;
  if (!self) throw new CommandError(`${path}: which host of the island is this? name it with --host NAME`);
  const t0 = Date.now();
  const rows = await probe(targets(model), { timeoutMs, concurrency: CONCURRENCY, totalMs: TOTAL_MS });
  const rep: Report = {
    config: path,
    self,
    timeoutMs,
    targets: rows,
    summary: summarize(rows, Date.now() - t0),
  };
  process.stdout.write(opts.json ? formatJson(rep) : formatTable(rep));
  return exitCode(rep.summary);
}
