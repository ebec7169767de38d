/**
 * The lab of etc/examples/lab.toml in network namespaces (test/helpers/lab.ts): the sopnode
 * LAN with sopnode-l1 and sopnode-w2, the lab NAT with faraday and two fit nodes behind it,
 * both gateways with FORWARD policy DROP. The one file, read from the repository, on every
 * host; daemons on l1, w2 and faraday, `island apply` on the fit nodes; each host finds its
 * part by its own address. What must hold is what the cluster needs: TCP between every pair
 * of hosts, the client's own address seen at the far end (kubelet, the API server and the
 * CNI's tunnels see each other as they are), 20 MB intact, a member that leaves and comes
 * back, a deleted tunnel healed.
 *
 * The first test checks the harness itself with the island built by hand: it carries TCP with
 * TX checksum offload off on the VXLAN, and only pings with it on, as DESIGN.md measured.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { REPO, runIsland, startDaemon } from '../helpers/island.js';
import {
  addressesOf,
  buildLab,
  checkAllPairs,
  handIsland,
  LAB_PLAN,
  type Lab,
  type LabHost,
  labState,
} from '../helpers/lab.js';
import { type Netns, netns } from '../helpers/netns.js';
import { checkTransfer, MB, tcpConnect, tcpListen, tcpTransfer } from '../helpers/tcp.js';

const LAB_TOML = join(REPO, 'etc', 'examples', 'lab.toml');
// the daemon refuses a file that is not root's or that its group or others may write (a clone
// made by another user, or with umask 002): say so before building anything
const labStat = statSync(LAB_TOML);
if (labStat.uid !== 0 || (labStat.mode & 0o022) !== 0) {
  throw new Error(
    `${LAB_TOML} must be root's and not group- or world-writable, or island refuses it ` +
      `(uid ${labStat.uid}, mode ${(labStat.mode & 0o777).toString(8)}): chown root and chmod go-w it; not skipping`,
  );
}
const PORT = 10250;
const BIG = 20 * MB;
const T = LAB_PLAN.tunnel;

// a loaded machine (npm test runs two kernel files at once) may be several times slower
t.setTimeout(300_000);

const ms = (since: number) => Math.round(performance.now() - since);

/** a kubelet on every host, and the API server on sopnode-l1 (tcp = [6443] in the file) */
async function listeners(t: Test, lab: Lab): Promise<void> {
  await Promise.all([...lab.all.map((h) => tcpListen(t, h.ns, PORT)), tcpListen(t, lab.hosts.l1.ns, 6443)]);
}

/** one connection attempt (the kernel retransmits the SYN within it) from `from` to `to` */
async function reaches(from: LabHost, to: LabHost, timeoutMs = 3000) {
  const [r] = await tcpConnect(from.tcp, [{ host: to.address, port: PORT }], { timeoutMs });
  return r!;
}

/**
 * polls until `from` connects to `to`; how long it took. On failure, what the lab looked like
 * (as comments: tap flattens an error's lines) and a short error.
 */
async function untilReaches(
  t: Test,
  from: LabHost,
  to: LabHost,
  timeoutMs: number,
  diagnose: () => Promise<string>,
): Promise<number> {
  const t0 = performance.now();
  const [r] = await tcpConnect(from.tcp, [{ host: to.address, port: PORT }], { timeoutMs, wait: true, attemptMs: 200 });
  if (!r?.ok) {
    t.comment(await diagnose());
    throw new Error(`${from.name} → ${to.name}:${PORT}: no TCP connection within ${timeoutMs} ms (${r?.error})`);
  }
  return ms(t0);
}

t.test(
  'the harness: the lab built by hand carries TCP with TX checksum offload off, only pings with it on',
  async (t) => {
    const lab = await buildLab(t, 'labh');
    t.comment(`lab built in ${lab.buildMs} ms (7 namespaces, 2 bridges)`);
    const { l1, w2, faraday, fit1 } = lab.hosts;
    await handIsland(lab, { txOff: true });
    await listeners(t, lab);

    const pairs = await checkAllPairs(t, lab, { port: PORT });
    for (const line of pairs.lines) t.comment(line);
    if (pairs.failed > 0) t.comment(await labState(lab));
    checkTransfer(t, await tcpTransfer({ from: w2.tcp, to: fit1.tcp, address: fit1.address, bytes: BIG }), {
      bytes: BIG,
      source: w2.address,
      what: 'w2 → fit1',
    });

    // the control: the same lab with offload on. Should this ever pass, the kernel lost the bug
    // and the island test below no longer proves that island turns offload off.
    for (const h of [l1, faraday]) await h.ns.run(['ethtool', '-K', T.name, 'tx', 'on']);
    const ping = await w2.ns.exec(['ping', '-c2', '-i0.2', '-W2', fit1.address]);
    t.equal(ping.code, 0, 'offload on: pings still cross', { output: ping.stdout });
    const tcp = await reaches(w2, fit1, 2000);
    t.notOk(tcp.ok, `offload on: TCP does not (${tcp.ok ? 'connected' : tcp.error})`);
  },
);

t.test('island: etc/examples/lab.toml on every host joins both sites into one island that carries TCP', async (t) => {
  const lab = await buildLab(t, 'lab');
  t.comment(`lab built in ${lab.buildMs} ms (7 namespaces, 2 bridges)`);
  const { l1, w2, faraday, fit1, fit2 } = lab.hosts;
  await listeners(t, lab);

  // before island: the gateways drop forwarded traffic (as docker leaves them), no path across
  for (const h of [l1, faraday]) {
    t.match(await h.ns.run(['iptables', '-S', 'FORWARD']), /^-P FORWARD DROP$/m, `${h.name}: FORWARD policy DROP`);
  }
  t.notOk((await reaches(w2, fit1, 1500)).ok, 'before island: w2 cannot reach fit1');

  // the same file everywhere, no --host, no ISLAND_HOST: each host finds itself by address
  const start = performance.now();
  const started = (r: { msg?: string }) => r.msg === 'island daemon running';
  const daemons = [l1, w2, faraday].map((h) => ({ h, d: startDaemon(t, h.ns, LAB_TOML, { env: h.env }) }));
  const applied = await Promise.all(
    [fit1, fit2].map((h) => runIsland(h.ns, ['apply', '-c', LAB_TOML], { env: h.env })),
  );
  applied.forEach((r, i) => {
    t.equal(r.code, 0, `island apply on ${[fit1, fit2][i]?.name} exits 0`, { stdout: r.stdout, stderr: r.stderr });
  });
  await Promise.all(daemons.map(({ d }) => d.waitForLog(started, 60_000)));
  const daemonsMs = ms(start);
  const diagnose = async () =>
    [
      await labState(lab),
      ...daemons.map(({ h, d }) => `--- ${h.name}: island daemon, last lines\n${d.lines.slice(-15).join('\n')}`),
    ].join('\n');
  const firstTcpMs = ms(start) + (await untilReaches(t, w2, fit1, 30_000, diagnose));
  t.comment(`island start: daemons running after ${daemonsMs} ms; first TCP w2 → fit1 after ${firstTcpMs} ms`);

  // each host found its own part by its address
  for (const h of lab.all) {
    const role = h.key === 'l1' || h.key === 'faraday' ? 'gateway' : 'member';
    const check = await runIsland(h.ns, ['check', '-c', LAB_TOML], { env: h.env });
    t.match(
      check.stdout,
      `${role} of site ${h.site} (address ${h.address}`,
      `${h.name}: island check names its part, found by its address`,
      { stdout: check.stdout, stderr: check.stderr },
    );
  }

  // what the user looks at first: the tunnel on both gateways, and on no other host
  const tunnel = async (ns: Netns) => {
    const links = (await ns.ipJson(['link', 'show'])) as { ifname: string }[];
    // biome-ignore lint/suspicious/noExplicitAny: ip's JSON
    return links.find((l) => l.ifname === T.name) as any;
  };
  for (const [h, local, remote] of [
    [l1, l1.address, LAB_PLAN.internet.natOutside],
    [faraday, faraday.address, l1.address],
  ] as const) {
    const vx = await tunnel(h.ns);
    t.ok(vx, `${h.name}: ${T.name} exists`);
    t.match(
      vx?.linkinfo,
      {
        info_kind: 'vxlan',
        info_data: { id: T.vni, port: T.port, port_range: { low: T.port, high: T.port + 1 }, local, remote },
      },
      `${h.name}: ip -d -j link show ${T.name}: vxlan id ${T.vni}, dstport ${T.port}, srcport ${T.port} ${T.port + 1}, ${local} → ${remote}`,
    );
    t.equal(vx?.ifalias, 'island', `${h.name}: ${T.name} is island's`);
    t.match(await h.ns.run(['ethtool', '-k', T.name]), /^tx-checksumming: off$/m, `${h.name}: TX checksum offload off`);
  }
  for (const h of [w2, fit1, fit2]) t.notOk(await tunnel(h.ns), `${h.name}: a member has no tunnel`);

  // the routes island owns (proto 149), host by host
  const routes = async (h: LabHost) =>
    ((await h.ns.ipJson(['route', 'show', 'proto', '149'])) as { dst: string; gateway?: string; dev: string }[]).map(
      (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`,
    );
  const expected: [LabHost, string[]][] = [
    [l1, [`${LAB_PLAN.r2lab.subnet} via ${T.r2lab} dev ${T.name}`]],
    [faraday, [`${LAB_PLAN.sopnode.subnet} via ${T.sopnode} dev ${T.name}`]],
    [w2, [`${LAB_PLAN.r2lab.subnet} via ${l1.address} dev eth0`, `10.3.1.0/24 via ${l1.address} dev eth0`]],
    ...[fit1, fit2].map((h): [LabHost, string[]] => [
      h,
      [`${LAB_PLAN.sopnode.subnet} via ${faraday.address} dev eth0`, `10.3.1.0/24 via ${faraday.address} dev eth0`],
    ]),
  ];
  for (const [h, want] of expected) {
    const have = await routes(h);
    t.comment(`${h.name}: ip route show proto 149: ${have.join('; ')}`);
    for (const r of want) t.ok(have.includes(r), `${h.name}: route ${r}`, { have });
  }
  for (const h of [l1, faraday]) {
    const fwd = await h.ns.run(['iptables', '-S', 'FORWARD']);
    t.match(fwd, /^-P FORWARD DROP$/m, `${h.name}: the FORWARD policy is still DROP (island never touches it)`);
    t.match(fwd.split('\n')[1] ?? '', /-j ISLAND-FORWARD/, `${h.name}: island's jump first in FORWARD`);
  }

  // every pair of hosts, both ways, TCP
  let phase = performance.now();
  const pairs = await checkAllPairs(t, lab, { port: PORT });
  const pairsMs = ms(phase);
  for (const line of pairs.lines) t.comment(line);
  if (pairs.failed > 0) t.comment(await diagnose());
  // no NAT on the island: the kubelet of a fit node sees the worker as it is
  phase = performance.now();
  const seen = await reaches(w2, fit1);
  const sourceMs = ms(phase);
  t.equal(seen.ok && seen.seenAs, w2.address, `fit1:${PORT} sees w2's own address ${w2.address}`);

  // names (names = true): the same three names on every host, usable by any client there
  for (const h of lab.all) {
    const [byName] = await tcpConnect(h.tcp, [{ host: h.key === 'faraday' ? 'sopnode-l1' : 'faraday', port: PORT }]);
    t.ok(byName?.ok, `${h.name}: ${h.key === 'faraday' ? 'sopnode-l1' : 'faraday'} resolves and answers`, {
      result: byName,
    });
  }
  const api = await tcpConnect(fit2.tcp, [{ host: 'sopnode-l1', port: 6443 }]);
  t.ok(api[0]?.ok, 'fit2 reaches the API server at sopnode-l1:6443 by name', { result: api[0] });

  // 20 MB each way: a worker and a fit node; the API's gateway and the NAT's side. l1's LAN
  // address is the remote of faraday's tunnel, which island may keep outside the island (a pin
  // route): from that side, l1 is reached across the island at its tunnel address.
  const transfers: [LabHost, LabHost, string][] = [
    [w2, fit1, fit1.address],
    [fit1, w2, w2.address],
    [l1, fit2, fit2.address],
    [fit2, l1, T.sopnode],
    [l1, faraday, faraday.address],
    [faraday, l1, T.sopnode],
  ];
  phase = performance.now();
  const transferMs: number[] = [];
  for (const [from, to, address] of transfers) {
    const r = await tcpTransfer({ from: from.tcp, to: to.tcp, address, bytes: BIG });
    // a gateway's own connections leave from its tunnel address (the kernel's choice): any of its own
    const source = from.key === 'l1' || from.key === 'faraday' ? await addressesOf(from.ns) : from.address;
    checkTransfer(t, r, { bytes: BIG, what: `${from.name} → ${to.name} (${address})`, source });
    transferMs.push(r.transferMs);
  }
  const transfersMs = ms(phase);

  // faraday's route to the sopnode LAN covers l1, its tunnel's remote; yet the outer packets go
  // along the underlay (no TX error on vx0 below), and one NAT mapping carries the whole island
  const ct = (await lab.nat.run(['conntrack', '-L', '-p', 'udp', '--dport', String(T.port)])).trim().split('\n');
  t.equal(ct.length, 1, 'the lab NAT holds one mapping for the tunnel', { conntrack: ct });
  t.match(
    ct[0],
    `src=${faraday.address} dst=${l1.address} sport=${T.port} dport=${T.port} src=${l1.address} dst=${LAB_PLAN.internet.natOutside} sport=${T.port} dport=${T.port}`,
    `faraday:${T.port} ↔ ${LAB_PLAN.internet.natOutside}:${T.port}, the source port kept`,
  );

  // status, as monitoring would ask: every probed peer up on the gateways. When faraday's first
  // probe reached l1 before l1's daemon listened, its early probes (0.2, 0.6, 1.4, 3, 6.2 s...
  // after its start) reach l1 within a few seconds, not a keepalive (25 s) later: poll for up to
  // 15 s after the start and say how long it took
  const peersUp = async (h: LabHost) => {
    for (let n = 0; ; n++) {
      const st = await runIsland(h.ns, ['status', '--check', '-c', LAB_TOML], { env: h.env });
      if (n === 0 && st.code !== 0) t.comment(`${h.name}: status --check at ${ms(start)} ms: ${st.stderr.trim()}`);
      if (st.code === 0 || ms(start) > 15_000) return st;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  for (const h of [l1, faraday]) {
    const st = await peersUp(h);
    t.equal(st.code, 0, `${h.name}: island status --check`, { stdout: st.stdout, stderr: st.stderr });
  }
  const peersUpMs = ms(start);

  // island test, on a named member and on a fit node the file does not name: every other named
  // host answers ICMP and its tcp ports (6443 on l1, 10250 on w2); the far site's through the
  // member's own gateway
  phase = performance.now();
  for (const [h, gateway] of [
    [w2, l1.address],
    [fit1, faraday.address],
  ] as const) {
    const r = await runIsland(h.ns, ['test', '--json', '-c', LAB_TOML], { env: h.env });
    t.equal(r.code, 0, `${h.name}: island test exits 0`, { stdout: r.stdout, stderr: r.stderr });
    const j = JSON.parse(r.stdout) as {
      summary: { ok: boolean };
      targets: { name: string; site: string; status: string; path: { via?: string; dev?: string }; tcp: unknown[] }[];
    };
    const names = [l1, w2, faraday].filter((x) => x !== h).map((x) => x.name);
    t.same(
      j.targets.map((x) => [x.name, x.status]),
      names.map((n) => [n, 'ok']),
      `${h.name}: island test: ${names.join(', ')} ok`,
    );
    for (const x of j.targets.filter((x) => x.site !== h.site)) {
      t.match(x.path, { via: gateway, dev: 'eth0' }, `${h.name}: ${x.name} through ${gateway}`);
    }
    t.match(j.targets.find((x) => x.name === l1.name)?.tcp, [{ port: 6443, state: 'open' }], 'the API port open');
  }
  const reachMs = ms(phase);

  // a fit node leaves the island and comes back
  phase = performance.now();
  const down = await runIsland(fit1.ns, ['down', '-c', LAB_TOML], { env: fit1.env });
  t.equal(down.code, 0, 'island down on fit1', { stdout: down.stdout, stderr: down.stderr });
  const downMs = ms(phase);
  t.notOk((await reaches(w2, fit1, 2000)).ok, 'after island down, w2 cannot reach fit1');
  t.ok((await reaches(fit2, fit1)).ok, 'fit1 still on its LAN');
  const back = performance.now();
  const again = await runIsland(fit1.ns, ['apply', '-c', LAB_TOML], { env: fit1.env });
  t.equal(again.code, 0, 'island apply on fit1 again', { stdout: again.stdout, stderr: again.stderr });
  const rejoinMs = ms(back) + (await untilReaches(t, w2, fit1, 10_000, diagnose));
  t.pass(`w2 reaches fit1 again ${rejoinMs} ms after island apply started`);

  // someone deletes faraday's tunnel: its daemon rebuilds it, TCP crosses again
  const del = performance.now();
  await faraday.ns.run(['ip', 'link', 'del', T.name]);
  let linkMs = -1;
  while (ms(del) < 30_000) {
    const vx = await tunnel(faraday.ns);
    if (vx?.flags?.includes('UP')) {
      linkMs = ms(del);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(linkMs >= 0, `faraday: ${T.name} back and up after ${linkMs} ms`);
  const tcpMs = ms(del) + (await untilReaches(t, w2, fit1, 60_000, diagnose));
  t.comment(`heal: ${T.name} deleted on faraday, back after ${linkMs} ms, TCP w2 → fit1 again after ${tcpMs} ms`);
  // l1 holds the MAC address of faraday's vx0 in its neighbour table: a new tunnel with a new
  // address would get no TCP across until that entry goes stale (~20-30 s)
  t.ok(tcpMs < 5000, `TCP across again within 5 s of the deletion (${tcpMs} ms), not after l1's ARP entry expires`);
  t.match(await faraday.ns.run(['ethtool', '-k', T.name]), /^tx-checksumming: off$/m, 'the new vx0: offload off');
  // a tunnel whose outer packets were routed into itself counts each as a TX error ("circular route")
  for (const h of [l1, faraday]) {
    const [stats] = (await h.ns.ipJson(['-s', 'link', 'show', T.name])) as { stats64?: { tx?: { errors?: number } } }[];
    t.equal(stats?.stats64?.tx?.errors, 0, `${h.name}: no TX error on ${T.name} (no outer packet routed into it)`);
  }
  const healed = await tcpTransfer({ from: w2.tcp, to: fit1.tcp, address: fit1.address, bytes: BIG });
  checkTransfer(t, healed, { bytes: BIG, source: w2.address, what: 'after the heal, w2 → fit1' });

  for (const { h, d } of daemons) {
    const ended = await Promise.race([d.exited, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);
    t.notOk(ended, `${h.name}: daemon still running`, { ended, log: d.lines.slice(-10) });
  }
  t.comment(
    `timings: lab ${lab.buildMs} ms; daemons running ${daemonsMs} ms; first TCP ${firstTcpMs} ms; ` +
      `status --check ok on both gateways ${peersUpMs} ms after start; ` +
      `all pairs ${pairsMs} ms; source check ${sourceMs} ms; 6 × 20 MB ${transfersMs} ms ` +
      `(each ${transferMs.join('/')} ms); island test ×2 ${reachMs} ms; island down ${downMs} ms; rejoin ${rejoinMs} ms; ` +
      `heal: link ${linkMs} ms, TCP ${tcpMs} ms`,
  );
});

t.test("island plan --host NAME on a machine that is none of the island's: what that host would do", async (t) => {
  const ns = await netns(t, 'labplan');
  const none = await runIsland(ns, ['plan', '-c', LAB_TOML]);
  t.equal(none.code, 1, 'without --host: exit 1');
  t.match(none.stderr, "this host is none of the island's", 'and says why', { stderr: none.stderr });

  const plan = async (host: string) => {
    const r = await runIsland(ns, ['plan', '-c', LAB_TOML, '--host', host]);
    t.equal(r.code, 0, `plan --host ${host}: exit 0`, { stdout: r.stdout, stderr: r.stderr });
    return r.stdout;
  };
  // the two ends of the tunnel, as each gateway would make it: they agree by construction
  const vx = (local: string, remote: string) =>
    `vxlan ${T.name} (vni ${T.vni}, ${local} → ${remote}, port ${T.port}, srcport ${T.port}, tx checksum offload off)`;
  const l1 = await plan('sopnode-l1');
  t.match(l1, /^# sopnode-l1: gateway of site sopnode \(named sopnode-l1\)$/m);
  t.match(l1, `+ link ${vx(LAB_PLAN.hosts.l1.address, LAB_PLAN.internet.natOutside)}`, 'l1: to the NAT outside');
  t.match(l1, `+ route ${LAB_PLAN.r2lab.subnet} via ${T.r2lab} dev ${T.name}`);
  const faraday = await plan('faraday');
  t.match(faraday, /^# faraday: gateway of site r2lab \(named faraday\)$/m);
  // faraday's tunnel is bound to the device of its address, which this machine lacks: shown anyway
  t.match(
    faraday,
    `  would be: ${vx(LAB_PLAN.hosts.faraday.address, LAB_PLAN.hosts.l1.address)}, bound to the device of ${LAB_PLAN.hosts.faraday.address}`,
    'faraday: to l1, bound to its underlay',
  );
  t.match(
    faraday,
    `! route ${LAB_PLAN.sopnode.subnet}: blocked: local ${LAB_PLAN.hosts.faraday.address} is not on this host`,
  );
  const fit = await plan('r2lab');
  t.match(fit, /^# a member of site r2lab \(named r2lab\)$/m);
  for (const to of [LAB_PLAN.sopnode.subnet, '10.3.1.0/24'])
    t.match(
      fit,
      `! route ${to}: blocked: gateway ${LAB_PLAN.hosts.faraday.address} is on no connected subnet of this host`,
      `a fit node: ${to} via faraday, blocked here`,
    );
});

t.test('a host whose ethernet has no carrier yet is still the host its address names', async (t) => {
  // the veth's peer stays down: the link is UP but not RUNNING, which os.networkInterfaces() skips
  const ns = await netns(t, 'labcarrier');
  const f = LAB_PLAN.hosts.faraday;
  await ns.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
  await ns.run(['ip', 'addr', 'add', `${f.address}/24`, 'dev', 'eth0']);
  await ns.run(['ip', 'link', 'set', 'eth0', 'up']);
  t.match(await ns.run(['ip', 'link', 'show', 'eth0']), /NO-CARRIER/, 'eth0: up, no carrier');
  const r = await runIsland(ns, ['plan', '-c', LAB_TOML]);
  t.equal(r.code, 0, 'plan: exit 0', { stderr: r.stderr });
  t.match(r.stdout, /^# faraday: gateway of site r2lab \(address 192\.168\.3\.100\)$/m, 'faraday, by its address');
});
