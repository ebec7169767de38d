/**
 * What drops the island's traffic where island cannot (or, by the file, does not) accept it,
 * said as status rows with the fix. Pure.
 *
 * - A filter base chain of another nftables table on the forward or input hook (a hand-written
 *   `table inet filter`, firewalld, ufw's nft backend) that surely drops one of island's flows:
 *   its policy drop reached, or a drop/reject rule that surely matches. island's iptables
 *   accepts cannot override it: only an accept in that chain, or policy accept, can.
 * - iptables' INPUT, in a backend where island keeps no ISLAND-INPUT ([forward] input = false,
 *   or no [forward]), that surely drops a tunnel's own packets or its peer's health probes; its OUTPUT (island keeps no
 *   accept there) that surely drops what a tunnel sends (ufw's "default deny outgoing").
 * - Whether a backend's FORWARD or INPUT may drop island's flows at all (any drop it can
 *   reach, sure or not): then island keeps its accepts in that backend too (diff.ts).
 *
 * "Surely" as verdict.ts reads rules; rules it cannot read never make a drop sure.
 */
import { isDropId, named, type ObjectId } from '../reconcile/object.js';
import { iptablesChains } from './iptables-rules.js';
import { type Builtin, hookOf, ISLAND_INPUT } from './model.js';
import { type NftRuleset, sees } from './nftables.js';
import { type Backend, CHAIN_PREFIX, type Family, type FirewallStatus, type Flow, type SavedTable } from './types.js';
import { type Drop, evaluate, sureDropsOf } from './verdict.js';

/** Whether a status row is one of these findings (the daemon logs them once, STATUS= names the first). */
export const isDropFinding = (s: { id: ObjectId; state: string }) => s.state === 'blocked' && isDropId(s.id);

/** The flows a chain drops, in words: "forwarded traffic in vx0, out vx0", "vx0's packets (...)". */
function flowsText(flows: Flow[]): string {
  const fwd = flows.filter((f) => f.hook === 'forward').map((f) => f.label);
  const input = flows.filter((f) => f.hook !== 'forward').map((f) => f.label);
  return [fwd.length ? `forwarded traffic ${some(fwd, 6)}` : '', input.length ? some(input) : '']
    .filter(Boolean)
    .join(', and ');
}

/** At most `n` items, then how many more. */
function some(items: string[], n = 4): string {
  const u = [...new Set(items)];
  return u.length > n ? `${u.slice(0, n).join(', ')} and ${u.length - n} more` : u.join(', ');
}

/**
 * The nft commands that accept the flows first in `where` ("inet filter forward"), as few as
 * read well: one for every in-interface, one for every out-interface, one per other flow.
 */
export function acceptCommands(where: string, flows: Flow[]): string[] {
  const names = (xs: (string | undefined)[]) => {
    const u = [...new Set(xs.filter((x): x is string => x !== undefined))].map((x) => `"${x}"`);
    return u.length > 1 ? `{ ${u.join(', ')} }` : u[0];
  };
  const plain = (f: Flow) => !f.saddr && !f.daddr && f.proto === undefined;
  const iifs = names(flows.filter((f) => plain(f) && f.iif && !f.oif).map((f) => f.iif));
  const oifs = names(flows.filter((f) => plain(f) && f.oif && !f.iif).map((f) => f.oif));
  const rules: string[] = [];
  if (iifs) rules.push(`iifname ${iifs} accept`);
  if (oifs) rules.push(`oifname ${oifs} accept`);
  for (const f of flows) {
    if (plain(f) && (!f.iif || !f.oif) && (f.iif || f.oif)) continue;
    const m: string[] = [];
    const ip = f.family === 6 ? 'ip6' : 'ip';
    if (f.iif) m.push(`iifname "${f.iif}"`);
    if (f.oif) m.push(`oifname "${f.oif}"`);
    // a tunnel's packets by their remote: the source coming in, the destination going out
    if (f.saddr && f.hook !== 'output') m.push(`${ip} saddr ${f.saddr.address}/${f.saddr.prefixlen}`);
    if (f.daddr && (f.hook !== 'input' || !f.saddr)) m.push(`${ip} daddr ${f.daddr.address}/${f.daddr.prefixlen}`);
    if (f.proto === 17 && f.dport !== undefined) m.push(`udp dport ${f.dport}`);
    else if (f.proto !== undefined) m.push(`meta l4proto ${f.proto}`);
    rules.push(`${m.join(' ')} accept`);
  }
  return [...new Set(rules)].map((r) => `insert rule ${where} ${r}`);
}

/** Every filter base chain of another nftables table that surely drops some of island's flows. */
export function nftDrops(r: NftRuleset, flows: Flow[]): FirewallStatus[] {
  const out: FirewallStatus[] = [];
  for (const t of r.tables) {
    for (const b of t.base) {
      const hit: { flow: Flow; drops: Drop[] }[] = [];
      for (const flow of flows) {
        if (flow.hook !== b.hook || !sees(t.family, flow)) continue;
        const drops = sureDropsOf(t.chains, b.chain, flow);
        if (drops.length) hit.push({ flow, drops });
      }
      if (!hit.length) continue;
      const causes = some(
        hit.flatMap((h) => h.drops.map((d) => (d.chain === b.chain ? d.cause : `${d.cause} in ${d.chain}`))),
        2,
      );
      const where = `${t.family} ${t.name} ${b.chain}`;
      const fixes = acceptCommands(
        where,
        hit.map((h) => h.flow),
      ).map((c) => `nft '${c}'`);
      const fix =
        `accept island's traffic first in that chain (${fixes.join('; ')})` +
        (b.policy === 'drop' ? ', or set its policy to accept' : '');
      out.push({
        ...named({ type: 'nftables', table: { family: t.family, name: t.name, chain: b.chain } }),
        state: 'blocked',
        detail:
          `hook ${b.hook}, policy ${b.policy}: drops ${flowsText(hit.map((h) => h.flow))} (${causes}); ` +
          `island's accepts in iptables cannot override a drop there: ${fix}`,
      });
    }
  }
  return out;
}

/** What an iptables table does without island's jumps. */
const withoutIsland = (t: SavedTable) => iptablesChains(t, { without: (c) => c.startsWith(CHAIN_PREFIX) });

/** Whether `builtin` of this table may drop any of the flows (island's own jumps left out). */
export function mayDrop(t: SavedTable, builtin: Builtin, flows: Flow[], family: Family): boolean {
  if (!t.has(builtin)) return false;
  const chains = withoutIsland(t);
  return flows.some(
    (f) => f.family === family && f.hook === hookOf(builtin) && evaluate(chains, builtin, f).drops.length > 0,
  );
}

export interface InputContext {
  backend: Backend;
  family: Family;
  /** not the host's backend: the finding is named after it */
  other: boolean;
  /** the file has [forward] (then input = false turned ISLAND-INPUT off) */
  forward: boolean;
}

/** The tunnels whose own packets this backend's INPUT surely drops, as one status row (or none). */
export function inputDrops(t: SavedTable, flows: Flow[], cx: InputContext): FirewallStatus[] {
  const INPUT = ISLAND_INPUT.from;
  if (!t.has(INPUT)) return [];
  const chains = iptablesChains(t);
  const hit: { flow: Flow; drops: Drop[] }[] = [];
  for (const flow of flows) {
    if (flow.hook !== 'input' || flow.family !== cx.family) continue;
    const drops = sureDropsOf(chains, INPUT, flow);
    if (drops.length) hit.push({ flow, drops });
  }
  if (!hit.length) return [];
  const policy = t.get(INPUT)?.policy ?? 'ACCEPT';
  const causes = some(
    hit.flatMap((h) =>
      h.drops.map((d) => (d.cause === 'policy drop' ? `policy ${policy}` : `-A ${d.chain} ${d.cause}`)),
    ),
    2,
  );
  // the probes alone: the tunnel works, but its peer looks down (and one facing a NAT never answers)
  const harm = hit.every((h) => h.flow.probe)
    ? 'the peer looks down though the tunnel carries traffic'
    : 'the tunnel cannot carry anything';
  const fix = cx.forward
    ? 'set [forward] input = true (the default) and island keeps an accept for them (ISLAND-INPUT), or accept them in INPUT yourself'
    : 'with a [forward] section island keeps an accept for them (ISLAND-INPUT; its input = true is the default), or accept them in INPUT yourself';
  return [
    {
      ...named({
        type: 'firewall',
        part: 'drops',
        family: cx.family,
        chain: INPUT,
        ...(cx.other ? { backend: cx.backend } : {}),
      }),
      state: 'blocked',
      detail: `iptables-${cx.backend} INPUT drops ${flowsText(hit.map((h) => h.flow))} (${causes}): ${harm}; ${fix}`,
    },
  ];
}

/** The tunnels whose packets out this backend's OUTPUT surely drops, as one status row (or none). */
export function outputDrops(t: SavedTable, flows: Flow[], cx: Omit<InputContext, 'forward'>): FirewallStatus[] {
  if (!t.has('OUTPUT')) return [];
  const chains = iptablesChains(t);
  const hit = flows.flatMap((flow) =>
    flow.hook === 'output' && flow.family === cx.family ? [{ flow, drops: sureDropsOf(chains, 'OUTPUT', flow) }] : [],
  );
  const dropped = hit.filter((h) => h.drops.length);
  if (!dropped.length) return [];
  const policy = t.get('OUTPUT')?.policy ?? 'ACCEPT';
  const causes = some(
    dropped.flatMap((h) =>
      h.drops.map((d) => (d.cause === 'policy drop' ? `policy ${policy}` : `-A ${d.chain} ${d.cause}`)),
    ),
    2,
  );
  const cmd = cx.family === 6 ? 'ip6tables' : 'iptables';
  const fixes = dropped.map(({ flow: f }) =>
    [
      `${cmd} -I OUTPUT`,
      f.daddr && `-d ${f.daddr.address}`,
      f.proto === 17 ? `-p udp --dport ${f.dport}` : `-p ${f.proto}`,
      '-j ACCEPT',
    ]
      .filter(Boolean)
      .join(' '),
  );
  return [
    {
      ...named({
        type: 'firewall',
        part: 'drops',
        family: cx.family,
        chain: 'OUTPUT',
        ...(cx.other ? { backend: cx.backend } : {}),
      }),
      state: 'blocked',
      detail: `iptables-${cx.backend} OUTPUT drops ${flowsText(dropped.map((h) => h.flow))} (${causes}): the tunnel cannot carry anything; island keeps no accept in OUTPUT: accept them there (${some(fixes, 2)})`,
    },
  ];
}

/** One line for systemd's STATUS=: what drops island's traffic, where, and the fix in short. */
export function dropHeadline(s: { id: ObjectId; object: string; detail?: string }): string {
  const d = s.detail ?? '';
  if (s.id.type === 'nftables') {
    const h = /^hook (\w+), policy (\w+)/.exec(d);
    const how = h?.[2] === 'drop' ? 'accept it in that chain, or policy accept' : 'accept it in that chain';
    return `${s.object}${h ? ` (hook ${h[1]}, policy ${h[2]})` : ''} drops island's traffic: ${how}`;
  }
  const what = /drops (.*?) \(/.exec(d)?.[1] ?? "the tunnels' packets";
  if (s.id.type === 'firewall' && s.id.part === 'drops' && s.id.chain === 'OUTPUT')
    return `${s.object} drops ${what}: accept them in OUTPUT`;
  const how =
    /\[forward\] input = true/.test(d) && !/with a \[forward\]/.test(d)
      ? '[forward] input = true'
      : 'a [forward] section';
  return `${s.object} drops ${what}: ${how} accepts them`;
}
