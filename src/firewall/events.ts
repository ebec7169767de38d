/**
 * nftables change notifications: a NETLINK_NETFILTER socket in the
 * NFNLGRP_NFTABLES multicast group. iptables-nft writes through nf_tables, so
 * `iptables -F FORWARD`, a kube-proxy restore or `nft flush ruleset` each
 * arrive here within milliseconds. (iptables-legacy raises nothing: poll it.)
 *
 * A message only says *that* something changed; the pass that follows reads
 * the table and decides what. island's chains live in the ip and ip6 filter
 * tables (scope "filter"); any other ip, ip6 or inet table (an inet filter,
 * firewalld, kube-proxy's nft mode) may hold a base chain that drops island's
 * traffic (scope "other": watch.ts looks whether what it drops changed).
 * iptables-nft's other tables (nat, mangle, raw, security) hold no filter
 * chains and are dropped here; kube-proxy rewrites its nat table far more
 * often than anything touches filter. What cannot be attributed counts as
 * relevant to filter.
 *
 * Overflow (ENOBUFS, lost notifications) is reported like rtnetlink's and
 * survives thanks to the same patched addon (patches/netlink+0.3.0.patch).
 */
import type { MessageInfo, NetlinkMessage } from 'netlink';
import { createNetlink } from 'netlink/dist/netlink.js';
import type { EventSource } from '../netlink/events.js';
import { followNotification, forgetNotifications } from './iptables-nft.js';
import { TABLES } from './model.js';
import { NETLINK_NETFILTER, NFT_MSG, SUBSYS } from './nfnetlink.js';
import { IPTABLES_OTHER } from './nftables.js';

const NFNLGRP_NFTABLES = 7;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;
const NFPROTO_INET = 1;

const NAMES: Record<number, string> = {
  [NFT_MSG.newtable]: 'new table',
  [NFT_MSG.deltable]: 'del table',
  [NFT_MSG.newchain]: 'new chain',
  [NFT_MSG.delchain]: 'del chain',
  [NFT_MSG.newrule]: 'new rule',
  [NFT_MSG.delrule]: 'del rule',
  [NFT_MSG.destroytable]: 'destroy table',
  [NFT_MSG.destroychain]: 'destroy chain',
  [NFT_MSG.destroyrule]: 'destroy rule',
};

export interface NftEvent {
  /** "del rule", "new chain", ... or "message <n>" */
  what: string;
  /** ip or ip6 (4, 6), or inet (both: undefined) */
  family?: 4 | 6;
  /** the ip/ip6 tables island keeps chains in (model.ts: filter), or another table */
  scope: 'filter' | 'other';
  table?: string;
  /** the chain of a rule or chain message */
  chain?: string;
}

/** What one nf_tables notification is about, or undefined when it cannot concern island. */
export function nftEvent(type: number, data: Buffer): NftEvent | undefined {
  if (type >> 8 !== SUBSYS >> 8) return undefined;
  const msg = type & 0xff;
  // a generation message closes every transaction; the transaction's own messages say what it did
  if (msg === NFT_MSG.newgen || data.length < 4) return undefined;
  const nfproto = data[0];
  if (nfproto !== NFPROTO_IPV4 && nfproto !== NFPROTO_IPV6 && nfproto !== NFPROTO_INET) return undefined;
  const attrs = strings(data.subarray(4));
  // attribute 1 is the table for tables, chains, rules, sets and objects alike
  const table = attrs.get(1);
  const family = nfproto === NFPROTO_IPV4 ? 4 : nfproto === NFPROTO_IPV6 ? 6 : undefined;
  let scope: NftEvent['scope'] = 'other';
  if (family !== undefined && (table === undefined || TABLES.some((t) => t.name === table))) scope = 'filter';
  else if (family !== undefined && IPTABLES_OTHER.has(table ?? '')) return undefined;
  const isRule = msg === NFT_MSG.newrule || msg === NFT_MSG.delrule || msg === NFT_MSG.destroyrule;
  const isChain = msg === NFT_MSG.newchain || msg === NFT_MSG.delchain || msg === NFT_MSG.destroychain;
  // NFTA_RULE_CHAIN is 2, NFTA_CHAIN_NAME is 3
  const chain = isRule ? attrs.get(2) : isChain ? attrs.get(3) : undefined;
  return { what: NAMES[msg] ?? `message ${msg}`, family, scope, table, chain };
}

/** The NUL-terminated string attributes at the top level of a netlink attribute stream, by type. */
function strings(buf: Buffer): Map<number, string> {
  const out = new Map<number, string>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > buf.length) break;
    const v = buf.subarray(off + 4, off + len);
    const nul = v.indexOf(0);
    if (nul > 0 && v.subarray(0, nul).every((c) => c >= 0x20 && c < 0x7f)) out.set(type, v.subarray(0, nul).toString());
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * Start watching. `onChange` gets one call per relevant notification (once its transaction is told whole),
 * `onOverflow` one per ENOBUFS; anything else goes to `onError`.
 */
export function watchNftables(
  onChange: (ev: NftEvent) => void,
  onOverflow: () => void,
  onError: (err: Error) => void,
): EventSource {
  const nl = createNetlink(NETLINK_NETFILTER);
  try {
    // a flush of a big ruleset is thousands of messages: room for them
    nl.setRecvBufferSize(4 * 1024 * 1024);
    nl.addMembership(NFNLGRP_NFTABLES);
  } catch (err) {
    nl.close();
    throw err;
  }
  nl.ref();
  // a transaction's messages, told once its NEWGEN (sent on its own, the last) is in: whoever
  // acts on them then sees the whole transaction (iptables-nft.ts follows them)
  let pending: NftEvent[] = [];
  nl.on('message', (msgs: NetlinkMessage[], rinfo: MessageInfo) => {
    if (rinfo.port !== 0) return;
    for (const m of msgs) {
      try {
        followNotification(m.type, m.data);
        if (m.type === (SUBSYS | NFT_MSG.newgen)) {
          const told = pending;
          pending = [];
          for (const ev of told) onChange(ev);
          continue;
        }
        const ev = nftEvent(m.type, m.data);
        if (ev) pending.push(ev);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
  });
  nl.on('error', (err) => {
    // lost notifications: the overflow's resync reads everything
    pending = [];
    forgetNotifications();
    if (err.code === 'ENOBUFS') onOverflow();
    else onError(err);
  });
  nl.on('invalid', (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))));
  let open = true;
  return {
    close() {
      if (!open) return;
      open = false;
      forgetNotifications();
      nl.close();
    },
  };
}
