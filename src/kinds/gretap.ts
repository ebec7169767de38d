import { greKind } from './gre.js';
import type { LinkKind } from './kind.js';
import { stableMac } from './kind.js';

/**
 * Ethernet in GRE: gre's attributes and kernel rules (ip_gre.c), plus the inner Ethernet
 * header (14 bytes more overhead: 38 over IPv4, 42 with a key), so it can be a bridge port.
 * Its MAC is stable across re-creation, as a vxlan's is (see stableMac()).
 */
const base = greKind('gretap', 'Ethernet in GRE (layer 2), IP protocol 47', 14);

export const gretap: LinkKind = {
  ...base,
  mac: (name, s) => stableMac(`island gretap ${name} ${s.local} ${s.remote} ${s.key}`),
};
