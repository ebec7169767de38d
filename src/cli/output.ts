/** What the commands that touch the kernel share: netlink for one run, printing its results. */
import { Ethtool } from '../netlink/ethtool.js';
import { Rtnl } from '../netlink/rtnl.js';
import type { ActionResult } from '../reconcile/apply.js';
import { describeAction } from '../reconcile/describe.js';
import { actionObject, type ObjectStatus } from '../reconcile/plan.js';
import { say } from './say.js';

/** plan --exit-code and apply: objects are foreign or blocked, so the file is not reached. */
export const EXIT_UNREACHED = 3;

export const unreached = (status: ObjectStatus[]) =>
  status.filter((s) => s.state === 'foreign' || s.state === 'blocked');

export function notReached(stuck: ObjectStatus[]): string {
  const n = (state: string) => stuck.filter((s) => s.state === state).length;
  const parts = [n('foreign') && `${n('foreign')} foreign`, n('blocked') && `${n('blocked')} blocked`].filter(Boolean);
  return `not converged: ${parts.join(', ')}: the host does not match the file`;
}

export async function withNetlink<T>(fn: (rtnl: Rtnl, ethtool: Ethtool) => Promise<T>): Promise<T> {
  // many requests at once: the kernel works on one batch while the next is built
  const rtnl = new Rtnl({ sendThread: true });
  const ethtool = new Ethtool();
  try {
    return await fn(rtnl, ethtool);
  } finally {
    rtnl.close();
    ethtool.close();
  }
}

/** Each action taken on stdout, each refusal on stderr; how many were refused. */
export function printResults(results: ActionResult[]): number {
  // one write per stream: a line each was a system call each (2,000 for 500 tunnels)
  const done: string[] = [];
  const refused: string[] = [];
  for (const r of results) {
    if (r.error) refused.push(`island: ${actionObject(r.action)}: ${r.error}\n`);
    else done.push(`${describeAction(r.action)}\n`);
  }
  if (done.length) say(1, done.join(''));
  if (refused.length) say(2, refused.join(''));
  return refused.length;
}
