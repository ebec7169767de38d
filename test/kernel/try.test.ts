/**
 * `island try` on the inner host of the NAT topology, the way an admin uses it over the island
 * itself: a candidate that cuts the tunnel and is never confirmed comes back by the daemon's
 * timer (the CLI exited long before, as an SSH session cut by the candidate would); a
 * confirmed one stays and becomes the file; a bad one is refused with its file:line.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLI, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type Netns, natTopology } from '../helpers/netns.js';
import { nsEnd, tcpEachWay } from '../helpers/tcp.js';

const side = (o: { local: string; remote: string; me: string; vni?: number; mtu?: number; extra?: string }) => `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = ${o.vni ?? 333}
local = "${o.local}"
remote = "${o.remote}"
dev = "eth0"
port = 5533
source_port = 5533
mtu = ${o.mtu ?? 1450}
addresses = ["${o.me}/30"]
${o.extra ?? ''}
`;

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
async function vx0(ns: Netns): Promise<any> {
  // biome-ignore lint/suspicious/noExplicitAny: ip's JSON
  return (await ns.ipJson(['link', 'show'])).find((l: any) => l.ifname === 'vx0');
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ping = (ns: Netns, to: string) => ns.exec(['ping', '-n', '-c', '2', '-i', '0.3', '-W', '1', to]);

t.test('island try across the NAT', async (t) => {
  const n = await natTopology(t, { prefix: 'try' });
  const runtime = await mkdtemp(join(tmpdir(), 'island-try-'));
  t.teardown(() => rm(runtime, { recursive: true, force: true }));
  const env = { ISLAND_RUNTIME_DIR: runtime };
  const inner = (o: { vni?: number; mtu?: number } = {}) =>
    // the keepalive keeps the NAT's mapping while the test waits out timeouts
    side({ local: n.privAddr, remote: n.pubAddr, me: '10.30.30.2', extra: 'keepalive = "2s"', ...o });
  const config = await writeConfig(t, inner());
  const dir = join(config, '..');
  const pubConf = await writeConfig(t, side({ local: n.pubAddr, remote: n.natPublicAddr, me: '10.30.30.1' }));
  const dpriv = startDaemon(t, n.priv, config, { env });
  const dpub = startDaemon(t, n.pub, pubConf);
  const started = (r: { msg?: string }) => r.msg === 'island daemon running';
  await Promise.all([dpriv.waitForLog(started, 30_000), dpub.waitForLog(started, 30_000)]);
  const island = (args: string[], input?: string) => runIsland(n.priv, [...args], { env, input });

  t.equal((await ping(n.priv, '10.30.30.1')).code, 0, 'the island works: inner → public');
  t.equal((await ping(n.pub, '10.30.30.2')).code, 0, 'and public → inner');
  // ping alone does not say TCP crosses
  const tcpAcross = (t: Test, what: string) =>
    tcpEachWay(
      t,
      { end: nsEnd(n.priv), address: '10.30.30.2' },
      { end: nsEnd(n.pub), address: '10.30.30.1' },
      { what },
    );
  await tcpAcross(t, 'the island works');

  await t.test('a bad candidate is refused with its file:line, nothing changes', async (t) => {
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, inner().replace('vni = 333', 'vni = "334"'));
    const r = await island(['try', bad, '--timeout', '5s']);
    t.equal(r.code, 1);
    t.match(r.stderr, `${bad}:5:7: tunnel[0].vni: expected an integer, got string`);
    t.match(r.stderr, /^island: .*bad\.toml: invalid \(1 error\(s\)\), nothing changed$/m);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    t.equal((await vx0(n.priv)).linkinfo.info_data.id, 333);
  });

  await t.test('a candidate the kernel refuses in part leaves the tunnel in place and names the line', async (t) => {
    // vx0 as an ipip tunnel: this kernel has no ipip; the new link is made before the old goes
    const candidate = join(dir, 'refused.toml');
    const text = inner()
      .replace('kind = "vxlan"', 'kind = "ipip"')
      .replace(/^(vni|port|source_port) = .*$/gm, '');
    await writeFile(candidate, text);
    const before = (await vx0(n.priv)).ifindex;
    const r = await island(['try', candidate, '--timeout', '15s']);
    t.equal(r.code, 0, r.stderr);
    const line = text.split('\n').indexOf('[[tunnel]]') + 1;
    t.match(
      r.stdout,
      new RegExp(
        `link vx0 blocked: create ipip vx0: refused by the kernel: the kernel has no ipip support .*\\(declared at ${candidate}:${line}\\)`,
      ),
      'the try says what the kernel refused, and where the file declared it',
    );
    t.equal((await vx0(n.priv)).ifindex, before, 'vx0 is the same link');
    t.equal((await ping(n.pub, '10.30.30.2')).code, 0, 'and the island still works');
    t.equal((await island(['try', '--rollback'])).code, 0);
  });

  await t.test('a candidate that cuts the tunnel, never confirmed, is rolled back by the daemon', async (t) => {
    const candidate = join(dir, 'cut.toml');
    await writeFile(candidate, inner({ vni: 334 }));
    const before = await readFile(config, 'utf8');
    const t0 = Date.now();
    // 15 s: the checks below must fit in before the rollback, on a loaded machine too
    const r = await island(['try', candidate, '--timeout', '15s']);
    t.equal(r.code, 0, r.stderr);
    t.match(
      r.stdout,
      /^island: running .*cut\.toml \(1\/1 links ok, [01]\/1 peers up\); rolled back in 15 s unless confirmed$/m,
    );
    t.match(r.stdout, 'confirm with: island try --confirm (within 15 s)');
    // the CLI is gone already, as an SSH session cut by the candidate would be
    t.equal((await vx0(n.priv)).linkinfo.info_data.id, 334, 'the candidate runs');
    // an edit of the file during the try waits for its end
    await writeFile(config, inner({ mtu: 1400 }));
    await dpriv.waitForLog((l) => /reload \(file changed\) during island try/.test(l.msg), 10_000);
    t.equal((await vx0(n.priv)).mtu, 1450, 'the edit is not applied during the try');
    const st = await island(['status', '-c', config]);
    t.match(st.stdout, /^try: .*cut\.toml runs; rolled back in \d+ s unless confirmed/m);
    t.match(st.stdout, /^note: running the candidate of island try, not /m);
    t.not((await ping(n.pub, '10.30.30.2')).code, 0, 'and it cut the island');

    await waitFor('vni 333 again', async () => (await vx0(n.priv))?.linkinfo?.info_data?.id === 333, 30_000);
    t.ok(Date.now() - t0 < 30_000, 'rolled back');
    // timed by the daemon's own clock: from the candidate armed to the previous configuration applied
    const armed = await dpriv.waitForLog((l) => /^island try: running .*cut\.toml/.test(l.msg), 1000);
    const log = await dpriv.waitForLog((l) => /cut\.toml not confirmed in time: rolled back/.test(l.msg), 5000);
    t.equal(log.level, 40, 'the rollback is a warning');
    const ms = Date.parse(log.time) - Date.parse(armed.time);
    // the timer fires at the timeout; the pass that restores takes what the machine gives it
    const fired = ms - log.ms;
    t.ok(
      fired >= 15_000 && fired < 15_000 + 500,
      `the rollback started ${fired} ms after the try was armed (timeout 15000 ms)`,
    );
    t.comment(`armed → rolled back and reconciled: ${ms} ms (timeout 15000 ms; the restoring pass ${log.ms} ms)`);
    t.equal((await ping(n.priv, '10.30.30.1')).code, 0, 'the island works again: inner → public');
    t.equal((await ping(n.pub, '10.30.30.2')).code, 0, 'public → inner');
    await tcpAcross(t, 'rolled back');
    // then the edit that waited is applied from the file
    await waitFor('mtu 1400 from the file', async () => (await vx0(n.priv))?.mtu === 1400, 10_000);
    t.pass('the file edit made during the try is applied after the rollback');
    t.not(await readFile(config, 'utf8'), before);
    const after = await island(['try', '--confirm']);
    t.equal(after.code, 1, 'nothing left to confirm');
    t.match(after.stderr, 'no try in progress');
  });

  await t.test('a confirmed candidate stays and becomes the file', async (t) => {
    const candidate = join(dir, 'keep.toml');
    const text = inner({ mtu: 1300 });
    await writeFile(candidate, text);
    // long enough for a loaded CI machine to start the second CLI
    const r = await island(['try', candidate, '--timeout', '12s']);
    t.equal(r.code, 0, r.stderr);
    const armed = await dpriv.waitForLog((l) => /^island try: running .*keep\.toml/.test(l.msg), 1000);
    t.equal((await vx0(n.priv)).mtu, 1300);
    const ifindex = (await vx0(n.priv)).ifindex;
    const c = await island(['try', '--confirm', '-c', config]);
    t.equal(c.code, 0, c.stderr);
    t.match(c.stdout, `island: confirmed; ${config} now holds ${candidate}`);
    t.equal(await readFile(config, 'utf8'), text, 'the file holds the candidate');
    // past the deadline the try had
    await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(armed.time) + 13_000 - Date.now())));
    const l = await vx0(n.priv);
    t.equal(l.mtu, 1300, 'still the candidate after the timeout');
    t.equal(l.ifindex, ifindex, 'not re-created by the reload of the written file');
    t.notOk(
      dpriv.logs.some((x) => /keep\.toml.*rolled back/.test(x.msg)),
      'no rollback',
    );
    t.equal((await ping(n.pub, '10.30.30.2')).code, 0);
  });

  await t.test('on a terminal, Enter confirms', async (t) => {
    const candidate = join(dir, 'enter.toml');
    const text = inner({ mtu: 1350 });
    await writeFile(candidate, text);
    // script(1) gives the CLI a pseudo-terminal; the newline sent is the admin's Enter
    const cmd = `${process.execPath} ${CLI} try ${candidate} --timeout 20s -c ${config}`;
    const r = await n.priv.exec(['script', '-qec', cmd, '/dev/null'], {
      input: '\n',
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
      timeoutMs: 30_000,
    });
    t.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    t.match(r.stdout, 'Press Enter to keep it');
    t.match(r.stdout, `island: confirmed; ${config} now holds ${candidate}`);
    t.equal(await readFile(config, 'utf8'), text);
    t.equal((await vx0(n.priv)).mtu, 1350);
  });

  await t.test('without the daemon, try says why it cannot', async (t) => {
    await dpriv.stop();
    const r = await island(['try', join(dir, 'keep.toml')]);
    t.equal(r.code, 1);
    t.match(
      r.stderr,
      /^island: island try needs the running daemon, which holds the rollback: no island daemon at .*: not running/m,
    );
  });
});
