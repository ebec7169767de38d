/**
 * systemd's readiness protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams sent to
 * $NOTIFY_SOCKET, an AF_UNIX SOCK_DGRAM socket. systemd reads the sender's PID from the
 * socket credentials, so with NotifyAccess=main every datagram must leave from island's own
 * process: `systemd-notify --pid=parent` from a child needs CAP_SYS_ADMIN, which the unit does
 * not grant. Node has no unix datagram sockets in core; node-unix-socket (N-API, so one build
 * loads under Debian's Node 18 and 20) provides one. It is loaded only under systemd.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

interface DatagramSocket {
  sendTo(buf: Buffer, offset: number, length: number, path: string, cb?: (err: Error | undefined) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  close(): void;
}

export class Notifier {
  private watchdog?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly sock: DatagramSocket | undefined,
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
    if (!path) return new Notifier(undefined, '', 0, log);
    if (!path.startsWith('/')) {
      // abstract sockets (@name) are outside what node-unix-socket can address; systemd as
      // PID 1 always uses /run/systemd/notify
      log.error(
        { notifySocket: path },
        'NOTIFY_SOCKET is not a filesystem path: cannot notify systemd (a Type=notify unit will time out)',
      );
      return new Notifier(undefined, '', 0, log);
    }
    const { DgramSocket } = loadUnixSocket();
    const sock: DatagramSocket = new DgramSocket();
    sock.on('error', (err) => log.error({ err: err.message }, 'systemd notify socket error'));
    return new Notifier(sock, path, wdUsec, log);
  }

  get active(): boolean {
    return this.sock !== undefined && !this.closed;
  }

  /** Sends one datagram; resolves once the kernel has it (or it failed, which is logged). */
  send(fields: Record<string, string | number>): Promise<void> {
    const sock = this.sock;
    if (!sock || this.closed) return Promise.resolve();
    // a newline inside a value would start a new KEY=VALUE line
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\s*\n\s*/g, ' ')}`)
      .join('\n');
    const buf = Buffer.from(text);
    return new Promise((resolve) => {
      try {
        sock.sendTo(buf, 0, buf.length, this.path, (err) => {
          if (err) this.log.warn({ err: err.message, notify: text }, 'could not notify systemd');
          resolve();
        });
      } catch (e) {
        this.log.warn({ err: (e as Error).message, notify: text }, 'could not notify systemd');
        resolve();
      }
    });
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
    // the socket's poll handle would keep the process alive
    this.sock?.close();
  }
}

/**
 * node-unix-socket, without the diagnostic report its loader builds to tell glibc from musl:
 * process.report.getReport() unwinds the native stack, looks addresses up in node's symbol table
 * and lists the network interfaces, all to read one field of its header (lab daemon, idle: 1.2 MiB
 * of RSS for the daemon's life). With process.report hidden for the load, the loader takes its
 * other path, the one detect-libc takes first: /usr/bin/ldd's text, which names musl on musl.
 * Should that path fail (no /usr/bin/ldd), the load is tried again as the package does it.
 */
function loadUnixSocket(): typeof import('node-unix-socket') {
  const require = createRequire(import.meta.url);
  const report = Object.getOwnPropertyDescriptor(process, 'report');
  if (report?.configurable) {
    Object.defineProperty(process, 'report', { value: undefined, configurable: true });
    try {
      return require('node-unix-socket');
    } catch {
      // a failed require leaves nothing cached: the retry below runs the loader again
    } finally {
      Object.defineProperty(process, 'report', report);
    }
  }
  return require('node-unix-socket');
}

/** CLOCK_MONOTONIC in µs: libuv's hrtime reads that clock on Linux. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
