/**
 * What the daemon already knows of the kernel, so that a heal does not begin by reading it all
 * again. A pass that changed nothing, and during which no event came, leaves its read here.
 * The deletion of one of island's links is then told whole by its events (the link going
 * down, its addresses, its routes, the link itself): the next pass plans from that read less
 * the deleted link and what went with it, and sends its repair at once, without the three
 * dumps (and the underlay route lookup) a read costs. Any other event, and any trigger that is
 * not an event about island's own objects, forgets the read: that pass reads everything.
 * The pass after a heal (the heal's own events ask for it) reads everything too.
 */
import type { RtEvent } from '../netlink/events.js';
import type { LiveState } from '../reconcile/live.js';

export class KnownState {
  private live?: LiveState;
  /** island's links whose deletion was announced since the read */
  private readonly gone = new Set<number>();
  /** links that other events since the read concern: told only if each of them is gone */
  private readonly about = new Set<number>();
  /** island's firewall changed since the read: the pass reads it again, and only it */
  private firewall = false;
  /** every link the last read saw, by ifindex, whatever the pass did after it */
  private seen = new Map<number, { name: string; up: boolean; mtu: number }>();

  /** A pass's read, before its actions: kept for the next pass only when `clean` (nothing done, nothing heard). */
  read(live: LiveState, clean: boolean): void {
    this.seen = new Map(live.links.map((l) => [l.ifindex, { name: l.name, up: l.up, mtu: l.mtu }]));
    this.forget();
    if (clean) this.live = live;
  }

  forget(): void {
    this.live = undefined;
    this.gone.clear();
    this.about.clear();
    this.firewall = false;
  }

  /** An nftables event about island's tables: links, addresses and routes stay as read. */
  firewallChanged(): void {
    if (this.live) this.firewall = true;
  }

  /**
   * A link event that says nothing the last read did not: same name, state and MTU (a tunnel
   * on a `dev` being deleted or created announces its underlay, unchanged, as the kernel
   * unlinks or links them). Not worth a pass, nor forgetting the read.
   */
  unchanged(ev: RtEvent): boolean {
    if (ev.kind !== 'link' || ev.op !== 'new' || ev.family !== 0 || ev.ifindex === undefined) return false;
    const s = this.seen.get(ev.ifindex);
    return s !== undefined && s.name === ev.ifname && s.up === ev.up && s.mtu === ev.mtu;
  }

  /** An event about island's objects, or around them: kept track of when the deletion of an own link explains it. */
  note(ev: RtEvent, own: boolean): void {
    const live = this.live;
    if (!live) return;
    const ifindex = ev.ifindex;
    const ours = own && ifindex !== undefined && live.links.some((l) => l.ifindex === ifindex && l.owned);
    // The link going down is the first thing its deletion announces, ~0.1 ms before the rest,
    // which a daemon on a free CPU reads apart: taken for the deletion it nearly always is. An
    // admin's `ip link set down` is taken for one too: the create that heal sends fails (the
    // name is held), and the daemon reads everything and brings the link up.
    if (ours && ev.kind === 'link' && ev.family === 0) {
      if (ev.op === 'del' || ev.up === false) this.gone.add(ifindex);
      else this.forget();
    } else if (ours && ev.op === 'del' && (ev.kind === 'address' || ev.kind === 'route')) this.about.add(ifindex);
    else this.forget();
  }

  /**
   * The read less what the deletions took, when the events since are all told by them, and
   * whether its firewall must be read again; else nothing. Once.
   */
  take(): { live: LiveState; firewall: boolean } | undefined {
    const live = this.live;
    const firewall = this.firewall;
    const told = live && (this.gone.size > 0 || firewall) && [...this.about].every((i) => this.gone.has(i));
    const gone = new Set(this.gone);
    this.forget();
    if (!live || !told) return undefined;
    if (!gone.size) return { live, firewall };
    const less: LiveState = {
      ...live,
      links: live.links.filter((l) => !gone.has(l.ifindex)),
      addresses: live.addresses.filter((a) => !gone.has(a.ifindex)),
      // the kernel drops the routes through a deleted link without a word
      routes: live.routes.filter((r) => r.oif === undefined || !gone.has(r.oif)),
    };
    return { live: less, firewall };
  }
}
