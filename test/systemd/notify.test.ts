/**
 * The notification datagrams themselves, as systemd would receive them, from island daemon run
 * under the Node that runs the tests (20; the container tests run it under Debian 12's 18).
 * The receiving end is a real AF_UNIX datagram socket bound where NOTIFY_SOCKET points.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import t from 'tap';
import { configDir, startDaemon } from '../helpers/island.js';
import { netns } from '../helpers/netns.js';
import { islandToml, vxlan } from '../helpers/toml.mjs';

const CONFIG = islandToml({
  tunnel: [vxlan({ local: '10.99.0.1', remote: '10.99.0.2', addresses: ['10.30.30.1/30'] })],
});

interface Note {
  at: number;
  fields: Record<string, string>;
}

t.test('READY, STATUS, WATCHDOG, RELOADING, STOPPING from the daemon process itself', async (t) => {
  const ns = await netns(t, 'notify');
  // the tunnel's local address is on this host: otherwise island reports it blocked
  await ns.run(['ip', 'addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
  const dir = await configDir(t);
  const cfg = join(dir, 'island.toml');
  await writeFile(cfg, CONFIG);
  await chmod(cfg, 0o644);
  const sockPath = join(dir, 'notify.sock');
  const notes: Note[] = [];
  const sock = new DgramSocket();
  sock.bind(sockPath);
  t.teardown(() => sock.close());
  const waiters: (() => void)[] = [];
  sock.on('data', (buf: Buffer) => {
    const fields = Object.fromEntries(
      buf
        .toString()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    notes.push({ at: performance.now(), fields });
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (n: Note) => boolean, after: number, ms = 5000): Promise<Note> => {
    const deadline = performance.now() + ms;
    for (;;) {
      const hit = notes.slice(after).find(pred);
      if (hit) return hit;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no matching notification; got: ${JSON.stringify(notes.slice(after))}`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, left);
        waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
  };

  const d = startDaemon(t, ns, cfg, { env: { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '400000' } });

  const ready = await next((n) => n.fields.READY === '1', 0, 15_000);
  // the tunnel must exist by the time systemd hears READY=1
  const links = await ns.ipJson(['link', 'show', 'vx0']);
  t.equal(links[0]?.linkinfo?.info_kind, 'vxlan', 'vx0 exists when READY=1 arrives');
  t.equal(ready.fields.STATUS, '1/1 links ok', 'STATUS= rides along');
  t.ok(
    notes.slice(0, notes.indexOf(ready)).every((n) => Object.keys(n.fields).join() === 'STATUS'),
    'nothing but STATUS= before READY=1',
  );

  const i = notes.length;
  await next((n) => n.fields.WATCHDOG === '1', i);
  const w0 = notes.length;
  await new Promise((r) => setTimeout(r, 1100));
  const pings = notes.slice(w0).filter((n) => n.fields.WATCHDOG === '1');
  t.ok(
    pings.length >= 4 && pings.length <= 7,
    `WATCHDOG=1 at half of WATCHDOG_USEC (400 ms): ${pings.length} in 1.1 s`,
  );

  const r0 = notes.length;
  const before = process.hrtime.bigint() / 1000n;
  d.signal('SIGHUP');
  const reloading = await next((n) => n.fields.RELOADING === '1', r0);
  const mono = BigInt(reloading.fields.MONOTONIC_USEC ?? '0');
  t.ok(
    mono >= before && mono - before < 5_000_000n,
    `MONOTONIC_USEC is CLOCK_MONOTONIC now (${mono - before} µs after the signal)`,
  );
  const back = await next((n) => n.fields.READY === '1', notes.indexOf(reloading));
  t.equal(back.fields.STATUS, '1/1 links ok', 'READY=1 after the reload, with the summary');

  await writeFile(cfg, CONFIG.replace('vni = 7', 'vni = "seven"'));
  const b0 = notes.length;
  d.signal('SIGHUP');
  const err = await next((n) => n.fields.STATUS?.startsWith('config error') ?? false, b0);
  t.equal(err.fields.STATUS, `config error at ${cfg}:4`, 'STATUS= names the file and line');
  await next((n) => n.fields.READY === '1', notes.indexOf(err));
  t.same(
    (await ns.ipJson(['link', 'show', 'vx0']))[0]?.linkinfo?.info_data?.id,
    7,
    'the last good configuration stays',
  );

  const s0 = notes.length;
  d.signal('SIGTERM');
  const stopping = await next((n) => n.fields.STOPPING === '1', s0);
  t.ok(stopping, 'STOPPING=1 on SIGTERM');
  const { code } = await d.exited;
  t.equal(code, 0, code === 0 ? 'clean exit' : `exit ${code}:\n${d.lines.join('\n').slice(-2000)}`);
});

t.test('a WATCHDOG_PID of another process: no pings', async (t) => {
  const ns = await netns(t, 'notifywd');
  // the tunnel's local address is on this host: otherwise island reports it blocked
  await ns.run(['ip', 'addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
  const dir = await configDir(t);
  const cfg = join(dir, 'island.toml');
  await writeFile(cfg, CONFIG);
  const sockPath = join(dir, 'notify.sock');
  const got: string[] = [];
  const sock = new DgramSocket();
  sock.bind(sockPath);
  t.teardown(() => sock.close());
  sock.on('data', (buf: Buffer) => got.push(buf.toString()));
  const d = startDaemon(t, ns, cfg, { env: { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } });
  const deadline = Date.now() + 15_000;
  while (!got.some((g) => g.includes('READY=1')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(
    got.some((g) => g.includes('READY=1')),
    'READY=1 still sent',
  );
  await new Promise((r) => setTimeout(r, 600));
  t.notOk(
    got.some((g) => g.includes('WATCHDOG=1')),
    'the watchdog is not ours to feed',
  );
  d.signal('SIGTERM');
  t.equal((await d.exited).code, 0);
});
