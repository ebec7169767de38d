/**
 * dist/netlink/events.js against the real kernel: a child (events-fixture.mjs) watches rtnetlink
 * inside a namespace made for the test, while the test changes links, addresses and routes there.
 * Needs root and a build (`npm run build`).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { mustRun, type Netns, netns } from '../helpers/netns.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(HERE, 'events-fixture.mjs');
const BUILT = resolve(HERE, '../../dist/netlink/events.js');
const REPO = resolve(HERE, '../..');

/** The addon netlink loads: build/Release (patched, see scripts/build-native.mjs) or the stock prebuild. */
function loadedAddon(): string {
  const req = createRequire(join(REPO, 'package.json'));
  const dir = dirname(req.resolve('netlink/package.json'));
  return createRequire(join(dir, 'package.json'))('node-gyp-build').resolve(dir);
}

// biome-ignore lint/suspicious/noExplicitAny: the child's lines are RtEvents plus a tag
type Line = Record<string, any>;

interface Watcher {
  lines: Line[];
  /** resolves with the first line (seen or future) matching pred; rejects on timeout or child exit */
  waitFor(what: string, pred: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
  send(cmd: string): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startWatcher(t: Test, ns: Netns, env: NodeJS.ProcessEnv = {}): Watcher {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} does not exist: build first (npm run build); not skipping`);
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_OPTIONS; // tap's loaders are for the test, not the fixture
  const child: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', ns.name, process.execPath, FIXTURE], {
    env: childEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let out = '';
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      ended = { code, signal };
      res(ended);
      for (const w of waiters) w();
    });
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
      const text = out.slice(0, i);
      out = out.slice(i + 1);
      try {
        lines.push(JSON.parse(text) as Line);
      } catch {
        lines.push({ t: 'garbage', text });
      }
    }
    for (const w of waiters) w();
  });
  child.stdin.on('error', () => {});

  const waitFor = (what: string, pred: (l: Line) => boolean, timeoutMs = 10_000) =>
    new Promise<Line>((res, rej) => {
      let from = 0;
      const check = () => {
        for (; from < lines.length; from++) {
          const l = lines[from];
          if (l && pred(l)) return done(() => res(l));
        }
        if (ended) {
          done(() => rej(new Error(`watcher exited (${JSON.stringify(ended)}) before: ${what}\n${err}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => rej(new Error(`timed out waiting for: ${what}\nstderr: ${err}`))),
        timeoutMs,
      );
      const done = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });

  return { lines, waitFor, send: (cmd) => child.stdin.write(`${cmd}\n`), exited, stderr: () => err };
}

const ip = (ns: Netns, ...args: string[]) => mustRun(['ip', '-n', ns.name, ...args]);

t.test('link, address and route events, new and del', async (t) => {
  const ns = await netns(t, 'ev');
  const w = startWatcher(t, ns);
  await w.waitFor('ready', (l) => l.t === 'ready');
  const ev = (what: string, pred: (l: Line) => boolean) => w.waitFor(what, (l) => l.t === 'event' && pred(l));

  await ip(ns, 'link', 'add', 'evbr0', 'type', 'bridge');
  const linkNew = await ev('link new evbr0', (l) => l.kind === 'link' && l.op === 'new' && l.ifname === 'evbr0');
  t.type(linkNew.ifindex, 'number');
  await ip(ns, 'link', 'set', 'evbr0', 'up');

  await ip(ns, 'addr', 'add', '10.97.0.1/24', 'dev', 'evbr0');
  const a4 = await ev('address new 10.97.0.1', (l) => l.kind === 'address' && l.op === 'new' && l.dst === '10.97.0.1');
  t.match(a4, { family: 2, dstLen: 24, ifindex: linkNew.ifindex, ifname: 'evbr0' });

  await ip(ns, 'addr', 'add', 'fd00:97::1/64', 'dev', 'evbr0', 'nodad');
  const a6 = await ev(
    'address new fd00:97::1',
    (l) => l.kind === 'address' && l.op === 'new' && l.dst === 'fd00:97::1',
  );
  t.match(a6, { family: 10, dstLen: 64, ifindex: linkNew.ifindex });

  await ip(ns, 'route', 'add', '10.98.0.0/16', 'dev', 'evbr0', 'proto', 'static');
  const r = await ev('route new 10.98.0.0/16', (l) => l.kind === 'route' && l.op === 'new' && l.dst === '10.98.0.0');
  t.match(r, { family: 2, dstLen: 16, table: 254, protocol: 4, ifindex: linkNew.ifindex });

  await ip(ns, 'route', 'del', '10.98.0.0/16', 'dev', 'evbr0');
  await ev('route del 10.98.0.0/16', (l) => l.kind === 'route' && l.op === 'del' && l.dst === '10.98.0.0');

  await ip(ns, 'addr', 'del', '10.97.0.1/24', 'dev', 'evbr0');
  await ev('address del 10.97.0.1', (l) => l.kind === 'address' && l.op === 'del' && l.dst === '10.97.0.1');

  await ip(ns, 'link', 'del', 'evbr0');
  const linkDel = await ev('link del evbr0', (l) => l.kind === 'link' && l.op === 'del' && l.ifname === 'evbr0');
  t.equal(linkDel.ifindex, linkNew.ifindex);
  // deleting the link takes its IPv6 address with it
  await ev('address del fd00:97::1', (l) => l.kind === 'address' && l.op === 'del' && l.dst === 'fd00:97::1');

  t.same(
    w.lines.filter((l) => l.t !== 'event' && l.t !== 'ready'),
    [],
    'no overflow or error',
  );
  // the open socket is what keeps the child alive: once closed, it exits by itself
  w.send('close');
  t.same(await w.exited, { code: 0, signal: null }, 'exits by itself after close()');
});

t.test('survives a receive buffer overflow (ENOBUFS) and keeps delivering', async (t) => {
  t.comment(`netlink addon: ${loadedAddon()}`);
  const ns = await netns(t, 'evnobufs');
  const w = startWatcher(t, ns, { ISLAND_TEST_RCVBUF: '4096' });
  await w.waitFor('ready', (l) => l.t === 'ready');

  // block the child's event loop for 1 s while 300 bridges appear (in ~50 ms: 300 link events,
  // far more than 8 KiB of buffer), then delete them all (one by one that would take ~40 ms
  // each, so in one go, by link group; the child is running again by then)
  w.send('block 1000');
  await w.waitFor('blocking', (l) => l.t === 'blocking');
  let batch = '';
  for (let i = 0; i < 300; i++) batch += `link add evb${i} group 7 type bridge\n`;
  await mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: batch });
  await w.waitFor('unblocked', (l) => l.t === 'unblocked');
  await ip(ns, 'link', 'del', 'group', '7');
  await w.waitFor('overflow reported', (l) => l.t === 'overflow');
  const overflows = () => w.lines.filter((l) => l.t === 'overflow').length;
  t.ok(overflows() >= 1, 'onOverflow called');

  // still alive and still receiving
  await ip(ns, 'link', 'add', 'evafter', 'type', 'bridge');
  await w.waitFor('link new evafter', (l) => l.t === 'event' && l.op === 'new' && l.ifname === 'evafter');
  t.same(
    w.lines.filter((l) => l.t === 'error' || l.t === 'garbage'),
    [],
    'no error besides the overflow',
  );
  t.comment(`${overflows()} overflow(s), ${w.lines.filter((l) => l.t === 'event').length} events`);

  w.send('close');
  t.same(await w.exited, { code: 0, signal: null }, 'exits cleanly, not SIGABRT');
  t.equal(w.stderr(), '', 'nothing on stderr');
});

t.test('netconf events: a sysctl write to forwarding or rp_filter is announced', async (t) => {
  const ns = await netns(t, 'evnetconf');
  const w = startWatcher(t, ns);
  await w.waitFor('ready', (l) => l.t === 'ready');
  const ev = (what: string, pred: (l: Line) => boolean) =>
    w.waitFor(what, (l) => l.t === 'event' && l.kind === 'netconf' && pred(l));

  await mustRun(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  t.match(
    await ev('ipv4 all forwarding on', (l) => l.family === 2 && l.ifindex === -1 && l.forwarding === 1),
    { op: 'new' },
    'net.ipv4.ip_forward is conf.all (ifindex -1)',
  );
  await mustRun(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.conf.default.rp_filter=2']);
  await ev('ipv4 default rp_filter 2', (l) => l.family === 2 && l.ifindex === -2 && l.rpFilter === 2);
  await mustRun(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  await ev('ipv6 all forwarding on', (l) => l.family === 10 && l.ifindex === -1 && l.forwarding === 1);
  await ip(ns, 'link', 'add', 'evnc0', 'type', 'bridge');
  const link = await w.waitFor('link new evnc0', (l) => l.t === 'event' && l.kind === 'link' && l.ifname === 'evnc0');
  await mustRun(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.conf.evnc0.forwarding=0']);
  await ev('evnc0 forwarding off', (l) => l.ifindex === link.ifindex && l.forwarding === 0);
  t.same(
    w.lines.filter((l) => l.t === 'error' || l.t === 'garbage'),
    [],
    'no error',
  );
  w.send('close');
  await w.exited;
});
