import type { LinkKind } from './kind.js';

/** A bridge has nothing island declares beyond name, mtu and ports (handled for every kind). */
export const bridge: LinkKind = {
  kind: 'bridge',
  spec: () => ({}),
  encode: () => undefined,
  decode: () => ({}),
};
