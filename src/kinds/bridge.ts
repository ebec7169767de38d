import type { LinkKind } from './kind.js';

/** A bridge has nothing island declares beyond name, mtu, addresses and ports (its table's keys). */
export const bridge: LinkKind = {
  kind: 'bridge',
  table: 'bridge',
  about: 'a Linux bridge; its ports are island tunnels that carry Ethernet',
  keys: {},
  ethernet: false,
  overhead: () => 0,
  spec: () => ({}),
  graphWords: () => ['bridge'],
  describe: () => [],
  encode: () => undefined,
  decode: () => ({}),
};
