/** What the kernel holds right now, in the shape plan() compares. */
import type { LiveFirewall } from '../firewall/types.js';
import type { Features, Spec } from '../kinds/kind.js';
import type { RawAddress, RawLink, RawRoute } from '../netlink/rtnl.js';

export interface LiveLink extends RawLink {
  owned: boolean;
  /** decoded kind attributes, for kinds island knows */
  spec?: Spec;
  /** active state of the ethtool features the declared link names; read for those links only */
  features?: Features;
}

export interface LiveState {
  links: LiveLink[];
  addresses: RawAddress[];
  /** main-table unicast routes, island's and others' (others only to detect conflicts) */
  routes: RawRoute[];
  /** current value of each sysctl the desired state names; undefined = absent */
  sysctls: Record<string, string | undefined>;
  /** island's part of iptables and what surrounds it; absent when not read */
  firewall?: LiveFirewall;
  /** why link features could not be read, when they could not */
  featuresError?: string;
  /** each mtu = "auto" tunnel's underlay device MTU, by tunnel name (reconcile/mtu.ts) */
  underlayMtu?: Record<string, number>;
}
