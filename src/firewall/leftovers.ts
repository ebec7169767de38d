/**
 * Whether a family island writes nothing to can still hold something of
 * island's, answered without running a program (an iptables-save per family
 * would cost every `island` command without [forward] four processes):
 *
 * - nf_tables: one dump of the chain names of each ip/ip6 table island keeps
 *   chains in (model.ts); a jump cannot exist without the chain it targets, so
 *   no ISLAND-* chain means nothing of island's;
 * - legacy: whether such a table exists at all in this namespace
 *   (/proc/net/ip_tables_names lists the tables the kernel holds).
 *
 * "Maybe" (or any error) means: read the table with iptables-save.
 */
import { readFileSync } from 'node:fs';
import { cstr, decodeAttrs } from '../netlink/nla.js';
import { FILTER, TABLES, type TableModel } from './model.js';
import { NFT_MSG, nfproto, nftRequest, readWithNfSocket, SUBSYS } from './nfnetlink.js';
import { str } from './nftables.js';
import { type Backend, CHAIN_PREFIX, type Family } from './types.js';

const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;

/** In any table island keeps chains in (model.ts). */
export async function mayHoldIsland(backend: Backend, family: Family): Promise<boolean> {
  try {
    for (const table of TABLES) {
      if (backend === 'legacy' ? await legacyTableExists(family, table) : await islandChainIn(family, table))
        return true;
    }
    return false;
  } catch {
    return true;
  }
}

const islandChainIn = async (family: Family, table: TableModel) =>
  (await nftChains(family, table)).some((n) => n.startsWith(CHAIN_PREFIX));

/** Whether the backend's filter table exists in this namespace (errors: maybe, so yes). */
export async function filterExists(backend: Backend, family: Family): Promise<boolean> {
  try {
    if (backend === 'legacy') return await legacyTableExists(family, FILTER);
    return (await nftChains(family, FILTER)).length > 0;
  } catch {
    return true;
  }
}

// a read of a /proc file, synchronous: the daemon asks every poll (a second), and a promise's four
// trips through libuv's threads cost more than the read itself
async function legacyTableExists(family: Family, table: TableModel): Promise<boolean> {
  try {
    const names = readFileSync(`/proc/net/${family === 6 ? 'ip6' : 'ip'}_tables_names`, 'utf8');
    return names.split('\n').includes(table.name);
  } catch (e) {
    // no such file: the legacy tables' module was never loaded, so no table exists
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function nftChains(family: Family, table: TableModel): Promise<string[]> {
  return readWithNfSocket(async (sock) => {
    const msgs = await nftRequest(sock, NFT_MSG.getchain, nfproto(family), [[NFTA_CHAIN_TABLE, cstr(table.name)]]);
    return msgs
      .filter((m) => m.type === (SUBSYS | NFT_MSG.newchain))
      .map((m) => str(decodeAttrs(m.data.subarray(4)).get(NFTA_CHAIN_NAME)));
  });
}
