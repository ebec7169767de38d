/** `island plan`: what apply would change, then what it cannot reach. */
import { describeSelf } from '../config/island.js';
import { daemonPathMtus } from '../control/client.js';
import { desiredState } from '../desired.js';
import { hostsLine } from '../hosts/command.js';
import { describeAction, describeLink } from '../reconcile/describe.js';
import { withPathMtus } from '../reconcile/mtu.js';
import { planOnly } from '../reconcile/reconcile.js';
import type { Args } from './args.js';
import { mustLoad } from './load.js';
import { EXIT_UNREACHED, notReached, unreached, withNetlink } from './output.js';

export async function run({ path, values }: Args): Promise<number> {
  const cfg = await mustLoad(path);
  const self = cfg.island?.self;
  if (self) process.stdout.write(`# ${describeSelf(self)}\n`);
  const want = withPathMtus(desiredState(cfg), await daemonPathMtus(path));
  const p = await withNetlink((rtnl, ethtool) => planOnly(rtnl, ethtool, want));
  for (const a of p.actions) process.stdout.write(`${describeAction(a)}\n`);
  const hosts = await hostsLine(cfg.hosts ?? [], false);
  if (hosts) process.stdout.write(`${hosts}\n`);
  const stuck = unreached(p.status);
  const creates = new Set(p.actions.flatMap((a) => (a.op === 'create-link' ? [a.link.name] : [])));
  for (const s of stuck) {
    process.stdout.write(`! ${s.object}: ${s.state}: ${s.detail}\n`);
    // a link that cannot be made here is still shown as the file makes it: `plan --host faraday`
    // on another machine shows faraday's tunnel, which waits for faraday's own address
    const name = s.id.type === 'link' && !creates.has(s.id.name) ? s.id.name : undefined;
    const l = name === undefined ? undefined : want.links.find((x) => x.name === name);
    if (l) {
      const bound = l.bindLocal ? `, bound to the device of ${String(l.spec.local)}` : '';
      process.stdout.write(`  would be: ${describeLink(l)}${bound}\n`);
    }
  }
  const pending = p.actions.length > 0 || Boolean(hosts);
  // "no changes" is read as "the host matches the file": only say it when it does
  if (stuck.length) process.stdout.write(`${notReached(stuck)}\n`);
  else if (!pending) process.stdout.write('no changes\n');
  if (!values['exit-code']) return 0;
  return stuck.length ? EXIT_UNREACHED : pending ? 2 : 0;
}
