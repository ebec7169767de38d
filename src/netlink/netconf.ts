/**
 * include/uapi/linux/netconf.h: a device's IP settings (net.ipv4.conf.DEV.forwarding,
 * rp_filter...) as rtnetlink carries them, in the events a sysctl write raises (events.ts) and in
 * a dump (rtnl.ts, `ip netconf`). node-netlink's parser knows none of it.
 */
import { eachAttr } from './nla.js';

// include/uapi/linux/rtnetlink.h
export const RTM_NEWNETCONF = 80;
export const RTM_DELNETCONF = 81;
export const RTM_GETNETCONF = 82;

/** the ifindex of conf.all (and net.ipv4.ip_forward) in a netconf message, and of conf.default */
export const NETCONF_ALL = -1;
export const NETCONF_DEFAULT = -2;

const NETCONFA_IFINDEX = 1;
const NETCONFA_FORWARDING = 2;
const NETCONFA_RP_FILTER = 3;

export interface Netconf {
  ifindex?: number;
  forwarding?: number;
  rpFilter?: number;
}

/** A netconf message's body, from p to stop: struct netconfmsg (the family, padded to 4), then the settings it carries. */
export function parseNetconf(d: Buffer, p: number, stop: number): Netconf {
  const out: Netconf = {};
  eachAttr(d, p + 4, stop, (type, at, end) => {
    if (end - at < 4) return;
    if (type === NETCONFA_IFINDEX) out.ifindex = d.readInt32LE(at);
    else if (type === NETCONFA_FORWARDING) out.forwarding = d.readInt32LE(at);
    else if (type === NETCONFA_RP_FILTER) out.rpFilter = d.readInt32LE(at);
  });
  return out;
}
