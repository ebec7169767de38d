/** Carry out a plan's actions in dependency order, one netlink request each. */

import type { DesiredLink } from '../desired.js';
import { repairer } from '../firewall/repair.js';
import { BRIDGE, kindOf } from '../kinds/index.js';
import type { Features } from '../kinds/kind.js';
import type { Ethtool } from '../netlink/ethtool.js';
import { NetlinkError, type NewLink, RT_TABLE_MAIN, type Rtnl } from '../netlink/rtnl.js';
import { newLinkToken, OWNER_ALIAS, ROUTE_PROTO } from '../ownership.js';
import type { LiveState } from './live.js';
import { type Action, actionLine, type Replaced } from './plan.js';
import { writeSysctl } from './sysctl.js';

/**
 * Actions in flight at once: their replies must fit the socket's receive buffer (every request
 * of 128 links refused, ~0.5 MiB of it). Several of the batches a socket that sends on a thread
 * makes of them (Rtnl's boundary(): 64 requests, 16 links), so that the kernel has the next batch
 * while the answers to one are read (an apply of 500 tunnels from empty: 165 ms, against 173 with
 * a window of 64).
 */
const WINDOW = 128;

/**
 * Where the ifindexes island picks for its new links are drawn: the kernel numbers the links
 * it is not told a number for upwards from its last one, from 1, so another program's link
 * made meanwhile never lands up here, and a random start keeps two islands apart.
 */
const FREE_INDEX_BASE = 1 << 24;
const FREE_INDEX_SPAN = 1 << 30;

export interface ActionResult {
  action: Action;
  error?: string;
}

/**
 * Every action runs even when an earlier one failed (a broken route must not
 * keep a healthy tunnel down); an action whose link could not be made fails
 * with that reason instead of a kernel errno.
 *
 * Make before break: a link is created (under a token name, down) before the link it
 * replaces is deleted, and links removed from the file go last, and only when every
 * declared link could be made: a file the kernel refuses in part leaves what works in place.
 */
export async function apply(
  rtnl: Rtnl,
  actions: Action[],
  live: LiveState,
  ethtool?: Ethtool,
  /** the file the actions come from: a failure names the line that declared its object */
  file?: string,
): Promise<ActionResult[]> {
  const index = new Map(live.links.map((l) => [l.name, l.ifindex]));
  const ctx = {
    ifindex: (n: string) => index.get(n),
    ifname: (i: number) => [...index].find(([, v]) => v === i)?.[0],
  };
  const taken = new Set(index.values());
  let drawn = FREE_INDEX_BASE + Math.floor(Math.random() * FREE_INDEX_SPAN);
  const freeIndex = () => {
    while (taken.has(drawn)) drawn++;
    taken.add(drawn);
    return drawn;
  };
  /** declared links the kernel refused in this pass: links removed from the file stay meanwhile */
  const refused: string[] = [];
  const need = (name: string) => {
    // what goes through a link the kernel refused waits, even where the old link was kept:
    // re-adding its addresses would only raise events, hence another pass, hence another refusal
    if (refused.includes(name)) throw new Error(`link ${name} could not be made`);
    const i = index.get(name);
    if (i === undefined) throw new Error(`link ${name} is not available`);
    return i;
  };
  const setFeatures = (ifindex: number, name: string, f: Features) => {
    if (!ethtool) throw new Error(`link features of ${name}: no ethtool socket`);
    return ethtool.setFeatures(ifindex, name, f);
  };
  const repairFirewall = repairer();
  /** links created in this pass that the kernel has not answered yet, or refused */
  const making = new Map<string, Promise<void>>();
  const outcome = (a: Action): Promise<ActionResult> => {
    const ran = run(a);
    // its requests, made before run() first waits, are whole: they may leave now
    rtnl.boundary();
    return ran.then(
      (): ActionResult => ({ action: a }),
      (e: unknown): ActionResult => ({ action: a, error: declared(explain(a, e), file, actionLine(a)) }),
    );
  };
  const results: ActionResult[] = [];
  /** sent, not answered yet: the next stage's requests follow them in the same sendmsg */
  let sent: Promise<ActionResult>[] = [];
  // Actions of one stage do not depend on each other: send them together and
  // let the kernel work through the pipelined requests, instead of paying one
  // round trip each (500 tunnels: ~2000 requests). Stages whose requests need
  // no answer before the next stage's (the kernel carries out one socket's
  // requests in order) do not wait for one: a heal's link, address and route
  // leave in one sendmsg.
  for (const group of stages(actions)) {
    if (sent.length + group.length <= WINDOW && group.every(inOrder)) {
      sent.push(...group.map(outcome));
      continue;
    }
    results.push(...(await Promise.all(sent)));
    sent = [];
    results.push(...(await pool(group, WINDOW, outcome)));
  }
  results.push(...(await Promise.all(sent)));
  return results;

  /** Whether an action's requests are all it needs sent before what follows it: no answer is waited for. */
  function inOrder(a: Action): boolean {
    // a link on one made in this pass waits for it: its refusal says why
    const on = (n?: string) => n !== undefined && making.has(n);
    if (a.op === 'create-link')
      return inPlace(a.link, a.replaces ?? []) && ![a.link.master, a.link.parent, a.link.underlay].some(on);
    return a.op === 'add-address' || a.op === 'replace-route';
  }

  /** A request about a link whose creation is unanswered yet: if that fails, so does this, for that reason. */
  async function onMade(link: string | undefined, req: Promise<void>): Promise<void> {
    const made = link === undefined ? undefined : making.get(link);
    if (!made) return req;
    req.catch(() => undefined);
    // with the reason: a link another process deleted under the create is a lost race, not news
    await made.catch((e: unknown) => {
      throw new Error(`link ${link} could not be made: ${(e as Error).message}`);
    });
    return req;
  }

  async function run(a: Action): Promise<void> {
    switch (a.op) {
      case 'set-sysctl':
        return writeSysctl(a.key, a.value);
      case 'delete-route':
        // gone already (with the link it went through): what the action wanted
        return rtnl.deleteRoute(a.route).catch(unless('ESRCH'));
      case 'delete-link':
        if (a.why === 'no longer in the file' && refused.length)
          throw new Error(`kept while ${refused.join(', ')} cannot be made: it may be what still carries the traffic`);
        await deleteLink(a);
        return;
      case 'create-link':
        try {
          return await createLink(a.link, a.replaces ?? []);
        } catch (e) {
          refused.push(a.link.name);
          throw e;
        }
      case 'set-link': {
        const c = a.change;
        if (c.kindSpec) {
          const data = kindOf(c.kindSpec.kind).encode(c.kindSpec.spec, ctx) ?? Buffer.alloc(0);
          await rtnl.changeLink(a.ifindex, a.name, c.kindSpec.kind, data);
        }
        const master = c.master === undefined ? undefined : c.master === null ? 0 : need(c.master);
        if (c.up !== undefined || c.mtu !== undefined || master !== undefined)
          await rtnl.setLink(a.ifindex, a.name, { up: c.up, mtu: c.mtu, master });
        if (c.features) await setFeatures(a.ifindex, a.name, c.features);
        return;
      }
      case 'delete-address':
        return rtnl.deleteAddress(need(a.link), a.family, a.address, a.prefixlen);
      case 'add-address':
        return onMade(
          a.address.link,
          rtnl.addAddress(need(a.address.link), a.address.family, a.address.address, a.address.prefixlen),
        );
      case 'firewall':
        // actions of one family share a batch: it runs once and answers for all of them
        return repairFirewall(a.batch);
      case 'replace-route': {
        const r = a.route;
        return onMade(
          r.dev,
          rtnl.replaceRoute({
            family: r.family,
            dst: r.dst,
            dstLen: r.dstLen,
            table: RT_TABLE_MAIN,
            protocol: ROUTE_PROTO,
            type: 1,
            gateway: r.via,
            oif: r.dev ? need(r.dev) : undefined,
            priority: r.metric || undefined,
          }),
        );
      }
    }
  }

  async function deleteLink(l: { name: string; ifindex: number }): Promise<void> {
    await rtnl.deleteLink(l.ifindex, l.name).catch(unless('ENODEV'));
    if (index.get(l.name) === l.ifindex) index.delete(l.name);
  }

  /**
   * A link that takes another's place (a new one: createInPlace) is created under a token
   * name (island's from the first instant: see ownership.ts), down;
   * a second token as an altname, the mark that outlives an alias edit; only then the link
   * it replaces goes, and one request renames the new one into place, marks it with the
   * alias and brings it up. A kill at any point leaves either the old link or a link of
   * island's, never an unmarked one.
   */
  async function createLink(l: DesiredLink, replaces: Replaced[]): Promise<void> {
    if (inPlace(l, replaces)) return createInPlace(l);
    // the kernel cannot hold these and the new link at once: they go first
    const first = replaces.filter((r) => r.first);
    for (const r of first) await deleteLink(r);
    const temp = newLinkToken();
    await stepPause();
    let i: number;
    try {
      i = await rtnl.createLink(newLink(l, temp));
    } catch (e) {
      throw new Error(refusal(l, e, live, first));
    }
    try {
      await stepPause();
      // not awaited before the rename: the kernel takes one socket's requests in order, so the
      // altname is there first, and a link saves a round trip (500 tunnels: ~100 ms)
      const marked = rtnl.addAltname(i, temp, newLinkToken());
      marked.catch(() => undefined);
      // before the request that brings it up, in the same order on the socket
      const quiet = l.noLinkLocal6 ? rtnl.noLinkLocal6(i, temp) : Promise.resolve();
      quiet.catch(() => undefined);
      // in the same pass, not the next one
      if (l.features) await setFeatures(i, l.name, l.features);
      await stepPause();
      for (const r of replaces) if (!r.first) await deleteLink(r);
      await stepPause();
      await Promise.all([marked, quiet, rtnl.setLink(i, temp, { rename: l.name, alias: OWNER_ALIAS, up: true })]);
    } catch (e) {
      await rtnl.deleteLink(i, temp).catch(() => undefined);
      throw e;
    }
    index.set(l.name, i);
  }

  function newLink(l: DesiredLink, name: string, ifindex?: number): NewLink {
    return {
      name,
      kind: l.kind,
      data: kindOf(l.kind).encode(l.spec, ctx),
      // from the declared name, not a token: the address the peer's neighbour entry holds
      mac: kindOf(l.kind).mac?.(l.name, l.spec),
      mtu: l.mtu,
      master: l.master ? need(l.master) : undefined,
      link: l.parent ? need(l.parent) : undefined,
      up: false,
      ifindex,
    };
  }

  /**
   * A link nothing holds the name of: created under its declared name, at an ifindex chosen
   * here, and marked, quieted and brought up by requests that leave in the same sendmsg. The
   * kernel carries out one sendmsg's requests in a row inside that system call, so a kill -9
   * cannot fall between the create and the marks, and no rename is needed (a rename waits for
   * an RCU grace period: ~0.2 ms of the kernel's time per link, half of a 500-tunnel apply's).
   * The ifindex is drawn far above the kernel's own (see freeIndex): a request meant for a link
   * whose create failed finds no link there, never someone else's.
   */
  async function createInPlace(l: DesiredLink): Promise<void> {
    const i = freeIndex();
    const made = rtnl.createLink(newLink(l, l.name, i));
    // by ifindex: the name in the last one is no rename of the link just made
    const quiet = l.noLinkLocal6 ? rtnl.noLinkLocal6(i, l.name) : undefined;
    const marked = rtnl.addAltname(i, l.name, newLinkToken());
    const up = rtnl.setLink(i, l.name, { rename: l.name, alias: OWNER_ALIAS, up: true });
    // its addresses and routes may follow in the same sendmsg (apply's stages): known before
    // the kernel answers, the ifindex is all they need
    index.set(l.name, i);
    // all four are answered together (one sendmsg, one ACK): one wait, not one each (a
    // 500-tunnel apply waited on ~25 promises a link)
    const done = Promise.allSettled([made, quiet, marked, up]).then(async ([m, ...marks]) => {
      // the others found no link at that ifindex
      if (m.status === 'rejected') throw new Error(refusal(l, m.reason, live, []));
      try {
        const failed = marks.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        // in the same pass, not the next one; a round trip after the link's address and route:
        // until then a packet across a NAT may be dropped for its checksum, as it would have
        // been with no link at all
        if (l.features) await setFeatures(i, l.name, l.features);
      } catch (e) {
        await rtnl.deleteLink(i, l.name).catch(() => undefined);
        throw e;
      }
    });
    making.set(l.name, done);
    try {
      await done;
      // made: what goes through it no longer waits for it (onMade)
      making.delete(l.name);
    } catch (e) {
      if (index.get(l.name) === i) index.delete(l.name);
      throw e;
    }
  }

  function inPlace(l: DesiredLink, replaces: Replaced[]): boolean {
    return !replaces.length && !index.has(l.name);
  }
}

/** A failed create in words: who holds what the kernel allows once, and what was given up for it. */
function refusal(l: DesiredLink, e: unknown, live: LiveState, removed: Replaced[]): string {
  const op = `create ${l.kind} ${l.name}`;
  let why = e instanceof NetlinkError ? e.code : (e as Error).message;
  if (e instanceof NetlinkError && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP'))
    why = `the kernel has no ${l.kind} support (module ${kindOf(l.kind).module ?? l.kind} not built or not loadable)`;
  else if (e instanceof NetlinkError && e.code === 'EEXIST') {
    const slot = kindOf(l.kind).slot?.(l.spec);
    const here = slot && live.links.find((x) => x.kind === l.kind && x.spec && kindOf(l.kind).slot?.(x.spec) === slot);
    why = !slot
      ? 'another link already holds what it needs'
      : here
        ? `${here.name} (ifindex ${here.ifindex}) already holds ${slot}`
        : `${slot} are held by a ${l.kind} device outside this network namespace (moved away with ip link set ... netns?): held elsewhere; move it back or delete it there`;
  }
  const gone = removed.length
    ? ` (${removed.map((r) => r.name).join(', ')} was removed first: the kernel cannot hold both)`
    : '';
  return `${op}: refused by the kernel: ${why}${gone}`;
}

/**
 * A test knob: a pause between the steps of a create, so that test/kernel/kill.test.ts lands
 * its kill -9s inside the windows between them rather than hoping to.
 */
const STEP_PAUSE_MS = Number(process.env.ISLAND_TEST_CREATE_PAUSE_MS) || 0;
const stepPause = (): Promise<void> | undefined =>
  STEP_PAUSE_MS ? new Promise((r) => setTimeout(r, STEP_PAUSE_MS)) : undefined;

const declared = (error: string, file: string | undefined, line: number | undefined): string =>
  file && line ? `${error} (declared at ${file}:${line})` : error;

const unless =
  (code: string) =>
  (e: unknown): void => {
    if (!(e instanceof NetlinkError && e.code === code)) throw e;
  };

/** Kernel errnos a user can act on, said in words. */
function explain(a: Action, e: unknown): string {
  if (!(e instanceof NetlinkError)) return (e as Error).message;
  if (a.op === 'create-link' && e.code === 'EEXIST')
    return `create ${a.link.kind} ${a.link.name}: a link named ${a.link.name} appeared meanwhile (not island's): it was left alone`;
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
    a.op !== 'create-link'
      ? a.op
      : a.link.kind === BRIDGE.kind
        ? 'create-bridge'
        : a.link.master
          ? 'create-port'
          : a.op;
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
