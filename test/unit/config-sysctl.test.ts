/** sysctls that converge: one /proc/sys path per name, values compared as the kernel prints them, refusals known in advance. */
import t from 'tap';
import { formatDiagnostic, parseConfig } from '../../src/config/load.js';
import { sameSysctl, sysctlName, sysctlValueProblem } from '../../src/config/sysctl.js';
import { desiredState } from '../../src/desired.js';
import type { LiveState } from '../../src/reconcile/live.js';
import { plan } from '../../src/reconcile/plan.js';
import { sysctlPath } from '../../src/reconcile/sysctl.js';

const parse = (text: string): string[] => {
  const r = parseConfig(text, 'f.toml');
  return r.ok ? [] : r.errors.map((d) => formatDiagnostic(d).slice('f.toml:'.length));
};

t.test('a name is one /proc/sys path, whichever spelling the file uses', async (t) => {
  const cases: [string, string][] = [
    ['net.ipv4.ip_forward', '/proc/sys/net/ipv4/ip_forward'],
    ['net.ipv4.conf.eth0.forwarding', '/proc/sys/net/ipv4/conf/eth0/forwarding'],
    // sysctl(8): "/" stands for the dot inside a component
    ['net.ipv4.conf.eth0/100.forwarding', '/proc/sys/net/ipv4/conf/eth0.100/forwarding'],
    // per-interface directories: the leaf has no dot, so the rest is the interface
    ['net.ipv4.conf.eth0.100.forwarding', '/proc/sys/net/ipv4/conf/eth0.100/forwarding'],
    ['net.ipv6.conf.br.lan.5.accept_ra', '/proc/sys/net/ipv6/conf/br.lan.5/accept_ra'],
    ['net.ipv4.neigh.eth0.100.gc_stale_time', '/proc/sys/net/ipv4/neigh/eth0.100/gc_stale_time'],
    ['net.ipv4.conf.all.rp_filter', '/proc/sys/net/ipv4/conf/all/rp_filter'],
    ['net.ipv4.tcp_rmem', '/proc/sys/net/ipv4/tcp_rmem'],
  ];
  for (const [key, path] of cases) t.equal(sysctlPath(key), path, key);
  t.equal(sysctlName('net.ipv4.conf.eth0/100.rp_filter').generic, 'net.ipv4.conf.<if>.rp_filter');
  t.equal(sysctlName('net.ipv4.conf.eth0/100.rp_filter').ifname, 'eth0.100');
});

t.test('values compare as the kernel prints them back: word by word', async (t) => {
  t.ok(sameSysctl('4096\t87380\t6291456', '4096 87380 6291456'));
  t.ok(sameSysctl('4096\t87380\t6291456', ' 4096  87380\t6291456 '));
  t.ok(sameSysctl('1', '1'));
  t.notOk(sameSysctl('4096\t87380\t6291457', '4096 87380 6291456'));
  t.notOk(sameSysctl('4096\t87380', '4096 87380 6291456'));
  t.notOk(sameSysctl(undefined, '1'));
});

t.test('plan: tcp_rmem read back with tabs is ok, not drifted', async (t) => {
  const cfg = parseConfig('[sysctl]\n"net.ipv4.tcp_rmem" = "4096 87380 6291456"\n', 'f.toml');
  if (!cfg.ok) return t.fail('config');
  const want = desiredState(cfg.config);
  const live = { links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.tcp_rmem': '4096\t87380\t6291456' } };
  const p = plan(want, live as unknown as LiveState);
  t.strictSame(p.actions, []);
  t.strictSame(p.status, [
    { id: { type: 'sysctl', key: 'net.ipv4.tcp_rmem' }, object: 'sysctl net.ipv4.tcp_rmem', state: 'ok' },
  ]);
  const drifted = plan(want, {
    ...live,
    sysctls: { 'net.ipv4.tcp_rmem': '4096\t131072\t6291456' },
  } as unknown as LiveState);
  t.match(drifted.status, [{ state: 'drifted', detail: '4096 131072 6291456 → 4096 87380 6291456' }]);
});

t.test('values the kernel refuses or rewrites are refused with the reason', async (t) => {
  const p = (key: string, value: string, all: Record<string, string> = {}) => sysctlValueProblem(key, value, all);
  t.equal(p('net.ipv4.ip_local_port_range', '32768 60999'), undefined);
  t.equal(p('net.ipv4.ip_local_port_range', '32768\t60999'), undefined);
  t.match(p('net.ipv4.ip_local_port_range', '60999 32768'), /reversed range/);
  t.match(p('net.ipv4.ip_local_port_range', '5000'), /expects 2 integers/);
  t.match(
    p('net.ipv4.ip_local_port_range', '1024 65536'),
    /value 2 of 2 \(65536\): the kernel refuses 65536: it takes 1 to 65535/,
  );
  t.match(
    p('net.ipv4.ip_local_port_range', '1000 2000'),
    /below net\.ipv4\.ip_unprivileged_port_start \(1024 unless lowered\)/,
  );
  t.equal(p('net.ipv4.ip_local_port_range', '1000 2000', { 'net.ipv4.ip_unprivileged_port_start': '1000' }), undefined);
  t.match(
    p('net.ipv4.ip_unprivileged_port_start', '40000'),
    /above the low end of net\.ipv4\.ip_local_port_range \(32768/,
  );
  t.equal(
    p('net.ipv4.ip_unprivileged_port_start', '40000', { 'net.ipv4.ip_local_port_range': '40000 50000' }),
    undefined,
  );
  t.match(
    p('net.ipv4.tcp_rmem', '0 87380 6291456'),
    /value 1 of 3 \(0\): the kernel refuses 0: it takes 1 to 2147483647/,
  );
  t.match(p('net.ipv4.tcp_rmem', '1 2 2147483648'), /value 3 of 3/);
  t.match(p('net.ipv4.icmp_echo_ignore_broadcasts', '2'), /takes 0 to 1/);
  t.equal(p('net.ipv4.conf.eth0/100.forwarding', '1'), undefined);
  t.match(p('net.ipv4.conf.eth0.100.forwarding', 'yes'), /expects one integer, got "yes"/);
  t.match(p('net.ipv4.conf.all.forwarding', '2147483648'), /takes -2147483648 to 2147483647/);
  // any key: integers as the kernel shows them back
  t.match(p('net.core.unknown', '0x10'), /reads "0x10" as hexadecimal and shows it back as 16; write 16/);
  t.match(p('net.core.unknown', '010'), /as octal and shows it back as 8; write 8/);
  t.match(p('net.core.unknown', '-0'), /reads "-0" and shows it back as 0/);
  t.equal(p('net.core.unknown', 'some words 0 12'), undefined);
  t.equal(p('net.ipv4.tcp_congestion_control', 'bbr'), undefined);
});

t.test('check: two spellings of one sysctl, and the values, each at its line', async (t) => {
  t.strictSame(parse('[sysctl]\n"net.ipv4.conf.eth0.100.forwarding" = 1\n"net.ipv4.conf.eth0/100.forwarding" = 1\n'), [
    '3:1: sysctl."net.ipv4.conf.eth0/100.forwarding": same sysctl as "net.ipv4.conf.eth0.100.forwarding" (line 2): both are /proc/sys/net/ipv4/conf/eth0.100/forwarding',
  ]);
  t.strictSame(parse('[sysctl]\n"net.ipv4.ip_local_port_range" = "60999 32768"\n'), [
    '2:34: sysctl."net.ipv4.ip_local_port_range": low port 60999 is above high port 32768; the kernel refuses a reversed range',
  ]);
  // copied from `sysctl -n`: tabs are fine
  t.strictSame(parse('[sysctl]\n"net.ipv4.tcp_rmem" = "4096\\t87380\\t6291456"\n'), []);
  t.strictSame(parse('[sysctl]\n"net.ipv4.tcp_rmem" = "4096\\n87380"\n'), [
    '2:23: sysctl."net.ipv4.tcp_rmem": must not contain control characters or newlines',
  ]);
});
