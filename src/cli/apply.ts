/** `island apply`: converge once and exit. */
import { daemonPathMtus } from '../control/client.js';
import { desiredState } from '../desired.js';
import { hostsLine } from '../hosts/command.js';
import { withPathMtus } from '../reconcile/mtu.js';
import { actionObject, settle } from '../reconcile/plan.js';
import { reconcile } from '../reconcile/reconcile.js';
import type { Args } from './args.js';
import { mustLoad } from './load.js';
import { oneShot } from './one-shot.js';
import { EXIT_UNREACHED, notReached, printResults, unreached, withNetlink } from './output.js';
import { say } from './say.js';

export const run = (args: Args): Promise<number> => oneShot(() => applyFile(args));

async function applyFile({ path }: Args): Promise<number> {
  const cfg = await mustLoad(path);
  const want = withPathMtus(desiredState(cfg), await daemonPathMtus(path));
  const { plan, results } = await withNetlink((rtnl, ethtool) => reconcile(rtnl, ethtool, want));
  let failed = printResults(results);
  // what failed was said above; what waits on something outside island, here
  const failedObjects = new Set(results.filter((r) => r.error).map((r) => actionObject(r.action)));
  // only an object foreign or blocked before the pass can be stuck after it (one that failed now
  // was said above): with none, no settling of every result (a 500-tunnel apply's ~3 ms)
  const stuck = unreached(plan.status).length
    ? unreached(settle(plan.status, results)).filter((s) => !failedObjects.has(s.object))
    : [];
  for (const s of stuck) say(2, `island: ${s.object}: ${s.detail}\n`);
  const hosts = await hostsLine(cfg.hosts ?? [], true).catch((e: Error) => {
    failed++;
    say(2, `island: ${e.message}\n`);
    return undefined;
  });
  if (hosts) say(1, `${hosts}\n`);
  if (stuck.length) say(1, `${notReached(stuck)}\n`);
  else if (!results.length && !hosts && !failed) say(1, 'no changes\n');
  return failed ? 1 : stuck.length ? EXIT_UNREACHED : 0;
}
