/**
 * The kernel's part of what the doctor reads (gather.ts has the rest): links, addresses and
 * routes over netlink, sysctls, the firewall as island's own firewall code reads it
 * (observe.ts, diff.ts), vxlan offload over the ethtool family. A module of its own, imported
 * only when read: `island check` loads no netlink when no check needs the kernel.
 */
import type { Config } from '../config/types.js';
import { desiredState } from '../desired.js';
import { planFirewall } from '../firewall/diff.js';
import { findKind } from '../kinds/index.js';
import { Ethtool } from '../netlink/ethtool.js';
import { NETCONF_ALL, NETCONF_DEFAULT } from '../netlink/netconf.js';
import { type RawNetconf, Rtnl } from '../netlink/rtnl.js';
import { isDropId } from '../reconcile/object.js';
import { observe } from '../reconcile/observe.js';
import { rpFilters, why } from './gather.js';
import { offloadAcrossNat } from './nat.js';
import type { DoctorFacts } from './types.js';

type KernelFacts = Pick<DoctorFacts, 'links' | 'addresses' | 'routes' | 'sysctl' | 'txChecksum' | 'firewall'>;

/**
 * The kernel's part of the facts; `firewall: false` leaves the firewall unread. `rpFilter`: every
 * link's net.ipv4.conf.*.rp_filter, when gather.ts had to read them already.
 */
export async function kernelFacts(
  config: Config | undefined,
  unread: string[],
  opts: { firewall: boolean; rpFilter?: Record<string, string> },
): Promise<KernelFacts> {
  const want = config && opts.firewall ? desiredState(config) : undefined;
  const rtnl = new Rtnl();
  const ethtool = new Ethtool();
  try {
    const live = await observe(rtnl, ['net.ipv4.ip_forward'], want?.firewall);
    const forward = live.sysctls['net.ipv4.ip_forward'];
    const rp = opts.rpFilter ?? (await dumpRpFilters(rtnl, live.links));
    const sysctl = forward === undefined ? rp : { ...rp, 'net.ipv4.ip_forward': forward };
    const txChecksum = new Map<string, boolean>();
    // the links a finding is about (nat.ts), not every vxlan of the namespace
    const across = config ? offloadAcrossNat(config) : new Set<string>();
    const offloads = live.links.filter((l) => across.has(l.name) && findKind(l.kind)?.features !== undefined);
    if (offloads.length) {
      try {
        const feats = await ethtool.features(['tx-checksum-ip-generic']);
        for (const l of offloads) {
          const on = feats.get(l.ifindex)?.['tx-checksum-ip-generic'];
          if (on !== undefined) txChecksum.set(l.name, on);
        }
      } catch (e) {
        unread.push(`TX checksum offload: ${why(e)}`);
      }
    }
    const firewall =
      want && live.firewall
        ? { status: planFirewall(want.firewall, live.firewall).status, live: live.firewall }
        : undefined;
    // a table that could not be read; what drops island's traffic is a finding of its own
    for (const s of firewall?.status ?? [])
      if (s.state === 'blocked' && !isDropId(s.id)) unread.push(`${s.object}: ${s.detail}`);
    return {
      links: live.links.map((l) => ({
        ifindex: l.ifindex,
        name: l.name,
        ...(l.kind ? { kind: l.kind } : {}),
        owned: l.owned,
      })),
      addresses: live.addresses,
      routes: live.routes,
      sysctl,
      txChecksum,
      ...(firewall ? { firewall } : {}),
    };
  } finally {
    rtnl.close();
    ethtool.close();
  }
}

/**
 * net.ipv4.conf.*.rp_filter of every link, all and default, in one dump: /proc/sys takes a file
 * each (~8 ms CPU for 500 links against ~2). Those files if the dump fails.
 */
async function dumpRpFilters(rtnl: Rtnl, links: { ifindex: number; name: string }[]): Promise<Record<string, string>> {
  let conf: RawNetconf[];
  try {
    conf = await rtnl.netconf4();
  } catch {
    return rpFilters();
  }
  // a netconf dump without rp_filter (an old kernel): never a link read as loose for want of its value
  if (!conf.some((c) => c.ifindex === NETCONF_ALL && c.rpFilter !== undefined)) return rpFilters();
  const names = new Map<number, string>([
    [NETCONF_ALL, 'all'],
    [NETCONF_DEFAULT, 'default'],
  ]);
  for (const l of links) names.set(l.ifindex, l.name);
  const out: Record<string, string> = {};
  for (const c of conf) {
    const name = names.get(c.ifindex);
    if (name !== undefined && c.rpFilter !== undefined) out[`net.ipv4.conf.${name}.rp_filter`] = String(c.rpFilter);
  }
  return out;
}
