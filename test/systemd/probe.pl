#!/usr/bin/perl
# What a process may do, one line per check: "PROBE <name> ok" or "PROBE <name> denied: <errno>".
# Run once inside island.service's sandbox (as an ExecStartPre= of a test drop-in) and once as
# plain root in the same container: a sandbox setting is proven by the difference.
# Perl because it is in every Debian root (perl-base is Essential) and reaches raw syscalls.
use strict;
use warnings;
use Socket;
use POSIX qw(:errno_h);
$| = 1;

sub report { my ($name, $ok) = @_; print "PROBE $name ", ($ok ? "ok" : "denied: " . ($! + 0) . " $!"), "\n"; }
sub status_field { my ($f) = @_; open(my $s, '<', '/proc/self/status') or return ''; while (<$s>) { return $1 if /^\Q$f\E:\s*(\S+)/ } return ''; }

print "PROBE capbnd ", status_field('CapBnd'), "\n";
print "PROBE capeff ", status_field('CapEff'), "\n";
print "PROBE nonewprivs ", status_field('NoNewPrivs'), "\n";
print "PROBE seccomp ", status_field('Seccomp'), "\n";

# filesystem
for my $p ('/usr/lib/island-probe', '/etc/island-probe', '/var/lib/island-probe', '/run/island-probe') {
  (my $name = $p) =~ s{/island-probe$}{};
  my $ok = open(my $f, '>', $p);
  report("write:$name", $ok);
  if ($ok) { close $f; unlink $p; }
}
for my $p ('/proc/sys/net/ipv4/ip_forward', '/proc/sys/kernel/domainname') {
  open(my $r, '<', $p) or do { report("sysctl:$p", 0); next };
  my $v = <$r>; close $r;
  my $w;
  my $ok = open($w, '>', $p) && print {$w} $v;
  $ok = close($w) && $ok if $ok;
  report("sysctl:$p", $ok);
}
report('read:/root/island-probe-secret', open(my $sec, '<', '/root/island-probe-secret'));
report('see:/tmp/island-probe-marker', -e '/tmp/island-probe-marker');
report('see:/dev/console', -e '/dev/console');
{
  umask(umask()); # keep what the unit set
  my $p = '/run/island-probe-umask';
  if (open(my $f, '>', $p)) { close $f; printf "PROBE umask-file-mode %04o\n", (stat $p)[2] & 07777; report('chmod-suid', chmod(04755, $p)); unlink $p; }
  else { report('create-in-run', 0); }
}

# sockets
for my $fam (['unix', AF_UNIX, SOCK_DGRAM, 0], ['netlink', 16, SOCK_RAW, 0], ['inet', AF_INET, SOCK_DGRAM, 0],
             ['inet6', AF_INET6, SOCK_DGRAM, 0], ['packet', 17, SOCK_RAW, 0]) {
  my ($name, $af, $type, $proto) = @$fam;
  my $ok = socket(my $s, $af, $type, $proto);
  report("socket:$name", $ok);
  close $s if $ok;
}

# syscalls (x86_64 numbers)
my %NR = (ptrace => 101, setpriority => 141, personality => 135, unshare => 272, sched_setscheduler => 144);
{
  my $pid = fork();
  if ($pid == 0) { my $r = syscall($NR{ptrace}, 0, 0, 0, 0); exit($r == 0 ? 0 : ($! + 0) || 1); }
  waitpid($pid, 0); my $e = $? >> 8; $! = $e; report('syscall:ptrace-traceme', $e == 0);
}
report('syscall:setpriority', syscall($NR{setpriority}, 0, 0, 5) == 0);
report('syscall:personality-linux32', syscall($NR{personality}, 0x0008) != -1 && (syscall($NR{personality}, 0) >= 0));
{
  my $pid = fork();
  if ($pid == 0) { my $r = syscall($NR{unshare}, 0x10000000); exit($r == 0 ? 0 : ($! + 0) || 1); }
  waitpid($pid, 0); my $e = $? >> 8; $! = $e; report('syscall:unshare-user', $e == 0);
}
{
  my $param = pack('i', 1);
  my $pid = fork();
  if ($pid == 0) { my $r = syscall($NR{sched_setscheduler}, 0, 2, $param); exit($r == 0 ? 0 : ($! + 0) || 1); }
  waitpid($pid, 0); my $e = $? >> 8; $! = $e; report('syscall:sched-rr', $e == 0);
}

# what island's firewall runs: one restore batch per backend, lock file included
for my $tool ('iptables-nft-restore', 'iptables-legacy-restore') {
  my $batch = "*filter\n:ISLAND-PROBE - [0:0]\n-A ISLAND-PROBE -j RETURN\nCOMMIT\n";
  my $p;
  my $ok = open($p, '|-', "/usr/sbin/$tool -w 5 --noflush 2>&1") && print {$p} $batch;
  $ok = close($p) && $ok if $p;
  report("firewall:$tool", $ok);
  my $undo = "*filter\n-F ISLAND-PROBE\n-X ISLAND-PROBE\nCOMMIT\n";
  if (open(my $q, '|-', "/usr/sbin/$tool -w 5 --noflush >/dev/null 2>&1")) { print {$q} $undo; close $q; }
}
print "PROBE done\n";
