/**
 * How island recognises what it owns (principle: never touch a foreign object).
 * Routes carry this route protocol number, named "island" in
 * /etc/iproute2/rt_protos.d/island.conf so `ip route` shows it.
 *
 * Links carry two marks, either of which makes a link island's:
 *
 * - IFLA_IFALIAS `island`, what `ip -d link` shows and what an admin (or an older island)
 *   sets by hand to hand a link over. An admin may also rewrite it (`ip link set vx0 alias
 *   "uplink to faraday"`): island then leaves the alias as the admin wrote it;
 * - a token, `island-` and 8 random hex digits, as an altname (`ip link show` prints
 *   `altname island-3fa9c2d1`). It lives and dies with the link, in the kernel: it survives
 *   a daemon restart and an alias edit, and a reboot takes both away together.
 *
 * Why marks in the kernel rather than a record on disk: the kernel ignores IFLA_IFALIAS on
 * RTM_NEWLINK, so a mark set by a second request leaves a window in which a killed island
 * leaves an unmarked link that the next run must call foreign. Two ways close it
 * (reconcile/apply.ts): a link that replaces another is created under a token as its name,
 * the one mark the create request itself carries, and a link still under its token name is
 * the remainder of an interrupted create, which the next run removes; a new link is created
 * under its declared name with the requests that mark it in the same sendmsg, which the
 * kernel carries out whole inside the system call. Nobody else creates links under island's
 * token names, so island never adopts an admin's link, whatever its name. A record file would
 * need fsyncs around every create and a key for the network namespace that outlives a reused
 * inode number.
 */
import { randomBytes } from './random.js';

export const OWNER_ALIAS = 'island';
export const ROUTE_PROTO = 149;

const TOKEN = /^island-[0-9a-f]{8}$/;

// random bytes drawn a page at a time: one draw per link was a tenth of a 500-tunnel apply's JavaScript
let pool: Buffer = Buffer.alloc(0);
let used = 0;

/** A fresh token: 15 characters, the most a link name may hold. */
export function newLinkToken(): string {
  if (used + 4 > pool.length) {
    pool = randomBytes(4096);
    used = 0;
  }
  used += 4;
  return `island-${pool.toString('hex', used - 4, used)}`;
}

export function isLinkToken(name: string): boolean {
  return TOKEN.test(name);
}

/** Whether island owns this link: its alias, or a token as its name or an altname. */
export function ownedLink(l: { name: string; alias?: string; altnames?: string[] }): boolean {
  return l.alias === OWNER_ALIAS || isLinkToken(l.name) || (l.altnames ?? []).some(isLinkToken);
}
