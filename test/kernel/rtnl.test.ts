/**
 * island's rtnetlink socket (src/netlink/rtnl.ts) on a real socket, in a namespace of the test's
 * own: when the kernel drops answers, a receive overflow (ENOBUFS; rtnl-fixture.mjs runs the built
 * Rtnl there), and when it sends on a thread (rtnl-thread-fixture.mjs).
 */

import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { type Netns, netns } from '../helpers/netns.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'rtnl-fixture.mjs');
const THREAD_FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'rtnl-thread-fixture.mjs');

t.test(
  'answers the kernel dropped (ENOBUFS): reads asked again at once on a new socket, a write fails at once',
  async (t) => {
    const ns = await netns(t, 'rtnl');
    const r = await ns.exec([process.execPath, FIXTURE], { timeoutMs: 60_000 });
    t.equal(r.code, 0, `the fixture ran: ${r.stderr.trim()}`);
    const got = JSON.parse(r.stdout) as {
      indexes: (number | null)[];
      names: string[] | string;
      write: string;
      ms: number;
      replaced: boolean;
      after: number;
    };
    t.ok(got.replaced, 'the socket that reported the error was replaced');
    t.same(
      got.indexes.filter((i) => i !== 1),
      [],
      `every ifindex read (lo is 1): ${got.indexes.filter((i) => i === 1).length} of ${got.indexes.length}`,
    );
    t.ok(Array.isArray(got.names) && got.names.includes('lo'), `the link dump answered: ${got.names}`);
    // the write's ACK may have come before the overflow or been dropped in it: either way, said at once
    t.ok(
      got.write === 'done' || got.write === 'error: set link lo: rtnetlink socket error: ENOBUFS',
      `the write done or failed with the socket's error: ${got.write}`,
    );
    t.ok(got.ms < 2500, `without waiting out the 10 s timeout (${got.ms.toFixed(0)} ms)`);
    t.equal(got.after, 1, 'the next request answered');
  },
);

interface ThreadRun {
  links: number;
  base: number;
  threaded: boolean;
  sends: number;
  refused: string[];
  fd: number | null;
  atClose: string;
  opened: number;
  later: string;
}

/** rtnl-thread-fixture.mjs in a namespace of its own, under `pin` (a taskset) when given */
async function threadRun(t: Test, pin: string[] = []): Promise<{ ns: Netns; got: ThreadRun }> {
  const ns = await netns(t, 'rtnlthr');
  const r = await ns.exec([...pin, process.execPath, THREAD_FIXTURE], { timeoutMs: 60_000 });
  t.equal(r.code, 0, `the fixture ran: ${r.stderr.trim()}`);
  return { ns, got: JSON.parse(r.stdout) as ThreadRun };
}

t.test(
  'a socket that sends on a thread: requests in order across batches, its descriptor kept until the thread is done',
  async (t) => {
    const { ns, got } = await threadRun(t);
    t.ok(got.threaded, `the island-patched addon sends on a thread (it needs 2 CPUs: ${availableParallelism()} here)`);
    // 900 requests, a batch leaving at each boundary() past 64: the kernel had them in ~14 sendmsgs
    t.ok(got.sends >= 10, `the requests left in several batches: ${got.sends} sendmsgs`);
    t.same(got.refused, [], 'no request refused: each bridge was made before its up and its address');
    // ip prints an empty object for each link it filtered out (lo here)
    const links = (
      JSON.parse(await ns.run(['ip', '-4', '-j', 'addr', 'show', 'type', 'bridge'])) as {
        ifname?: string;
        ifindex: number;
        flags: string[];
        addr_info: { local: string }[];
      }[]
    ).flatMap((l) => (l.ifname === undefined ? [] : [{ ...l, ifname: l.ifname }]));
    t.equal(links.length, got.links, `ip -j addr: ${got.links} bridges`);
    const wrong = links.filter((l) => {
      const i = Number(l.ifname.slice(2));
      const address = `10.${(i >> 8) + 1}.${i & 255}.1`;
      return (
        !l.flags.includes('UP') || l.ifindex !== got.base + i || l.addr_info.map((a) => a.local).join() !== address
      );
    });
    t.same(
      wrong.map((l) => l.ifname),
      [],
      'each up, at its ifindex, with its address',
    );
    t.ok(got.fd !== null, 'the socket had a descriptor');
    t.match(got.atClose, /^socket:\[\d+\]$/, 'right after close(), its descriptor is still the socket');
    t.not(got.opened, got.fd, 'a file opened then does not get that number');
    t.equal(got.later, 'closed', 'closed once the thread is done');
  },
);

t.test('with one CPU, the same requests leave in one sendmsg from the JavaScript thread', async (t) => {
  const { got } = await threadRun(t, ['taskset', '-c', '0']);
  t.notOk(got.threaded, 'no thread: it would only take turns with the JavaScript one');
  t.equal(got.sends, 1, "boundary() sent nothing early: the turn's requests left together");
  t.same(got.refused, [], 'none refused');
  t.equal(got.atClose, 'closed', 'close() closed the descriptor at once: no thread was using it');
});
