/** The validated, typed form of /etc/island.toml. Produced only by loadConfig(). */

export type Family = 4 | 6;

/** An interface address in CIDR form, as written by the user. */
export interface Cidr {
  /** canonical address text, e.g. "10.3.1.3" or "fd00:3030::2" */
  address: string;
  prefixlen: number;
  family: Family;
}

/** What every [[tunnel]] has, whatever its kind. */
export interface TunnelCommon {
  name: string;
  /** underlay source address */
  local: string;
  /** the peer's reachable address */
  remote: string;
  /** optional underlay device */
  dev?: string;
  ttl?: number;
  mtu?: number;
  addresses: Cidr[];
  /** probe the peer this often even when idle, so a NAT on the way keeps the mapping (milliseconds) */
  keepaliveMs?: number;
  /** the peer's inner address that health probes go to (default: see health/target.ts) */
  peer?: string;
  /**
   * The far end is behind a NAT (a one-file island knows it from the far host's `public`): this
   * end's probes wait until the far end has been heard, because a packet that reaches the NAT
   * before the far end's own first one leaves a conntrack entry that makes MASQUERADE move or
   * drop the far end's mapping.
   */
  remoteBehindNat?: boolean;
}

/**
 * A [[tunnel]]: the common keys, its kind (a module of src/kinds/), and that kind's own
 * settings, which its module types (kinds/vxlan.ts: VxlanTunnel) and alone reads.
 */
export interface TunnelConfig extends TunnelCommon {
  kind: string;
  [setting: string]: unknown;
}

export interface BridgeConfig {
  name: string;
  mtu?: number;
  addresses: Cidr[];
  /** island-owned links to enslave */
  ports: string[];
}

/** A [[link]]: a link of its kind over `parent`, a device of the host (the host shim), with its kind's own settings. */
export interface LinkConfig {
  name: string;
  kind: string;
  /** the device it sits on (IFLA_LINK) */
  parent: string;
  mtu?: number;
  addresses: Cidr[];
  [setting: string]: unknown;
}

export interface RouteConfig {
  /** destination prefix */
  to: Cidr;
  via?: string;
  dev?: string;
  metric?: number;
}

export interface DaemonConfig {
  /** periodic full resync, milliseconds */
  resyncMs: number;
  /** wait after an event before reconciling, milliseconds */
  debounceMs: number;
  /** UDP port of the peer health probes, on the tunnels' inner addresses (default 5534) */
  healthPort?: number;
  /** probe interval of a tunnel with a peer but no keepalive, milliseconds (default 10 s) */
  healthIntervalMs?: number;
  /** the daemon keeps /sys/kernel/rcu_expedited at 1 (absent or false: left as it is) */
  rcuExpedited?: boolean;
  /** node_exporter textfile the daemon writes its metrics to (absolute, *.prom); absent: none */
  metrics?: string;
}

/** One [hosts] line: a name island writes into /etc/hosts. */
export interface HostEntry {
  name: string;
  address: string;
}

/** Which iptables tool family writes island's rules; "auto" follows the rest of the host. */
export type FirewallBackend = 'auto' | 'nft' | 'legacy';

/** One [[forward.rule]]: forwarded traffic matching every given field is accepted (one direction). */
export interface ForwardRule {
  in?: string;
  out?: string;
  source?: Cidr;
  destination?: Cidr;
}

export interface ForwardConfig {
  /** links whose forwarded traffic (in or out) is accepted */
  accept: string[];
  rules: ForwardRule[];
  backend: FirewallBackend;
  /** legacy backend: how often every rule is read back, milliseconds */
  pollMs: number;
  /** keep an accept in INPUT for each tunnel's own packets from its remote (ISLAND-INPUT); default true */
  input: boolean;
  /** clamp the TCP MSS of SYNs forwarded into a tunnel to its MTU (ISLAND-MSS, mangle table); default true */
  clampMss: boolean;
}

export interface Config {
  /** the file it came from (for messages) */
  path: string;
  tunnels: TunnelConfig[];
  bridges: BridgeConfig[];
  links: LinkConfig[];
  routes: RouteConfig[];
  /** sysctl name (dotted, under net.) → value as written to /proc/sys */
  sysctl: Record<string, string>;
  daemon: DaemonConfig;
  /** present only when the file has a [forward] section */
  forward?: ForwardConfig;
  /** present only when the file has a [hosts] section, in file order */
  hosts?: HostEntry[];
  /** present only for a one-file island ([[site]] sections): the whole island and which part is this host's */
  island?: IslandModel;
}

/** [[site]]: one LAN behind one gateway. */
export interface IslandSite {
  name: string;
  subnet: Cidr;
  /** name of the [[host]] that runs the site's tunnel ends */
  gateway: string;
}

/** [[host]]: a gateway, or a member worth naming. */
export interface IslandHost {
  name: string;
  /** its address on its site's LAN */
  address: string;
  /** the site whose subnet holds the address */
  site: string;
  /** behind a NAT: the address the other sites reach it at */
  public?: string;
  /** TCP ports `island test` checks */
  tcp: number[];
}

/** A [[tunnel]] of a one-file island: it joins the gateways of two sites. */
export interface IslandTunnel {
  name: string;
  kind: TunnelConfig['kind'];
  /** the two sites, each with its gateway's inner address */
  ends: [IslandEnd, IslandEnd];
}

export interface IslandEnd {
  site: string;
  inner: Cidr;
}

/** Which part of the island this host plays. */
export interface IslandSelf {
  /** the [[host]] it is, if it is a named one */
  host?: string;
  site: string;
  role: 'gateway' | 'member';
  /** how it was found: "--host", "ISLAND_HOST", or "address 192.168.3.100" */
  how: string;
}

export interface IslandModel {
  sites: IslandSite[];
  hosts: IslandHost[];
  tunnels: IslandTunnel[];
  pods: Cidr[];
  services: Cidr[];
  /** absent only where no host was asked for (`island check` on a machine outside the island) */
  self?: IslandSelf;
}
