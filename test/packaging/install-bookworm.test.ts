/** island's .deb on a clean Debian 12 (bookworm, nodejs 18) booted with systemd: see install.ts. */
import t from 'tap';
import { packageLifecycle } from './install.js';

// a cold run debootstraps the root (~2 min) and builds the package (~30 s)
t.setTimeout(900_000);
t.test('install, reload, upgrade without flap, remove, purge on bookworm', (t) => packageLifecycle(t, 'bookworm', 18));
