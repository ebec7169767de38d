/** One line per firewall action, in the style of the other actions: `+ ...`, `~ ...: why`, `- ... (why)`. */
import type { FirewallAction } from './types.js';

export function describeFirewallAction(a: FirewallAction): string {
  return a.change === '~' ? `~ ${a.object}: ${a.detail}` : `${a.change} ${a.object} (${a.detail})`;
}
