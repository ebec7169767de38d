/**
 * node-netlink's request() as island patches it (patches/netlink+0.3.0.patch): the timeout of a
 * request whose answer never comes does not hold a one-shot process at its exit once the socket is
 * closed (nfnetlink.ts closes its socket on a receive overflow, the answer dropped: the command
 * lingered up to the 5 s timeout); on an open socket the request still waits for its answer or its
 * timeout. The unanswered request: one NETLINK_USERSOCK socket asks another, which never answers,
 * in a namespace of the test's own.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { netns } from '../helpers/netns.js';

const NETLINK = createRequire(import.meta.url).resolve('netlink');

/** The child: the request (timeout 5 s), the socket closed 100 ms later; prints how the request ended. */
const CHILD = `
const { createNetlink } = require(${JSON.stringify(NETLINK)});
const NETLINK_USERSOCK = 2;
const silent = createNetlink(NETLINK_USERSOCK);
const asker = createNetlink(NETLINK_USERSOCK);
const t0 = Date.now();
asker
  .request(0x10, Buffer.alloc(4), { port: silent.address().port, timeout: 5000 })
  .then(() => console.log('answered'), (e) => console.log('failed after ' + (Date.now() - t0) + ' ms: ' + e.message));
setTimeout(() => {
  asker.close();
  silent.close();
}, 100);
`;

t.test('an unanswered request on a socket closed under it: the process exits, its timer forgotten', async (t) => {
  const ns = await netns(t, 'nlreq');
  const t0 = performance.now();
  const r = await ns.exec([process.execPath, '-e', CHILD], { timeoutMs: 20_000 });
  const ms = performance.now() - t0;
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '', 'the process ended before the timeout');
  t.ok(ms < 3000, `the process exited ${Math.round(ms)} ms after its start, not held by the 5 s timer`);
});

t.test('a pending request still holds the process until its answer or its timeout', async (t) => {
  const ns = await netns(t, 'nlreq');
  // no close: the timeout is the only way out, and the process must wait for it
  const child = CHILD.replace('timeout: 5000', 'timeout: 800').replace(/setTimeout\(\(\) => \{[^}]*\}, 100\);/, '');
  const r = await ns.exec([process.execPath, '-e', child], { timeoutMs: 20_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.trim(), /^failed after \d+ ms: Timeout has been reached$/);
  const failedAfter = Number(/after (\d+) ms/.exec(r.stdout)?.[1]);
  t.ok(failedAfter >= 790, `waited for the timeout (${failedAfter} ms)`);
});
