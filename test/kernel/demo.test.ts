/**
 * `bash scripts/demo.sh` end to end: it must pass, and leave no namespace or daemon behind,
 * whether it finishes or is interrupted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CLI, REPO } from '../helpers/island.js';
import { mustRun, requireRoot } from '../helpers/netns.js';

requireRoot();
if (!existsSync(CLI)) throw new Error(`${CLI} missing: build first (npm test does); not skipping`);

const DEMO = join(REPO, 'scripts', 'demo.sh');

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo with its own namespace prefix; onOutput may kill it. */
function runDemo(prefix: string, onOutput?: (stdout: string, kill: (s: NodeJS.Signals) => void) => void) {
  return new Promise<DemoRun>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ISLAND_DEMO_PREFIX: prefix };
    delete env.NODE_OPTIONS; // tap's loaders are not for the demo's node processes
    const c = spawn('bash', [DEMO], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => c.kill('SIGKILL'), 90_000);
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onOutput?.(stdout, (s) => c.kill(s));
    });
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function leftovers(prefix: string): Promise<string[]> {
  const out = await mustRun(['ip', '-j', 'netns', 'list']);
  const list = (out.trim() ? JSON.parse(out) : []) as { name: string }[];
  return list.map((n) => n.name).filter((n) => n.startsWith(prefix));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const daemonPids = (stdout: string) => [...stdout.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
const newPrefix = (tag: string) => `isl-${tag}-${process.pid}-${randomBytes(2).toString('hex')}`;

t.test('the demo passes and cleans up', async (t) => {
  const prefix = newPrefix('demo');
  const r = await runDemo(prefix);
  t.equal(r.code, 0, 'demo exits 0', { stdout: r.stdout, stderr: r.stderr });
  t.match(r.stdout, /demo passed/);
  t.match(r.stdout, /tunnel back after \d+ ms/, 'reports how long healing took');
  t.match(r.stdout, /public → private, through the NAT/);
  t.notMatch(r.stdout, /✗/, 'no step failed');
  t.same(await leftovers(prefix), [], 'no namespace with its prefix remains');
  const pids = daemonPids(r.stdout);
  t.equal(pids.length, 2, 'two daemons were started');
  for (const pid of pids) t.notOk(alive(pid), `daemon ${pid} is gone`);
});

t.test('an interrupted demo still cleans up', async (t) => {
  const prefix = newPrefix('demoint');
  let sent = false;
  const r = await runDemo(prefix, (out, kill) => {
    if (!sent && /private host converged.*✓/.test(out)) {
      sent = true;
      kill('SIGTERM');
    }
  });
  t.ok(sent, 'demo got as far as running daemons', { stdout: r.stdout, stderr: r.stderr });
  t.not(r.code, 0, `interrupted demo exits non-zero (${r.code}, ${r.signal})`);
  t.match(r.stderr, /demo failed/, 'and says so');
  t.same(await leftovers(prefix), [], 'no namespace with its prefix remains');
  const pids = daemonPids(r.stdout);
  t.equal(pids.length, 2, 'two daemons had been started');
  for (const pid of pids) t.notOk(alive(pid), `daemon ${pid} is gone`);
});
