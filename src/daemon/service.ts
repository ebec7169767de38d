/**
 * What systemd is told about the daemon, and when: READY=1 once the host matches the file (or,
 * when it cannot yet, after a bounded wait, so that boot never hangs on a missing underlay),
 * a one-line STATUS=, RELOADING=1 ... READY=1 around every reload, WATCHDOG=1 from the event loop.
 */
import type { Logger } from 'pino';
import type { Notifier } from './notify.js';

/** How long READY=1 waits for a fully converged pass before it is sent anyway, degraded. */
export const READY_WAIT_MS = 10_000;

export class Service {
  private summary = '';
  private converged = false;
  private onConverged?: () => void;
  private markReady!: () => void;
  /** reloads asked for before READY=1 (SIGHUP during the wait) run after it, in order */
  private reloads: Promise<unknown> = new Promise<void>((res) => {
    this.markReady = res;
  });

  constructor(
    private readonly notify: Notifier,
    private readonly log: Logger,
  ) {}

  /** Daemon's onPass hook. */
  readonly onPass = (p: { converged: boolean; summary: string }): void => {
    this.summary = p.summary;
    this.converged = p.converged;
    if (p.converged) this.onConverged?.();
  };

  /** Daemon's onStatus hook: the summary changed, or a reload was refused. */
  readonly onStatus = (status: string): void => {
    this.log.info({ status }, 'status');
    void this.notify.status(status);
  };

  /** After the first pass: wait (bounded) for convergence, then READY=1 and the watchdog. */
  async ready(waitMs = READY_WAIT_MS): Promise<void> {
    const t0 = performance.now();
    if (!this.converged) {
      await new Promise<void>((res) => {
        const timer = setTimeout(res, waitMs);
        this.onConverged = () => {
          clearTimeout(timer);
          res();
        };
      });
      this.onConverged = undefined;
    }
    const waited = Math.round(performance.now() - t0);
    if (this.converged) {
      await this.notify.ready(this.summary);
    } else {
      const status = `degraded: not converged after ${Math.round(waitMs / 1000)} s: ${this.summary}`;
      this.log.warn({ status, waitedMs: waited }, 'ready before the host matches the file (the daemon keeps trying)');
      await this.notify.ready(status);
    }
    this.notify.startWatchdog();
    this.markReady();
  }

  /** SIGHUP or a changed file; reloads run one at a time, in order. */
  reload(trigger: string, run: () => Promise<boolean>): Promise<void> {
    const next = this.reloads.then(async () => {
      this.log.info({ trigger }, `reloading the configuration (${trigger})`);
      await this.notify.reloading();
      const ok = await run().catch((e: Error) => {
        this.log.error({ err: e.message }, 'reload failed');
        return false;
      });
      // a refused reload already set STATUS= to its error; keep it visible until the file is fixed
      await (ok ? this.notify.ready(this.summary) : this.notify.send({ READY: 1 }));
    });
    this.reloads = next;
    return next;
  }

  async stopping(): Promise<void> {
    await this.notify.stopping();
    this.notify.close();
  }
}
