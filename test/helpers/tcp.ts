/**
 * TCP across the island, as kubelet, the API server and the CNI's own tunnels use it: ping
 * alone proves nothing (a VXLAN across a NAT can carry pings and drop every TCP segment, see
 * DESIGN.md on TX checksum offload).
 *
 * - tcpTransfer(): N bytes (default 20 MB) of random data from one end to the other over one
 *   connection; sha256 computed on both sides, the source address the server saw, timings.
 * - tcpListen() + tcpConnect(): a listener (e.g. on 10250) that tells every client which address
 *   it sees; a client that connects to several of them at once (reachability, and no NAT).
 *
 * Both ends run test/helpers/tcp-peer.mjs with node (no extra package): in a test namespace
 * (nsEnd) or in a QEMU guest (guestEnd). Every run is bounded: the script ends itself at its
 * deadline, the caller kills it a little later, and a failure throws with what each end saw.
 * Only addresses inside the test's own namespaces (or guests) are ever connected to.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { ExecResult, Netns } from './netns.js';
import { privateMounts } from './spawn.mjs';

export const TCP_PEER = join(dirname(fileURLToPath(import.meta.url)), 'tcp-peer.mjs');

export const MB = 1024 * 1024;

/** Where one end of a TCP test runs. */
export interface TcpEnd {
  /** for messages */
  name: string;
  /** `node tcp-peer.mjs MODE JSON` there, killed after killMs; never throws */
  peer(mode: string, args: object, killMs: number): Promise<ExecResult>;
}

/** node's environment: tap's loaders (NODE_OPTIONS) are for the test process, not for the peer */
function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * An end inside a test namespace, with this process's node. With hostsFile, its processes see
 * that file as /etc/hosts (bind-mounted in a private mount namespace of their own), so names
 * resolve as on that host.
 */
export function nsEnd(ns: Pick<Netns, 'name' | 'exec'>, o: { name?: string; hostsFile?: string } = {}): TcpEnd {
  const hosts = o.hostsFile ? privateMounts('mount --bind "$0" /etc/hosts && exec "$@"', o.hostsFile) : [];
  return {
    name: o.name ?? ns.name,
    peer: (mode, args, killMs) =>
      ns.exec([...hosts, process.execPath, TCP_PEER, mode, JSON.stringify(args)], {
        timeoutMs: killMs,
        env: peerEnv(),
      }),
  };
}

/** What guestEnd needs of a QEMU guest (test/helpers/qemu.ts's Guest). */
export interface GuestLike {
  name: string;
  /** the host directory the guest sees as /mnt/q */
  share: string;
  run(script: string, timeoutMs?: number): Promise<ExecResult>;
}

/** An end inside a QEMU guest, with the guest's own node (the script is copied into its share). */
export function guestEnd(g: GuestLike): TcpEnd {
  copyFileSync(TCP_PEER, join(g.share, 'tcp-peer.mjs'));
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  return {
    name: g.name,
    peer: (mode, args, killMs) =>
      // timeout(1) in the guest too: the agent runs one script at a time
      g.run(
        `timeout -s KILL ${Math.ceil(killMs / 1000)} node /mnt/q/tcp-peer.mjs ${mode} ${quote(JSON.stringify(args))}`,
        killMs + 10_000,
      ),
  };
}

/** The JSON lines an end printed (anything else is kept for the error message). */
// biome-ignore lint/suspicious/noExplicitAny: the peer's records are plain JSON
type PeerRecord = Record<string, any>;
function records(r: ExecResult): PeerRecord[] {
  const recs: PeerRecord[] = [];
  for (const line of r.stdout.split('\n')) {
    try {
      const rec = JSON.parse(line);
      if (rec && typeof rec === 'object') recs.push(rec);
    } catch {
      // not a record
    }
  }
  return recs;
}
const last = (r: ExecResult, event: string) =>
  records(r)
    .filter((x) => x.event === event)
    .at(-1);
const show = (r: ExecResult) => `exit ${r.code}: ${`${r.stdout.trim()}\n${r.stderr.trim()}`.trim() || '(no output)'}`;

export interface TransferOptions {
  /** the client: the data leaves from here */
  from: TcpEnd;
  /** the server: the data arrives here */
  to: TcpEnd;
  /** the address the client connects to (one of `to`'s) */
  address: string;
  /** the server's port (default: a random one in 20000-29999) */
  port?: number;
  /** bytes to send (default 20 MB) */
  bytes?: number;
  /** the client's source address (default: the kernel's choice) */
  source?: string;
  /** whole run, connection attempts included (default 30 s) */
  timeoutMs?: number;
  /** one connection attempt (default 1 s): the client retries until the deadline */
  attemptMs?: number;
}

export interface TcpTransfer {
  /** what the client sent and the server received */
  sent: number;
  received: number;
  sha256Sent: string;
  sha256Received: string;
  /** the source address the server saw */
  seenFrom: string;
  /** the client's own address on that connection */
  clientAddress: string;
  /** client start → connection established (retries included) */
  connectMs: number;
  attempts: number;
  /** first byte sent → the server's report back */
  transferMs: number;
  /** megabits per second over transferMs */
  mbps: number;
  /** one line for t.comment */
  summary: string;
}

/**
 * Sends `bytes` random bytes from `from` to `to` over one TCP connection. Throws, with both
 * ends' output, when the transfer does not complete within timeoutMs; returns what was sent
 * and received (compare them, or use checkTransfer).
 */
export async function tcpTransfer(o: TransferOptions): Promise<TcpTransfer> {
  const bytes = o.bytes ?? 20 * MB;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const port = o.port ?? 20000 + Math.floor(Math.random() * 10000);
  // the server waits a little longer than the client, which then always speaks first on a timeout
  const killMs = timeoutMs + 5000;
  const label = `TCP ${fmtBytes(bytes)} ${o.from.name} → ${o.address}:${port} (${o.to.name})`;
  const [srv, cli] = await Promise.all([
    o.to.peer('server', { port, timeoutMs: timeoutMs + 1000 }, killMs),
    o.from.peer(
      'client',
      { host: o.address, port, bytes, source: o.source, timeoutMs, attemptMs: o.attemptMs ?? 1000 },
      killMs,
    ),
  ]);
  const sent = last(cli, 'sent');
  const received = last(srv, 'received');
  if (!sent || !received || cli.code !== 0 || srv.code !== 0) {
    throw new Error(
      `${label} failed within ${timeoutMs / 1000} s: ${explain(cli, srv, bytes)}\n` +
        `client (${o.from.name}) ${show(cli)}\nserver (${o.to.name}) ${show(srv)}`,
    );
  }
  const transferMs = Number(sent.transferMs);
  const r: Omit<TcpTransfer, 'summary'> = {
    sent: Number(sent.bytes),
    received: Number(received.bytes),
    sha256Sent: String(sent.sha256),
    sha256Received: String(received.sha256),
    seenFrom: String(received.peer),
    clientAddress: String(sent.local),
    connectMs: Number(sent.connectMs),
    attempts: Number(sent.attempts),
    transferMs,
    mbps: (Number(received.bytes) * 8) / 1e6 / (Math.max(transferMs, 1) / 1000),
  };
  const same = r.sha256Sent === r.sha256Received && r.sent === r.received;
  return {
    ...r,
    summary:
      `${label}: ${fmtBytes(r.received)} in ${r.transferMs} ms (${r.mbps.toFixed(0)} Mbit/s), ` +
      `connected after ${r.connectMs} ms (${r.attempts} attempt${r.attempts > 1 ? 's' : ''}), ` +
      `sha256 ${same ? `${r.sha256Received.slice(0, 12)}… on both sides` : 'DIFFERS'}, server saw ${r.seenFrom}`,
  };
}

/** A readable reason for a failed transfer, from what each end reported last. */
function explain(cli: ExecResult, srv: ExecResult, bytes: number): string {
  const c = records(cli).at(-1);
  const s = records(srv)
    .filter((x) => x.event !== 'listening')
    .at(-1);
  const listening = last(srv, 'listening');
  if (!listening) return `the server never listened (${s?.error ?? `exit ${srv.code}`})`;
  if (c?.event === 'timeout' && c.phase === 'connect') {
    return `no connection (${c.attempts} attempts failed, the last with ${c.lastError ?? '?'}): the path or its reply path is broken`;
  }
  if (c?.event === 'timeout' || c?.event === 'error') {
    const got = s?.bytes ?? 0;
    return (
      `connected, then stalled: the client wrote ${fmtBytes(c.sent ?? 0)} of ${fmtBytes(bytes)} ` +
      `(phase ${c.phase}${c.error ? `, ${c.error}` : ''}), the server received ${fmtBytes(got)}` +
      (s?.lastByteAgoMs != null ? `, the last of it ${s.lastByteAgoMs} ms before giving up` : '')
    );
  }
  return `unexpected end (client exit ${cli.code}, server exit ${srv.code})`;
}

export function fmtBytes(n: number): string {
  if (n >= MB) return `${(n / MB).toFixed(n % MB === 0 ? 0 : 1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${n} B`;
}

/**
 * The usual assertions on a transfer: every byte arrived, the same bytes (sha256 on both
 * sides), and, when given, the server saw the client's own address (no NAT on the way).
 */
export function checkTransfer(
  t: Test,
  r: TcpTransfer,
  o: {
    bytes: number;
    /** the client's address the server must see, or a list of the client's addresses, any of which */
    source?: string | string[];
    what?: string;
  },
): void {
  const what = o.what ? `${o.what}: ` : '';
  t.equal(r.received, o.bytes, `${what}${fmtBytes(o.bytes)} received`);
  t.equal(r.sha256Received, r.sha256Sent, `${what}sha256 the same on both sides`);
  if (typeof o.source === 'string') t.equal(r.seenFrom, o.source, `${what}the server saw ${o.source} (no NAT)`);
  else if (o.source) {
    t.ok(o.source.includes(r.seenFrom), `${what}the server saw ${r.seenFrom}, one of the client's own (no NAT)`, {
      own: o.source,
    });
  }
  t.comment(r.summary);
}

/** One end of a tunnel for tcpEachWay: where its TCP end runs, and its address inside the tunnel. */
export interface TunnelEnd {
  end: TcpEnd;
  address: string;
}

/**
 * `bytes` (default 2 MB) from a to b, then from b to a, across a tunnel, each checked with
 * checkTransfer: all of it, the same sha256, the sender's own address at the far end. Where a
 * test says traffic crosses, this says TCP does, not only ping.
 */
export async function tcpEachWay(
  t: Test,
  a: TunnelEnd,
  b: TunnelEnd,
  o: { bytes?: number; what?: string; timeoutMs?: number } = {},
): Promise<void> {
  const bytes = o.bytes ?? 2 * MB;
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const r = await tcpTransfer({ from: from.end, to: to.end, address: to.address, bytes, timeoutMs: o.timeoutMs });
    const what = `${o.what ? `${o.what}: ` : ''}TCP ${from.address} → ${to.address}`;
    checkTransfer(t, r, { bytes, source: from.address, what });
  }
}

export interface Listener {
  port: number;
  /** every connection the listener answered, as it saw it */
  connections: { peer: string; peerPort: number; local: string }[];
  stop(): void;
}

const listeners = new Set<ChildProcess>();
let hooked = false;

/**
 * A listener on `port` in ns (every address, or `bind`), answering each connection with the
 * client address it sees; stopped at the end of t (and killed with the namespace anyway).
 */
export async function tcpListen(t: Test, ns: Netns, port: number, bind?: string): Promise<Listener> {
  const args = JSON.stringify({ port, bind, lifetimeMs: 3_600_000 });
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, TCP_PEER, 'listen', args], {
    env: peerEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  listeners.add(child);
  child.once('exit', () => listeners.delete(child));
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of listeners) c.kill('SIGKILL');
    });
  }
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  t.teardown(stop);
  const connections: Listener['connections'] = [];
  let output = '';
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      stop();
      reject(new Error(`TCP listener on ${ns.name}:${port}: ${why}\n${output.trim()}`));
    };
    const timer = setTimeout(() => fail('not listening after 10 s'), 10_000);
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        let rec: PeerRecord;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.event === 'listening') {
          clearTimeout(timer);
          resolve({ port: rec.port, connections, stop });
        } else if (rec.event === 'connection') {
          connections.push({ peer: rec.peer, peerPort: rec.peerPort, local: rec.local });
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      output += d;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(`exited (${code ?? signal}) before listening`);
    });
  });
}

export interface ConnectTarget {
  host: string;
  port: number;
}

export type ConnectResult = ConnectTarget &
  (
    | { ok: true; seenAs: string; local: string; attempts: number; connectMs: number; ms: number }
    | { ok: false; error: string; attempts: number; ms: number }
  );

export interface ConnectOptions {
  /** the client's source address (default: the kernel's choice) */
  source?: string;
  /** per target (default 5 s) */
  timeoutMs?: number;
  /** retry refused, unreachable or unanswered attempts until timeoutMs (default: one attempt) */
  wait?: boolean;
  /** one attempt when waiting (default 1 s) */
  attemptMs?: number;
}

/**
 * Connects from `from` to every target at once (listeners of tcpListen); each result says
 * whether the connection was made and which address the listener saw. Throws only when the
 * client itself could not run.
 */
export async function tcpConnect(
  from: TcpEnd,
  targets: ConnectTarget[],
  o: ConnectOptions = {},
): Promise<ConnectResult[]> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const r = await from.peer(
    'hello',
    { targets, source: o.source, timeoutMs, wait: o.wait ?? false, attemptMs: o.attemptMs ?? 1000 },
    timeoutMs + 5000,
  );
  const hello = last(r, 'hello');
  if (r.code !== 0 || !hello) throw new Error(`TCP connect check from ${from.name} did not run: ${show(r)}`);
  return hello.results as ConnectResult[];
}
