import { closeSync, openSync, readSync } from 'node:fs';

/**
 * n bytes from the kernel's random source: node:crypto's randomBytes without loading node:crypto,
 * which costs the daemon ~0.7 MiB of RSS for link tokens and temporary file names.
 */
export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let got = 0; got < n; ) got += readSync(fd, out, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return out;
}
