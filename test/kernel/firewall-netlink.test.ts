/**
 * The nft backend reads iptables-nft's tables over netlink (src/firewall/iptables-nft.ts): each
 * read is compared with what iptables-nft-save prints at that moment, and the programs the
 * read ran are counted. Then the daemon, traced with strace: a repair after `iptables -F
 * FORWARD` runs no program (one nf_tables transaction over netlink), one after `nft flush
 * ruleset` one iptables-nft-restore and nothing else; each leaves exactly one copy of island's
 * part; passes with nothing to repair run no program.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { NFT_MSG, type NfSocket, nftRequest, readWithNfSocket } from '../../src/firewall/nfnetlink.js';
import { frame } from '../../src/netlink/nla.js';
import { startDaemon, writeConfig } from '../helpers/island.js';
import { netns } from '../helpers/netns.js';
import { conf, islandPart, lab, same, started, until } from './firewall-lab.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'iptables-nft-fixture.mjs');

interface Read {
  read: string;
  programs: string[];
  same: boolean;
  got?: unknown;
  want?: unknown;
}

const ISLAND = [
  'iptables-nft -N ISLAND-FORWARD',
  'iptables-nft -A ISLAND-FORWARD -i cni0 -m comment --comment island -j ACCEPT',
  'iptables-nft -A ISLAND-FORWARD -s 203.0.113.0/24 -o vx0 -m comment --comment island -j ACCEPT',
  'iptables-nft -I FORWARD 1 -m comment --comment island -j ISLAND-FORWARD',
  'iptables-nft -t mangle -N ISLAND-MSS',
  'iptables-nft -t mangle -A ISLAND-MSS -o vx0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment island -j TCPMSS --clamp-mss-to-pmtu',
  'iptables-nft -t mangle -I FORWARD 1 -m comment --comment island -j ISLAND-MSS',
  'ip6tables-nft -N ISLAND-FORWARD',
  'ip6tables-nft -A ISLAND-FORWARD -s fd00::/8 -i cni0 -m comment --comment island -j ACCEPT',
  'ip6tables-nft -I FORWARD 1 -m comment --comment island -j ISLAND-FORWARD',
].join(' && ');

const DOCKER = [
  'iptables-nft -P FORWARD DROP',
  'iptables-nft -N DOCKER',
  'iptables-nft -N DOCKER-USER',
  'iptables-nft -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
  'iptables-nft -A DOCKER-USER -j RETURN',
  'iptables-nft -A FORWARD -j DOCKER-USER',
  'iptables-nft -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  'iptables-nft -A FORWARD -o docker0 -j DOCKER',
  'iptables-nft -A INPUT -p udp -m udp --dport 4789 -m limit --limit 5/sec -j ACCEPT',
].join(' && ');

t.test('nft backend: reads over netlink say what iptables-nft-save says, and run no program once learnt', async (t) => {
  const ns = await netns(t, 'fwnl');
  const steps = [
    { read: 'empty namespace' },
    ISLAND,
    DOCKER,
    { read: 'new rules: learnt from iptables-nft-save' },
    { read: 'the same rules again' },
    'iptables-nft -F FORWARD',
    { read: 'after iptables -F FORWARD' },
    'iptables-nft -I FORWARD 1 -m comment --comment island -j ISLAND-FORWARD && iptables-nft -I FORWARD 1 -m comment --comment island -j ISLAND-FORWARD',
    { read: 'two jumps again' },
    'iptables-nft -P FORWARD ACCEPT && iptables-nft -t mangle -F ISLAND-MSS && ip6tables-nft -D FORWARD 1',
    { read: 'policy, a flushed chain, a deleted jump' },
    'iptables-nft -A FORWARD -o cni0 -m comment --comment "not island" -j REJECT',
    { read: 'a rule never seen' },
    { read: 'that rule, seen once' },
    'nft add set ip filter s "{ type ipv4_addr; }" && nft add rule ip filter FORWARD ip saddr @s accept',
    { read: 'a set lookup' },
    'nft flush ruleset',
    { read: 'after nft flush ruleset' },
    ISLAND,
    { read: "island's rules written again" },
  ];
  const r = await ns.exec([process.execPath, FIXTURE, JSON.stringify(steps)], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  t.equal(r.code, 0, `fixture ran: ${r.stderr}`);
  const reads = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Read);
  t.equal(reads.length, steps.filter((s) => typeof s !== 'string').length, 'every read reported');
  for (const x of reads)
    t.ok(x.same, `${x.read}: the read is iptables-nft-save's${x.same ? '' : `: ${JSON.stringify(x)}`}`);
  const programs = new Map(reads.map((x) => [x.read, x.programs.length]));
  const ran = (read: string) => (programs.get(read) ?? 0) > 0;
  // ipv4 and ipv6, filter and mangle: one iptables-nft-save per table and family when a rule is new
  t.ok(ran('new rules: learnt from iptables-nft-save'), 'new rules: iptables-nft-save ran');
  t.ok(ran('a rule never seen'), 'a rule never seen: iptables-nft-save ran');
  t.ok(ran('a set lookup'), 'a rule that looks into a set: iptables-nft-save ran');
  for (const name of [
    'empty namespace',
    'the same rules again',
    'after iptables -F FORWARD',
    'two jumps again',
    'policy, a flushed chain, a deleted jump',
    'that rule, seen once',
    'after nft flush ruleset',
    "island's rules written again",
  ])
    t.equal(programs.get(name), 0, `${name}: no program`);
});

/** Every program the process and its children exec while `fn` runs (strace -f). */
async function execs(pid: number, fn: () => Promise<void>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'island-strace-'));
  const out = join(dir, 'execve');
  const tracer = spawn(
    'strace',
    ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, '-p', String(pid)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  tracer.stderr.on('data', (b) => {
    err += b;
  });
  const gone = new Promise((res) => tracer.on('close', res));
  // strace attaches to every thread before it traces: give it the time, then make sure it runs
  await new Promise((res) => setTimeout(res, 500));
  if (tracer.exitCode !== null) throw new Error(`strace did not start: ${err}`);
  try {
    await fn();
  } finally {
    tracer.kill('SIGINT');
    await gone;
  }
  const text = readFileSync(out, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return (
    text
      .split('\n')
      // the PATH search's failed attempts left out
      .flatMap((l) => (/ = 0$/.test(l) ? (/execve\("([^"]+)"/.exec(l)?.[1] ?? []) : []))
      .map((p) => p.replace(/^.*\//, ''))
  );
}

t.test('daemon, nft backend: the programs repairs run, and passes with nothing to do', async (t) => {
  const l = await lab(t, 'fwnp');
  const d = startDaemon(t, l.host, await writeConfig(t, conf({ extra: 'resync = "1s"' })));
  await d.waitForLog(started);
  await d.waitForLog((r) => /^firewall: nft backend/.test(r.msg));
  const before = await islandPart(l.host);
  t.ok(before.length > 0, "island's part is in place");
  // the passes after start read what island wrote: iptables-nft-save learns its words once
  await new Promise((res) => setTimeout(res, 1500));

  const repairs = (n: number) => d.logs.slice(n).filter((r) => r.msg === 'reconciled' && (r.actions as number) > 0);

  // the table and FORWARD are left: the repair is one nf_tables transaction over netlink;
  // `nft flush ruleset` takes the table too, which iptables-nft-restore creates as iptables' own
  for (const [adversary, program] of [
    ['iptables-nft -F FORWARD', undefined],
    // two of island's jumps: both deleted by their handles, one inserted first
    ['iptables-nft -A FORWARD -m comment --comment island -j ISLAND-FORWARD', undefined],
    ['nft flush ruleset', 'iptables-nft-restore'],
  ] as const) {
    const n = d.logs.length;
    const programs = await execs(d.pid, async () => {
      await l.host.run(['sh', '-c', adversary]);
      await until(
        "island's part back",
        () => islandPart(l.host),
        (p) => same(p, before),
      );
      // the passes that the repair's own events trigger, and a resync
      await new Promise((res) => setTimeout(res, 1500));
    });
    t.strictSame(await islandPart(l.host), before, `${adversary}: exactly one copy of island's part`);
    const fixed = repairs(n).length;
    t.ok(fixed >= 1, `${adversary}: repaired (${fixed} repairing passes)`);
    t.strictSame(
      programs,
      program ? Array(fixed).fill(program) : [],
      `${adversary}: ${program ? `one ${program} per repair` : 'no program'}, nothing else`,
    );
  }

  // a resync every second, nothing to repair: no program at all
  const n = d.logs.length;
  const programs = await execs(d.pid, () => new Promise((res) => setTimeout(res, 2500)));
  t.equal(repairs(n).length, 0, 'nothing to repair');
  t.strictSame(programs, [], 'passes with nothing to repair run no program');
});

t.test('a read the kernel never answered is asked once more, on a new socket; other errors are not', async (t) => {
  const seen: NfSocket[] = [];
  const value = await readWithNfSocket(async (s) => {
    seen.push(s);
    if (seen.length === 1) throw new Error('Timeout has been reached');
    return (await nftRequest(s, NFT_MSG.gettable, 0)).length >= 0;
  });
  t.equal(value, true, 'the second ask answered');
  t.equal(seen.length, 2);
  t.not(seen[0], seen[1], 'on a new socket');
  let calls = 0;
  await t.rejects(
    readWithNfSocket(async () => {
      calls++;
      throw new Error('EPERM');
    }),
    /EPERM/,
  );
  t.equal(calls, 1, 'a refusal is not asked again');
});

t.test('a read whose answer the kernel dropped (ENOBUFS) is asked again at once, on a new socket', async (t) => {
  const seen: NfSocket[] = [];
  const started = performance.now();
  const value = await readWithNfSocket(async (s) => {
    seen.push(s);
    if (seen.length === 1) {
      // a receive buffer the kernel's answers overflow: 300 GETGEN in one sendmsg, answered in it
      s.setRecvBufferSize(1);
      const asks = Array.from({ length: 300 }, (_, i) =>
        frame(NFT_MSG.getgen | (10 << 8), 1 | 4, 1_000_000 + i, Buffer.from([0, 0, 0, 0])),
      );
      s.socket.send(Buffer.concat(asks), { port: 0 });
    }
    return (await nftRequest(s, NFT_MSG.getgen, 0, [], false)).length;
  });
  const ms = performance.now() - started;
  t.equal(value, 1, 'the second ask answered');
  t.equal(seen.length, 2, 'asked twice');
  t.not(seen[0], seen[1], 'on a new socket');
  t.ok(ms < 2500, `without waiting out the 5 s timeout (${ms.toFixed(0)} ms)`);
});
