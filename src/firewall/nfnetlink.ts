/**
 * The process's one NETLINK_NETFILTER socket for nf_tables requests, reads and writes alike.
 * Closing such a socket is not free: on its release the kernel (NETLINK_URELEASE) takes
 * nf_tables' commit mutex and waits out the destruction of the last transaction's objects, an
 * RCU grace period, inside the close. Right after any nftables write (island's own, or the
 * `iptables -F` it is repairing) that is 5-20 ms here, and node closes synchronously, on the
 * event loop: a socket per read made the repair wait for the adversary's iptables to exit. One
 * socket, never closed, never pays it. The kernel runs one dump at a time per socket: requests
 * queue. The socket holds the process only while a request waits (node-netlink's ref).
 */
import { createNetlink } from 'netlink/dist/netlink.js';

export const NETLINK_NETFILTER = 12;

export type NfSocket = ReturnType<typeof createNetlink>;

let sock: NfSocket | undefined;
let queue: Promise<unknown> = Promise.resolve();

function socket(): NfSocket {
  if (sock) return sock;
  const s = createNetlink(NETLINK_NETFILTER);
  // a receive error (an overflow) leaves the socket in doubt: the next request makes another
  s.on('error', () => {
    if (sock === s) sock = undefined;
  });
  sock = s;
  return s;
}

/** `fn` with the socket, once the requests before it are done; throws what creating it throws. */
export function withNfSocket<T>(fn: (s: NfSocket) => Promise<T>): Promise<T> {
  const run = queue.then(() => fn(socket()));
  queue = run.catch(() => undefined);
  return run;
}
