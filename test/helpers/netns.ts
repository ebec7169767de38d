/**
 * Network namespaces for kernel tests: each test gets its own hosts, deleted when the test ends.
 *
 * Names are `isl-<prefix>-<pid>-<rand>` so parallel test files and other users of this machine
 * never collide. Nothing here touches the host's own namespace: links are created directly
 * inside their namespace (`ip link add ... netns X`), and every command runs with `ip -n` or
 * `ip netns exec`.
 *
 * Cleanup has three lines of defence: `t.teardown` (normal end and failed tests), a process
 * 'exit' hook (a test file that exits early), and SIGTERM/SIGINT/SIGHUP handlers (tap's
 * timeout). Each kills the processes still inside the namespace, then deletes it.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { networkOf } from '../../src/netlink/ip.js';
import { deleteNamespaceSync, namespaceName } from './namespace.mjs';
import { exec as command, type ExecOptions, type ExecResult } from './spawn.mjs';
import { islandToml, vxlan } from './toml.mjs';

export type { ExecOptions, ExecResult };

export interface Netns {
  name: string;
  /** argv inside the namespace (no shell); never throws on a non-zero exit */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** like exec, but throws (with the command's stderr) unless it exits 0; returns stdout */
  run(cmd: string[], opts?: ExecOptions): Promise<string>;
  /** `bash -euo pipefail -c script` inside the namespace; never throws on a non-zero exit */
  sh(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** `ip -j -d ...args` inside the namespace, parsed (an empty answer is []); throws on failure */
  // biome-ignore lint/suspicious/noExplicitAny: ip's JSON has a different shape for every object type
  ipJson(args: string[]): Promise<any>;
  /** delete now (idempotent); teardown does this anyway */
  destroy(): Promise<void>;
}

const live = new Set<string>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
let hooked = false;

/** Throws with everything needed to understand a failed setup command. */
export async function mustRun(cmd: string[], opts?: ExecOptions): Promise<string> {
  const r = await command(cmd, opts);
  if (r.code !== 0) {
    throw new Error(`command failed (exit ${r.code}): ${cmd.join(' ')}\n${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Synchronous, for the exit hooks. */
function destroySync(name: string): void {
  deleteNamespaceSync(name);
  live.delete(name);
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const name of [...live]) destroySync(name);
  });
  for (const sig of SIGNALS) {
    const handler = () => {
      for (const name of [...live]) destroySync(name);
      for (const s of SIGNALS) process.removeListener(s, handlerFor[s]);
      // let any other handler (tap's) or the default action finish the job
      process.kill(process.pid, sig);
    };
    handlerFor[sig] = handler;
    process.on(sig, handler);
  }
}
const handlerFor = {} as Record<(typeof SIGNALS)[number], () => void>;

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('kernel tests need root (they create network namespaces); run them as root, they are not skipped');
  }
}

/** Names currently owned by this process (for tests of the harness itself). */
export function liveNamespaces(): string[] {
  return [...live];
}

export async function namespaceExists(name: string): Promise<boolean> {
  const out = await mustRun(['ip', '-j', 'netns', 'list']);
  const list = (out.trim() ? JSON.parse(out) : []) as { name: string }[];
  return list.some((n) => n.name === name);
}

/** A fresh namespace with `lo` up, deleted at the end of `t`. */
export async function netns(t: Test, prefix: string): Promise<Netns> {
  requireRoot();
  installHooks();
  const name = namespaceName(prefix);
  live.add(name);
  // a teardown that rejects makes tap drop the teardowns after it: report, never throw
  t.teardown(() =>
    destroy().catch((e: Error) => {
      console.error(`# netns teardown: ${e.message} (the exit hook tries again)`);
    }),
  );
  try {
    await mustRun(['ip', 'netns', 'add', name]);
  } catch (e) {
    live.delete(name);
    throw e;
  }
  await mustRun(['ip', '-n', name, 'link', 'set', 'lo', 'up']);

  async function destroy(): Promise<void> {
    if (!live.has(name)) return;
    const pids = await command(['ip', 'netns', 'pids', name]);
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const r = await command(['ip', 'netns', 'del', name]);
    if (r.code !== 0 && (await namespaceExists(name))) {
      throw new Error(`could not delete namespace ${name}: ${r.stderr.trim()}`);
    }
    live.delete(name);
  }

  const exec = (cmd: string[], opts?: ExecOptions) => command(['ip', 'netns', 'exec', name, ...cmd], opts);
  return {
    name,
    exec,
    run: (cmd, opts) => mustRun(['ip', 'netns', 'exec', name, ...cmd], opts),
    sh: (script, opts) => exec(['bash', '-euo', 'pipefail', '-c', script], opts),
    async ipJson(args) {
      const out = await mustRun(['ip', '-n', name, '-j', '-d', ...args]);
      return out.trim() === '' ? [] : JSON.parse(out);
    },
    destroy,
  };
}

/**
 * A veth "wire": `a` in nsA, its peer `b` in nsB, both created straight inside their namespaces,
 * so nothing appears in the host's own, even for an instant.
 */
export function veth(a: string, nsA: Pick<Netns, 'name'>, b: string, nsB: Pick<Netns, 'name'>): Promise<string> {
  return mustRun(['ip', 'link', 'add', a, 'netns', nsA.name, 'type', 'veth', 'peer', 'name', b, 'netns', nsB.name]);
}

/** `ufw` inside `ns` only: ip netns exec binds /etc/netns/NAME/ufw (a copy of /etc/ufw) over /etc/ufw. */
export async function ufw(t: Test, ns: Netns): Promise<(...args: string[]) => Promise<string>> {
  const dir = join('/etc/netns', ns.name);
  await mkdir(dir, { recursive: true });
  await cp('/etc/ufw', join(dir, 'ufw'), { recursive: true });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return (...args: string[]) => ns.run(['ufw', ...args]);
}

/** Underlay plan of the NAT topology. TEST-NET-2 plays the internet; 10.77.0.0/24 the LAN behind the NAT. */
export const NAT_PLAN = {
  /** public host's underlay address, on pub's `eth0` */
  pubAddr: '198.51.100.1',
  /** NAT router's address on the public side (`wan0`): what pub sees as the private host's source */
  natPublicAddr: '198.51.100.2',
  /** NAT router's address on the LAN (`lan0`), the private host's default gateway */
  natPrivateAddr: '10.77.0.1',
  /** private host's underlay address, on priv's `eth0` */
  privAddr: '10.77.0.2',
  publicPrefix: 24,
  privatePrefix: 24,
  /** underlay device name in both pub and priv */
  dev: 'eth0',
} as const;

/**
 * The [[tunnel]] one end of the NAT topology declares: vx0, VNI 333, UDP 5533 with the source
 * port pinned (so the NAT keeps one mapping), over eth0, with its inner address in a /30, and
 * `extra` lines (keepalive, peer...) inside the table.
 */
export function natTunnel(o: { local: string; remote: string; me: string; extra?: string }): string {
  const tunnel = vxlan({
    vni: 333,
    local: o.local,
    remote: o.remote,
    dev: NAT_PLAN.dev,
    port: 5533,
    source_port: 5533,
    addresses: [`${o.me}/30`],
  });
  return `\n${islandToml({ tunnel: [tunnel] }).trimEnd()}\n${o.extra ?? ''}\n`;
}

/**
 * The NAT topology as one island file, the same on both sides: sites pub and priv, each its own
 * gateway (priv behind the NAT, seen from pub as the NAT's outside address), then `rest` (the
 * [[tunnel]] with its `ends`, [daemon]...), as a lab would write it. QEMU guests use it too:
 * their addresses are the plan's.
 */
export function natIsland(rest: string, comment = 'the same file on both sides of the NAT'): string {
  const p = NAT_PLAN;
  return `# ${comment}
[[site]]
name = "pub"
subnet = "${networkOf(p.pubAddr, p.publicPrefix)}/${p.publicPrefix}"
gateway = "pub"

[[site]]
name = "priv"
subnet = "${networkOf(p.privAddr, p.privatePrefix)}/${p.privatePrefix}"
gateway = "priv"

[[host]]
name = "pub"
address = "${p.pubAddr}"

[[host]]
name = "priv"
address = "${p.privAddr}"
public = "${p.natPublicAddr}"
${rest}`;
}

export interface NatTopologyOptions {
  /** namespace name prefix (default "nat"): names become isl-<prefix>pub-..., isl-<prefix>nat-..., isl-<prefix>priv-... */
  prefix?: string;
  /**
   * UDP port on which the NAT router drops NEW inbound packets (default 5533, the tunnel port).
   * Dropped in INPUT, before conntrack confirms them, so a public host that sends first leaves
   * no UNREPLIED entry behind that would make MASQUERADE move the private host to another port.
   * null: no such rule.
   */
  dropUnsolicitedUdpPort?: number | null;
  /** keep IPv6 on (default off: no RS/MLD/DAD packets leave before the test wants them to) */
  ipv6?: boolean;
}

export interface NatTopology {
  /** public host */
  pub: Netns;
  /** NAT router: MASQUERADE out of wan0, stateful (drops NEW wan0 → lan0) */
  nat: Netns;
  /** host behind the NAT, default route via the NAT router */
  priv: Netns;
  pubAddr: string;
  natPublicAddr: string;
  natPrivateAddr: string;
  privAddr: string;
  /** underlay device in pub and in priv */
  dev: string;
}

/**
 *   pub [eth0 198.51.100.1/24] ── [wan0 198.51.100.2/24] nat [lan0 10.77.0.1/24] ── [eth0 10.77.0.2/24] priv
 */
export async function natTopology(t: Test, opts: NatTopologyOptions = {}): Promise<NatTopology> {
  const prefix = opts.prefix ?? 'nat';
  const port = opts.dropUnsolicitedUdpPort === undefined ? 5533 : opts.dropUnsolicitedUdpPort;
  const [pub, nat, priv] = await Promise.all([
    netns(t, `${prefix}pub`),
    netns(t, `${prefix}nat`),
    netns(t, `${prefix}priv`),
  ]);
  const p = NAT_PLAN;
  if (!opts.ipv6) {
    await Promise.all(
      [pub, nat, priv].map((ns) =>
        ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
      ),
    );
  }
  await veth(p.dev, pub, 'wan0', nat);
  await veth('lan0', nat, p.dev, priv);
  const batch = (ns: Netns, lines: string[]) =>
    mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  await Promise.all([
    batch(pub, [`addr add ${p.pubAddr}/${p.publicPrefix} dev ${p.dev}`, `link set ${p.dev} up`]),
    batch(nat, [
      `addr add ${p.natPublicAddr}/${p.publicPrefix} dev wan0`,
      'link set wan0 up',
      `addr add ${p.natPrivateAddr}/${p.privatePrefix} dev lan0`,
      'link set lan0 up',
    ]),
    batch(priv, [
      `addr add ${p.privAddr}/${p.privatePrefix} dev ${p.dev}`,
      `link set ${p.dev} up`,
      `route add default via ${p.natPrivateAddr}`,
    ]),
  ]);
  const rules = [
    '*nat',
    '-A POSTROUTING -o wan0 -j MASQUERADE',
    'COMMIT',
    '*filter',
    // a NAT is also a stateful firewall: nothing from outside starts a connection inward
    '-A FORWARD -i wan0 -o lan0 -m conntrack --ctstate NEW,INVALID -j DROP',
    ...(port === null ? [] : [`-A INPUT -i wan0 -p udp --dport ${port} -m conntrack --ctstate NEW -j DROP`]),
    'COMMIT',
  ];
  await nat.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await mustRun(['ip', 'netns', 'exec', nat.name, 'iptables-restore'], { input: `${rules.join('\n')}\n` });
  return { pub, nat, priv, ...p };
}
