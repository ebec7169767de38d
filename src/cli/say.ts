/** Writing a one-shot command's text. */
import { writeSync } from 'node:fs';

/**
 * text on stdout (1) or stderr (2), written at once: process.stdout on a pipe or a socket (a
 * script's, the journal's, the bench's) is a net.Socket, whose modules (net, streams) were ~4 ms
 * of a one-shot command's start. Linux writes those synchronously as well, so the order is kept.
 * Whatever the descriptor refuses (EAGAIN on a full non-blocking one, EPIPE) goes to node's
 * stream instead, which says it as before.
 */
export function say(fd: 1 | 2, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  try {
    while (off < b.length) off += writeSync(fd, b, off);
  } catch {
    (fd === 1 ? process.stdout : process.stderr).write(b.subarray(off));
  }
}
