/**
 * The lab of etc/examples/lab.toml in network namespaces: two sites, a NAT between them, five
 * hosts that island must join into one island.
 *
 *   sopnode router (and the internet)                       lab NAT (MASQUERADE, stateful)
 *   br0 198.51.100.1/24  lab0 203.0.113.1/24 ────────────── wan0 203.0.113.2/24  br0 192.168.3.1/24
 *    ├─ sopnode-l1 eth0 198.51.100.50 (gateway)                                   ├─ faraday eth0 192.168.3.100 (gateway)
 *    └─ sopnode-w2 eth0 198.51.100.52                                             ├─ fit1    eth0 192.168.3.11
 *                                                                                 └─ fit2    eth0 192.168.3.12
 *
 * - Both LANs are Linux bridges inside their router's namespace, as real lab routers, cni0 and
 *   docker0 are (with br_netfilter's default bridge-nf-call-iptables = 1): that is the shape in
 *   which a VXLAN with TX checksum offload on carries pings and loses TCP (DESIGN.md).
 * - The lab NAT masquerades out of wan0 and lets nothing new in: unsolicited UDP to it is
 *   dropped in INPUT (before conntrack confirms it, so no stale mapping forms) and nothing from
 *   wan0 starts a forwarded connection.
 * - The sopnode router plays the internet: plain routing, and like a provider it drops private
 *   source addresses (strict rp_filter), so a reply that slips out of the NAT unchanged is lost.
 * - Both gateways start with `iptables -P FORWARD DROP`, as docker leaves it.
 * - Every host has its own ISLAND_RUNTIME_DIR (control socket) and its own hosts file
 *   (ISLAND_HOSTS_FILE), which its TCP clients see as /etc/hosts (a private mount namespace per
 *   client): the machine's /run/island and /etc/hosts are never used.
 * - IPv6 is off everywhere: nothing crosses before the test sends it.
 *
 * handIsland() builds by hand, with ip/ethtool/iptables, an island with the same effect as the
 * one island derives from the file: the harness's own check that it carries TCP, independent
 * of island.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { mustRun, type Netns, netns, veth } from './netns.js';
import { nsEnd, type TcpEnd, tcpConnect } from './tcp.js';

/** Addresses of etc/examples/lab.toml (and the two fit nodes the file does not name). */
export const LAB_PLAN = {
  sopnode: { subnet: '198.51.100.0/24', router: '198.51.100.1' },
  r2lab: { subnet: '192.168.3.0/24', router: '192.168.3.1' },
  internet: { router: '203.0.113.1', natOutside: '203.0.113.2', prefix: 24 },
  hosts: {
    l1: { name: 'sopnode-l1', site: 'sopnode', address: '198.51.100.50' },
    w2: { name: 'sopnode-w2', site: 'sopnode', address: '198.51.100.52' },
    faraday: { name: 'faraday', site: 'r2lab', address: '192.168.3.100' },
    fit1: { name: 'fit1', site: 'r2lab', address: '192.168.3.11' },
    fit2: { name: 'fit2', site: 'r2lab', address: '192.168.3.12' },
  },
  /** the tunnel of the file: its inner addresses and ports */
  tunnel: { name: 'vx0', vni: 42, port: 5533, sopnode: '10.3.1.2', r2lab: '10.3.1.3', prefix: 24 },
} as const;

export type HostKey = keyof typeof LAB_PLAN.hosts;
export const HOST_KEYS = Object.keys(LAB_PLAN.hosts) as HostKey[];

export interface LabHost {
  key: HostKey;
  /** the host's name in the lab (fit1 and fit2 are not named in the file) */
  name: string;
  site: 'sopnode' | 'r2lab';
  /** its address on its site's LAN (eth0) */
  address: string;
  ns: Netns;
  /** environment for island on this host: its own runtime dir and hosts file, no ISLAND_HOST */
  env: NodeJS.ProcessEnv;
  /** the file island writes as this host's /etc/hosts */
  hostsFile: string;
  /** a TCP end on this host whose processes see hostsFile as /etc/hosts */
  tcp: TcpEnd;
}

export interface Lab {
  /** the sopnode router, which is also the internet (plain routing, no NAT) */
  router: Netns;
  /** the lab's NAT router */
  nat: Netns;
  hosts: Record<HostKey, LabHost>;
  /** every host, in HOST_KEYS order */
  all: LabHost[];
  /** how long building took */
  buildMs: number;
}

const HOSTS_SEED = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';

/** Builds the lab; every namespace is deleted at the end of t, failed or not. */
export async function buildLab(t: Test, prefix = 'lab'): Promise<Lab> {
  const t0 = performance.now();
  const keys = HOST_KEYS;
  const [router, nat, ...hostNs] = await Promise.all([
    netns(t, `${prefix}-rt`),
    netns(t, `${prefix}-nat`),
    ...keys.map((k) => netns(t, `${prefix}-${k}`)),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'island-lab-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const hosts = {} as Record<HostKey, LabHost>;
  await Promise.all(
    keys.map(async (key, i) => {
      const ns = hostNs[i] as Netns;
      const plan = LAB_PLAN.hosts[key];
      const home = join(dir, key);
      await mustRun(['mkdir', '-p', join(home, 'run')]);
      const hostsFile = join(home, 'hosts');
      await writeFile(hostsFile, HOSTS_SEED, { mode: 0o644 });
      hosts[key] = {
        key,
        name: plan.name,
        site: plan.site,
        address: plan.address,
        ns,
        // ISLAND_HOST undefined: the variable is left out, the host finds itself by its address
        env: { ISLAND_RUNTIME_DIR: join(home, 'run'), ISLAND_HOSTS_FILE: hostsFile, ISLAND_HOST: undefined },
        hostsFile,
        tcp: nsEnd(ns, { name: plan.name, hostsFile }),
      };
    }),
  );
  const all = keys.map((k) => hosts[k]);

  // IPv6 off (no RS/MLD/DAD through the tunnel), forwarding on the routers
  await Promise.all(
    [router, nat, ...hostNs].map((ns) =>
      ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
    ),
  );

  // links, each end created straight inside its namespace
  await veth('lab0', router, 'wan0', nat);
  for (const h of all) {
    const [gw, port] = h.site === 'sopnode' ? [router, `p-${h.key}`] : [nat, `p-${h.key}`];
    await veth(port, gw, 'eth0', h.ns);
  }
  const batch = (ns: Netns, lines: string[]) =>
    mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  const bridge = (ports: string[], address: string) => [
    'link add br0 type bridge',
    ...ports.flatMap((p) => [`link set ${p} master br0`, `link set ${p} up`]),
    `addr add ${address} dev br0`,
    'link set br0 up',
  ];
  const ports = (site: string) => all.filter((h) => h.site === site).map((h) => `p-${h.key}`);
  const P = LAB_PLAN;
  await Promise.all([
    batch(router, [
      ...bridge(ports('sopnode'), `${P.sopnode.router}/24`),
      `addr add ${P.internet.router}/${P.internet.prefix} dev lab0`,
      'link set lab0 up',
    ]),
    batch(nat, [
      ...bridge(ports('r2lab'), `${P.r2lab.router}/24`),
      `addr add ${P.internet.natOutside}/${P.internet.prefix} dev wan0`,
      'link set wan0 up',
      `route add default via ${P.internet.router}`,
    ]),
    ...all.map((h) =>
      batch(h.ns, [
        `addr add ${h.address}/24 dev eth0`,
        'link set eth0 up',
        `route add default via ${h.site === 'sopnode' ? P.sopnode.router : P.r2lab.router}`,
      ]),
    ),
  ]);
  // the internet carries no private source address (providers filter them: uRPF, bogons). Without
  // this, a fit node whose route through faraday is gone would still answer w2 through the NAT
  // unchanged: the lab NAT's conntrack saw w2's SYN on its bridge (br_netfilter), so the reply
  // counts as part of that connection and escapes MASQUERADE
  await router.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=1']);
  await nat.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const natRules = [
    '*nat',
    '-A POSTROUTING -o wan0 -j MASQUERADE',
    'COMMIT',
    '*filter',
    // unsolicited UDP to the NAT itself is dropped before conntrack confirms it: a far end that
    // speaks first leaves no UNREPLIED entry that would move the inner host to another port
    '-A INPUT -i wan0 -p udp -m conntrack --ctstate NEW,INVALID -j DROP',
    // a NAT is a stateful firewall too: only replies (ESTABLISHED, RELATED) come in
    '-A FORWARD -i wan0 -m conntrack --ctstate NEW,INVALID -j DROP',
    'COMMIT',
  ];
  await mustRun(['ip', 'netns', 'exec', nat.name, 'iptables-restore'], { input: `${natRules.join('\n')}\n` });
  // the gateways as docker leaves them
  await Promise.all([hosts.l1, hosts.faraday].map((h) => h.ns.run(['iptables', '-P', 'FORWARD', 'DROP'])));

  return { router, nat, hosts, all, buildMs: Math.round(performance.now() - t0) };
}

/**
 * The island of etc/examples/lab.toml built by hand, the recipe's way: the VXLAN between the
 * gateways with ports pinned and (txOff) TX checksum offload off, routes through the tunnel,
 * forwarding and FORWARD accepts on the gateways, routes via the site's gateway on the members.
 * faraday's route to the sopnode LAN covers l1, its tunnel's remote: here a pin route (and the
 * same pin on the fit nodes) keeps the outer packets off the tunnel, where island binds the
 * tunnel to eth0 without FDB learning; from the NAT's side, l1's LAN address is then reached
 * through the NAT rather than the island. Ends with faraday, behind the NAT, sending first.
 */
export async function handIsland(lab: Lab, o: { txOff: boolean }): Promise<void> {
  const { l1, w2, faraday, fit1, fit2 } = lab.hosts;
  const T = LAB_PLAN.tunnel;
  const vxlan = (local: string, remote: string) =>
    `link add ${T.name} type vxlan id ${T.vni} local ${local} remote ${remote} dstport ${T.port} srcport ${T.port} ${T.port + 1} dev eth0`;
  const gateway = async (h: LabHost, local: string, remote: string, inner: string, routes: string[]) => {
    await mustRun(['ip', '-n', h.ns.name, '-batch', '-'], {
      input: `${[vxlan(local, remote), `addr add ${inner}/${T.prefix} dev ${T.name}`, `link set ${T.name} up`, ...routes].join('\n')}\n`,
    });
    if (o.txOff) await h.ns.run(['ethtool', '-K', T.name, 'tx', 'off']);
    await h.ns.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await h.ns.run(['iptables', '-I', 'FORWARD', '-i', T.name, '-j', 'ACCEPT']);
    await h.ns.run(['iptables', '-I', 'FORWARD', '-o', T.name, '-j', 'ACCEPT']);
  };
  await gateway(l1, l1.address, LAB_PLAN.internet.natOutside, T.sopnode, [
    `route add ${LAB_PLAN.r2lab.subnet} via ${T.r2lab}`,
  ]);
  await gateway(faraday, faraday.address, l1.address, T.r2lab, [
    // the pin: l1's underlay address lies inside the route through the tunnel
    `route add ${l1.address}/32 via ${LAB_PLAN.r2lab.router}`,
    `route add ${LAB_PLAN.sopnode.subnet} via ${T.sopnode}`,
  ]);
  const member = (h: LabHost, to: string, via: string, extra: string[] = []) =>
    mustRun(['ip', '-n', h.ns.name, '-batch', '-'], {
      input: `${[`route add ${to} via ${via}`, `route add 10.3.1.0/${T.prefix} via ${via}`, ...extra].join('\n')}\n`,
    });
  await member(w2, LAB_PLAN.r2lab.subnet, l1.address);
  // the members behind the NAT need the pin too: through faraday, whose own pin sends l1's
  // address back out of eth0 (and whose FORWARD policy is DROP), a SYN to l1 would be lost
  const memberPin = [`route add ${l1.address}/32 via ${LAB_PLAN.r2lab.router}`];
  await member(fit1, LAB_PLAN.sopnode.subnet, faraday.address, memberPin);
  await member(fit2, LAB_PLAN.sopnode.subnet, faraday.address, memberPin);
  // faraday sends first: its packet opens the NAT's mapping
  const first = await faraday.ns.exec(['ping', '-c1', '-w5', T.sopnode]);
  if (first.code !== 0) throw new Error(`hand-built island: faraday cannot reach ${T.sopnode}:\n${first.stdout}`);
}

/** Every address of a host (any interface), to tell its own addresses from a NAT's. */
export async function addressesOf(ns: Netns): Promise<string[]> {
  const links = (await ns.ipJson(['addr', 'show'])) as { addr_info?: { local: string; family: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local));
}

export interface PairsOptions {
  /** the port every host listens on (tcpListen) */
  port: number;
  /** per connection (default 5 s): one attempt, the kernel's own SYN retransmits inside it */
  timeoutMs?: number;
}

/**
 * Every host connects to every other host's LAN address (all sources at once, each to its
 * four targets at once) and must get through on its first attempt; the listener must see one
 * of the source's own addresses: no NAT inside the island. One exception: a host of the NAT's
 * side reaching sopnode-l1's LAN address reaches the remote of faraday's tunnel, which a pin
 * route may keep outside the island (along the underlay, through the NAT, as handIsland does):
 * there l1 may see the NAT's outside address. Returns the matrix as lines for t.comment.
 */
export async function checkAllPairs(t: Test, lab: Lab, o: PairsOptions): Promise<{ lines: string[]; failed: number }> {
  let failed = 0;
  const own = new Map(await Promise.all(lab.all.map(async (h) => [h.key, await addressesOf(h.ns)] as const)));
  const lines = await Promise.all(
    lab.all.map(async (from) => {
      const others = lab.all.filter((h) => h !== from);
      const results = await tcpConnect(
        from.tcp,
        others.map((h) => ({ host: h.address, port: o.port })),
        { timeoutMs: o.timeoutMs ?? 5000 },
      );
      const cells = results.map((r, i) => {
        const to = others[i] as LabHost;
        const label = `${from.name} → ${to.name} (${to.address}:${o.port})`;
        if (!r.ok) {
          failed++;
          t.fail(`${label}: TCP connect failed (${r.error} after ${r.ms} ms)`);
          return `${to.name} ✗ ${r.error}`;
        }
        const pinned = from.site === 'r2lab' && to.key === 'l1';
        const allowed = [...(own.get(from.key) ?? []), ...(pinned ? [LAB_PLAN.internet.natOutside] : [])];
        if (!allowed.includes(r.seenAs)) failed++;
        t.ok(
          allowed.includes(r.seenAs),
          `${label}: connected, seen as ${r.seenAs}` +
            (pinned
              ? ' (l1 is the remote of the tunnel: its own address, or the NAT if pinned outside)'
              : ', its own address'),
          { allowed },
        );
        return `${to.name} ✓ as ${r.seenAs}`;
      });
      return `${from.name}: ${cells.join(', ')}`;
    }),
  );
  return { lines, failed };
}

/** What each host looks like (addresses, routes, links of island, FORWARD), for a failure message. */
export async function labState(lab: Lab): Promise<string> {
  const parts = await Promise.all(
    lab.all.map(async (h) => {
      const r = await h.ns.sh(
        `set +e +o pipefail; ip -br addr; ip route; ip -d -s link show ${LAB_PLAN.tunnel.name} 2>/dev/null | sed -n '1,3p;/TX:/,+1p'
        bridge fdb show dev ${LAB_PLAN.tunnel.name} 2>/dev/null
        ethtool -k ${LAB_PLAN.tunnel.name} 2>/dev/null | grep '^tx-checksumming'; iptables -S FORWARD
        sed -n '/BEGIN island/,/END island/p' '${h.hostsFile}'`,
      );
      return `--- ${h.name} (${h.ns.name})\n${r.stdout}${r.stderr}`;
    }),
  );
  const ct = await lab.nat.exec(['conntrack', '-L', '-p', 'udp']);
  return `${parts.join('\n')}\n--- lab NAT: conntrack -L -p udp\n${ct.stdout}`;
}
