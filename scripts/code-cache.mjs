/**
 * V8's code caches of island's bundles, NAME.cache beside each NAME.cjs, which the entry (cli.cjs,
 * scripts/bundle.mjs entry()) hands to vm.Script; V8 checks a cache against its own version and
 * flags and the source's length, and ignores, silently, one that does not fit (correct, but every
 * command compiles what it runs: ~20 ms more CPU). A cache is made by running the bundle through
 * the entry with ISLAND_CODE_CACHE="write NAME", which saves what the run compiled at its exit.
 *
 * One module for the two places that make them, each for the node that will read them:
 * - the build (scripts/bundle.mjs), into dist/, for the build's node;
 * - the installed package, as /usr/lib/island/dist/code-cache.mjs, for the host's node: its
 *   postinst runs it at configure and when /usr/bin/node changes (a dpkg file trigger), its
 *   prerm deletes the caches (packaging/debian/). The .deb carries none: the build machine's
 *   node is not Debian 12's 18.19 nor Debian 13's 20.19.
 *
 *   node code-cache.mjs [DIR]
 *     makes DIR/NAME.cache of each bundle DIR/island*.cjs (DIR: this file's own directory by
 *     default); a bundle left without says so in one line on stderr; exits 0 all the same
 *
 * No shebang and plain node builtins: the package runs it with /usr/bin/node from
 * /usr/lib/island/dist, where nothing of the build is.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * What the code caches are made from: a host's file as most are, tunnels of the two common kinds
 * with addresses, routes through them, [daemon], valid and without a warning (the fast reader's
 * path). etc/island.toml, the example, holds only [daemon]: its check compiled no tunnel's or
 * route's checks, which every check of a real file then compiled itself (a 500-tunnel check, 16
 * interleaved runs, CPU mean 119.2 -> 114.1 ms).
 */
const CACHE_FILE = `[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "10.9.0.1"
remote = "10.9.0.2"
addresses = ["10.3.1.2/30"]

[[tunnel]]
name = "vx1"
kind = "vxlan"
vni = 43
local = "10.9.0.1"
remote = "10.9.0.2"
port = 4789
addresses = ["10.3.1.6/30"]

[[tunnel]]
name = "ip0"
kind = "ipip"
local = "10.9.0.1"
remote = "10.9.0.3"
addresses = ["10.3.1.10/30"]

[[route]]
to = "192.168.3.0/24"
via = "10.3.1.1"
dev = "vx0"
metric = 100

[[route]]
to = "192.168.4.0/24"
via = "10.3.1.9"

[daemon]
resync = "30s"
debounce = "10ms"
`;

/**
 * Makes DIR/NAME.cache for each of `names` (bundles DIR/NAME.cjs, run through DIR/cli.cjs) with
 * the node running this. `who` begins the line said for a bundle left without one. Never throws
 * for a run that failed: the cache is an optimisation, its absence costs CPU, not the build or
 * the install.
 */
export function makeCodeCaches(dir, names, who) {
  // `island check` of CACHE_FILE compiles what a one-shot run needs, in each bundle
  // (ISLAND_CODE_CACHE="write NAME": through NAME.cjs).
  // The file of mode 0644: check refuses a group-writable file, which umask 002 makes, and the
  // build then made no cache (every command ~20 ms more CPU)
  const work = mkdtempSync(join(tmpdir(), 'island-code-cache-'));
  try {
    const file = join(work, 'island.toml');
    writeFileSync(file, CACHE_FILE);
    chmodSync(file, 0o644);
    // more links than apply's window of actions in flight (WINDOW in src/reconcile/apply.ts, 128),
    // each with an address and a route: its stages of many, not only the few of CACHE_FILE's
    const applyFile = join(work, 'apply.toml');
    const many = Array.from(
      { length: 140 },
      (_, i) =>
        `[[tunnel]]\nname = "vc${i}"\nkind = "vxlan"\nvni = ${1000 + i}\nlocal = "10.9.0.1"\nremote = "10.9.0.2"\n` +
        `addresses = ["10.4.${i}.2/30"]\n\n[[route]]\nto = "192.168.${100 + i}.0/24"\nvia = "10.4.${i}.1"\ndev = "vc${i}"\n`,
    );
    writeFileSync(applyFile, `${many.join('\n')}\n${CACHE_FILE}`);
    chmodSync(applyFile, 0o644);
    const cli = join(dir, 'cli.cjs');
    /**
     * As root, some caches come from a run in a network namespace of its own (`unshare --net`, gone
     * with the process), with the status that says its code ran:
     * - island-apply's from an apply of applyFile: a check compiles none of plan's, apply's and
     *   netlink's functions, which every apply then compiled itself (500 tunnels from empty, 20
     *   interleaved runs: CPU mean 277 -> 269 ms). A refusal (no ipip module) or blocked objects
     *   still ran that code: exit 1 or 3 will do.
     * - island's (the daemon's) from a daemon that starts, heals vx0 twice and stops: a daemon whose
     *   start found everything in place compiled its heal path (the events, the plan of a link to
     *   create, its requests) at the first heal. A daemon with the file already applied, then
     *   `ip link del vx0` twice, 4 starts each: first heal's pass 8.6-9.2 -> 4.0-5.2 ms (the second
     *   1.7-2.2 either way); start to READY=1 of the lab file 171 -> 161 ms, idle RSS 24.0 -> 24.1
     *   MiB (the cache 416 -> 828 KB).
     * Not root, no unshare or no `ip`, or another status: a check's, as the others'.
     */
    const runs = {
      'island-apply': { argv: [process.execPath, cli, 'apply', '-c', applyFile], ok: [0, 1, 3] },
      island: {
        argv: [
          'sh',
          '-c',
          // not the service manager's of the build or of the package's postinst: no READY=1 or
          // watchdog pings to it
          `unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID; "$1" "$2" daemon -c "$3" & p=$!
for i in $(seq 50); do ip link show vx0 >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.2; ip link del vx0; sleep 0.3; ip link del vx0; sleep 0.3; kill $p; wait $p`,
          'sh',
          process.execPath,
          cli,
          file,
        ],
        ok: [0],
      },
    };
    for (const name of names) {
      const cache = join(dir, `${name}.cache`);
      const env = { ...process.env, ISLAND_CODE_CACHE: `write ${name}` };
      const run = process.getuid?.() === 0 ? runs[name] : undefined;
      let made = false;
      if (run) {
        const a = spawnSync('unshare', ['--net', ...run.argv], {
          // the namespace is the network's only: not the host's daemon (asked for its path
          // MTUs otherwise) nor its /etc/hosts (the file names no [hosts]: island's lines would go)
          env: { ...env, ISLAND_RUNTIME_DIR: work, ISLAND_HOSTS_FILE: join(work, 'hosts') },
          stdio: 'ignore',
          // a kernel that never answers must not hang the build or the install
          timeout: 60_000,
        });
        made = run.ok.includes(a.status ?? -1) && existsSync(cache);
        if (!made) rmSync(cache, { force: true });
      }
      let status = 0;
      if (!made) {
        const r = spawnSync(process.execPath, [cli, 'check', '-c', file], { env, stdio: 'ignore', timeout: 60_000 });
        status = r.status ?? -1;
      }
      // a check that fails here (a file mode it dislikes, no netlink) costs the cache, nothing else
      if (status !== 0 || !existsSync(cache)) {
        rmSync(cache, { force: true });
        const why = status === 0 ? 'its run wrote none' : `island check exited ${status}`;
        process.stderr.write(`${who}: no code cache for ${name}.cjs (${why}); it compiles without one\n`);
        continue;
      }
      // read by every user's island, whatever the umask of whoever made it
      chmodSync(cache, 0o644);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// run as a script (the package's postinst): the bundles beside it, or in DIR
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));
  const names = readdirSync(dir)
    .filter((f) => /^island.*\.cjs$/.test(f))
    .map((f) => f.slice(0, -'.cjs'.length));
  makeCodeCaches(dir, names, 'island');
}
