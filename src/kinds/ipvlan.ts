import { decodeAttrs, encodeAttrs, readU16, u16 } from '../netlink/nla.js';
import type { LinkKind, Spec } from './kind.js';
import { modeName, onParent } from './parent.js';

// include/uapi/linux/if_link.h: IFLA_IPVLAN_MODE, a u16 of enum ipvlan_mode. l2 first: the default.
const MODE = 1;
const MODES: Record<string, number> = { l2: 0, l3: 1, l3s: 2 };

/**
 * An ipvlan on the parent of an ipvlan pod network, so that the host reaches its own pods: the
 * kernel never delivers between an ipvlan parent and its children. Mode "l2" by default, as the
 * ipvlan CNI plugin's (the kernel's own default is l3). The kernel keeps one mode per parent,
 * for all its ipvlans (ipvlan_set_port_mode()): the shim's mode is the pods' mode, and changing
 * it in place changes theirs. It has its parent's MAC address: nothing to keep stable.
 */
export const ipvlan: LinkKind = {
  ...onParent('ipvlan', MODES),
  about: 'an ipvlan on parent: the host shim onto an ipvlan pod network',

  encode: (s) => encodeAttrs([[MODE, u16(MODES[String(s.mode)] ?? 0)]]),

  decode: (data, _ctx, parent): Spec => ({
    parent: parent ?? '',
    mode: modeName(MODES, readU16(decodeAttrs(data ?? Buffer.alloc(0)).get(MODE))),
  }),

  /** ipvlan_nl_changelink() sets the mode of the parent's every ipvlan */
  inPlace: (want, have) => (want.parent === have.parent && want.mode !== have.mode ? ['mode'] : []),
};
