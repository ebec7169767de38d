/**
 * Network namespace names and their synchronous removal, shared by the tests' netns() (netns.ts)
 * and bench (bench/lib.mjs): both name theirs isl-<prefix>-<pid>-<rand>, so parallel runs and
 * other users of the machine never collide, and both delete them from exit and signal hooks,
 * where only synchronous calls still run. JavaScript: bench runs under plain node.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * A fresh name, within the 60 characters island's tests allow themselves.
 * @param {string} prefix
 */
export const namespaceName = (prefix) => `isl-${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 60);

/**
 * Kill whatever still runs inside, then delete the namespace; an absent one is no error.
 * @param {string} name
 */
export function deleteNamespaceSync(name) {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const p of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // namespace already gone
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}
