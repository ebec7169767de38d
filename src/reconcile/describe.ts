/** One line of text per action, for `island plan`, `apply` and the logs. */
import type { DesiredLink } from '../desired.js';
import { describeFirewallAction } from '../firewall/describe.js';
import { findKind } from '../kinds/index.js';
import { featureLabel } from '../kinds/kind.js';
import type { Action } from './plan.js';

export function describeLink(l: DesiredLink): string {
  const s = l.spec;
  const parts: string[] = [...(findKind(l.kind)?.describe(s) ?? [])];
  if (s.dev) parts.push(`dev ${s.dev}`);
  if (s.ttl) parts.push(`ttl ${s.ttl}`);
  if (l.mtu) parts.push(`mtu ${l.mtu}`);
  if (l.master) parts.push(`master ${l.master}`);
  for (const [k, on] of Object.entries(l.features ?? {})) parts.push(`${featureLabel(k)} ${on ? 'on' : 'off'}`);
  return `${l.kind} ${l.name}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

export function describeAction(a: Action): string {
  switch (a.op) {
    case 'set-sysctl':
      return `~ sysctl ${a.key} = ${a.value}${a.from !== undefined ? ` (was ${a.from})` : ''}`;
    case 'delete-route':
      return `- route ${a.route.dst}/${a.route.dstLen}${a.route.gateway ? ` via ${a.route.gateway}` : ''} (${a.why})`;
    case 'delete-link':
      return `- link ${a.name} (${a.why})`;
    case 'create-link': {
      // a link removed from the file that holds what this one needs (its VNI and port) gives way to it
      const others = (a.replaces ?? []).filter((r) => r.name !== a.link.name).map((r) => r.name);
      const why = [a.why === 'missing' ? '' : a.why, others.length ? `in place of ${others.join(', ')}` : '']
        .filter(Boolean)
        .join('; ');
      return `+ link ${describeLink(a.link)}${why ? ` (${why})` : ''}`;
    }
    case 'set-link':
      return `~ link ${a.name}: ${a.why}`;
    case 'delete-address':
      return `- address ${a.address}/${a.prefixlen} on ${a.link}`;
    case 'add-address':
      return `+ address ${a.address.address}/${a.address.prefixlen} on ${a.address.link}`;
    case 'replace-route': {
      const r = a.route;
      const how = [r.via && `via ${r.via}`, r.dev && `dev ${r.dev}`, r.metric && `metric ${r.metric}`].filter(Boolean);
      return `${a.why === 'missing' ? '+' : '~'} route ${r.dst}/${r.dstLen} ${how.join(' ')}${a.why === 'missing' ? '' : ` (${a.why})`}`;
    }
    case 'firewall':
      return describeFirewallAction(a);
  }
}
