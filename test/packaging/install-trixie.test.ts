/** island's .deb on a clean Debian 13 (trixie, nodejs 20) booted with systemd: see install.ts. */
import t from 'tap';
import { packageLifecycle } from './install.js';

// a cold run debootstraps the root (~2 min) and builds the package (~30 s)
t.setTimeout(900_000);
t.test('install, reload, upgrade without flap, remove, purge on trixie', (t) => packageLifecycle(t, 'trixie', 20));
