/** `island down`: remove everything island owns, whatever the file says now. */
import { hostsLine } from '../hosts/command.js';
import { teardown } from '../reconcile/reconcile.js';
import { printResults, withNetlink } from './output.js';

export async function run(): Promise<number> {
  const results = await withNetlink((rtnl) => teardown(rtnl));
  let failed = printResults(results);
  // the names go with the island, whatever the file says now
  const hosts = await hostsLine([], true).catch((e: Error) => {
    failed++;
    process.stderr.write(`island: ${e.message}\n`);
    return undefined;
  });
  if (hosts) process.stdout.write(`${hosts}\n`);
  if (!results.length && !hosts && !failed) process.stdout.write('nothing to remove\n');
  return failed ? 1 : 0;
}
