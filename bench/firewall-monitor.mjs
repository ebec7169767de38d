#!/usr/bin/env node
/**
 * Run inside a benchmark namespace by bench/firewall.mjs: one line per
 * nf_tables rule notification about a FORWARD chain, stamped with the wall
 * clock (ms, µs resolution) at which this process received it:
 *
 *   <stamp> del FORWARD 4
 *   <stamp> new FORWARD 4
 *
 * "ready" once subscribed. It is an observer independent of island (its own
 * socket, its own parsing), the same way the heal benchmark uses `ip monitor`.
 *
 * With --respond (a second process, at the daemon's priority) it is the floor island is compared with: the moment the
 * transaction that deleted rules from a FORWARD chain is complete (its NEWGEN),
 * it sends back those very rules, already parsed, first in their chain, in one
 * nf_tables transaction on that generation (their comment as nftables' own, as
 * island writes it): no read, no plan, no wait. Whatever delays its rules is
 * the kernel's.
 */
import { createNetlink } from 'netlink';

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

function encode(list) {
  return Buffer.concat(
    list.map(([type, payload]) => {
      const b = Buffer.alloc((4 + payload.length + 3) & ~3);
      b.writeUInt16LE(4 + payload.length, 0);
      b.writeUInt16LE(type, 2);
      payload.copy(b, 4);
      return b;
    }),
  );
}

function frame(type, flags, seq, body) {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

/**
 * The rule's expressions without xt's comment match, and its comment as nftables' own (user
 * data), as island writes it: an xt match waits for the destruction of every rule deleted before.
 */
function nativeComment(exprs) {
  const kept = [];
  let comment;
  for (let off = 0; off + 4 <= exprs.length; ) {
    const len = exprs.readUInt16LE(off);
    if (len < 4) break;
    const e = attrs(exprs.subarray(off + 4, off + len));
    const data = attrs(e.get(2) ?? Buffer.alloc(0));
    if (e.get(1)?.toString().startsWith('match\0') && data.get(1)?.toString().startsWith('comment\0'))
      comment = data.get(3).toString().replace(/\0.*$/s, '');
    else kept.push(exprs.subarray(off, off + ((len + 3) & ~3)));
    off += (len + 3) & ~3;
  }
  if (comment === undefined) return { exprs };
  const text = Buffer.from(`${comment}\0`);
  return { exprs: Buffer.concat(kept), udata: Buffer.concat([Buffer.from([0, text.length]), text]) };
}

/** FORWARD rules deleted by the transaction being read: [nfproto, attributes] */
let deleted = [];
let seq = 1;

/** One transaction on generation `gen`: the deleted rules again, each first in its chain (NLM_F_CREATE, no APPEND). */
function sendBack(gen) {
  const subsys = Buffer.from([0, 0, 0, 10]);
  const frames = [frame(0x10, 1, seq++, Buffer.concat([subsys, encode([[1, gen]])]))];
  // inserted in reverse: the first deleted ends up first
  for (const [nfproto, a] of deleted.reverse()) {
    const { exprs, udata } = nativeComment(a.get(4));
    const rule = [
      [1, a.get(1)],
      [2, a.get(2)],
      [4 | 0x8000, exprs],
      ...(udata ? [[7, udata]] : a.has(7) ? [[7, a.get(7)]] : []),
      // NFTA_RULE_COMPAT as iptables-nft sends it for a rule without -p
      [
        5 | 0x8000,
        encode([
          [1, Buffer.alloc(4)],
          [2, Buffer.alloc(4)],
        ]),
      ],
    ];
    frames.push(
      frame((10 << 8) | 6, 1 | 0x400 | 4, seq++, Buffer.concat([Buffer.from([nfproto, 0, 0, 0]), encode(rule)])),
    );
  }
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
    out(`${stamp} ${msg === 6 ? 'new' : 'del'} ${chain} ${family}`);
  }
});
sock.on('error', (e) => out(`${now()} error ${e.code}`));
out('ready');
