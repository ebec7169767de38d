/** `island daemon`: converge, then heal until SIGTERM; systemd's readiness and reload protocol. */

import { CommandError } from '../control/errors.js';
import { startControl } from '../control/handlers.js';
import { controlSocketPath } from '../control/paths.js';
import { ConfigRejected, Daemon } from '../daemon/daemon.js';
import { DaemonRunning, lockDaemon } from '../daemon/lock.js';
import { Notifier } from '../daemon/notify.js';
import { Service } from '../daemon/service.js';
import { watchConfigFile } from '../daemon/watch.js';
import { createLogger } from '../log.js';
import { releaseMemory } from '../memory.js';
import { familyOf } from '../netlink/ip.js';
import { TrySession } from '../try/session.js';
import type { Args } from './args.js';

/** After the start and each reload: what reading the file left behind goes back once things are quiet. */
const SETTLE_MS = 500;
let settleTimer: NodeJS.Timeout | undefined;
function settled(): void {
  clearTimeout(settleTimer);
  settleTimer = setTimeout(releaseMemory, SETTLE_MS).unref();
}

export async function run({ path }: Args): Promise<number> {
  // one daemon per network namespace, whatever its runtime directory: before anything else
  const lock = await lockDaemon({ config: path, control: controlSocketPath() }).catch((e: unknown) => {
    throw e instanceof DaemonRunning ? new CommandError(e.message) : e;
  });
  const log = await createLogger();
  const notify = await Notifier.fromEnv(log);
  const svc = new Service(notify, log);
  const d = new Daemon({ configPath: path, log, onStatus: svc.onStatus, onPass: svc.onPass });
  const tries = new TrySession(d, log);
  // during `island try` the candidate is what is being tested: a reload waits for the try's end
  const reload = (trigger: string) =>
    void svc.reload(trigger, () => (tries.defer(trigger) ? Promise.resolve(true) : d.reload())).then(settled);
  // before the first pass: SIGHUP's default action would kill a daemon still starting up
  process.on('SIGHUP', () => reload('SIGHUP'));
  // SIGTERM's too: systemd may stop the unit the moment READY=1 arrives
  let quit: (sig: string) => void = () => process.exit(0);
  process.once('SIGTERM', () => quit('SIGTERM'));
  process.once('SIGINT', () => quit('SIGINT'));
  try {
    await d.start();
    // node's IPv6 expression (isIP) is compiled at its first use, ~2.5 ms: the events of a heal
    // (an underlay's fe80:: address) were the first, so the first heal after a start paid it
    familyOf('fe80::1');
  } catch (e) {
    d.stop();
    if (e instanceof ConfigRejected) {
      for (const l of e.lines) log.error(l);
      await notify.status(`config error: ${e.lines[0]}`);
      notify.close();
      throw new CommandError(`${path}: invalid, not starting (${e.lines.length} error(s))`);
    }
    notify.close();
    throw e;
  }
  // in place before READY=1: an edit right after `systemctl start` returns is not missed
  const watch = await watchConfigFile(
    path,
    () => reload('file changed'),
    (err) => log.error({ err: err.message }, `watching ${path}: ${err.message}`),
  );
  const control = await startControl(d, tries, path, log);
  return new Promise((resolve) => {
    quit = (sig: string) =>
      void (async () => {
        // leaving the network in place: a restart or upgrade must not cut the island
        log.info(`${sig}: stopping, the network stays as it is`);
        await svc.stopping();
        tries.close();
        d.stop();
        await watch.close();
        await control?.close();
        await lock.release();
        resolve(0);
        // requests of a pass cut short by the signal would otherwise hold the
        // loop until their 10 s timeout: systemd would wait that long to stop
        // us; logs are written synchronously, nothing else is pending
        setImmediate(() => process.exit(0));
      })();
    void svc.ready().then(() => {
      log.info({ config: path, pid: process.pid }, 'island daemon running');
      settled();
    });
  });
}
