/** What the commands that touch the kernel share: netlink for one run, printing its results. */
import { writeSync } from 'node:fs';
import { Ethtool } from '../netlink/ethtool.js';
import { Rtnl } from '../netlink/rtnl.js';
import type { ActionResult } from '../reconcile/apply.js';
import { describeAction } from '../reconcile/describe.js';
import { actionObject, type ObjectStatus } from '../reconcile/plan.js';

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
  const rtnl = new Rtnl();
  const ethtool = new Ethtool();
  try {
    return await fn(rtnl, ethtool);
  } finally {
    rtnl.close();
    ethtool.close();
  }
}

/**
 * text on stdout (1) or stderr (2), written at once: process.stdout on a pipe or a socket (a
 * script's, the journal's, the bench's) is a net.Socket, whose modules (net, streams) were ~4 ms
 * of a one-shot apply's start. Linux writes those synchronously as well, so the order is kept.
 * Whatever the descriptor refuses (EAGAIN on a full non-blocking one, EPIPE) goes to node's
 * stream instead, which says it as before.
 */
export function say(fd: 1 | 2, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  try {
    while (off < b.length) off += writeSync(fd, b, off);
  } catch {
    (fd === 1 ? process.stdout : process.stderr).write(b.subarray(off));
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
