/**
 * island's rtnetlink socket (src/netlink/rtnl.ts) when the kernel drops answers: a receive
 * overflow (ENOBUFS) on a real socket, in a namespace of the test's own (rtnl-fixture.mjs runs
 * the built Rtnl there).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { netns } from '../helpers/netns.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'rtnl-fixture.mjs');

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
