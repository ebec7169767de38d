import { bridge } from './bridge.js';
import { ipip } from './ipip.js';
import type { LinkKind } from './kind.js';
import { vxlan } from './vxlan.js';

export const kinds: Record<string, LinkKind> = { vxlan, ipip, bridge };

export function kindOf(name: string): LinkKind {
  const k = kinds[name];
  if (!k) throw new Error(`unknown link kind ${name}`);
  return k;
}
