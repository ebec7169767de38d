/**
 * Which iptables backend island writes to. Rules in the other backend are
 * invisible to the one in use, and both hook into the kernel: island's ACCEPT
 * in nft does not help a packet that a legacy rule drops. So island uses the
 * backend the rest of the host uses, decided the way kubelet's
 * iptables-wrapper decides it:
 *
 * 1. kubelet's KUBE-IPTABLES-HINT (or KUBE-KUBELET-CANARY) chain in the mangle
 *    table says which backend kubelet itself uses;
 * 2. otherwise the backend holding more rules;
 * 3. otherwise (a fresh host) the one the host's `iptables` command runs.
 *
 * The file can override it ([forward] backend). Detection runs once per
 * process (and again on reload): flipping backends under a running daemon
 * because someone's rule count changed would be worse than either choice.
 */
import { realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { FirewallBackend } from '../config/types.js';
import { parseSave, ruleCount } from './save.js';
import { program, runTool } from './tools.js';
import type { Backend } from './types.js';

export interface Detected {
  backend: Backend;
  /** said in status: why this backend */
  why: string;
}

export interface BackendEvidence {
  /** iptables-nft-save and ip6tables-nft-save output, all tables ('' when they failed) */
  nft: string[];
  /** the same from the legacy programs */
  legacy: string[];
  /** what the host's `iptables` command is: the multi-call binary it resolves to, if any */
  system?: string;
}

const HINTS = ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'];

function hint(texts: string[]): string | undefined {
  for (const t of texts) {
    const mangle = parseSave(t).get('mangle');
    const found = HINTS.find((h) => mangle?.has(h));
    if (found) return found;
  }
  return undefined;
}

/** Pure: the decision from what the save programs printed. */
export function decideBackend(e: BackendEvidence): Detected {
  const nftHint = hint(e.nft);
  if (nftHint) return { backend: 'nft', why: `kubelet's ${nftHint} chain is in iptables-nft` };
  const legacyHint = hint(e.legacy);
  if (legacyHint) return { backend: 'legacy', why: `kubelet's ${legacyHint} chain is in iptables-legacy` };
  const n = e.nft.reduce((s, t) => s + ruleCount(t), 0);
  const l = e.legacy.reduce((s, t) => s + ruleCount(t), 0);
  if (l > n) return { backend: 'legacy', why: `iptables-legacy holds ${l} rules, iptables-nft ${n}` };
  if (n > l) return { backend: 'nft', why: `iptables-nft holds ${n} rules, iptables-legacy ${l}` };
  // xtables-multi is iptables before 1.8, which had no nft backend
  if (e.system && /(-legacy-multi|\/xtables-multi)$/.test(e.system))
    return { backend: 'legacy', why: "no rules in either backend; the host's iptables is iptables-legacy" };
  if (e.system?.endsWith('nft-multi'))
    return { backend: 'nft', why: "no rules in either backend; the host's iptables is iptables-nft" };
  return { backend: 'nft', why: 'no rules in either backend; nft is the default' };
}

async function output(argv: string[]): Promise<string> {
  try {
    const r = await runTool(argv, undefined, 5000);
    return r.code === 0 ? r.stdout : '';
  } catch {
    return '';
  }
}

/**
 * Reads both backends, all tables. Legacy tables are listed without `-t`, so
 * that looking does not create them: an empty legacy filter table would make
 * every iptables-nft command warn about legacy tables being present.
 */
export async function gatherEvidence(): Promise<BackendEvidence> {
  const [nft4, nft6, legacy4, legacy6] = await Promise.all([
    output([program('nft', 4, 'save')]),
    output([program('nft', 6, 'save')]),
    output([program('legacy', 4, 'save')]),
    output([program('legacy', 6, 'save')]),
  ]);
  return { nft: [nft4, nft6], legacy: [legacy4, legacy6], system: systemIptables() };
}

/**
 * `iptables` resolves (through Debian's alternatives) to xtables-nft-multi or
 * xtables-legacy-multi: the same answer as `iptables -V`, without a process.
 */
function systemIptables(): string | undefined {
  const path = `${process.env.PATH ?? ''}${delimiter}/usr/sbin${delimiter}/sbin`;
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      return realpathSync(join(dir, 'iptables'));
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

let detected: Promise<Detected> | undefined;

export function detectBackend(): Promise<Detected> {
  detected ??= gatherEvidence().then(decideBackend);
  return detected;
}

/** The next detectBackend() looks again (the daemon's reload). */
export function forgetDetectedBackend(): void {
  detected = undefined;
}

export async function resolveBackend(setting: FirewallBackend): Promise<Detected> {
  if (setting !== 'auto') return { backend: setting, why: 'set in the file ([forward] backend)' };
  return detectBackend();
}
