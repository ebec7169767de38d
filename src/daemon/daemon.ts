/**
 * The long-running loop. Every trigger (start, netlink event, overflow,
 * resync timer, SIGHUP) asks for the same full pass: events decide *when*,
 * never *what* is planned; only what is read again (known.ts: the deletion of
 * an own link, a change to island's firewall). One pass runs at a time. The
 * first event after a quiet period starts a pass at once: a heal costs one
 * round trip, not a debounce. Triggers
 * during a pass coalesce into one more pass right after it; those that come
 * within `debounce` of a pass's end (the echoes of its own changes) into one
 * pass at the end of that window.
 */
import type { Logger } from 'pino';
import { HEALTH_INTERVAL_MS } from '../config/defaults.js';
import { formatDiagnostic, loadConfigText } from '../config/load.js';
import type { Config } from '../config/types.js';
import { type DesiredState, desiredState } from '../desired.js';
import { dropHeadline, isDropFinding } from '../firewall/drops.js';
import { forgetFirewallReads, observeFirewall } from '../firewall/observe.js';
import { type FirewallWatch, watchFirewall } from '../firewall/watch.js';
import { describePathMtu, describePeer } from '../health/describe.js';
import { Health, type PeerStatus } from '../health/health.js';
import { MtuKeeper } from '../health/mtu-keeper.js';
import { recheckMs } from '../health/pmtu-probe.js';
import { HostsKeeper } from '../hosts/keeper.js';
import { DaemonMetrics, MetricsFile } from '../metrics/metrics.js';
import { netlinkAddonPath, patchedAddonLoaded } from '../netlink/addon.js';
import { Ethtool } from '../netlink/ethtool.js';
import { type EventSource, type RtEvent, watchRtnetlink } from '../netlink/events.js';
import { inSubnet } from '../netlink/ip.js';
import { NETCONF_ALL, NETCONF_DEFAULT } from '../netlink/netconf.js';
import { Rtnl } from '../netlink/rtnl.js';
import { ROUTE_PROTO } from '../ownership.js';
import { describeAction } from '../reconcile/describe.js';
import { withPathMtus } from '../reconcile/mtu.js';
import { type Action, actionObject, type ObjectStatus, settle } from '../reconcile/plan.js';
import { reconcile } from '../reconcile/reconcile.js';
import { KnownState } from './known.js';
import { RepairLimiter } from './limiter.js';
import { unsafeConfigFile } from './perms.js';
import { RcuExpedited } from './rcu.js';

export interface DaemonOptions {
  configPath: string;
  log: Logger;
  /** called after every pass with a one-line summary (systemd STATUS= later) */
  onStatus?: (summary: string) => void;
  /** called after every pass: converged when every declared object is ok (systemd READY=1) */
  onPass?: (pass: { converged: boolean; summary: string }) => void;
}

export class Daemon {
  private cfg!: Config;
  private want!: DesiredState;
  private readonly rtnl = new Rtnl();
  private readonly ethtool = new Ethtool();
  private events?: EventSource;
  private firewall?: FirewallWatch;
  private resyncTimer?: NodeJS.Timeout;
  private debounceTimer?: NodeJS.Timeout;
  /** performance.now() when the last pass ended: the debounce window runs from there */
  private passEndedAt = Number.NEGATIVE_INFINITY;
  private retryTimer?: NodeJS.Timeout;
  private retryAt = 0;
  private running = false;
  private again = false;
  /** a pass for an event about island's own objects is due once this turn's events are in */
  private ownSoon = false;
  /** the last clean read, which a heal plans from instead of reading again */
  private readonly known = new KnownState();
  /** relevant events heard: a read during which one came cannot be kept */
  private heard = 0;
  private stopped = false;
  private readonly limiter = new RepairLimiter();
  private readonly throttled = new Set<string>();
  /** objects whose last repair failed: it lost a race (a debug line), or it failed (an error) */
  private readonly failures = new Map<string, 'race' | 'error'>();
  /** drop findings already logged */
  private dropping = new Set<string>();
  /** names and ifindexes whose events matter: declared links and their underlays */
  private watchedNames = new Set<string>();
  private watchedIndexes = new Set<number>();
  /** island's own links, by name and ifindex: a change to them is healed at once */
  private ownNames = new Set<string>();
  private ownIndexes = new Set<number>();
  /** addresses whose host route decides a pin or a route over a host device: a change of that route counts */
  private hostPaths: string[] = [];
  /** netconf events that concern a kept sysctl: "4 all", "6 default" (devices go by watchedIndexes) */
  private netconf = new Set<string>();
  private lastSummary = '';
  /** reloads waiting for the pass that applies them */
  private passWaiters: (() => void)[] = [];
  /** the text of the running configuration, for `island status` */
  private cfgText = '';
  private lastStatus: ObjectStatus[] = [];
  private lastPassAt = 0;
  private readonly health = new Health({
    onTransition: (p, from) => this.peerChanged(p, from),
    onProblem: (p, problem) => {
      if (problem) this.log.warn({ tunnel: p.tunnel, peer: p.peer }, `peer ${p.peer} on ${p.tunnel}: ${problem}`);
    },
    onPathMtu: (p) => this.pathMtuChanged(p),
  });
  /** each tunnel's path MTU as last logged ("ok 1480", "warning 1380"): logged again only when it changes */
  private pathMtuLogged = new Map<string, string>();
  /** mtu = "auto" tunnels lowered to their measured path, and their trials back up */
  private readonly mtuKeeper = new MtuKeeper((tunnel) => {
    const p = this.want.peers.find((x) => x.tunnel === tunnel);
    return recheckMs(p?.intervalMs ?? HEALTH_INTERVAL_MS);
  });
  private readonly hosts: HostsKeeper;
  private readonly rcu: RcuExpedited;
  /** [daemon] metrics: counters of the daemon's life, written to the file after every pass */
  private readonly metrics = new DaemonMetrics();
  private readonly metricsFile: MetricsFile;

  constructor(private readonly opts: DaemonOptions) {
    this.hosts = new HostsKeeper(opts.log);
    this.rcu = new RcuExpedited(opts.log);
    this.metricsFile = new MetricsFile(() => this.metrics.render(this.snapshot()), opts.log);
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** Load the file, converge once, then heal until stop(). Resolves after the first pass. */
  async start(): Promise<void> {
    const unsafe = await unsafeConfigFile(this.opts.configPath);
    if (unsafe) throw new ConfigRejected([unsafe]);
    const { result: r, text } = await loadConfigText(this.opts.configPath);
    if (!r.ok) throw new ConfigRejected(r.errors.map(formatDiagnostic));
    for (const w of r.warnings) this.log.warn(formatDiagnostic(w));
    this.use(r.config, text ?? '');
    if (!patchedAddonLoaded())
      this.log.warn(
        `netlink addon ${netlinkAddonPath()} is the unpatched prebuild: an event overflow would abort island (rebuild it: node scripts/build-native.mjs)`,
      );
    this.events = watchRtnetlink(
      (ev) => this.onEvent(ev),
      () => {
        this.log.warn('netlink event queue overflowed (ENOBUFS): events were lost, running a full resync');
        this.trigger('overflow', 0);
      },
      (err) => this.log.error({ err: err.message }, 'netlink event socket error'),
      // a test knob: a tiny buffer makes an overflow certain
      { recvBufferSize: Number(process.env.ISLAND_NETLINK_RCVBUF) || undefined },
    );
    await this.watchFirewall();
    await this.pass('start');
  }

  private use(cfg: Config, text: string): void {
    this.cfg = cfg;
    this.cfgText = text;
    this.want = desiredState(cfg);
    this.metrics.configLoaded(true);
    this.metricsFile.target = cfg.daemon.metrics;
    this.ownNames = new Set(this.want.links.map((l) => l.name));
    this.watchedNames = new Set([
      ...this.want.links.flatMap((l) => (l.underlay ? [l.name, l.underlay] : [l.name])),
      // host devices that routes or pins go over
      ...this.want.routes.flatMap((r) => [r.dev, r.pin?.dev].filter((d): d is string => d !== undefined)),
      // devices whose conf.<dev>.* sysctls island keeps: set when the device appears
      ...sysctlScopes(Object.keys(this.want.sysctls)).devices,
    ]);
    this.netconf = sysctlScopes(Object.keys(this.want.sysctls)).global;
    // what decides a pin's path, or whether a host-device route's gateway is reachable
    this.hostPaths = [
      ...this.want.routes.flatMap((r) =>
        r.pin ? [r.dst] : r.via !== undefined && !this.watchedNames.has(r.dev ?? '') ? [r.via] : [],
      ),
      // a tunnel waits for its local address (a bound one follows it to whichever device holds it)
      ...this.want.links.flatMap((l) => (l.spec.local === undefined ? [] : [String(l.spec.local)])),
    ];
    clearInterval(this.resyncTimer);
    // the safety net for lost events: flannel never re-checks its FDB and
    // users lose the overlay after a reboot
    this.resyncTimer = setInterval(() => this.trigger('resync', 0), cfg.daemon.resyncMs);
  }

  /** SIGHUP or a changed file: a bad file changes nothing. Resolves after the pass that applies it. */
  async reload(): Promise<boolean> {
    const unsafe = await unsafeConfigFile(this.opts.configPath);
    if (unsafe) {
      this.log.error(`${unsafe}; still running the last good configuration`);
      this.opts.onStatus?.(`config refused: ${unsafe}`);
      this.metrics.configLoaded(false);
      void this.metricsFile.write();
      return false;
    }
    const { result: r, text } = await loadConfigText(this.opts.configPath);
    if (!r.ok) {
      for (const e of r.errors) this.log.error(formatDiagnostic(e));
      this.log.error(`${this.opts.configPath}: not reloaded, still running the last good configuration`);
      const [first] = r.errors;
      if (first) this.opts.onStatus?.(`config error at ${first.path}:${first.line}`);
      this.metrics.configLoaded(false);
      void this.metricsFile.write();
      return false;
    }
    for (const w of r.warnings) this.log.warn(formatDiagnostic(w));
    await this.switchTo(r.config, text ?? '', 'reload');
    this.log.info({ path: this.opts.configPath }, 'configuration reloaded');
    return true;
  }

  /** Run another (valid) configuration: a reload, `island try` and its rollback. Resolves after its pass. */
  async switchTo(cfg: Config, text: string, why: string): Promise<{ summary: string; converged: boolean }> {
    this.use(cfg, text);
    // [forward] backend or IPv6 use may have changed, or the host's backend since start
    forgetFirewallReads();
    await this.watchFirewall();
    const applied = new Promise<void>((res) => this.passWaiters.push(res));
    this.trigger(why, 0);
    await applied;
    return { summary: this.lastSummary, converged: this.converged() };
  }

  /** The running configuration as loaded (a try's candidate while one runs). */
  current(): { cfg: Config; text: string } {
    return { cfg: this.cfg, text: this.cfgText };
  }

  /** The live view `island status` asks the control channel for. */
  snapshot() {
    return {
      summary: this.lastSummary,
      converged: this.converged(),
      lastPassAt: this.lastPassAt,
      objects: this.lastStatus,
      contested: [...this.throttled],
      peers: this.health.status(),
      /** mtu = "auto" tunnels lowered to their measured path: status plans with them */
      pathMtus: this.mtuKeeper.current(),
    };
  }

  private converged(): boolean {
    return this.lastStatus.every((s) => s.state === 'ok' || s.state === 'stale') && this.throttled.size === 0;
  }

  private peerChanged(p: PeerStatus, from: string): void {
    const line = `peer ${p.peer} on ${p.tunnel}: ${describePeer(p)}`;
    const fields = { tunnel: p.tunnel, peer: p.peer, state: p.state, from };
    if (p.state === 'up') this.log.info(fields, line);
    else if (p.state !== 'pending') this.log.warn(fields, line);
    // STATUS= carries "n/m peers up"
    this.report(this.lastStatus);
    void this.metricsFile.write();
  }

  /** A search finished: a tunnel whose MTU the path does not carry is a warning, once per change. */
  private pathMtuChanged(p: PeerStatus): void {
    const auto = this.want.links.some((l) => l.name === p.tunnel && l.mtuAuto);
    const change = auto && p.pmtu ? this.mtuKeeper.onResult(p.tunnel, p.pmtu, Date.now()) : undefined;
    if (change?.words) {
      this.log.info(
        { tunnel: p.tunnel, peer: p.peer, pathMtu: p.pathMtu, from: change.from, to: change.to },
        `${p.tunnel}: mtu ${change.from} → ${change.to} (mtu auto): ${change.words} to ${p.peer}`,
      );
    }
    if (change) this.trigger('path mtu', 0);
    // an auto tunnel about to be lowered is not a warning
    if (!(auto && (change || this.mtuKeeper.loweredTo(p.tunnel) !== undefined))) this.warnPathMtu(p);
    // STATUS= and the metrics carry both directions: the peer's figure can come after ours
    this.report(this.lastStatus);
    void this.metricsFile.write();
  }

  /** A tunnel whose MTU the path does not carry: a warning, once per change. */
  private warnPathMtu(p: PeerStatus): void {
    const words = describePathMtu(p);
    if (words.state === 'pending') return;
    const key = `${words.state} ${p.pmtu?.pathMtu} ${p.pmtu?.ceiling}`;
    if (this.pathMtuLogged.get(p.tunnel) === key) return;
    this.pathMtuLogged.set(p.tunnel, key);
    const fields = { tunnel: p.tunnel, peer: p.peer, pathMtu: p.pathMtu, mtu: p.pmtu?.ceiling };
    if (words.state === 'ok') this.log.info(fields, `${p.tunnel}: ${words.detail}`);
    else
      this.log.warn(
        fields,
        `${p.tunnel}: ${words.detail}: packets larger than the path are lost on the way to ${p.peer} (set mtu = "auto", or at most what the path carries)`,
      );
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.debounceTimer);
    clearTimeout(this.retryTimer);
    this.events?.close();
    this.firewall?.close();
    this.health.close();
    this.rtnl.close();
    this.ethtool.close();
  }

  /** nftables events, or a poll of legacy iptables: more triggers for the same pass. */
  private async watchFirewall(): Promise<void> {
    this.firewall?.close();
    this.firewall = undefined;
    try {
      const w = await watchFirewall(this.want.firewall, {
        onChange: (why) => this.trigger(why, this.cfg.daemon.debounceMs, 'firewall'),
        onOverflow: () => {
          this.log.warn('nftables event queue overflowed (ENOBUFS): events were lost, running a full resync');
          this.trigger('overflow', 0);
        },
        onError: (err) => this.log.error({ err: err.message }, 'firewall watch error'),
      });
      if (this.stopped) w?.close();
      else this.firewall = w;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'cannot watch the firewall: only the periodic resync repairs it');
    }
    if (this.firewall) this.log.info(`firewall: ${this.firewall.mode}`);
  }

  private onEvent(ev: RtEvent): void {
    if (!this.relevant(ev)) return;
    const own =
      ev.kind === 'route'
        ? ev.protocol === ROUTE_PROTO
        : ev.kind !== 'netconf' &&
          ((ev.ifname !== undefined && this.ownNames.has(ev.ifname)) ||
            (ev.ifindex !== undefined && this.ownIndexes.has(ev.ifindex)));
    if (!own && this.known.unchanged(ev)) return;
    this.heard++;
    this.known.note(ev, own);
    // A change to island's own objects is the outage itself: it does not wait for the window
    // after a pass. One around them (an underlay, a host route, a sysctl) starts a pass at once
    // after a quiet period, like any trigger (the underlay's announcement that a tunnel on it is
    // being deleted, ~15 ms before the tunnel's own while the kernel holds it, says nothing
    // new: known.unchanged() dropped it above)
    this.trigger(
      `${ev.kind} ${ev.op}${ev.ifname ? ` ${ev.ifname}` : ''}`,
      this.cfg.daemon.debounceMs,
      own ? 'own' : 'now',
    );
  }

  private relevant(ev: RtEvent): boolean {
    if (ev.kind === 'netconf') {
      // a write to forwarding or rp_filter announces itself: heal it now, not at the next resync
      const family = ev.family === 10 ? 6 : 4;
      if (ev.ifindex === NETCONF_ALL) return this.netconf.has(`${family} all`);
      if (ev.ifindex === NETCONF_DEFAULT) return this.netconf.has(`${family} default`);
      return ev.ifindex !== undefined && this.watchedIndexes.has(ev.ifindex);
    }
    if (ev.kind === 'route') {
      return (
        ev.protocol === ROUTE_PROTO ||
        this.want.routes.some((r) => r.dst === ev.dst && r.dstLen === ev.dstLen) ||
        this.hostPaths.some((ip) => ev.dst !== undefined && inSubnet(ip, ev.dst, ev.dstLen ?? 0))
      );
    }
    // the kernel's own IPv6 link-local addresses (DAD finishing ~1 s after a
    // link comes up) are not island's: plan() ignores them, so do the events
    if (ev.kind === 'address' && ev.dst && /^fe[89ab]/i.test(ev.dst)) return false;
    // an address anywhere can make a host-device route's gateway reachable
    if (ev.kind === 'address' && this.hostPaths.length > 0) return true;
    if (ev.ifname && this.watchedNames.has(ev.ifname)) return true;
    return ev.ifindex !== undefined && this.watchedIndexes.has(ev.ifindex);
  }

  /**
   * own: at once, whatever waits (the window after a pass); now, firewall: at once after a quiet
   * period, else at the end of the debounce window. During a pass, any of them asks for one
   * more pass the moment it ends.
   */
  private trigger(reason: string, delayMs: number, mode: 'own' | 'now' | 'firewall' = 'now'): void {
    if (this.stopped) return;
    // only the events of island's own objects can be told without a read (known.ts); a change
    // to island's firewall is read again alone
    if (mode === 'firewall') {
      this.heard++;
      this.known.firewallChanged();
    } else if (mode !== 'own') this.known.forget();
    if (this.running) {
      this.again = true;
      return;
    }
    if (mode === 'own') {
      // the echo of a pass's own changes costs one more pass (a dump, nothing to do): cheaper
      // than making the next outage wait; a fight is the limiter's business, not this window's
      clearTimeout(this.debounceTimer);
      this.debounceTimer = undefined;
      // after the rest of the events read with this one (a deletion's come together): the
      // pass knows them all. A microtask: no turn of the event loop is lost
      if (this.ownSoon) return;
      this.ownSoon = true;
      queueMicrotask(() => {
        this.ownSoon = false;
        if (this.running) this.again = true;
        else void this.pass(reason);
      });
      return;
    }
    if (this.debounceTimer) return;
    const wait = this.passEndedAt + delayMs - performance.now();
    if (wait <= 0) {
      void this.pass(reason);
      return;
    }
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.pass(reason);
    }, wait);
  }

  private async pass(reason: string): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    // a reload asked for during a running pass waits for the next one, which sees its config
    const waiters = this.passWaiters;
    this.passWaiters = [];
    try {
      const skipped: Action[] = [];
      const t0 = performance.now();
      // a link whose creation waits for its turn takes its addresses, routes and ports with it:
      // they would only fail, and spend their own turns out of step with the link's
      const waiting = new Set<string>();
      const want = withPathMtus(this.want, this.mtuKeeper.pathMtus(Date.now()));
      const heard = this.heard;
      const told = this.known.take();
      const known = told?.firewall ? { ...told.live, firewall: await observeFirewall(this.want.firewall) } : told?.live;
      const { live, plan, results } = await reconcile(
        this.rtnl,
        this.ethtool,
        want,
        (a) => {
          const on = linkOf(a);
          if (on.some((n) => waiting.has(n))) {
            if (a.op === 'create-link') waiting.add(a.link.name);
            return false;
          }
          if (this.limiter.take(actionObject(a))) return true;
          skipped.push(a);
          if (a.op === 'create-link') waiting.add(a.link.name);
          return false;
        },
        known,
      );
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.known.read(live, results.length === 0 && this.heard === heard);
      for (const r of results) {
        const line = describeAction(r.action);
        const object = actionObject(r.action);
        if (r.error && known) {
          // planned from the events, which the kernel contradicted (an admin's link down, not a
          // deletion): read everything and plan again, at once; that pass says what fails
          this.again = true;
          this.log.debug({ object, error: r.error }, `not as the events told: ${line}: ${r.error}`);
          continue;
        }
        if (!r.error) {
          this.failures.delete(object);
          this.log.info({ object, trigger: reason }, line);
          continue;
        }
        // the other side changed the object under a repair (in a fight, or a first time): the
        // next repair follows anyway; the same failure twice in a row outside a fight is news
        if (lostRace(r.error) && (this.limiter.contested(object) || !this.failures.has(object))) {
          this.failures.set(object, 'race');
          this.log.debug({ object, error: r.error }, `lost a race: ${line}: ${r.error}`);
        } else {
          this.failures.set(object, 'error');
          this.log.error({ object, error: r.error }, `failed: ${line}: ${r.error}`);
        }
      }
      // a plan the kernel contradicted is no failed repair, nor a status: the pass it asks for says them
      const contradicted = known !== undefined && results.some((r) => r.error);
      const read = contradicted ? 'known, contradicted' : known ? 'known' : 'dump';
      if (results.length) this.log.info({ trigger: reason, actions: results.length, ms, read }, 'reconciled');
      this.noteThrottled(skipped);
      // address events carry only an ifindex; links made in this pass are
      // learnt on the pass their own creation events trigger
      this.watchedIndexes = new Set(live.links.filter((l) => this.watchedNames.has(l.name)).map((l) => l.ifindex));
      this.ownIndexes = new Set(live.links.filter((l) => this.ownNames.has(l.name)).map((l) => l.ifindex));
      await this.hosts.sync(this.want.hosts);
      this.rcu.keep(this.cfg.daemon.rcuExpedited);
      // after the pass: a probe socket binds to the tunnel's own address, which may have just appeared
      this.health.configure(this.want.peers);
      this.health.setLinkMtus(new Map(live.links.filter((l) => l.owned).map((l) => [l.name, l.mtu])));
      this.mtuKeeper.keep(new Set(this.want.links.filter((l) => l.mtuAuto).map((l) => l.name)));
      // a lowered auto tunnel goes back up for a trial when its re-check is due
      const trial = this.mtuKeeper.nextTrialAt();
      if (trial !== undefined) this.retryIn(Math.max(trial - Date.now(), 10));
      this.health.retry();
      this.lastPassAt = Date.now();
      if (!contradicted) this.report(settle(plan.status, results));
      this.metrics.passed(ms, contradicted ? results.filter((r) => !r.error) : results, skipped);
      void this.metricsFile.write();
    } catch (e) {
      this.log.error({ err: (e as Error).message, trigger: reason }, 'reconcile pass failed');
      this.metrics.passFailed();
      void this.metricsFile.write();
    } finally {
      for (const w of waiters) w();
      this.running = false;
      this.passEndedAt = performance.now();
      if (this.again) {
        this.again = false;
        // what came during the pass is in: one pass for it, now (a zero timer: after the events
        // already read in this turn of the loop, which it then covers too)
        this.debounceTimer = setTimeout(() => {
          this.debounceTimer = undefined;
          void this.pass('coalesced');
        }, 0);
      }
    }
  }

  /** Log once when an object starts and stops being contested; retry when its bucket refills. */
  private noteThrottled(skipped: Action[]): void {
    const now = new Set(skipped.map(actionObject));
    for (const key of now) {
      if (!this.throttled.has(key)) {
        this.log.warn(
          { object: key },
          `${key} keeps being undone by another process: backing off (repairs are rate-limited)`,
        );
        this.throttled.add(key);
      }
    }
    for (const key of [...this.throttled]) {
      if (!now.has(key) && this.limiter.calm(key)) {
        this.throttled.delete(key);
        this.log.info({ object: key }, `${key} is no longer contested`);
      }
    }
    // come back when the first skipped repair may run, or, while objects are still marked
    // contested, when the first of them has been quiet long enough to clear
    const waits = now.size
      ? [...now].map((k) => this.limiter.waitMs(k))
      : [...this.throttled].map((k) => this.limiter.calmInMs(k));
    if (waits.length) this.retryIn(Math.max(Math.min(...waits), 10));
  }

  /**
   * A pass in `ms` at the latest. An earlier need replaces a later timer: a repair skipped
   * now must not wait for a pending calm check (1-2 s), or the last repair of a fight would
   * come that late after the other side stopped.
   */
  private retryIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.retryTimer && this.retryAt <= at) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    // +1: a timer may fire within the millisecond it was due, before the limiter's turn
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.trigger('backoff', 0);
    }, ms + 1);
  }

  /** What drops island's traffic (firewall/drops.ts): logged once when it appears, once when it goes. */
  private noteDrops(drops: ObjectStatus[]): void {
    const now = new Set(drops.map((d) => d.object));
    for (const d of drops)
      if (!this.dropping.has(d.object))
        this.log.warn({ object: d.object, state: d.state }, `${d.object}: ${d.detail ?? d.state}`);
    for (const o of this.dropping)
      if (!now.has(o)) this.log.info({ object: o }, `${o}: no longer drops island's traffic`);
    this.dropping = now;
  }

  private report(status: ObjectStatus[]): void {
    this.lastStatus = status;
    const drops = status.filter(isDropFinding);
    this.noteDrops(drops);
    const bad = status.filter((s) => s.state !== 'ok' && s.state !== 'stale' && !isDropFinding(s));
    const links = status.filter((s) => s.id.type === 'link');
    const linksOk = links.filter((s) => s.state === 'ok').length;
    let summary = `${linksOk}/${links.length} links ok`;
    const [worst] = bad;
    if (worst)
      summary += `, ${bad.length} object(s) not converged: ${worst.object} ${worst.state}${worst.detail ? `: ${worst.detail}` : ''}`;
    const [drop] = drops;
    if (drop) summary += `, ${dropHeadline(drop)}${drops.length > 1 ? ` (and ${drops.length - 1} more)` : ''}`;
    if (this.throttled.size) summary += `, ${this.throttled.size} contested (backing off)`;
    const peers = this.health.summary();
    if (peers) summary += `, ${peers}`;
    // an auto tunnel is lowered to its path instead (and says so once)
    const auto = new Set(this.want.links.filter((l) => l.mtuAuto).map((l) => l.name));
    for (const p of this.health.status()) {
      const m = describePathMtu(p);
      if (m.state === 'warning' && !auto.has(p.tunnel)) summary += `, ${p.tunnel} ${m.detail}`;
    }
    this.opts.onPass?.({ converged: bad.length === 0 && !drop && this.throttled.size === 0, summary });
    if (summary !== this.lastSummary) {
      this.lastSummary = summary;
      // a contested object's fight is announced once (noteThrottled), not at every turn of it
      const quiet = (o: string) =>
        this.throttled.has(o) || this.limiter.contested(o) || this.failures.get(o) === 'race';
      for (const s of bad.filter((x) => !quiet(x.object)))
        this.log.warn(
          { object: s.object, state: s.state },
          `${s.object}: ${s.state}${s.detail ? `: ${s.detail}` : ''}`,
        );
      this.opts.onStatus?.(summary);
    }
  }
}

/**
 * Which netconf scopes the kept sysctls live in: `net.ipv4.ip_forward` is conf.all.forwarding;
 * `net.ipv{4,6}.conf.<scope>.<name>` is all, default or a device (a VLAN's dot written as a
 * slash, as sysctl(8) spells it).
 */
export function sysctlScopes(keys: string[]): { global: Set<string>; devices: string[] } {
  const global = new Set<string>();
  const devices: string[] = [];
  for (const key of keys) {
    if (key === 'net.ipv4.ip_forward') global.add('4 all');
    const m = /^net\.ipv([46])\.conf\.(.+)\.[^.]+$/.exec(key);
    if (!m) continue;
    const scope = (m[2] as string).replaceAll('/', '.');
    if (scope === 'all' || scope === 'default') global.add(`${m[1]} ${scope}`);
    else devices.push(scope);
  }
  return { global, devices };
}

/** The links an action needs to exist (plan() orders creations before what goes on them). */
function linkOf(a: Action): string[] {
  switch (a.op) {
    case 'add-address':
      return [a.address.link];
    case 'delete-address':
    case 'set-link':
      return [a.op === 'set-link' ? a.name : a.link];
    case 'replace-route':
      return a.route.dev ? [a.route.dev] : [];
    case 'create-link':
      return [a.link.master, a.link.underlay].filter((n): n is string => n !== undefined);
    default:
      return [];
  }
}

/** An error that says the object changed or vanished under the repair (another process won that turn). */
function lostRace(error: string): boolean {
  return /\b(ENODEV|ENOENT|ESRCH|EEXIST|EBUSY)\b|already exists|is not available|line \d+ failed|No chain\/target\/match|Device or resource busy/.test(
    error,
  );
}

/** The file is invalid at start: the caller prints these lines and exits 1. */
export class ConfigRejected extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}
