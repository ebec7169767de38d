/**
 * This host's own addresses, as its kernel holds them, to tell which part of a one-file island
 * it plays. Not os.networkInterfaces(): libuv leaves out every link that is not RUNNING, so a
 * host whose ethernet has no carrier yet (at boot, or a veth whose peer is not up yet) would have
 * no address at all and be "none of the island's". /proc answers for every address, in the
 * namespace of the process, without the netlink addon (`check` does not load it).
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../netlink/ip.js';

const hexV6 = (h: string) => (h.match(/.{4}/g) ?? []).join(':');

/** The IPv4 addresses of the local table: each key followed by a `/32 host LOCAL` line. */
export function localIpv4(fibTrie: string): string[] {
  const out = new Set<string>();
  let key = '';
  for (const line of fibTrie.split('\n')) {
    const t = line.trim();
    if (t.startsWith('|-- ')) key = t.slice(4);
    else if (t === '/32 host LOCAL' && key !== '' && !key.startsWith('127.')) out.add(key);
  }
  return [...out];
}

/** The IPv6 addresses of every link but lo, tentative ones included. */
export function localIpv6(ifInet6: string): string[] {
  const out: string[] = [];
  for (const line of ifInet6.split('\n')) {
    const [hex, , , , , name] = line.trim().split(/\s+/);
    if (hex?.length !== 32 || name === undefined || name === 'lo') continue;
    const a = canonicalIp(hexV6(hex));
    if (a !== undefined) out.push(a);
  }
  return out;
}

/** Every address of this host but loopback's; what libuv sees where /proc cannot be read. */
export function ownAddresses(): string[] {
  try {
    const v4 = localIpv4(readFileSync('/proc/net/fib_trie', 'utf8'));
    let v6: string[] = [];
    try {
      v6 = localIpv6(readFileSync('/proc/net/if_inet6', 'utf8'));
    } catch {
      // IPv6 disabled: no file
    }
    return [...v4, ...v6];
  } catch {
    return Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && !a.internal)
      .map((a) => canonicalIp(a?.address.split('%')[0] ?? '') ?? '')
      .filter((a) => a !== '');
  }
}
