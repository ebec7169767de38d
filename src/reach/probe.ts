/**
 * `island test`'s checks: ICMP through iputils' ping (Node has no raw sockets), a TCP connect
 * per port, and the kernel's route to each target (RTM_GETROUTE). Probes run a bounded number
 * at a time, each bounded by its timeout, all of them by a total budget.
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { runTool, ToolError, type ToolResult } from '../firewall/tools.js';
import { NetlinkError, type RouteLookup, RTN_LOCAL, Rtnl } from '../netlink/rtnl.js';
import {
  type IcmpResult,
  type NotRun,
  type PathResult,
  result,
  type Target,
  type TargetResult,
  type TcpResult,
} from './targets.js';

export interface ProbeOptions {
  /** per probe */
  timeoutMs: number;
  /** probes in flight at once */
  concurrency: number;
  /** probes not started by then are not run */
  totalMs: number;
}

/** What ping printed, as a result: its reply's rtt, an ICMP error, a local refusal or a timeout. */
export function parsePing(r: ToolResult): IcmpResult {
  const text = `${r.stdout}\n${r.stderr}`;
  // "64 bytes from 10.3.1.2: icmp_seq=1 ttl=64 time=0.045 ms" (icmp_req= before iputils s20121221)
  const reply = /bytes from .*\b(?:icmp_)?(?:seq|req)=\d+.*\btime[=<] ?([\d.]+) ?ms/.exec(text);
  if (reply) return { state: 'ok', rttMs: Number(reply[1]) };
  // "rtt min/avg/max/mdev = 0.045/0.045/0.045/0.000 ms" ("round-trip min/avg/max = ..." elsewhere)
  const stats = /(?:rtt|round-trip) min\/avg\/max(?:\/\w+)? = [\d.]+\/([\d.]+)\//.exec(text);
  if (stats && r.code === 0) return { state: 'ok', rttMs: Number(stats[1]) };
  // "From 10.3.1.1 icmp_seq=1 Destination Host Unreachable"
  const icmp = /^From (\S+?):? (?:(?:icmp_)?(?:seq|req)=\d+ )?(.+)$/m.exec(text);
  if (icmp) return { state: 'unreachable', detail: `${icmp[2]?.trim()} from ${icmp[1]}` };
  const said = /^ping: (.+)$/m.exec(r.stderr)?.[1]?.trim();
  if (said) {
    // EACCES on connect(): a prohibit route or a firewall's REJECT in OUTPUT
    if (/ping broadcast/.test(said)) return { state: 'unreachable', detail: 'prohibited here (route or firewall)' };
    const m = /^connect: (Network is unreachable|No route to host)$/.exec(said);
    if (m?.[1]) return { state: 'unreachable', detail: m[1] === 'No route to host' ? 'no route to host' : 'no route' };
    return { state: 'error', detail: said };
  }
  if (r.code === 1 || /\b0 received\b/.test(text)) return { state: 'timeout' };
  return { state: 'error', detail: `ping exited ${r.code}` };
}

/** `ping -n -c 1 -W SECONDS ADDRESS` (argv, no shell). */
export async function ping(address: string, timeoutMs: number): Promise<IcmpResult> {
  const argv = ['ping', '-n', '-c', '1', '-W', String(timeoutMs / 1000), address];
  try {
    // ping ends itself after -W; the kill is for a ping that hangs (name service, a stuck tty)
    return parsePing(await runTool(argv, undefined, timeoutMs + 2000, 'iputils-ping'));
  } catch (e) {
    if (e instanceof ToolError) return { state: 'error', detail: e.message };
    throw e;
  }
}

/** A TCP connect: open (with the handshake's time), refused, timeout, or what the kernel said. */
export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<TcpResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = connect({ host: address, port });
    const done = (r: TcpResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ port, state: 'timeout' }), timeoutMs);
    sock.once('connect', () => done({ port, state: 'open', connectMs: performance.now() - t0 }));
    sock.once('error', (e: NodeJS.ErrnoException) => done(tcpError(port, e)));
  });
}

function tcpError(port: number, e: NodeJS.ErrnoException): TcpResult {
  switch (e.code) {
    case 'ECONNREFUSED':
      return { port, state: 'refused' };
    case 'ETIMEDOUT':
      return { port, state: 'timeout' };
    case 'ENETUNREACH':
      return { port, state: 'unreachable', detail: 'no route' };
    case 'EHOSTUNREACH':
      return { port, state: 'unreachable', detail: 'no route to host' };
    case 'EACCES':
    case 'EPERM':
      return { port, state: 'unreachable', detail: 'prohibited here (route or firewall)' };
    default:
      return { port, state: 'error', detail: e.code ?? e.message };
  }
}

/** The kernel's route in `ip route get`'s words: "via 198.51.100.1 dev eth0", "dev vx0", "local". */
export function describeRoute(r: RouteLookup, linkName: (ifindex: number) => string | undefined): PathResult {
  if (r.type === RTN_LOCAL) return { kind: 'local', text: 'local' };
  const dev = r.oif === undefined ? undefined : (linkName(r.oif) ?? `if${r.oif}`);
  const words = [r.gateway && `via ${r.gateway}`, dev && `dev ${dev}`].filter(Boolean);
  return {
    kind: 'route',
    text: words.join(' ') || 'route',
    ...(dev ? { dev } : {}),
    ...(r.gateway ? { via: r.gateway } : {}),
    ...(r.prefsrc ? { src: r.prefsrc } : {}),
  };
}

/** A refused lookup, by the kernel's errno: no route, or a route that says no. */
export function describeRouteError(e: NetlinkError): PathResult {
  const why: Record<string, string> = {
    ENETUNREACH: 'no route',
    EHOSTUNREACH: 'unreachable route',
    EACCES: 'prohibit route',
    EINVAL: 'blackhole route',
  };
  return { kind: 'none', text: why[e.code] ?? `no route (${e.code})` };
}

/** Each target's path, one lookup at a time on one socket; link names from one dump. */
export async function paths(list: Target[]): Promise<PathResult[]> {
  const rtnl = new Rtnl();
  try {
    const names = new Map((await rtnl.links()).map((l) => [l.ifindex, l.name]));
    const out: PathResult[] = [];
    for (const t of list) {
      try {
        out.push(describeRoute(await rtnl.routeGet(t.address), (i) => names.get(i)));
      } catch (e) {
        if (!(e instanceof NetlinkError)) throw e;
        out.push(describeRouteError(e));
      }
    }
    return out;
  } finally {
    rtnl.close();
  }
}

/** A probe, and what it is worth when the total budget ran out before it started. */
export interface Job<T> {
  run: () => Promise<T>;
  late: () => T;
}

/** Runs the jobs at most `limit` at a time, in order; one not started by `deadline` is late(). */
export async function bounded<T>(jobs: Job<T>[], limit: number, deadline: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i] as Job<T>;
      out[i] = Date.now() < deadline ? await job.run() : job.late();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}

/**
 * Every check of every target; a target whose address is this host's own (path local) is
 * skipped. The TCP connects run first, the pings after them: starting a process blocks node's
 * event loop for a few milliseconds, which would count in every connect time measured meanwhile.
 */
export async function probeAll(list: Target[], o: ProbeOptions): Promise<TargetResult[]> {
  const deadline = Date.now() + o.totalMs;
  const routes = await paths(list);
  const notRun: NotRun = { state: 'not run', detail: `over the ${o.totalMs / 1000} s budget` };
  const probed = list.filter((_, i) => routes[i]?.kind !== 'local');
  const tcp = await bounded(
    probed.flatMap((t) =>
      t.tcp.map((port) => ({ run: () => tcpConnect(t.address, port, o.timeoutMs), late: () => ({ port, ...notRun }) })),
    ),
    o.concurrency,
    deadline,
  );
  const icmp = await bounded(
    probed.map((t) => ({ run: () => ping(t.address, o.timeoutMs), late: (): IcmpResult => notRun })),
    o.concurrency,
    deadline,
  );
  let k = 0;
  return list.map((t, i) => {
    const path = routes[i] ?? { kind: 'none', text: 'no route' };
    if (path.kind === 'local') return result(t, path, undefined, []);
    const j = k++;
    const ports = tcp.splice(0, t.tcp.length);
    return result(t, path, icmp[j], ports);
  });
}
