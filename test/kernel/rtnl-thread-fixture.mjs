/**
 * Child process for rtnl.test.ts, run inside a test namespace: the built Rtnl sending on a thread
 * (dist/netlink/rtnl.js, sendThread). Makes 300 bridges, each brought up and given an address
 * by requests that follow its create without waiting for it, with a boundary() after each link's
 * three, then closes a socket whose thread is still sending. Prints one JSON line: whether the
 * socket sent on a thread, how many sendmsgs the requests left in, those refused, and the closed
 * socket's descriptor as seen right after close() and later.
 */
import { openSync, readlinkSync } from 'node:fs';

const { Rtnl } = await import('../../dist/netlink/rtnl.js');
const { netlinkFd } = await import('../../dist/netlink/addon.js');

/** @typedef {import('netlink/dist/raw.js').RawNetlinkSocket} Raw */
// private in TypeScript, there at run time: the test counts the sends of island's own socket
/** @param {unknown} r */
const inside = (r) => /** @type {{ sock: Raw, threaded: boolean }} */ (r);

const LINKS = 300;
const BASE = 5000;
const rtnl = new Rtnl({ sendThread: true });
const sock = inside(rtnl).sock;
let sends = 0;
const send = sock.send.bind(sock);
/** @type {Raw['send']} */
sock.send = (msg, options, callback) => {
  sends++;
  return send(msg, options, callback);
};
/** @type {Promise<unknown>[]} */
const asked = [];
for (let i = 0; i < LINKS; i++) {
  const name = `tb${i}`;
  asked.push(rtnl.createLink({ name, kind: 'bridge', ifindex: BASE + i, up: false }));
  asked.push(rtnl.setLink(BASE + i, name, { up: true }));
  asked.push(rtnl.addAddress(BASE + i, 4, `10.${(i >> 8) + 1}.${i & 255}.1`, 32));
  rtnl.boundary();
}
const refused = (await Promise.allSettled(asked)).flatMap((r) =>
  r.status === 'rejected' ? [String(/** @type {Error} */ (r.reason).message)] : [],
);

// closed while its thread sends: the descriptor stays the socket's until the thread is done
const fd = netlinkFd(0, sock.address().port);
for (let i = 0; i < 2000; i++) rtnl.setLink(1, 'lo', { up: true }).catch(() => undefined);
rtnl.boundary();
rtnl.close();
/** what the descriptor is now: a socket, another file, or closed */
const what = () => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return 'closed';
  }
};
const atClose = what();
const opened = openSync('/dev/null', 'r');
await new Promise((resolve) => setTimeout(resolve, 500));
const later = what();

process.stdout.write(
  `${JSON.stringify({ links: LINKS, base: BASE, threaded: inside(rtnl).threaded, sends, refused, fd, atClose, opened, later })}\n`,
);
