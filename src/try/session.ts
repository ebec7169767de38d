/**
 * `island try`, the daemon's half. The daemon, not the CLI, holds the rollback timer: the admin
 * who ran the try may sit on the far side of the tunnel the candidate just cut, and their SSH
 * session (and the CLI in it) dies with it. Nothing is persisted: a daemon that restarts during
 * a try starts from the file, which still holds the previous configuration, so that rolls back
 * too.
 *
 * While a try is armed, a reload (the file watch, SIGHUP) waits: the running candidate is what
 * the admin is testing. A confirm hands the candidate to the CLI, which writes the file; the
 * watch then reloads what the daemon already runs. A rollback restores the previous
 * configuration and then runs any reload that waited.
 */
import type { Logger } from 'pino';
import { formatDiagnostic, parseConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ControlError } from '../control/server.js';

export interface TryTarget {
  current(): { cfg: Config; text: string };
  switchTo(cfg: Config, text: string, why: string): Promise<{ summary: string; converged: boolean }>;
  /** re-read the file (a reload that waited for the try to end) */
  reload(): Promise<boolean>;
}

export interface TryStatus {
  candidate: string;
  startedAt: number;
  deadline: number;
  remainingMs: number;
  /** reloads that arrived during the try, run when it ends */
  deferred: string[];
}

interface Armed {
  candidate: string;
  text: string;
  previous: { cfg: Config; text: string };
  startedAt: number;
  deadline: number;
  timer: NodeJS.Timeout;
  deferred: string[];
}

export const MIN_TRY_MS = 5_000;
export const MAX_TRY_MS = 3_600_000;

export class TrySession {
  private armed?: Armed;
  /** one try operation at a time: a confirm racing the timer must not interleave with it */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly target: TryTarget,
    private readonly log: Logger,
  ) {}

  get active(): boolean {
    return this.armed !== undefined;
  }

  status(now = Date.now()): TryStatus | undefined {
    const a = this.armed;
    if (!a) return undefined;
    return {
      candidate: a.candidate,
      startedAt: a.startedAt,
      deadline: a.deadline,
      remainingMs: Math.max(0, a.deadline - now),
      deferred: a.deferred,
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Validate and apply a candidate, and arm the rollback. */
  start(candidate: string, text: string, timeoutMs: number) {
    return this.serial(async () => {
      if (this.armed) {
        const s = this.status() as TryStatus;
        throw new ControlError(
          `a try of ${s.candidate} is in progress (rolls back in ${Math.ceil(s.remainingMs / 1000)} s): ` +
            'confirm it (island try --confirm) or roll it back (island try --rollback) first',
        );
      }
      if (!(timeoutMs >= MIN_TRY_MS && timeoutMs <= MAX_TRY_MS))
        throw new ControlError(`timeout must be between ${MIN_TRY_MS / 1000} s and ${MAX_TRY_MS / 1000} s`);
      const r = parseConfig(text, candidate);
      if (!r.ok) throw new ControlError(r.errors.map(formatDiagnostic).join('\n'));
      for (const w of r.warnings) this.log.warn(formatDiagnostic(w));
      const previous = this.target.current();
      const startedAt = Date.now();
      const deadline = startedAt + timeoutMs;
      const timer = setTimeout(
        () =>
          // nobody awaits the timer's rollback: its failure is logged, never an unhandled rejection
          void this.rollback('not confirmed in time').catch((e: Error) =>
            this.log.error({ err: e.message, candidate }, `island try: rollback of ${candidate} failed: ${e.message}`),
          ),
        timeoutMs,
      );
      this.armed = { candidate, text, previous, startedAt, deadline, timer, deferred: [] };
      this.log.warn(
        { candidate, timeoutMs },
        `island try: running ${candidate}; rolls back in ${Math.round(timeoutMs / 1000)} s unless confirmed`,
      );
      const pass = await this.target.switchTo(r.config, text, 'try');
      return { ...pass, deadline, timeoutMs };
    });
  }

  /** Keep the candidate: the caller writes it to the file. */
  confirm() {
    return this.serial(async () => {
      const a = this.armed;
      if (!a) throw new ControlError('no try in progress (it may have been rolled back already)');
      clearTimeout(a.timer);
      this.armed = undefined;
      this.log.info({ candidate: a.candidate }, `island try: ${a.candidate} confirmed; it stays`);
      // reloads that waited would read the file before the CLI has written the candidate to it:
      // the write itself is seen by the watch
      return { candidate: a.candidate, text: a.text, previous: a.previous.text };
    });
  }

  /** Back to the configuration that ran before the try. */
  rollback(why: string) {
    return this.serial(async () => {
      const a = this.armed;
      if (!a) throw new ControlError('no try in progress');
      clearTimeout(a.timer);
      this.armed = undefined;
      const t0 = Date.now();
      const pass = await this.target.switchTo(a.previous.cfg, a.previous.text, 'rollback');
      this.log.warn(
        { candidate: a.candidate, why, ms: Date.now() - t0 },
        `island try: ${a.candidate} ${why}: rolled back to the previous configuration`,
      );
      if (a.deferred.length) {
        this.log.info({ deferred: a.deferred }, 'island try ended: running the reload that waited for it');
        await this.target.reload();
      }
      return pass;
    });
  }

  /** A reload during an armed try waits for its end; false when no try is armed (reload now). */
  defer(trigger: string): boolean {
    const a = this.armed;
    if (!a) return false;
    a.deferred.push(trigger);
    this.log.warn(
      { trigger, candidate: a.candidate },
      `reload (${trigger}) during island try of ${a.candidate}: it runs when the try ends (confirm or rollback)`,
    );
    return true;
  }

  close(): void {
    if (this.armed) clearTimeout(this.armed.timer);
  }
}
