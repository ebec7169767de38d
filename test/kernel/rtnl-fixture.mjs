/**
 * Child process for rtnl.test.ts, run inside a test namespace: the built Rtnl
 * (dist/netlink/rtnl.js) asked for many things at once through a socket whose receive buffer
 * the kernel's answers overflow (ENOBUFS: it drops those it has no room for). Prints one JSON
 * line: what the reads returned, how the write ended, how long all of it took, and whether the
 * socket was replaced.
 */
const { Rtnl } = await import('../../dist/netlink/rtnl.js');

const rtnl = new Rtnl();
// private in TypeScript, there at run time: the test shrinks the buffer of island's own socket
/** @param {unknown} r */
const socketOf = (r) => /** @type {{ sock: import('netlink/dist/raw.js').RawNetlinkSocket }} */ (r).sock;
const first = socketOf(rtnl);
first.setRecvBufferSize(1);
const started = performance.now();
// one sendmsg (requests made in the same turn leave together), answered inside it: the answers
// to the first few fill the buffer, the rest are dropped
const indexes = Promise.all(Array.from({ length: 100 }, () => rtnl.linkIndex('lo')));
const names = rtnl.links().then(
  (ls) => ls.map((l) => l.name),
  (e) => `error: ${e.message}`,
);
const write = rtnl.setLink(1, 'lo', { up: true }).then(
  () => 'done',
  (e) => `error: ${e.message}`,
);
const got = { indexes: await indexes, names: await names, write: await write };
const ms = performance.now() - started;
const after = await rtnl.linkIndex('lo');
rtnl.close();
process.stdout.write(`${JSON.stringify({ ...got, ms, replaced: socketOf(rtnl) !== first, after })}\n`);
