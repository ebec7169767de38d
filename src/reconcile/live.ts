/** What the kernel holds right now, in the shape plan() compares. */
import type { LiveFirewall } from '../firewall/types.js';
import type { Spec } from '../kinds/kind.js';
import type { RawAddress, RawLink, RawRoute } from '../netlink/rtnl.js';

export interface LiveLink extends RawLink {
  owned: boolean;
  /** decoded kind attributes, for kinds island knows */
  spec?: Spec;
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
}
