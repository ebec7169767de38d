/**
 * The README's quick start on a fresh Debian machine with Node.js: a fresh `git clone` of this
 * repository, then `sudo npm run demo` / `sudo npm test`, each of which runs scripts/setup first
 * (npm's predemo / pretest): it installs what the run lacks (Debian packages with apt-get, node
 * modules with npm ci), says what it installs, and takes well under a second once it is all there.
 *
 * The machine is the package tests' clean Debian root with Debian's own nodejs and npm added
 * (noderoot.sh), overlaid. setup needs the network (Debian's mirror, the npm registry) and a
 * booted container has a network namespace of its own without it, so setup first runs in the
 * root, not booted, with this machine's network (runInRoot); then the root boots with its
 * private network (the demo and the kernel tests create namespaces), where setup must find
 * everything in place, and the run follows.
 *
 * `npm test` in full is too heavy to nest (it boots containers and VMs of its own): the test
 * profile's setup runs, and one kernel test file that needs a package only that profile
 * installs (ethtool) runs under tap.
 */
import { existsSync } from 'node:fs';
import type { Test } from 'tap';
import { bootDebRoot, type DebContainer, mustRun, nodeRoot, runInRoot } from '../helpers/debroot.js';
import { REPO } from '../helpers/island.js';
import type { ExecResult } from '../helpers/netns.js';

const CLONE = '/root/island';
/** this machine's trust store, for npm inside (the registry may be reached through a TLS proxy) */
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';

export interface Timed {
  result: ExecResult;
  ms: number;
}

/** The root of `suite` with nodejs and npm, a fresh clone in it, `scripts/setup PROFILE` run with the network, booted. */
export async function freshMachine(
  t: Test,
  suite: 'bookworm' | 'trixie',
  profile: 'demo' | 'test',
): Promise<{ c: DebContainer; setup: Timed }> {
  const root = await nodeRoot(suite);
  let setup: Timed | undefined;
  const c = await bootDebRoot(t, root, `fc${suite.slice(0, 2)}`, {
    prepare: async (r) => {
      t.equal(existsSync(`${r}/usr/bin/git`), false, `${suite}: no git in the root; the clone is made from outside`);
      t.equal(existsSync(`${r}${CLONE}`), false, 'no earlier clone');
      await mustRun(['git', 'clone', '-q', '--no-hardlinks', REPO, `${r}${CLONE}`]);
      const t0 = performance.now();
      const result = await runInRoot(r, `cd ${CLONE} && scripts/setup ${profile}`, {
        timeoutMs: 1_200_000,
        ...(existsSync(HOST_CA)
          ? { env: { NODE_EXTRA_CA_CERTS: '/run/host-ca.crt' }, bind: [`${HOST_CA}:/run/host-ca.crt`] }
          : {}),
      });
      setup = { result, ms: performance.now() - t0 };
    },
  });
  if (!setup) throw new Error('setup did not run');
  return { c, setup };
}

/** A command in the clone, inside the booted container (its private network), timed. */
export async function inClone(c: DebContainer, script: string, timeoutMs = 120_000): Promise<Timed> {
  const t0 = performance.now();
  const result = await c.exec(['bash', '--norc', '-c', `cd ${CLONE} && ${script}`], { timeoutMs });
  return { result, ms: performance.now() - t0 };
}

/** Everything a failed step printed, for the assertion message. */
export const output = (r: ExecResult) => `exit ${r.code}\n${r.stdout}${r.stderr}`.trim();

/** setup's own closing line: "setup: demo: 9 Debian packages present, node modules up to date, node v18.20.4 (0.05 s)" */
export function setupLine(r: ExecResult): { line: string; seconds: number } | undefined {
  const line = [...`${r.stdout}\n${r.stderr}`.matchAll(/^setup: (demo|test): .*\((\d+\.\d+) s\)$/gm)].at(-1);
  return line ? { line: line[0], seconds: Number(line[2]) } : undefined;
}

/**
 * What every fresh clone must show of `scripts/setup PROFILE`: with the network it installs what
 * was missing, listing each package (among them `packages`) and the node modules; run again
 * inside the container (no network) it finds everything in place, well under a second.
 */
export async function checkSetup(
  t: Test,
  c: DebContainer,
  setup: Timed,
  o: { profile: 'demo' | 'test'; release: string; packages: string[] },
): Promise<void> {
  const cmd = `scripts/setup ${o.profile}`;
  t.equal(setup.result.code, 0, `${cmd} with the network (${(setup.ms / 1000).toFixed(1)} s)`, {
    diagnostic: setup.result.code !== 0,
    output: output(setup.result),
  });
  const installing = /^setup: installing with apt-get: (.*)$/m.exec(setup.result.stdout)?.[1]?.split(' ') ?? [];
  for (const p of o.packages)
    t.ok(installing.includes(p), `it lists what it installs: ${p} among "${installing.join(' ')}"`);
  t.match(setup.result.stdout, /^setup: node_modules missing: npm ci/m, 'and installs the node modules (npm ci)');
  t.comment(
    `setup ${o.profile} on a fresh ${o.release} clone: ${(setup.ms / 1000).toFixed(1)} s; ${setupLine(setup.result)?.line}`,
  );

  const again = await inClone(c, cmd);
  const line = setupLine(again.result);
  t.equal(again.result.code, 0, `setup ${o.profile} again, inside the container (no network): nothing to do`);
  t.match(line?.line ?? output(again.result), /packages present, node modules up to date/, 'everything present');
  t.ok(
    (line?.seconds ?? 99) < 1,
    `well under a second: ${line?.seconds} s by its own count, ${again.ms.toFixed(0)} ms as run`,
  );
}
