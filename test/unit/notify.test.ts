/**
 * systemd's notify datagrams as the daemon sends them (daemon/notify.ts, through the patched netlink
 * addon): received on a real AF_UNIX datagram socket, bound at a path or as an abstract name, as
 * systemd binds its own. test/systemd/notify.test.ts checks the daemon's whole sequence.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import t from 'tap';
import { Notifier } from '../../src/daemon/notify.js';
import { logger } from '../helpers/log.js';

t.test('a datagram to a path: READY=1 and STATUS in one, the variables taken out of the environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notify.sock');
  const sock = new DgramSocket();
  sock.bind(path);
  t.teardown(() => sock.close());
  const got = new Promise<string>((resolve) => sock.on('data', (b: Buffer) => resolve(b.toString())));
  const { log, records } = logger();
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: path, WATCHDOG_USEC: '10000000', WATCHDOG_PID: String(process.pid) };
  const n = await Notifier.fromEnv(log, env);
  t.equal(n.active, true);
  t.same(env, {}, 'children do not inherit NOTIFY_SOCKET and the watchdog');
  await n.ready('converged: 3 links\nno error');
  t.equal(await got, 'READY=1\nSTATUS=converged: 3 links no error');
  n.close();
  t.equal(n.active, false);
  t.same(records, [], 'nothing logged');
});

t.test('a datagram to an abstract @name, as systemd in a container may bind it', async (t) => {
  const name = `island-notify-test-${process.pid}`;
  // node cannot bind an abstract datagram socket: perl's Socket can
  const perl = spawn(
    'perl',
    [
      '-MSocket',
      '-e',
      'socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!"; bind($s, pack_sockaddr_un("\\0$ARGV[0]")) or die "bind: $!"; $| = 1; print "bound\\n"; recv($s, my $m, 4096, 0); print $m;',
      name,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => perl.kill());
  let out = '';
  const bound = new Promise<void>((resolve) =>
    perl.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.startsWith('bound\n')) resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => perl.on('exit', resolve));
  await bound;
  const { log, records } = logger();
  const n = await Notifier.fromEnv(log, { NOTIFY_SOCKET: `@${name}` });
  await n.status('reloading');
  t.equal(await exited, 0, 'perl received a datagram');
  t.equal(out, 'bound\nSTATUS=reloading');
  t.same(records, [], 'nothing logged');
});

t.test('nobody listening: a warning, and the daemon goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { log, records } = logger();
  const n = await Notifier.fromEnv(log, { NOTIFY_SOCKET: join(dir, 'gone.sock') });
  await n.ready('up');
  t.match(records, [{ level: 40, msg: 'could not notify systemd', err: /no such file or directory/ }]);
});

t.test('a NOTIFY_SOCKET that is neither a path nor @name: an error logged, no notifications', async (t) => {
  const { log, records } = logger();
  const n = await Notifier.fromEnv(log, { NOTIFY_SOCKET: 'vsock:2:1234' });
  t.equal(n.active, false);
  await n.ready('up');
  t.match(records, [{ level: 50, msg: /NOTIFY_SOCKET is neither a path nor an abstract @name/ }]);
});
