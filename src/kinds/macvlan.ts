import { decodeAttrs, encodeAttrs, readU32, u32 } from '../netlink/nla.js';
import { type LinkKind, type Spec, stableMac } from './kind.js';
import { modeName, onParent } from './parent.js';

// include/uapi/linux/if_link.h: IFLA_MACVLAN_MODE and enum macvlan_mode (source mode is left out:
// it filters by a list of source MACs, nothing a host shim uses). bridge first: the default.
const MODE = 1;
const MODES: Record<string, number> = { bridge: 4, private: 1, vepa: 2, passthru: 8 };

/**
 * A macvlan on the parent of a macvlan pod network, so that the host reaches its own pods: the
 * kernel hands a macvlan's frames to its sibling macvlans (bridge mode) and to the wire, never
 * to the parent itself. Mode "bridge" by default, as the macvlan CNI plugin's; the kernel's own
 * default (vepa) would send the frames to the switch and back, which few switches do.
 */
export const macvlan: LinkKind = {
  ...onParent('macvlan', MODES),
  about: 'a macvlan on parent: the host shim onto a macvlan pod network',

  encode: (s) => encodeAttrs([[MODE, u32(MODES[String(s.mode)] ?? 0)]]),

  decode: (data, _ctx, parent): Spec => ({
    parent: parent ?? '',
    mode: modeName(MODES, readU32(decodeAttrs(data ?? Buffer.alloc(0)).get(MODE))),
  }),

  /** macvlan_changelink() sets any mode but into or out of passthru (EINVAL: measured on 6.18) */
  inPlace: (want, have) =>
    want.parent === have.parent && want.mode !== have.mode && want.mode !== 'passthru' && have.mode !== 'passthru'
      ? ['mode']
      : [],

  /**
   * A stable MAC: a re-created shim (after `ip link del`, or its parent's return) keeps the
   * address the pods' neighbour entries hold for the shim's address, or they would send to the
   * old one until the entry goes stale. Locally administered, unicast; from its name and parent.
   * (In passthru mode the kernel gives it the parent's address instead.)
   */
  mac(name, s): Buffer {
    return stableMac(`island macvlan ${name} ${s.parent}`);
  },
};
