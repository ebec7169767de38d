/**
 * Child process for events.test.ts, run inside a test namespace: watches rtnetlink with the built
 * dist/netlink/events.js and prints one JSON object per line on stdout:
 *   {"t":"ready"} | {"t":"event",...RtEvent} | {"t":"overflow"} | {"t":"error","message":...}
 *   | {"t":"blocking"} | {"t":"unblocked"} | {"t":"closed"}
 * Commands, one per line on stdin: `block <ms>` (block the event loop, so the receive buffer
 * overflows), `close` (close the event source: the process must then exit by itself, since
 * stdin is unref'd and only the netlink socket keeps it alive).
 * ISLAND_TEST_RCVBUF sets the receive buffer size.
 */
import { watchRtnetlink } from '../../dist/netlink/events.js';

const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`); // pipes are synchronous on Linux

const rcvbuf = Number(process.env.ISLAND_TEST_RCVBUF) || undefined;
const src = watchRtnetlink(
  (ev) => say({ t: 'event', ...ev }),
  () => say({ t: 'overflow' }),
  (err) => say({ t: 'error', message: err.message }),
  { recvBufferSize: rcvbuf },
);

let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const [cmd, arg] = buf.slice(0, i).trim().split(/\s+/);
    buf = buf.slice(i + 1);
    if (cmd === 'block') {
      say({ t: 'blocking' });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(arg));
      say({ t: 'unblocked' });
    } else if (cmd === 'close') {
      src.close();
      say({ t: 'closed' });
    }
  }
});
process.stdin.unref();
say({ t: 'ready' });
