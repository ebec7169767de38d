/**
 * Tests of the kernel-test harness itself: namespaces appear and disappear (even when a test
 * fails, exits early or is killed), and the NAT topology behaves like a NAT.
 *
 * The cleanup tests run this same file again in a child process (HARNESS_CHILD=<mode>), where it
 * is a small tap test that misbehaves on purpose and reports its namespace's name on stderr.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { liveNamespaces, mustRun, namespaceExists, natTopology, netns, requireRoot } from '../helpers/netns.js';
import { nsEnd, tcpEachWay } from '../helpers/tcp.js';

const SELF = fileURLToPath(import.meta.url);
const childMode = process.env.HARNESS_CHILD;

if (childMode) {
  await child(childMode);
} else {
  await parent();
}

async function child(mode: string): Promise<void> {
  t.test(`child: ${mode}`, async (t) => {
    const ns = await netns(t, 'hchild');
    process.stderr.write(`NETNS ${ns.name}\n`);
    if (mode === 'throw') throw new Error('failing on purpose');
    if (mode === 'exit') process.exit(7); // no teardown runs: only the exit hook can clean up
    if (mode === 'signal') {
      process.stderr.write('READY\n');
      await new Promise(() => setInterval(() => {}, 1000)); // until the parent kills us
    }
  });
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  names: string[];
  stdout: string;
  stderr: string;
}

/** Runs this file as a standalone tap test in mode `mode`; onStderr sees stderr as it arrives. */
function runChild(mode: string, onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void) {
  // keep the TypeScript loader, drop tap's runner plumbing so the child is a plain standalone test
  const execArgv = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
  const env: NodeJS.ProcessEnv = { ...process.env, HARNESS_CHILD: mode };
  for (const k of Object.keys(env)) if (/^(TAP|_TAPJS)/.test(k) || k === 'NODE_OPTIONS') delete env[k];
  return new Promise<ChildRun>((resolve) => {
    const c = spawn(process.execPath, [...execArgv, SELF], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr, (s) => c.kill(s));
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      const names = [...stderr.matchAll(/^NETNS (\S+)$/gm)].map((m) => m[1] as string);
      resolve({ code, signal, names, stdout, stderr });
    });
  });
}

async function parent(): Promise<void> {
  requireRoot(); // throws: a kernel test that cannot run fails, it is never skipped

  t.test('netns: created with lo up, usable, gone after teardown', async (t) => {
    let name = '';
    await t.test('inner', async (t) => {
      const ns = await netns(t, 'harness');
      name = ns.name;
      t.match(name, new RegExp(`^isl-harness-${process.pid}-[0-9a-f]{6}$`));
      t.ok(await namespaceExists(name), 'listed by ip netns');
      t.ok(liveNamespaces().includes(name), 'tracked for the exit hook');

      const [lo] = await ns.ipJson(['link', 'show', 'lo']);
      t.ok(lo.flags.includes('UP'), 'lo is up');
      t.same(await ns.ipJson(['route', 'show', 'table', 'main']), [], 'empty answers parse as []');

      const ping = await ns.exec(['ping', '-c1', '-W1', '127.0.0.1']);
      t.equal(ping.code, 0, `loopback answers inside: ${ping.stderr}`);
      const r = await ns.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      t.same(r, { stdout: 'out\n', stderr: 'err\n', code: 3 }, 'exec returns stdout, stderr and the exit code');
      const s = await ns.sh('readlink /proc/self/ns/net; false; echo never');
      t.equal(s.code, 1, 'sh runs with -e');
      const hostNs = await mustRun(['readlink', '/proc/self/ns/net']);
      t.not(s.stdout.trim(), hostNs.trim(), 'commands run in another network namespace');
      await t.rejects(ns.run(['false']), /command failed \(exit 1\)/, 'run throws on failure');
    });
    t.ok(name, 'inner test ran');
    t.notOk(await namespaceExists(name), 'deleted by teardown');
    t.notOk(liveNamespaces().includes(name), 'no longer tracked');
  });

  t.test('netns: deleted when the test body throws', async (t) => {
    const r = await runChild('throw');
    t.equal(r.names.length, 1, `child created one namespace:\n${r.stderr}`);
    t.not(r.code, 0, 'child tap run failed');
    t.match(r.stdout, /failing on purpose/, 'because of the thrown error');
    for (const n of r.names) t.notOk(await namespaceExists(n), `${n} deleted`);
  });

  t.test('netns: deleted by the exit hook when the process exits early', async (t) => {
    const r = await runChild('exit');
    t.equal(r.names.length, 1, `child created one namespace:\n${r.stderr}`);
    t.not(r.code, 0, `child exited early, without its teardown (exit ${r.code})`);
    for (const n of r.names) t.notOk(await namespaceExists(n), `${n} deleted`);
  });

  t.test('netns: deleted when the process gets SIGTERM (tap timeout)', async (t) => {
    let sent = false;
    const r = await runChild('signal', (err, kill) => {
      if (!sent && err.includes('READY')) {
        sent = true;
        kill('SIGTERM');
      }
    });
    t.ok(sent, `child got ready:\n${r.stderr}`);
    t.equal(r.names.length, 1, 'child created one namespace');
    t.ok(
      r.signal === 'SIGTERM' || (r.code !== null && r.code !== 0),
      `child ended by the signal (${r.code}, ${r.signal})`,
    );
    for (const n of r.names) t.notOk(await namespaceExists(n), `${n} deleted`);
  });

  t.test('NAT topology: private host reaches the public host, not the other way', async (t) => {
    const topo = await natTopology(t);
    const { pub, nat, priv } = topo;

    const out = await priv.exec(['ping', '-c1', '-W2', topo.pubAddr]);
    t.equal(out.code, 0, 'priv → pub underlay', { output: out.stdout + out.stderr });

    // pub sees the NAT's public address as the source (MASQUERADE)
    const seen = await udpSourceSeenBy(t, pub, priv, topo.pubAddr, 7000);
    t.equal(seen, topo.natPublicAddr, 'pub sees the NAT router as the source');

    const noRoute = await pub.exec(['ping', '-c1', '-W1', topo.privAddr]);
    t.not(noRoute.code, 0, 'pub has no route to the private LAN');
    // even with a route, the NAT router's firewall drops connections started outside
    await pub.run(['ip', 'route', 'add', '10.77.0.0/24', 'via', topo.natPublicAddr]);
    const dropped = await pub.exec(['ping', '-c1', '-W1', topo.privAddr]);
    t.not(dropped.code, 0, 'pub cannot initiate to priv through the NAT');
    const natUp = await pub.exec(['ping', '-c1', '-W2', topo.natPublicAddr]);
    t.equal(natUp.code, 0, 'pub reaches the NAT router itself');

    const names = [pub.name, nat.name, priv.name];
    t.equal(new Set(names).size, 3, 'three distinct namespaces');
  });

  t.test('NAT topology: VXLAN across the NAT (dstport/srcport 5533), private side first', async (t) => {
    const topo = await natTopology(t);
    const { pub, nat, priv } = topo;
    const vx = ['type', 'vxlan', 'id', '42', 'dstport', '5533', 'srcport', '5533', '5534', 'dev', topo.dev];
    await priv.run(['ip', 'link', 'add', 'vx0', ...vx, 'local', topo.privAddr, 'remote', topo.pubAddr]);
    await pub.run(['ip', 'link', 'add', 'vx0', ...vx, 'local', topo.pubAddr, 'remote', topo.natPublicAddr]);
    await priv.run(['ip', 'addr', 'add', '10.3.1.3/24', 'dev', 'vx0']);
    await pub.run(['ip', 'addr', 'add', '10.3.1.2/24', 'dev', 'vx0']);
    await priv.run(['ip', 'link', 'set', 'vx0', 'up']);
    await pub.run(['ip', 'link', 'set', 'vx0', 'up']);

    const [link] = await pub.ipJson(['link', 'show', 'vx0']);
    t.match(link.linkinfo, {
      info_kind: 'vxlan',
      info_data: { id: 42, port: 5533, port_range: { low: 5533, high: 5534 } },
    });

    // the public side sends first: dropped at the NAT before conntrack confirms it
    const early = await pub.exec(['ping', '-c1', '-W1', '10.3.1.3']);
    t.not(early.code, 0, 'public side cannot open the tunnel');
    const stale = await nat.exec(['conntrack', '-L', '-p', 'udp', '--dport', '5533']);
    t.notMatch(stale.stdout, /UNREPLIED/, 'no stale conntrack entry', { output: stale.stdout + stale.stderr });

    const first = await priv.exec(['ping', '-c2', '-i0.2', '-W2', '10.3.1.2']);
    t.equal(first.code, 0, 'priv → pub over the tunnel', { output: first.stdout + first.stderr });
    const back = await pub.exec(['ping', '-c2', '-i0.2', '-W2', '10.3.1.3']);
    t.equal(back.code, 0, 'pub → priv over the tunnel, through the NAT', { output: back.stdout + back.stderr });
    await tcpEachWay(t, { end: nsEnd(priv), address: '10.3.1.3' }, { end: nsEnd(pub), address: '10.3.1.2' });

    const ct = await nat.run(['conntrack', '-L', '-p', 'udp', '--dport', '5533']);
    t.match(ct, /sport=5533 dport=5533 .*sport=5533 dport=5533/, 'the NAT kept source port 5533', { conntrack: ct });
    // replied, not yet ASSURED: the kernel calls a UDP flow a stream only after ~2 s of traffic
    t.notMatch(ct, /UNREPLIED/, 'the mapping has seen replies');
  });
}

/**
 * Sends one UDP datagram from `from` to `to`:port and returns the source address `to` saw.
 * Uses node's dgram inside the namespaces, so nothing but iproute2 is needed.
 */
async function udpSourceSeenBy(
  t: Test,
  receiver: Awaited<ReturnType<typeof netns>>,
  sender: typeof receiver,
  addr: string,
  port: number,
) {
  const server = `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m, r) => { console.log(r.address); process.exit(0); });
    s.bind(${port}, '${addr}', () => console.error('LISTENING'));
    setTimeout(() => process.exit(3), 5000);`;
  const listening = receiver.exec([process.execPath, '-e', server], { timeoutMs: 8000 });
  // give the receiver time to bind, then send a few datagrams (the first may race the bind)
  const client = `
    const s = require('node:dgram').createSocket('udp4');
    let n = 0; const tick = () => { s.send('hi', ${port}, '${addr}'); if (++n < 20) setTimeout(tick, 100); else s.close(); };
    tick();`;
  const sent = await sender.exec([process.execPath, '-e', client], { timeoutMs: 8000 });
  t.equal(sent.code, 0, `sender ran: ${sent.stderr}`);
  const r = await listening;
  t.equal(r.code, 0, `receiver got a datagram: ${r.stderr}`);
  return r.stdout.trim();
}
