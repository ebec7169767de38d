/** island test without a network: the targets, ping's output, the path's words, the table, JSON, exit codes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Cidr, IslandModel } from '../../src/config/types.js';
import { CommandError } from '../../src/control/errors.js';
import { NetlinkError, RTN_LOCAL } from '../../src/netlink/rtnl.js';
import { testCommand } from '../../src/reach/command.js';
import { bounded, describeRoute, describeRouteError, parsePing } from '../../src/reach/probe.js';
import { formatJson, formatTable, type Report } from '../../src/reach/table.js';
import { exitCode, result, summarize, type Target, targets } from '../../src/reach/targets.js';

const c = (s: string): Cidr => {
  const [address, len] = s.split('/') as [string, string];
  return { address, prefixlen: Number(len), family: 4 };
};

/** etc/examples/lab.toml's island, seen from faraday */
const LAB: IslandModel = {
  sites: [
    { name: 'sopnode', subnet: c('198.51.100.0/24'), gateway: 'sopnode-l1' },
    { name: 'r2lab', subnet: c('192.168.3.0/24'), gateway: 'faraday' },
  ],
  hosts: [
    { name: 'sopnode-l1', address: '198.51.100.50', site: 'sopnode', tcp: [6443] },
    { name: 'sopnode-w2', address: '198.51.100.52', site: 'sopnode', tcp: [10250, 22] },
    { name: 'faraday', address: '192.168.3.100', site: 'r2lab', public: '203.0.113.2', tcp: [] },
  ],
  tunnels: [
    {
      name: 'vx0',
      kind: 'vxlan',
      ends: [
        { site: 'sopnode', inner: c('10.3.1.2/24') },
        { site: 'r2lab', inner: c('10.3.1.3/24') },
      ],
    },
  ],
  pods: [c('10.244.0.0/16')],
  services: [c('10.96.0.0/12')],
  self: { host: 'faraday', site: 'r2lab', role: 'gateway', how: 'address 192.168.3.100' },
};

t.test('targets: every [[host]] but this one, in file order, gateways marked, with their ports', async (t) => {
  t.strictSame(targets(LAB), [
    { name: 'sopnode-l1', address: '198.51.100.50', site: 'sopnode', gateway: true, tcp: [6443] },
    { name: 'sopnode-w2', address: '198.51.100.52', site: 'sopnode', gateway: false, tcp: [10250, 22] },
  ]);
  // a fit node: a member with no [[host]] of its own tests every named host, its gateway too
  const member = targets({ ...LAB, self: { site: 'r2lab', role: 'member', how: 'address 192.168.3.7' } });
  t.strictSame(
    member.map((x) => [x.name, x.gateway]),
    [
      ['sopnode-l1', true],
      ['sopnode-w2', false],
      ['faraday', true],
    ],
  );
  const w2 = targets({ ...LAB, self: { host: 'sopnode-w2', site: 'sopnode', role: 'member', how: '--host' } });
  t.strictSame(
    w2.map((x) => x.name),
    ['sopnode-l1', 'faraday'],
  );
  t.strictSame(targets({ ...LAB, hosts: LAB.hosts.slice(2) }), [], 'an island of one host: nothing to test');
});

const run = (stdout: string, code = 0, stderr = '') => parsePing({ stdout, stderr, code });

t.test('ping: the rtt of a reply, in both iputils formats', async (t) => {
  // iputils 20221126 (Debian 12, 13)
  const now = `PING 10.3.1.2 (10.3.1.2) 56(84) bytes of data.
64 bytes from 10.3.1.2: icmp_seq=1 ttl=64 time=0.592 ms

--- 10.3.1.2 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 0.592/0.592/0.592/0.000 ms
`;
  t.strictSame(run(now), { state: 'ok', rttMs: 0.592 });
  // iputils before s20121221 (icmp_req), a slow link (no decimals)
  const old = `PING 198.51.100.50 (198.51.100.50) 56(84) bytes of data.
64 bytes from 198.51.100.50: icmp_req=1 ttl=62 time=118 ms

--- 198.51.100.50 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 118.236/118.236/118.236/0.000 ms
`;
  t.strictSame(run(old), { state: 'ok', rttMs: 118 });
  t.strictSame(
    run('PING ::1(::1) 56 data bytes\n64 bytes from ::1: icmp_seq=1 ttl=64 time=0.043 ms\n'),
    { state: 'ok', rttMs: 0.043 },
    'IPv6',
  );
  // no reply line kept (a filtered stdout): the statistics say it
  t.strictSame(run('rtt min/avg/max/mdev = 1.5/1.5/1.5/0.0 ms\n'), { state: 'ok', rttMs: 1.5 });
  t.strictSame(run('round-trip min/avg/max = 0.1/0.2/0.3 ms\n'), { state: 'ok', rttMs: 0.2 }, 'busybox summary');
});

t.test('ping: what failed, in a word', async (t) => {
  t.strictSame(
    run(
      `PING 10.9.0.5 (10.9.0.5) 56(84) bytes of data.

--- 10.9.0.5 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms

`,
      1,
    ),
    { state: 'timeout' },
  );
  t.strictSame(
    run(
      `PING 10.9.0.5 (10.9.0.5) 56(84) bytes of data.
From 10.9.0.1 icmp_seq=1 Destination Host Unreachable

--- 10.9.0.5 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
`,
      1,
    ),
    { state: 'unreachable', detail: 'Destination Host Unreachable from 10.9.0.1' },
  );
  t.strictSame(
    run(
      'PING fd00::5(fd00::5) 56 data bytes\nFrom fd00::1 icmp_seq=1 Destination unreachable: Address unreachable\n',
      1,
    ),
    { state: 'unreachable', detail: 'Destination unreachable: Address unreachable from fd00::1' },
  );
  t.strictSame(run('', 2, 'ping: connect: Network is unreachable\n'), { state: 'unreachable', detail: 'no route' });
  t.strictSame(run('', 2, 'ping: connect: No route to host\n'), {
    state: 'unreachable',
    detail: 'no route to host',
  });
  t.strictSame(run('', 2, 'ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\n'), {
    state: 'unreachable',
    detail: 'prohibited here (route or firewall)',
  });
  t.strictSame(run('', 2, 'ping: socket: Operation not permitted\n'), {
    state: 'error',
    detail: 'socket: Operation not permitted',
  });
  t.strictSame(run('', 2), { state: 'error', detail: 'ping exited 2' });
});

t.test('path: the kernel route in ip route get words', async (t) => {
  const names = (i: number) => ({ 1: 'lo', 4: 'eth0', 9: 'vx0' })[i];
  t.strictSame(describeRoute({ family: 4, type: 1, gateway: '10.3.1.2', oif: 9, prefsrc: '10.3.1.3' }, names), {
    kind: 'route',
    text: 'via 10.3.1.2 dev vx0',
    dev: 'vx0',
    via: '10.3.1.2',
    src: '10.3.1.3',
  });
  t.strictSame(describeRoute({ family: 4, type: 1, oif: 4 }, names), { kind: 'route', text: 'dev eth0', dev: 'eth0' });
  t.equal(describeRoute({ family: 4, type: 1, oif: 77 }, names).text, 'dev if77', 'a link gone since the dump');
  t.strictSame(describeRoute({ family: 4, type: RTN_LOCAL, oif: 1 }, names), { kind: 'local', text: 'local' });
  t.strictSame(describeRouteError(new NetlinkError('route to 10.8.0.1', 'ENETUNREACH')), {
    kind: 'none',
    text: 'no route',
  });
  t.equal(describeRouteError(new NetlinkError('x', 'EHOSTUNREACH')).text, 'unreachable route');
  t.equal(describeRouteError(new NetlinkError('x', 'EACCES')).text, 'prohibit route');
  t.equal(describeRouteError(new NetlinkError('x', 'EINVAL')).text, 'blackhole route');
  t.equal(describeRouteError(new NetlinkError('x', 'ENOBUFS')).text, 'no route (ENOBUFS)');
});

const [L1, W2, FARADAY] = targets({ ...LAB, self: { site: 'r2lab', role: 'member', how: 'address 192.168.3.7' } }) as [
  Target,
  Target,
  Target,
];
const viaGw = { kind: 'route', text: 'via 192.168.3.100 dev eth0', dev: 'eth0', via: '192.168.3.100' } as const;

function report(rows: ReturnType<typeof result>[]): Report {
  return {
    config: '/etc/island.toml',
    self: { site: 'r2lab', role: 'member', how: 'address 192.168.3.7' },
    timeoutMs: 2000,
    targets: rows,
    summary: summarize(rows, 2013),
  };
}

const allOk = [
  result(L1, viaGw, { state: 'ok', rttMs: 0.4213 }, [{ port: 6443, state: 'open', connectMs: 1.1 }]),
  result(W2, viaGw, { state: 'ok', rttMs: 12.6 }, [
    { port: 10250, state: 'open', connectMs: 14.2 },
    { port: 22, state: 'open', connectMs: 13 },
  ]),
  result(FARADAY, { kind: 'route', text: 'dev eth0', dev: 'eth0' }, { state: 'ok', rttMs: 0.1 }, []),
];
const someFail = [
  result(L1, viaGw, { state: 'ok', rttMs: 0.4213 }, [{ port: 6443, state: 'open', connectMs: 1.1 }]),
  result(W2, viaGw, { state: 'timeout' }, [
    { port: 10250, state: 'refused' },
    { port: 22, state: 'timeout' },
  ]),
  result(FARADAY, { kind: 'local', text: 'local' }, undefined, []),
];

t.test('result, summary and exit code: one check that did not pass fails its host and the command', async (t) => {
  t.strictSame(
    allOk.map((r) => r.status),
    ['ok', 'ok', 'ok'],
  );
  t.strictSame(summarize(allOk, 5), { targets: 3, passed: 3, failed: 0, skipped: 0, ok: true, elapsedMs: 5 });
  t.equal(exitCode(summarize(allOk, 5)), 0);
  t.strictSame(
    someFail.map((r) => r.status),
    ['ok', 'failed', 'skipped'],
  );
  t.equal(exitCode(summarize(someFail, 5)), 1);
  const refusedOnly = result(L1, viaGw, { state: 'ok', rttMs: 1 }, [{ port: 6443, state: 'refused' }]);
  t.equal(refusedOnly.status, 'failed', 'ICMP answers but the port is closed');
  const noPing = result(L1, viaGw, { state: 'timeout' }, [{ port: 6443, state: 'open', connectMs: 1 }]);
  t.equal(noPing.status, 'failed', 'the port answers but ICMP does not (a firewall drops it): said so');
  const late = result(L1, viaGw, { state: 'not run', detail: 'over the 60 s budget' }, []);
  t.equal(late.status, 'failed', 'a check not run is not a pass');
  t.equal(exitCode(summarize([], 1)), 0, 'nothing to test passes');
  t.notOk('icmp' in (someFail[2] ?? {}), 'a local target has no checks');
});

t.test('the table: one row per target, columns aligned, a summary line', async (t) => {
  t.equal(
    formatTable(report(allOk)),
    `HOST        ADDRESS        ICMP     TCP                              PATH
sopnode-l1  198.51.100.50  0.42 ms  6443 open 1.10 ms                via 192.168.3.100 dev eth0
sopnode-w2  198.51.100.52  13 ms    10250 open 14 ms, 22 open 13 ms  via 192.168.3.100 dev eth0
faraday     192.168.3.100  0.10 ms  -                                dev eth0
from a member of site r2lab (address 192.168.3.7): 3 hosts, 3 ok
`,
  );
  t.equal(
    formatTable(report(someFail)),
    `HOST        ADDRESS        ICMP     TCP                        PATH
sopnode-l1  198.51.100.50  0.42 ms  6443 open 1.10 ms          via 192.168.3.100 dev eth0
sopnode-w2  198.51.100.52  timeout  10250 refused, 22 timeout  via 192.168.3.100 dev eth0
faraday     192.168.3.100  skipped  -                          local
from a member of site r2lab (address 192.168.3.7): 3 hosts, 1 ok, 1 failed (sopnode-w2), 1 skipped (an address of this host)
`,
  );
  const odd = [
    result(L1, { kind: 'none', text: 'no route' }, { state: 'unreachable', detail: 'no route' }, [
      { port: 6443, state: 'unreachable', detail: 'no route' },
    ]),
    result(W2, viaGw, { state: 'error', detail: 'ping not found (install the iputils-ping package)' }, [
      { port: 10250, state: 'not run', detail: 'over the 60 s budget' },
      { port: 22, state: 'error', detail: 'EMFILE' },
    ]),
  ];
  t.equal(
    formatTable(report(odd)),
    `HOST        ADDRESS        ICMP                                                       TCP                               PATH
sopnode-l1  198.51.100.50  unreachable (no route)                                     6443 unreachable (no route)       no route
sopnode-w2  198.51.100.52  error (ping not found (install the iputils-ping package))  10250 not run, 22 error (EMFILE)  via 192.168.3.100 dev eth0
from a member of site r2lab (address 192.168.3.7): 2 hosts, 0 ok, 2 failed (sopnode-l1, sopnode-w2)
`,
  );
  const alone = report([]);
  alone.self = { host: 'faraday', site: 'r2lab', role: 'gateway', how: '--host' };
  t.equal(
    formatTable(alone),
    'from faraday: gateway of site r2lab (--host): no other [[host]] in /etc/island.toml to test\n',
    'no header without a row',
  );
});

t.test('--json: the same as one object, targets[] and a summary', async (t) => {
  const j = JSON.parse(formatJson(report(someFail)));
  t.strictSame(Object.keys(j), ['config', 'self', 'timeoutMs', 'targets', 'summary']);
  t.strictSame(j.summary, { targets: 3, passed: 1, failed: 1, skipped: 1, ok: false, elapsedMs: 2013 });
  t.strictSame(j.targets[1], {
    name: 'sopnode-w2',
    address: '198.51.100.52',
    site: 'sopnode',
    gateway: false,
    status: 'failed',
    path: viaGw,
    icmp: { state: 'timeout' },
    tcp: [
      { port: 10250, state: 'refused' },
      { port: 22, state: 'timeout' },
    ],
  });
  t.strictSame(j.targets[0].icmp, { state: 'ok', rttMs: 0.4213 }, 'numbers unrounded');
  t.strictSame(j.targets[2], {
    name: 'faraday',
    address: '192.168.3.100',
    site: 'r2lab',
    gateway: true,
    status: 'skipped',
    path: { kind: 'local', text: 'local' },
    tcp: [],
  });
});

t.test('bounded: at most N probes at once, in order; none started after the deadline', async (t) => {
  let inFlight = 0;
  let most = 0;
  const started: number[] = [];
  const jobs = Array.from({ length: 10 }, (_, i) => ({
    run: async () => {
      started.push(i);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return i;
    },
    late: () => -i,
  }));
  t.strictSame(await bounded(jobs, 3, Date.now() + 60_000), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(most, 3);
  t.strictSame(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.strictSame(await bounded(jobs.slice(0, 3), 3, Date.now() - 1), [-0, -1, -2], 'past the deadline: late()');
  t.strictSame(await bounded([], 3, Date.now()), []);
});

t.test('island test on a file that is not a one-file island, or invalid: one line, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-reach-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'plain.toml');
  writeFileSync(plain, '[[bridge]]\nname = "cni0"\naddresses = ["10.128.0.1/24"]\n');
  const never = () => Promise.reject(new Error('must not probe'));
  await t.rejects(
    testCommand(plain, {}, never),
    new CommandError(`${plain}: not a one-file island (no [[site]]): island test checks the [[host]]s of one`),
  );
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, '[[bridge]]\nname = 5\n');
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => errors.push(s) > 0) as typeof process.stderr.write;
  try {
    await t.rejects(testCommand(bad, {}, never), new CommandError(`${bad}: invalid (1 error(s)), nothing tested`));
  } finally {
    process.stderr.write = write;
  }
  t.match(errors.join(''), `${bad}:2:8: bridge[0].name:`, 'the error with its line');
  await t.rejects(testCommand(plain, { timeout: '1h' }, never), new CommandError('--timeout: must be at most 10s'));
  await t.rejects(
    testCommand(plain, { timeout: '10ms' }, never),
    new CommandError('--timeout: must be at least 100ms'),
  );
});
