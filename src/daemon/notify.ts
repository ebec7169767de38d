/**
 * systemd's readiness protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams sent to
 * $NOTIFY_SOCKET, an AF_UNIX SOCK_DGRAM socket (a path, or an abstract name written @name).
 * systemd reads the sender's PID from the socket credentials, so with NotifyAccess=main every
 * datagram must leave from island's own process: `systemd-notify --pid=parent` from a child needs
 * CAP_SYS_ADMIN, which the unit does not grant. Node has no unix datagram sockets in core; the
 * patched netlink addon island already loads sends them (netlink/addon.ts), as sd_notify does:
 * a socket for each datagram.
 */
import type { Logger } from 'pino';
import { sendUnixDatagram } from '../netlink/addon.js';

export class Notifier {
  private watchdog?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly watchdogUsec: number,
    private readonly log: Logger,
  ) {}

  /** Not under systemd (no NOTIFY_SOCKET): every call is a no-op. */
  static async fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Notifier> {
    const path = env.NOTIFY_SOCKET ?? '';
    // WATCHDOG_PID names the process systemd expects the pings from; another PID means the
    // variable was inherited, not meant for us
    const wdPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
    const wdUsec = wdPid === process.pid ? Number(env.WATCHDOG_USEC) || 0 : 0;
    // like sd_notify's unset_environment: iptables-restore and other children must not
    // inherit them and talk to systemd on island's behalf
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!path) return new Notifier('', 0, log);
    if (!path.startsWith('/') && !path.startsWith('@')) {
      // sd_notify's other forms (vsock:...) are for virtual machines' managers, not for a unit
      log.error(
        { notifySocket: path },
        'NOTIFY_SOCKET is neither a path nor an abstract @name: cannot notify systemd (a Type=notify unit will time out)',
      );
      return new Notifier('', 0, log);
    }
    return new Notifier(path, wdUsec, log);
  }

  get active(): boolean {
    return this.path !== '' && !this.closed;
  }

  /** Sends one datagram; resolves once the kernel has it (or it failed, which is logged). */
  send(fields: Record<string, string | number>): Promise<void> {
    if (!this.active) return Promise.resolve();
    // a newline inside a value would start a new KEY=VALUE line
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\s*\n\s*/g, ' ')}`)
      .join('\n');
    try {
      sendUnixDatagram(this.path, Buffer.from(text));
    } catch (e) {
      this.log.warn({ err: (e as Error).message, notify: text }, 'could not notify systemd');
    }
    return Promise.resolve();
  }

  ready(status: string): Promise<void> {
    return this.send({ READY: 1, STATUS: status });
  }

  status(status: string): Promise<void> {
    return this.send({ STATUS: status });
  }

  /** systemd >= 253 wants the monotonic time with RELOADING=1; 252 ignores it. */
  reloading(): Promise<void> {
    return this.send({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: 'reloading the configuration' });
  }

  stopping(): Promise<void> {
    return this.send({ STOPPING: 1, STATUS: 'stopping, the network stays as it is' });
  }

  /**
   * WATCHDOG=1 at half of WatchdogSec, from a timer on the event loop: a loop that stalls
   * stops the pings and systemd restarts island.
   */
  startWatchdog(): void {
    if (!this.active || !this.watchdogUsec || this.watchdog) return;
    const everyMs = Math.max(1, Math.floor(this.watchdogUsec / 2000));
    void this.send({ WATCHDOG: 1 });
    this.watchdog = setInterval(() => void this.send({ WATCHDOG: 1 }), everyMs);
    this.watchdog.unref();
    this.log.debug({ everyMs }, 'systemd watchdog pings started');
  }

  close(): void {
    clearInterval(this.watchdog);
    if (this.closed) return;
    this.closed = true;
  }
}

/** CLOCK_MONOTONIC in µs: libuv's hrtime reads that clock on Linux. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
