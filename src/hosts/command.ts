/** The CLI's uses of the hosts block: apply and down write it, plan shows it, hosts-sync runs for the unit. */
import type { HostEntry } from '../config/types.js';
import { CommandError } from '../control/errors.js';
import { describeChange, hostsFilePath, planHosts, readSpool, syncHosts } from './keeper.js';

/** One line for plan/apply/down, undefined when nothing changes; throws with the file's problem. */
export async function hostsLine(entries: HostEntry[], write: boolean): Promise<string | undefined> {
  try {
    const change = write ? await syncHosts(entries) : await planHosts(entries);
    return change && `hosts ${change.path}: ${describeChange(change.from, change.to)}`;
  } catch (e) {
    throw new CommandError((e as Error).message);
  }
}

/**
 * `island hosts-sync`, run by island-hosts.service when the daemon hands names over: the
 * daemon's sandbox keeps /etc read-only, this unit has no network privileges but may write /etc.
 */
export async function hostsSyncCommand(): Promise<number> {
  let entries: HostEntry[] | undefined;
  try {
    entries = await readSpool();
  } catch (e) {
    throw new CommandError(
      `the names handed over are unreadable: ${(e as Error).message}; ${hostsFilePath()} unchanged`,
    );
  }
  if (!entries) {
    process.stdout.write('no names handed over by the daemon: nothing to do\n');
    return 0;
  }
  const line = await hostsLine(entries, true);
  process.stdout.write(`${line ?? `hosts ${hostsFilePath()}: already up to date`}\n`);
  return 0;
}
