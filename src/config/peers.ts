/**
 * Checks on the health keys of a tunnel (keepalive, peer) and on [daemon] health_port: a
 * keepalive that could reach no one, or a probe socket that would collide with a tunnel's own
 * port, is caught when the file is saved rather than found silent at 3 a.m.
 */
import { choosePeer, isPrivate, isPublic } from '../health/target.js';
import { familyOf } from '../netlink/ip.js';
import { HEALTH_PORT, msText, NAT_KEEPALIVE_MS } from './defaults.js';
import type { KeyPath } from './diagnostic.js';
import type { Reporter } from './report.js';
import type { TunnelView } from './sections.js';
import type { Cidr, HostEntry } from './types.js';

export interface PeerContext {
  hosts: HostEntry[];
  /** [daemon] health_port when written */
  healthPort?: number;
  /** `island check` only: warn about tunnels that probably cross a NAT without a keepalive */
  adviseKeepalive?: boolean;
}

const at = (t: TunnelView, ...rest: (string | number)[]): KeyPath => [...t.path, ...rest];
const cidrText = (c: Cidr): string => `${c.address}/${c.prefixlen}`;

export function checkPeers(rep: Reporter, tunnels: TunnelView[], cx: PeerContext): void {
  const port = cx.healthPort ?? HEALTH_PORT;
  // the file's tunnels mostly share their underlay ends: each address's class found once
  const crossing = new Map<string, boolean>();
  const crossesNat = (local: string, remote: string): boolean => {
    const key = `${local} ${remote}`;
    let c = crossing.get(key);
    if (c === undefined) {
      c = isPrivate(local) && isPublic(remote);
      crossing.set(key, c);
    }
    return c;
  };
  const udpPorts = new Map<number, TunnelView>();
  for (let k = 0; k < tunnels.length; k++) {
    const t = tunnels[k] as TunnelView;
    if (t.udpPort !== undefined && t.name) udpPorts.set(t.udpPort, t);
  }
  // indexed, not for-of: the iterator protocol's objects for each of a big file's tunnels
  for (let k = 0; k < tunnels.length; k++) {
    const t = tunnels[k] as TunnelView;
    const name = t.name ?? t.rawName ?? 'this tunnel';
    // a broken address could have been the one that holds the peer: stay quiet rather than guess
    if (t.addresses.includes(undefined)) continue;
    const addresses = t.addresses as Cidr[];
    if (t.peer !== undefined) checkExplicit(rep, t, name, t.peer, addresses);
    else if (t.keepaliveMs !== undefined && !choosePeer(undefined, addresses, cx.hosts)) {
      rep.error(
        at(t, 'keepalive'),
        addresses.length === 0
          ? `${name} has no address to send the keepalive from; add one to addresses, and peer = the other end's`
          : `has no peer to send to: set peer = the other end's inner address (it can be left out only when an address ` +
              'is a /30, /31 or /127, or exactly one other host of the subnet is named in [hosts])',
      );
    }
    const health = t.peer !== undefined || t.keepaliveMs !== undefined;
    const clash = udpPorts.get(port);
    if (health && clash !== undefined) {
      const key = t.keepaliveMs !== undefined ? 'keepalive' : 'peer';
      rep.error(
        cx.healthPort !== undefined ? ['daemon', 'health_port'] : at(t, key),
        `health probes use UDP port ${port}${cx.healthPort === undefined ? ' (the default)' : ''}, which is ` +
          `${clash.name}'s ${clash.kind?.kind} port; set [daemon] health_port to another port, the same on both ends`,
      );
    }
    if (
      cx.adviseKeepalive &&
      t.keepaliveMs === undefined &&
      t.local !== undefined &&
      t.remote !== undefined &&
      crossesNat(t.local, t.remote)
    ) {
      rep.warn(
        at(t, 'local'),
        `${t.local} is private and remote ${t.remote} public, so ${name} probably crosses a NAT, which forgets ` +
          `an idle mapping (Linux: after 30 s unreplied, 120 s replied); set keepalive = "${msText(NAT_KEEPALIVE_MS)}" so the public side ` +
          'can always reach this host',
      );
    }
  }
}

function checkExplicit(rep: Reporter, t: TunnelView, name: string, peer: string, addresses: Cidr[]): void {
  const path = at(t, 'peer');
  if (addresses.some((a) => a.address === peer)) {
    rep.error(path, `${peer} is ${name}'s own address; peer is the other end's inner address`);
    return;
  }
  if (choosePeer(peer, addresses, [])) return;
  const fam = familyOf(peer);
  const same = addresses.filter((a) => a.family === fam);
  rep.error(
    path,
    same.length === 0
      ? `${name} has no IPv${fam} address to probe ${peer} from`
      : `${peer} is not in a subnet of ${name}'s addresses (${same.map(cidrText).join(', ')}): ` +
          'probes to it would not cross the tunnel',
  );
}
