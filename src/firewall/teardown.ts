/**
 * `island down`: remove island's jumps and chains, whatever the file says now
 * (it may be broken or gone), from both backends: a backend override that was
 * removed from the file must not leave rules behind in the other one.
 */
import { nothingWanted, planFirewall } from './diff.js';
import { observeFirewall } from './observe.js';
import type { Backend, FirewallAction } from './types.js';

const NOTHING = nothingWanted();

/** The actions that remove island's part of the firewall; [] when there is none (or no iptables at all). */
export async function firewallTeardown(): Promise<FirewallAction[]> {
  const backends: Backend[] = ['nft', 'legacy'];
  const plans = await Promise.all(
    backends.map(async (backend) => planFirewall(NOTHING, await observeFirewall(NOTHING, { backend }))),
  );
  return plans.flatMap((p) => p.actions.map((a) => ({ ...a, detail: `island down, ${a.batch.backend} backend` })));
}
