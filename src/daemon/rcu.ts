/**
 * [daemon] rcu_expedited. A deletion by another program waits out an RCU grace period while it
 * holds the lock island's repair needs: `ip link del` of a tunnel on an underlay `dev` holds
 * RTNL, `iptables -F` holds nf_tables' commit mutex. The repair queues behind it, 12 ms at the
 * median and 40 at p99 on a 2-vCPU host, against ~2 ms with expedited grace periods
 * (docs/benchmarks.md). Those cost an IPI to every CPU that is not idle at each grace period,
 * which a host running latency-bound work may refuse: so it is asked for, never assumed, and a
 * removed key leaves the value as it is, like a sysctl.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';

/** where the kernel has rcu_expedited and rcu_normal */
export const RCU_DIR = '/sys/kernel';
/** what rcu_normal = 1 does to the key; the daemon and island doctor both say it */
export const RCU_NORMAL_WINS = 'which turns every expedited grace period into a normal one';

/** node's "EROFS: read-only file system, open '/sys/...'" without its call and path, which the caller names */
export const errnoText = (e: unknown): string => (e as Error).message.replace(/, \w+( '.*')?$/, '');

export class RcuExpedited {
  /** the problem last logged: said when it starts or changes, not at every pass */
  private said?: string;

  constructor(
    private readonly log: Logger,
    private readonly dir = RCU_DIR,
  ) {}

  /** Set rcu_expedited to 1 if `want` and it reads otherwise. A few µs: read once a pass. */
  keep(want: boolean | undefined): void {
    let problem: string | undefined;
    if (want) {
      const path = `${this.dir}/rcu_expedited`;
      try {
        const was = readFileSync(path, 'utf8').trim();
        if (was !== '1') {
          writeFileSync(path, '1\n');
          this.log.info({ object: 'rcu_expedited' }, `~ ${path} = 1 (was ${was})`);
        }
        // the kernel's rcu_normal overrides it: every expedited grace period becomes a normal one
        if (readFileSync(`${this.dir}/rcu_normal`, 'utf8').trim() === '1')
          problem = `${this.dir}/rcu_normal is 1, ${RCU_NORMAL_WINS}: [daemon] rcu_expedited has no effect`;
      } catch (e) {
        problem = `[daemon] rcu_expedited: ${path}: ${errnoText(e)}`;
      }
    }
    if (problem !== undefined && problem !== this.said) this.log.warn(problem);
    this.said = problem;
  }
}
