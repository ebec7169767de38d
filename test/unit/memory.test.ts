/**
 * What the idle daemon gives back once it is ready (memory.ts): the file pages its start touched,
 * unmapped by the patched netlink addon's dropFilePages. RssFile falls, and the process runs on,
 * code it had not run since faulted back in from the page cache.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { dropFilePages } from '../../src/netlink/addon.js';
import { statusKb } from '../helpers/proc.mjs';

/** RssAnon and RssFile of this process, kB */
function rss(): { anon: number; file: number } {
  const kb = statusKb('self', ['RssAnon', 'RssFile']);
  return { anon: kb.RssAnon, file: kb.RssFile };
}

t.test("node's file pages leave the page tables, and the process goes on", (t) => {
  const before = rss();
  const kb = dropFilePages();
  const after = rss();
  t.ok(kb > 4096, `the advised mappings had ${kb} kB resident (0: the addon is not island-patched)`);
  t.ok(after.file < before.file - 4096, `RssFile ${before.file} -> ${after.file} kB`);
  // node's zlib, whose code this process had not run: read again from the binary's pages
  const text = 'island '.repeat(10_000);
  t.equal(gunzipSync(gzipSync(text)).toString(), text);
  t.ok(rss().file > after.file, 'the pages used again are mapped again');
  t.end();
});
