/**
 * One module per link kind, behind this one interface (like systemd-networkd's
 * netdev vtable): how a declared link becomes IFLA_INFO_DATA, how a live one
 * is read back, and which differences the kernel cannot change in place.
 */
import type { BridgeConfig, TunnelConfig } from '../config/types.js';

export interface KindContext {
  /** ifindex of a live link by name (underlay devices) */
  ifindex(name: string): number | undefined;
  /** name of a live link by ifindex */
  ifname(ifindex: number): string | undefined;
}

/** The comparable attributes of one link: plain values only. */
export type Spec = Record<string, string | number | undefined>;

/**
 * ethtool features island keeps at a value, by the kernel's name (`ethtool -k` prints
 * them): true = on. A feature not named here is left as the kernel has it.
 */
export type Features = Record<string, boolean>;

/** What a feature is called in plan, status and logs. */
const FEATURE_WORDS: Record<string, string> = { 'tx-checksum-ip-generic': 'tx checksum offload' };
export const featureLabel = (name: string): string => FEATURE_WORDS[name] ?? name;

export interface LinkKind {
  readonly kind: string;
  /** attributes the file declares for this link, in the same shape decode() returns */
  spec(decl: TunnelConfig | BridgeConfig): Spec;
  /** IFLA_INFO_DATA for a new link; undefined when the kind needs none */
  encode(spec: Spec, ctx: KindContext): Buffer | undefined;
  /** a live link's IFLA_INFO_DATA back into a Spec */
  decode(data: Buffer | undefined, ctx: KindContext): Spec;
  /**
   * The hardware address a new link of this spec gets, the same at every re-creation, so that
   * a peer's neighbour entry for it stays true; undefined: the kernel picks a random one.
   */
  mac?(name: string, spec: Spec): Buffer;
  /** ethtool features the declaration asks island to keep (changed in place); none when absent */
  features?(decl: TunnelConfig | BridgeConfig): Features | undefined;
  /**
   * What the kernel lets only one link of this kind hold at a time (a VXLAN's VNI and port, an
   * ipip tunnel's endpoints), in words; equal for two specs that cannot coexist. Undefined:
   * nothing (a bridge).
   */
  slot?(spec: Spec): string | undefined;
}

/** Names of spec attributes that differ; each one forces a re-create. */
export function specDiff(want: Spec, have: Spec): string[] {
  return Object.keys(want).filter((k) => want[k] !== have[k]);
}
