/** Carry out a plan's actions in dependency order, one netlink request each. */
import { repairer } from '../firewall/repair.js';
import { kindOf } from '../kinds/index.js';
import type { Features } from '../kinds/kind.js';
import type { Ethtool } from '../netlink/ethtool.js';
import { NetlinkError, RT_TABLE_MAIN, type Rtnl } from '../netlink/rtnl.js';
import { OWNER_ALIAS, ROUTE_PROTO } from '../ownership.js';
import type { LiveState } from './live.js';
import type { Action } from './plan.js';
import { writeSysctl } from './sysctl.js';

/** requests in flight at once: their replies must fit the socket's receive buffer */
const WINDOW = 64;

export interface ActionResult {
  action: Action;
  error?: string;
}

/**
 * Every action runs even when an earlier one failed (a broken route must not
 * keep a healthy tunnel down); an action whose link could not be made fails
 * with that reason instead of a kernel errno.
 */
export async function apply(
  rtnl: Rtnl,
  actions: Action[],
  live: LiveState,
  ethtool?: Ethtool,
): Promise<ActionResult[]> {
  const index = new Map(live.links.map((l) => [l.name, l.ifindex]));
  const ctx = {
    ifindex: (n: string) => index.get(n),
    ifname: (i: number) => [...index].find(([, v]) => v === i)?.[0],
  };
  const need = (name: string) => {
    const i = index.get(name);
    if (i === undefined) throw new Error(`link ${name} is not available`);
    return i;
  };
  const setFeatures = (ifindex: number, name: string, f: Features) => {
    if (!ethtool) throw new Error(`link features of ${name}: no ethtool socket`);
    return ethtool.setFeatures(ifindex, name, f);
  };
  const repairFirewall = repairer();
  const results: ActionResult[] = [];
  // Actions of one stage do not depend on each other: send them together and
  // let the kernel work through the pipelined requests, instead of paying one
  // round trip each (500 tunnels: ~2000 requests).
  for (const group of stages(actions)) {
    results.push(
      ...(await pool(group, WINDOW, (a) =>
        run(a).then(
          (): ActionResult => ({ action: a }),
          (e: unknown): ActionResult => ({ action: a, error: explain(a, e) }),
        ),
      )),
    );
  }
  return results;

  async function run(a: Action): Promise<void> {
    switch (a.op) {
      case 'set-sysctl':
        return writeSysctl(a.key, a.value);
      case 'delete-route':
        return rtnl.deleteRoute(a.route);
      case 'delete-link':
        await rtnl.deleteLink(a.ifindex, a.name);
        index.delete(a.name);
        return;
      case 'create-link': {
        const l = a.link;
        const i = await rtnl.createLink({
          name: l.name,
          kind: l.kind,
          data: kindOf(l.kind).encode(l.spec, ctx),
          mac: kindOf(l.kind).mac?.(l.name, l.spec),
          mtu: l.mtu,
          master: l.master ? need(l.master) : undefined,
          up: true,
        });
        // The kernel ignores IFLA_IFALIAS on RTM_NEWLINK: mark ownership with
        // a second request, and take the link back if that fails, so that no
        // unmarked (hence "foreign") link of ours is left behind.
        try {
          await rtnl.setLink(i, l.name, { alias: OWNER_ALIAS });
        } catch (e) {
          await rtnl.deleteLink(i, l.name).catch(() => undefined);
          throw e;
        }
        index.set(l.name, i);
        // in the same pass, not the next one; a failure leaves the (owned) link for set-link to finish
        if (l.features) await setFeatures(i, l.name, l.features);
        return;
      }
      case 'set-link': {
        const c = a.change;
        const master = c.master === undefined ? undefined : c.master === null ? 0 : need(c.master);
        if (c.up !== undefined || c.mtu !== undefined || master !== undefined)
          await rtnl.setLink(a.ifindex, a.name, { up: c.up, mtu: c.mtu, master });
        if (c.features) await setFeatures(a.ifindex, a.name, c.features);
        return;
      }
      case 'delete-address':
        return rtnl.deleteAddress(need(a.link), a.family, a.address, a.prefixlen);
      case 'add-address':
        return rtnl.addAddress(need(a.address.link), a.address.family, a.address.address, a.address.prefixlen);
      case 'firewall':
        // actions of one family share a batch: it runs once and answers for all of them
        return repairFirewall(a.batch);
      case 'replace-route': {
        const r = a.route;
        return rtnl.replaceRoute({
          family: r.family,
          dst: r.dst,
          dstLen: r.dstLen,
          table: RT_TABLE_MAIN,
          protocol: ROUTE_PROTO,
          type: 1,
          gateway: r.via,
          oif: r.dev ? need(r.dev) : undefined,
          priority: r.metric || undefined,
        });
      }
    }
  }
}

/** Kernel errnos a user can act on, said in words. */
function explain(a: Action, e: unknown): string {
  if (!(e instanceof NetlinkError)) return (e as Error).message;
  if (a.op === 'create-link') {
    const kind = a.link.kind;
    if (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP')
      return `${e.op}: the kernel has no ${kind} support (module ${kind} not built or not loadable)`;
    if (e.code === 'EEXIST')
      return `${e.op}: another link with this name, or the same ${kind} endpoint, already exists`;
  }
  if (e.code === 'ENETUNREACH') return `${e.op}: network unreachable (no address of the gateway's subnet is up)`;
  return e.message;
}

/**
 * Runs of consecutive actions of the same kind. plan() already orders actions
 * by dependency; a link that needs another one created in the same pass (a
 * port its bridge, a tunnel its bridge underlay) waits in a later stage.
 */
function stages(actions: Action[]): Action[][] {
  // bridges first (they can be a tunnel's underlay or master), then tunnels, then bridge ports
  const key = (a: Action) =>
    a.op !== 'create-link' ? a.op : a.link.kind === 'bridge' ? 'create-bridge' : a.link.master ? 'create-port' : a.op;
  const out: Action[][] = [];
  for (const a of actions) {
    const last = out[out.length - 1];
    if (last && key(last[0] as Action) === key(a)) last.push(a);
    else out.push([a]);
  }
  return out;
}

/** map() with at most `width` calls running; results in input order. */
async function pool<T, R>(items: T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
