/**
 * A second island daemon in this network namespace. Since the per-namespace lock
 * (daemon/lock.ts, the abstract socket @island/daemon) a second one exits at once, so what is
 * left to find: daemons that do not take the lock (an older island) next to the one that does,
 * and a process that holds the lock without being island (no daemon can start).
 */
import type { DoctorFacts, Finding, Proc } from './types.js';

/** `island daemon` as the package (/usr/sbin/island: node dist/cli.cjs) or a clone (node dist/cli.js) runs it */
export function isIslandDaemon(p: Proc): boolean {
  const i = p.argv.findIndex((a) => /(^|\/)(island|cli\.c?js)$/.test(a));
  if (i < 0) return false;
  // the first word that is neither an option nor an option's value is the command
  for (let j = i + 1; j < p.argv.length; j++) {
    const a = p.argv[j] as string;
    if (a === '-c' || a === '--config' || a === '--host') j++;
    else if (!a.startsWith('-')) return a === 'daemon';
  }
  return false;
}

export function daemonFindings(f: DoctorFacts): Finding[] {
  const daemons = f.processes.filter((p) => p.pid !== f.self && isIslandDaemon(p));
  const holder = f.lock?.holder?.pid;
  const out: Finding[] = [];
  if (daemons.length > 1) {
    const others = daemons.filter((d) => d.pid !== holder);
    out.push({
      severity: 'error',
      family: 'daemon',
      where: `pids ${daemons.map((d) => d.pid).join(', ')}${holder ? ` (${holder} holds the lock @island/daemon)` : ''}`,
      what: `${daemons.length} island daemons in this network namespace`,
      why: "each one's links are the other's to remove or re-create: they undo each other's repairs",
      fix: `keep one: stop ${others.map((d) => d.pid).join(', ')} (an island older than the lock?), or systemctl stop island where a hand-started daemon runs`,
    });
  }
  if (f.lock?.held && !f.lock.holder)
    out.push({
      severity: 'error',
      family: 'daemon',
      where: 'abstract unix socket @island/daemon',
      what: 'another program holds the island daemon lock',
      why: 'it does not answer as island does: no island daemon can start in this network namespace',
      fix: 'find it with `ss -xlp | grep island/daemon` and stop it',
    });
  return out;
}
