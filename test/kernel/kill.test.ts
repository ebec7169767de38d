/**
 * A kill -9 at any moment leaves nothing island disowns: `island apply`, or a daemon
 * converging at start, killed at a random instant after the kernel announced the first link it
 * makes (while it creates or re-creates its links), and then one plain `island apply`
 * converges, every time. Every round switches the file
 * between two sets of VNIs, so that every run re-creates every tunnel: the kill lands in the
 * middle of creates, renames and the deletes of the links they replace.
 * A second test kills `island apply` while it makes new links (from no tunnel at all): those
 * are created under their declared names, and must be island's from their first instant.
 * ISLAND_KILL_ROUNDS changes the number of rounds (default 100; the second test a tenth).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { mustRun, type Netns, netns } from '../helpers/netns.js';
import { islandToml, vxlan } from '../helpers/toml.mjs';

const TUNNELS = 16;
const ROUNDS = Number(process.env.ISLAND_KILL_ROUNDS) || 100;
// ~1.5-2.5 s a round on a 2-vCPU machine
t.setTimeout(Math.max(600_000, ROUNDS * 6000));

/** A bridge island makes carries the underlay address; the tunnels go over it (nothing else needed). */
function config(vniBase: number): string {
  const each = [...Array(TUNNELS).keys()];
  return islandToml({
    bridge: [{ name: 'br-under', addresses: ['192.0.2.1/24'] }],
    tunnel: each.map((i) =>
      vxlan({
        name: `vk${i}`,
        vni: vniBase + i,
        local: '192.0.2.1',
        remote: '192.0.2.2',
        dev: 'br-under',
        addresses: [`10.40.${i}.1/30`],
      }),
    ),
    route: each.map((i) => ({ to: `10.41.${i}.0/24`, via: `10.40.${i}.2` })),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
type Link = Record<string, any>;

const token = (name: string) => /^island-[0-9a-f]{8}$/.test(name);
const owned = (l: Link) => l.ifalias === 'island' || token(l.ifname) || (l.altnames ?? []).some(token);

/** What a kill left: links of a declared name that are not island's, leftovers, and whether it matches `vniBase`. */
async function inspect(ns: Netns, vniBase: number) {
  const links: Link[] = (await ns.ipJson(['-d', 'link', 'show'])).filter((l: Link) => l.ifname !== 'lo');
  const declared = links.filter((l) => l.ifname === 'br-under' || /^vk\d+$/.test(l.ifname));
  const vnis = new Map(declared.map((l) => [l.ifname, l.linkinfo?.info_data?.id]));
  const complete =
    declared.length === TUNNELS + 1 &&
    Array.from({ length: TUNNELS }, (_, i) => vnis.get(`vk${i}`) === vniBase + i).every(Boolean) &&
    links.every((l) => l.flags.includes('UP'));
  return {
    disowned: declared.filter((l) => !owned(l)).map((l) => l.ifname),
    leftovers: links.filter((l) => token(l.ifname)).map((l) => l.ifname),
    strangers: links.filter((l) => !declared.includes(l) && !token(l.ifname)).map((l) => l.ifname),
    complete,
  };
}

/**
 * Resolves when the kernel announces a link whose line matches `name` (false after `ms` without
 * one). `ip monitor` watches the namespace, so the kill lands by the kernel's clock, not by a
 * guess of how busy the machine is.
 */
function firstLink(ns: Netns, name: RegExp, ms: number): { seen: Promise<boolean>; stop(): void } {
  const mon = spawn('ip', ['-n', ns.name, 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let timer: NodeJS.Timeout | undefined;
  const seen = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    mon.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (name.test(d)) resolve(true);
    });
  });
  return {
    seen,
    stop() {
      clearTimeout(timer);
      mon.kill('SIGKILL');
    },
  };
}

/** kill -9 the island process inside the namespace (the one node process there), by its pid. */
async function killIsland(ns: Netns): Promise<void> {
  const pids = (await mustRun(['ip', 'netns', 'pids', ns.name])).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('cli.js')) process.kill(pid, 'SIGKILL');
  }
}

t.test(`${ROUNDS} kill -9 of apply and of a converging daemon, each followed by one plain apply`, async (t) => {
  const ns = await netns(t, 'kill');
  const paths = [await writeConfig(t, config(1000)), await writeConfig(t, config(2000))];
  const bases = [1000, 2000];
  const first = await runIsland(ns, ['apply', '-c', paths[0] as string]);
  t.equal(first.code, 0, first.stderr);

  let during = 0;
  let leftovers = 0;
  let converged = 0;
  const failures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const target = (round + 1) % 2; // the other file than the last round's: every tunnel is re-created
    const path = paths[target] as string;
    const base = bases[target] as number;
    const who = round % 2 === 0 ? 'apply' : 'daemon';
    // half the rounds: each step of a create waits 30 ms (ISLAND_TEST_CREATE_PAUSE_MS), so that
    // kills land between the steps, where the windows are
    const pause = round % 4 < 2;
    const env = pause ? { ISLAND_TEST_CREATE_PAUSE_MS: '30' } : {};
    // the kill: at a random moment after the first link island makes (before, the host is untouched)
    const delay = Math.random() * (pause ? 300 : 150);
    // island has begun making links: the first under one of its token names
    const mon = firstLink(ns, /island-[0-9a-f]{8}/, 10_000);
    const run =
      who === 'apply'
        ? runIsland(ns, ['apply', '-c', path], { env }).then(() => undefined)
        : startDaemon(t, ns, path, { env }).exited.then(() => undefined);
    const began = await mon.seen;
    mon.stop();
    await new Promise((r) => setTimeout(r, delay));
    await killIsland(ns);
    await run;
    const killed = await inspect(ns, base);
    // neither the last round's state nor this one's: the kill landed while links were being made
    const untouched = (await inspect(ns, bases[1 - target] as number)).complete;
    if ((!killed.complete && !untouched) || killed.leftovers.length) during++;
    if (killed.leftovers.length) leftovers++;
    const what = `round ${round} (${who}${pause ? ', paused' : ''}, killed ${delay.toFixed(0)} ms after ${began ? 'its first create' : 'a 10 s wait'})`;
    if (killed.disowned.length) failures.push(`${what}: unmarked ${killed.disowned.join(', ')}`);

    const plain = await runIsland(ns, ['apply', '-c', path]);
    const after = await inspect(ns, base);
    const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
    if (plain.code === 0 && after.complete && !after.leftovers.length && !after.strangers.length && plan.code === 0)
      converged++;
    else
      failures.push(
        `${what}: apply ${plain.code} ${plain.stderr.trim()} | ${JSON.stringify(after)} | plan ${plan.code} ${plan.stdout.trim()}`,
      );
  }
  t.comment(
    `${ROUNDS} kills: ${during} landed while links were being made (${leftovers} left a link under its token name); ${converged}/${ROUNDS} converged with one plain apply`,
  );
  t.same(failures, [], 'no kill left a link island disowns, and one plain apply converged each time');
  t.equal(converged, ROUNDS);
  t.ok(during >= ROUNDS / 2, `the kills did land during converges: ${during}`);
});

t.test("kill -9 of apply while it makes new links: each is island's from its first instant", async (t) => {
  // every round starts from no tunnel at all: each link is created under its declared name, and
  // the requests that mark it leave in the same sendmsg as its create. Enough tunnels that the
  // creates take several sendmsgs, so that the kills land between them.
  const MANY = 300;
  const ns = await netns(t, 'killnew');
  const path = await writeConfig(
    t,
    islandToml({
      bridge: [{ name: 'br-under', addresses: ['192.0.2.1/24'] }],
      tunnel: [...Array(MANY).keys()].map((i) =>
        vxlan({
          name: `vk${i}`,
          vni: 5000 + i,
          local: '192.0.2.1',
          remote: '192.0.2.2',
          dev: 'br-under',
          addresses: [`10.${42 + (i >> 6)}.${(i & 63) * 4}.1/30`],
        }),
      ),
    }),
  );
  const rounds = Math.max(4, Math.round(ROUNDS / 10));
  let landed = 0;
  const failures: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const down = await runIsland(ns, ['down', '-c', path]);
    if (down.code !== 0) failures.push(`round ${round}: down ${down.code} ${down.stderr.trim()}`);
    // a new link is made under its declared name (see reconcile/apply.ts)
    const mon = firstLink(ns, /\bvk\d+\b/, 10_000);
    const run = runIsland(ns, ['apply', '-c', path]).then(() => undefined);
    await mon.seen;
    mon.stop();
    await new Promise((r) => setTimeout(r, Math.random() * 30));
    await killIsland(ns);
    await run;
    const links: Link[] = (await ns.ipJson(['-d', 'link', 'show'])).filter((l: Link) => /^vk\d+$/.test(l.ifname));
    if (links.length < MANY) landed++;
    const disowned = links.filter((l) => !owned(l)).map((l) => l.ifname);
    if (disowned.length) failures.push(`round ${round}: unmarked ${disowned.join(', ')}`);
    const plain = await runIsland(ns, ['apply', '-c', path]);
    const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
    if (plain.code !== 0 || plan.code !== 0)
      failures.push(`round ${round}: apply ${plain.code} ${plain.stderr.trim().slice(0, 300)} | plan ${plan.code}`);
  }
  t.comment(`${rounds} kills of apply making ${MANY} new links: ${landed} landed before they were all made`);
  t.same(failures, [], 'no kill left a link island disowns, and one plain apply converged each time');
  t.ok(landed >= 1, `a kill did land while links were being made: ${landed}`);
});
