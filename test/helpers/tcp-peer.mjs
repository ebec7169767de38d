// One end of a TCP test, run by test/helpers/tcp.ts inside a test namespace (`ip netns exec NS
// node tcp-peer.mjs MODE JSON`) or inside a QEMU guest (Debian 12's nodejs 18): plain
// JavaScript, node's own modules only. Every mode prints JSON lines on stdout and ends by
// itself within its `timeoutMs`, whatever the network does; the caller kills it too if it
// outlives that.
//
//   server  {port, bind?, timeoutMs}   accept connections until one delivers data and ends;
//           report its bytes, sha256 and the source address it came from, to stdout and back to
//           the client over the same connection; exit 0
//   client  {host, port, bytes, source?, timeoutMs, attemptMs?}   connect (retrying until the
//           deadline: the server may not listen yet, the tunnel may not be up yet), send `bytes`
//           random bytes, half-close, wait for the server's report; print both; exit 0
//   listen  {port, bind?, lifetimeMs?}  a long-running listener (a kubelet's 10250): to every
//           connection it writes the peer address it sees, one JSON line, and closes
//   hello   {targets: [{host, port}], source?, timeoutMs, wait?, attemptMs?}  connect to each
//           target (in parallel), read what the listener says; print {ok, seenAs | error} per
//           target; exit 0 (reachability is the answer, not a failure)
//
// Exit codes: 0 done, 2 bad arguments, 3 timeout, 4 socket error.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [mode, arg] = process.argv.slice(2);
/** @type {Record<string, any>} */
let o;
try {
  o = JSON.parse(arg ?? '{}');
} catch (e) {
  out({ event: 'error', error: `bad JSON argument: ${e.message}` });
  process.exit(2);
}
const t0 = performance.now();
const since = () => Math.round(performance.now() - t0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** stdout is a pipe or a file here: both are written synchronously, so exit() loses nothing */
function out(rec) {
  process.stdout.write(`${JSON.stringify(rec)}\n`);
}
function end(code, rec) {
  out({ ms: since(), ...rec });
  process.exit(code);
}

/** One attempt; rejects with the socket's error code, or ETIMEDOUT after attemptMs. */
function connectOnce(host, port, source, attemptMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(source ? { localAddress: source } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`no answer within ${attemptMs} ms`), { code: 'ETIMEDOUT' }));
    }, attemptMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    });
  });
}

/**
 * Connects before `deadline` (performance.now() time). With `wait`, a refused, unreachable or
 * unanswered attempt is retried (a fresh SYN every attemptMs at most); without, one attempt.
 */
async function connect(host, port, { source, deadline, wait, attemptMs = 1000, onFail }) {
  let attempts = 0;
  for (;;) {
    attempts++;
    const left = Math.max(1, Math.round(deadline - performance.now()));
    try {
      const sock = await connectOnce(host, port, source, wait ? Math.min(attemptMs, left) : left);
      return { sock, attempts };
    } catch (e) {
      onFail?.(e.code ?? e.message, attempts);
      if (!wait || performance.now() + 100 >= deadline) throw Object.assign(e, { attempts });
      await sleep(100);
    }
  }
}

async function server() {
  let accepted = 0;
  let bytes = 0;
  let lastByte = 0;
  const timer = setTimeout(
    () =>
      end(3, {
        event: 'timeout',
        phase: accepted === 0 ? 'accept' : 'receive',
        accepted,
        bytes,
        lastByteAgoMs: lastByte ? Math.round(performance.now() - lastByte) : null,
      }),
    o.timeoutMs,
  );
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    accepted++;
    const hash = createHash('sha256');
    let got = 0;
    let first = 0;
    const peer = sock.remoteAddress;
    sock.on('data', (d) => {
      if (got === 0) first = performance.now();
      got += d.length;
      bytes = got;
      lastByte = performance.now();
      hash.update(d);
    });
    sock.on('error', (/** @type {NodeJS.ErrnoException} */ e) => {
      // an attempt the client gave up on may reach us half-open: only a transfer's failure counts
      if (got > 0) end(4, { event: 'error', phase: 'receive', error: e.code ?? e.message, bytes: got, peer });
    });
    sock.on('end', () => {
      if (got === 0) {
        sock.destroy();
        return;
      }
      clearTimeout(timer);
      const rec = {
        event: 'received',
        bytes: got,
        sha256: hash.digest('hex'),
        peer,
        peerPort: sock.remotePort,
        local: sock.localAddress,
        localPort: sock.localPort,
        transferMs: Math.round(performance.now() - first),
      };
      out({ ms: since(), ...rec });
      sock.end(`${JSON.stringify(rec)}\n`);
      sock.on('close', () => process.exit(0));
    });
  });
  srv.on('error', (/** @type {NodeJS.ErrnoException} */ e) =>
    end(4, { event: 'error', phase: 'listen', error: e.code ?? e.message }),
  );
  srv.listen({ host: o.bind ?? '0.0.0.0', port: o.port ?? 0 }, () =>
    out({ event: 'listening', port: /** @type {import('node:net').AddressInfo} */ (srv.address()).port, ms: since() }),
  );
}

async function client() {
  const deadline = t0 + o.timeoutMs;
  let lastError = null;
  let sent = 0;
  let phase = 'connect';
  let attempts = 0;
  const timer = setTimeout(
    () => end(3, { event: 'timeout', phase, sent, attempts, lastError, bytes: o.bytes }),
    Math.max(1, deadline - performance.now()),
  );
  let conn;
  try {
    conn = await connect(o.host, o.port, {
      source: o.source,
      deadline,
      wait: true,
      attemptMs: o.attemptMs,
      onFail: (err, n) => {
        lastError = err;
        attempts = n;
      },
    });
  } catch (e) {
    end(3, { event: 'timeout', phase, sent, attempts: e.attempts, lastError: e.code ?? e.message, bytes: o.bytes });
  }
  const { sock } = conn;
  attempts = conn.attempts;
  const connectMs = since();
  phase = 'send';
  const hash = createHash('sha256');
  const sendStart = performance.now();
  let reply = '';
  sock.setEncoding('utf8');
  sock.on('data', (d) => {
    reply += d;
  });
  sock.on('error', (e) => end(4, { event: 'error', phase, error: e.code ?? e.message, sent, bytes: o.bytes }));
  sock.on('end', () => {
    clearTimeout(timer);
    let server;
    try {
      server = JSON.parse(reply.trim());
    } catch {
      end(4, {
        event: 'error',
        phase: 'reply',
        error: `unreadable report from the server: ${reply.slice(0, 200)}`,
        sent,
      });
    }
    end(0, {
      event: 'sent',
      bytes: sent,
      sha256: hash.digest('hex'),
      local: sock.localAddress,
      localPort: sock.localPort,
      attempts,
      connectMs,
      transferMs: Math.round(performance.now() - sendStart),
      server,
    });
  });
  const CHUNK = 64 * 1024;
  const pump = () => {
    while (sent < o.bytes) {
      const buf = randomBytes(Math.min(CHUNK, o.bytes - sent));
      hash.update(buf);
      sent += buf.length;
      if (!sock.write(buf)) {
        sock.once('drain', pump);
        return;
      }
    }
    phase = 'reply';
    sock.end();
  };
  pump();
}

function listen() {
  const srv = net.createServer((sock) => {
    const rec = { peer: sock.remoteAddress, peerPort: sock.remotePort, local: sock.localAddress, port: sock.localPort };
    out({ event: 'connection', ms: since(), ...rec });
    sock.on('error', () => {});
    sock.end(`${JSON.stringify(rec)}\n`);
  });
  srv.on('error', (/** @type {NodeJS.ErrnoException} */ e) =>
    end(4, { event: 'error', phase: 'listen', error: e.code ?? e.message }),
  );
  srv.listen({ host: o.bind ?? '0.0.0.0', port: o.port }, () =>
    out({ event: 'listening', port: /** @type {import('node:net').AddressInfo} */ (srv.address()).port, ms: since() }),
  );
  // never outlive a test that forgot it (its namespace's deletion kills it anyway)
  setTimeout(() => end(0, { event: 'lifetime over' }), o.lifetimeMs ?? 600_000).unref();
  setInterval(() => {}, 1 << 30);
}

async function helloOne(target) {
  const start = performance.now();
  const ms = () => Math.round(performance.now() - start);
  let attempts = 0;
  let sock;
  try {
    const conn = await connect(target.host, target.port, {
      source: o.source,
      deadline: t0 + o.timeoutMs,
      wait: o.wait === true,
      attemptMs: o.attemptMs,
      onFail: (_err, n) => {
        attempts = n;
      },
    });
    sock = conn.sock;
    attempts = conn.attempts;
  } catch (e) {
    return { ...target, ok: false, error: e.code ?? e.message, attempts: e.attempts ?? attempts, ms: ms() };
  }
  const connectMs = ms();
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(
      () => {
        sock.destroy();
        resolve({ ...target, ok: false, error: 'connected, but the listener said nothing', attempts, ms: ms() });
      },
      Math.max(1, t0 + o.timeoutMs - performance.now()),
    );
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      text += d;
    });
    sock.on('error', (/** @type {NodeJS.ErrnoException} */ e) => {
      clearTimeout(timer);
      resolve({ ...target, ok: false, error: e.code ?? e.message, attempts, ms: ms() });
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const said = JSON.parse(text.trim());
        resolve({ ...target, ok: true, seenAs: said.peer, local: sock.localAddress, attempts, connectMs, ms: ms() });
      } catch {
        resolve({ ...target, ok: false, error: `unreadable answer: ${text.slice(0, 200)}`, attempts, ms: ms() });
      }
    });
  });
}

async function hello() {
  const results = await Promise.all(o.targets.map(helloOne));
  end(0, { event: 'hello', results });
}

const modes = { server, client, listen, hello };
if (!(mode in modes)) {
  out({ event: 'error', error: `usage: tcp-peer.mjs server|client|listen|hello JSON (got ${mode})` });
  process.exit(2);
}
modes[mode]();
