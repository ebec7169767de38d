/**
 * The firewall tests' lab (not a test file): a pod namespace behind island's
 * bridge pings a peer across island's vxlan tunnel, through a host whose
 * FORWARD policy is DROP, so that only island's ACCEPT rules let it through.
 *
 *   pod [eth0 10.128.1.2] ── [vpod] cni0 10.128.1.1 ─ host ─ vx0 10.30.30.1 ═ eth0 192.0.2.1
 *                                                                 ║ vxlan 42
 *   peer [eth0 192.0.2.2, vx0 10.30.30.2, route 10.128.1.0/24 via 10.30.30.1] ═╝
 */
import type { Test } from 'tap';
import type { Daemon, LogRecord } from '../helpers/island.js';
import { type Netns, netns, veth } from '../helpers/netns.js';
import { MB, nsEnd, tcpTransfer } from '../helpers/tcp.js';

export const JUMP = '-A FORWARD -m comment --comment island -j ISLAND-FORWARD';
export const INPUT_JUMP = '-A INPUT -m comment --comment island -j ISLAND-INPUT';

export function conf(o: { backend?: string; poll?: string; extra?: string; ipv6?: boolean } = {}): string {
  return `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "192.0.2.2"
dev = "eth0"
addresses = ["10.30.30.1/30"${o.ipv6 ? ', "fd00:3030::1/126"' : ''}]

[[bridge]]
name = "cni0"
addresses = ["10.128.1.1/24"]

[forward]
accept = ["cni0", "vx0"]
backend = "${o.backend ?? 'nft'}"
${o.poll ? `poll = "${o.poll}"` : ''}

[[forward.rule]]
in = "eth0"
source = "203.0.113.0/24"

[daemon]
debounce = "5ms"
${o.extra ?? ''}
`;
}

export interface Lab {
  host: Netns;
  pod: Netns;
  peer: Netns;
}

/** IPv6 stays off unless asked for: no router solicitations or DAD before the test wants them. */
export async function lab(t: Test, prefix: string, o: { ipv6?: boolean } = {}): Promise<Lab> {
  const [host, pod, peer] = await Promise.all([netns(t, `${prefix}h`), netns(t, `${prefix}p`), netns(t, `${prefix}q`)]);
  if (!o.ipv6) {
    await Promise.all(
      [host, pod, peer].map((ns) =>
        ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
      ),
    );
  }
  await veth('eth0', host, 'eth0', peer);
  await veth('vpod', host, 'eth0', pod);
  await host.sh('ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up && ip link set vpod up');
  await pod.sh('ip addr add 10.128.1.2/24 dev eth0 && ip link set eth0 up && ip route add default via 10.128.1.1');
  await peer.sh(
    [
      'ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up',
      'ip link add vx0 type vxlan id 42 local 192.0.2.2 remote 192.0.2.1 dev eth0 dstport 4789',
      'ip addr add 10.30.30.2/30 dev vx0 && ip link set vx0 up',
      'ip route add 10.128.1.0/24 via 10.30.30.1',
    ].join(' && '),
  );
  return { host, pod, peer };
}

/** island made cni0: put the pod's veth in it (a CNI's job, not island's). */
export async function plugPod(l: Lab): Promise<void> {
  await until(
    'cni0 to exist',
    () => l.host.exec(['ip', 'link', 'show', 'cni0']),
    (r) => r.code === 0,
  );
  await l.host.run(['ip', 'link', 'set', 'vpod', 'master', 'cni0']);
}

export const ping = (l: Lab) => l.pod.exec(['ping', '-n', '-c', '1', '-W', '1', '10.30.30.2']);

/** 2 MB from the pod to the peer, across the host's FORWARD and island's tunnel. */
export async function tcp(l: Lab, timeoutMs = 15_000) {
  return tcpTransfer({ from: nsEnd(l.pod), to: nsEnd(l.peer), address: '10.30.30.2', bytes: 2 * MB, timeoutMs });
}

/** TCP crosses: all of it, the same sha256 on both ends (ping alone does not say so). */
export async function works(t: Test, l: Lab, why: string): Promise<void> {
  const r = await tcp(l);
  t.ok(r.sha256Sent === r.sha256Received && r.received === 2 * MB, `TCP across the island: ${why} (${r.summary})`);
}

/** island's part of one family's filter table: its jumps with their position in FORWARD and INPUT, its chains and rules. */
export async function islandPart(ns: Netns, save = 'iptables-nft-save'): Promise<string[]> {
  const lines = (await ns.run([save, '-t', 'filter'])).split('\n');
  const part: string[] = [];
  for (const from of ['FORWARD', 'INPUT'])
    lines
      .filter((l) => l.startsWith(`-A ${from} `))
      .forEach((l, i) => {
        if (/ -[jg] ISLAND-/.test(l)) part.push(`${from} #${i + 1}: ${l}`);
      });
  for (const l of lines) if (l.startsWith(':ISLAND-')) part.push(l.replace(/ \[\d+:\d+\]$/, ''));
  for (const l of lines) if (l.startsWith('-A ISLAND-')) part.push(l);
  return part;
}

/**
 * Everything but island's part, counters and comments dropped: what island must never touch.
 * A table left with nothing but its built-in chains at policy ACCEPT is no table: writing
 * ISLAND-MSS makes iptables-nft create the mangle table, which stays empty after `down`.
 */
export async function foreignPart(ns: Netns, save: string): Promise<string[]> {
  const out = await ns.run([save]);
  const lines = out
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && !/ISLAND-/.test(l))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
  const kept: string[] = [];
  let table: string[] = [];
  for (const l of lines) {
    if (l.startsWith('*')) table = [l];
    else if (l !== 'COMMIT') (table.length ? table : kept).push(l);
    else {
      if (!table.slice(1).every((x) => /^:[A-Z]+ ACCEPT$/.test(x))) kept.push(...table, l);
      table = [];
    }
  }
  return kept;
}

export async function until<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 10));
    v = await fn();
  }
  return v;
}

export const started = (r: LogRecord) => r.msg === 'island daemon running';
export const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Run `adversary` against a running daemon; wait until island's part is back
 * exactly as `before`, then check (under policy DROP) that the pod's ping goes
 * through. Multi-command adversaries run with the daemon stopped (SIGSTOP), so
 * that all of it lands before island looks: the worst case, not a race.
 */
export async function survive(
  t: Test,
  l: Lab,
  d: Daemon,
  before: string[],
  adversary: string,
  o: { stop?: boolean; save?: string; tool?: string; timeoutMs?: number } = {},
): Promise<number> {
  const save = o.save ?? 'iptables-nft-save';
  if (o.stop) d.signal('SIGSTOP');
  const t0 = Date.now();
  const r = await l.host.sh(adversary);
  if (o.stop) {
    t.not(await islandPart(l.host, save), before, 'the adversary did damage island');
    d.signal('SIGCONT');
  }
  t.equal(r.code, 0, `adversary ran: ${r.stderr.trim()}`);
  const after = await until(
    "island's part back",
    () => islandPart(l.host, save),
    (p) => same(p, before),
    o.timeoutMs ?? 3000,
  );
  const ms = Date.now() - t0;
  t.strictSame(after, before, `island's part identical to before (back after ~${ms} ms)`);
  // the policy is not island's: set it to DROP (again) so that only island's rules can pass the ping
  await l.host.run([o.tool ?? 'iptables-nft', '-w', '-P', 'FORWARD', 'DROP']);
  const p = await until(
    'the ping through island',
    () => ping(l),
    (x) => x.code === 0,
    3000,
  );
  t.equal(p.code, 0, 'the forwarded ping works');
  // a ping proves little: the forwarded TCP of the pod crosses whole too
  await works(t, l, `after ${adversary}`);
  return ms;
}

export async function cpuSeconds(ns: Netns, pid: number): Promise<number> {
  const stat = (await ns.run(['cat', `/proc/${pid}/stat`])).split(') ')[1]?.split(' ') ?? [];
  return (Number(stat[11]) + Number(stat[12])) / 100;
}
