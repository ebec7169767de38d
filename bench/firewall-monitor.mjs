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
 */
import { createNetlink } from 'netlink';

const sock = createNetlink(12); // NETLINK_NETFILTER
sock.setRecvBufferSize(4 * 1024 * 1024);
sock.addMembership(7); // NFNLGRP_NFTABLES
sock.ref();
const out = (s) => process.stdout.write(`${s}\n`);

sock.on('message', (msgs) => {
  const stamp = (performance.timeOrigin + performance.now()).toFixed(3);
  for (const m of msgs) {
    if (m.type >> 8 !== 10) continue; // NFNL_SUBSYS_NFTABLES
    const msg = m.type & 0xff;
    if (msg !== 6 && msg !== 8) continue; // NFT_MSG_NEWRULE, NFT_MSG_DELRULE
    const family = m.data[0] === 2 ? 4 : m.data[0] === 10 ? 6 : 0;
    let chain = '';
    for (let off = 4; off + 4 <= m.data.length; ) {
      const len = m.data.readUInt16LE(off);
      const type = m.data.readUInt16LE(off + 2) & 0x3fff;
      if (len < 4) break;
      if (type === 2)
        chain = m.data
          .subarray(off + 4, off + len)
          .toString()
          .replace(/\0.*$/s, ''); // NFTA_RULE_CHAIN
      off += (len + 3) & ~3;
    }
    out(`${stamp} ${msg === 6 ? 'new' : 'del'} ${chain} ${family}`);
  }
});
sock.on('error', (e) => out(`${(performance.timeOrigin + performance.now()).toFixed(3)} error ${e.code}`));
out('ready');
