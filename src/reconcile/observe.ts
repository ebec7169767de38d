/** Read the whole live state in one pass: links, addresses, routes, sysctls, firewall. */
import { observeFirewall } from '../firewall/observe.js';
import type { DesiredFirewall } from '../firewall/types.js';
import { kinds } from '../kinds/index.js';
import { RT_TABLE_MAIN, type Rtnl } from '../netlink/rtnl.js';
import { OWNER_ALIAS } from '../ownership.js';
import type { LiveState } from './live.js';
import { readSysctl } from './sysctl.js';

export async function observe(rtnl: Rtnl, sysctlKeys: string[], firewall?: DesiredFirewall): Promise<LiveState> {
  // iptables-save runs in child processes: let them read while the dumps run
  const fw = firewall ? observeFirewall(firewall) : undefined;
  fw?.catch(() => undefined);
  // One dump at a time: a netlink socket interleaves concurrent dumps.
  const raw = await rtnl.links();
  const addresses = await rtnl.addresses();
  const routes = await rtnl.routes();
  const byIndex = new Map(raw.map((l) => [l.ifindex, l.name]));
  const byName = new Map(raw.map((l) => [l.name, l.ifindex]));
  const ctx = { ifindex: (n: string) => byName.get(n), ifname: (i: number) => byIndex.get(i) };
  const links = raw.map((l) => {
    const k = l.kind ? kinds[l.kind] : undefined;
    return { ...l, owned: l.alias === OWNER_ALIAS, spec: k?.decode(l.data, ctx) };
  });
  const sysctls: Record<string, string | undefined> = {};
  for (const key of sysctlKeys) sysctls[key] = await readSysctl(key);
  return {
    links,
    addresses,
    routes: routes.filter((r) => r.table === RT_TABLE_MAIN && r.type === 1),
    sysctls,
    firewall: await fw,
  };
}
