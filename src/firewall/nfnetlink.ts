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
import type { NetlinkMessage } from 'netlink';
import { createNetlink } from 'netlink/dist/netlink.js';
import { encodeAttrs, NLM_F_DUMP } from '../netlink/nla.js';
import type { Family } from './types.js';

export const NETLINK_NETFILTER = 12;

export type NfSocket = ReturnType<typeof createNetlink>;

/** NFNL_SUBSYS_NFTABLES, in a message type's high byte */
export const SUBSYS = 10 << 8;
/** NFT_MSG_*: the nf_tables messages island sends and reads (uapi nf_tables.h) */
export const NFT_MSG = {
  newtable: 0,
  gettable: 1,
  deltable: 2,
  newchain: 3,
  getchain: 4,
  delchain: 5,
  newrule: 6,
  getrule: 7,
  delrule: 8,
  newset: 9,
  getset: 10,
  newsetelem: 12,
  getsetelem: 13,
  newgen: 15,
  getgen: 16,
  destroytable: 26,
  destroychain: 27,
  destroyrule: 28,
};

/** NFPROTO_IPV4 / NFPROTO_IPV6 */
export const nfproto = (family: Family) => (family === 6 ? 10 : 2);
/** nfgenmsg: the NFPROTO_* family, version 0, res_id 0 */
export const nfgen = (nfprotoNumber: number) => Buffer.from([nfprotoNumber, 0, 0, 0]);

/** One nf_tables request of the NFPROTO_* family (a dump unless `dump` is false): its answer's messages. */
export async function nftRequest(
  sock: NfSocket,
  msg: number,
  nfprotoNumber: number,
  attrs: [number, Buffer][] = [],
  dump = true,
): Promise<NetlinkMessage[]> {
  const [msgs] = await sock.request(SUBSYS | msg, encodeAttrs(attrs, nfgen(nfprotoNumber)), {
    ...(dump ? { flags: NLM_F_DUMP } : {}),
    timeout: 5000,
    localPort: 0,
  });
  return msgs;
}

let sock: NfSocket | undefined;
let queue: Promise<unknown> = Promise.resolve();

function socket(): NfSocket {
  if (sock) return sock;
  const s = createNetlink(NETLINK_NETFILTER);
  // a receive error (an overflow: the kernel dropped an answer) leaves the socket in doubt: the
  // next request makes another
  s.on('error', () => {
    if (sock !== s) return;
    sock = undefined;
    s.close();
  });
  sock = s;
  return s;
}

/** what a request gets whose socket reported a receive error: its answer may be the one dropped */
const LOST = 'nf_tables socket error';

/**
 * `fn` with the socket, once the requests before it are done; throws what creating it throws.
 * A receive error on the socket fails `fn` at once: waiting out the request's timeout (5 s) for
 * an answer the kernel dropped would stall the repair, or the one-shot command, for nothing.
 */
export function withNfSocket<T>(fn: (s: NfSocket) => Promise<T>): Promise<T> {
  const run = queue.then(() => {
    const s = socket();
    return new Promise<T>((resolve, reject) => {
      const lost = (err: NodeJS.ErrnoException) => reject(new Error(`${LOST}: ${err.code ?? err.message}`));
      s.once('error', lost);
      fn(s)
        .then(resolve, reject)
        .finally(() => s.off('error', lost));
    });
  });
  queue = run.catch(() => undefined);
  return run;
}

const TIMED_OUT = 'Timeout has been reached';

/**
 * A read (`fn` only asks): as withNfSocket, but a request the kernel never answered, or whose
 * answer it dropped, is asked once more, on a new socket. Seen 2 times in 300 kill -9 rounds
 * (test/kernel/kill.test.ts): a one-shot `plan` whose nftables dump had no answer in 5 s, then
 * "blocked" for a host that matched.
 */
export async function readWithNfSocket<T>(fn: (s: NfSocket) => Promise<T>): Promise<T> {
  try {
    return await withNfSocket(fn);
  } catch (e) {
    const message = (e as Error).message;
    if (message !== TIMED_OUT && !message.startsWith(LOST)) throw e;
    return withNfSocket((s) => {
      if (sock === s) {
        sock = undefined;
        s.close();
      }
      return fn(socket());
    });
  }
}
