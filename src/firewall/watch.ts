/**
 * The daemon's firewall triggers. With the nft backend, nftables notifications
 * (a flush is seen within milliseconds); with legacy, which raises no event,
 * a poll that reads every rule of island's families (one iptables-save each)
 * and asks for a pass only when something differs. Both only decide *when*
 * the daemon's full pass runs; the periodic resync runs besides.
 */
import { resolveBackend } from './backend.js';
import { planFirewall } from './diff.js';
import { watchNftables } from './events.js';
import { observeFirewall, writtenFamilies } from './observe.js';
import type { DesiredFirewall } from './types.js';

export interface FirewallWatch {
  /** how changes are noticed, for the log */
  readonly mode: string;
  close(): void;
}

export interface WatchHandlers {
  /** something of island's may have changed: `reason` names it */
  onChange(reason: string): void;
  onOverflow(): void;
  onError(err: Error): void;
}

/** Nothing to watch when the file has no [forward]. */
export async function watchFirewall(want: DesiredFirewall, h: WatchHandlers): Promise<FirewallWatch | undefined> {
  if (!want.enabled) return undefined;
  const { backend, why } = await resolveBackend(want.backend);
  if (backend === 'nft') {
    const src = watchNftables(
      (ev) => h.onChange(`nftables ${ev.what}${ev.chain ? ` ${ev.chain}` : ''} (ipv${ev.family})`),
      h.onOverflow,
      h.onError,
    );
    return { mode: `nft backend (${why}): nftables events`, close: () => src.close() };
  }
  const families = writtenFamilies(want);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    observeFirewall(want, { families })
      .then((live) => {
        // a table that cannot be read is not something a pass can repair: the pass reports it anyway
        const bad = planFirewall(want, live).status.find((s) => s.state !== 'ok' && s.state !== 'blocked');
        if (bad) h.onChange(`firewall poll: ${bad.object} ${bad.state}`);
      })
      .catch((e: unknown) => h.onError(e instanceof Error ? e : new Error(String(e))))
      .finally(() => {
        busy = false;
      });
  }, want.pollMs);
  return {
    mode: `legacy backend (${why}): reading every rule every ${want.pollMs} ms`,
    close: () => clearInterval(timer),
  };
}
