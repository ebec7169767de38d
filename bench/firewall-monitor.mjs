#!/usr/bin/env node
/**
 * Run inside a benchmark namespace by bench/firewall.mjs: one line per
 * nf_tables rule notification, stamped with the wall clock (ms, µs resolution)
 * at which this process received it, with its chain, family and the rule's
 * kernel form (its expressions and user data, in hex):
 *
 *   <stamp> del FORWARD 4 <expressions>:<user data>
 *   <stamp> new FORWARD 4 <expressions>:<user data>
 *
 * "ready" once subscribed. It is an observer independent of island (its own
 * socket, its own parsing), the same way the heal benchmark uses `ip monitor`.
 *
 * With --respond (a second process, at the daemon's priority) it is the floor island is compared
 * with: the moment the transaction that deleted rules from a FORWARD chain is complete (its
 * NEWGEN), it sends, in one nf_tables transaction on that generation, what island's repair sends
 * (firewall/iptables.ts, restoreBatch: island's part re-asserted whole): its chains emptied
 * (ISLAND-*, their rules as the notifications showed them), the deleted rules back first in their
 * chain, then its chains' rules again, each as island writes it (its comment as nftables' own,
 * NFTA_RULE_COMPAT, an acknowledgement asked for the last message only): no read, no plan, no
 * wait. Whatever delays its rules is the kernel's.
 */
import { createNetlink } from 'netlink';
// the floor writes its rules with island's own encoders, as island writes them
import { nativeComment } from '../dist/firewall/iptables-nft.js';
import { encodeAttrs, frame } from '../dist/netlink/nla.js';

const respond = process.argv.includes('--respond');
const sock = createNetlink(12); // NETLINK_NETFILTER
sock.setRecvBufferSize(4 * 1024 * 1024);
sock.addMembership(7); // NFNLGRP_NFTABLES
sock.ref();
const out = (s) => process.stdout.write(`${s}\n`);
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

/** top-level attributes of a netlink attribute stream, by type */
function attrs(b) {
  const m = new Map();
  for (let off = 0; off + 4 <= b.length; ) {
    const len = b.readUInt16LE(off);
    if (len < 4) break;
    m.set(b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return m;
}

/** FORWARD rules deleted by the transaction being read: [nfproto, attributes] */
let deleted = [];
/** the rules of island's chains (ISLAND-*) as notified, by handle, in their order: [nfproto, attributes] */
const island = new Map();
let seq = 1;

const handle = (a) => (a.get(3) ?? Buffer.alloc(0)).toString('hex');

/**
 * NFT_MSG_NEWRULE of a rule as island writes it: [table, chain, expressions, user data, compat];
 * first in its chain unless `append`.
 */
function newRule(nfproto, a, append, ack) {
  const { exprs, udata } = nativeComment(a.get(4), a.get(7));
  /** @type {[number, Buffer][]} */
  const rule = [
    [1, a.get(1)],
    [2, a.get(2)],
    [4 | 0x8000, exprs],
  ];
  if (udata) rule.push([7, udata]);
  // NFTA_RULE_COMPAT as island and iptables-nft send it for a rule without -p
  rule.push([
    5 | 0x8000,
    encodeAttrs([
      [1, Buffer.alloc(4)],
      [2, Buffer.alloc(4)],
    ]),
  ]);
  return frame(
    (10 << 8) | 6,
    1 | 0x400 | (append ? 0x800 : 0) | (ack ? 4 : 0),
    seq++,
    encodeAttrs(rule, Buffer.from([nfproto, 0, 0, 0])),
  );
}

/** One transaction on generation `gen`, in island's order: its chains emptied, the deleted rules first in FORWARD, its chains' rules appended. */
function sendBack(gen) {
  const subsys = Buffer.from([0, 0, 0, 10]);
  const frames = [frame(0x10, 1, seq++, Buffer.concat([subsys, encodeAttrs([[1, gen]])]))];
  const rules = [...island.values()];
  const chains = new Map(rules.map(([nfproto, a]) => [`${nfproto} ${a.get(2).toString()}`, [nfproto, a]]));
  // NFT_MSG_DELRULE of a chain without a handle: all its rules (iptables-restore --noflush's `:CHAIN`)
  for (const [nfproto, a] of chains.values())
    frames.push(
      frame(
        (10 << 8) | 8,
        1,
        seq++,
        encodeAttrs(
          [
            [1, a.get(1)],
            [2, a.get(2)],
          ],
          Buffer.from([nfproto, 0, 0, 0]),
        ),
      ),
    );
  // inserted in reverse: the first deleted ends up first
  const all = [...deleted.reverse().map((r) => [...r, false]), ...rules.map((r) => [...r, true])];
  all.forEach(([nfproto, a, append], i) => {
    frames.push(newRule(nfproto, a, append, i === all.length - 1));
  });
  frames.push(frame(0x11, 1, seq++, subsys));
  deleted = [];
  sock.socket.send(Buffer.concat(frames), { port: 0 }, (e) => e && out(`${now()} error ${e.code}`));
}

sock.on('message', (msgs) => {
  const stamp = now();
  for (const m of msgs) {
    if (m.type === 2 && m.data.length >= 4 && m.data.readInt32LE(0) !== 0)
      out(`${stamp} error ${-m.data.readInt32LE(0)}`);
    if (m.type >> 8 !== 10) continue; // NFNL_SUBSYS_NFTABLES
    const msg = m.type & 0xff;
    if (msg === 15 && respond && deleted.length) sendBack(attrs(m.data.subarray(4)).get(1)); // NFT_MSG_NEWGEN
    if (msg !== 6 && msg !== 8) continue; // NFT_MSG_NEWRULE, NFT_MSG_DELRULE
    const family = m.data[0] === 2 ? 4 : m.data[0] === 10 ? 6 : 0;
    const a = attrs(m.data.subarray(4));
    const chain = (a.get(2) ?? Buffer.alloc(0)).toString().replace(/\0.*$/s, ''); // NFTA_RULE_CHAIN
    if (msg === 8 && respond && chain === 'FORWARD') deleted.push([m.data[0], a]);
    if (chain.startsWith('ISLAND-')) {
      if (msg === 6) island.set(`${chain} ${handle(a)}`, [m.data[0], a]);
      else island.delete(`${chain} ${handle(a)}`);
    }
    const form = `${(a.get(4) ?? Buffer.alloc(0)).toString('hex')}:${(a.get(7) ?? Buffer.alloc(0)).toString('hex')}`;
    out(`${stamp} ${msg === 6 ? 'new' : 'del'} ${chain} ${family} ${form}`);
  }
});
sock.on('error', (e) => out(`${now()} error ${e.code}`));
out('ready');
