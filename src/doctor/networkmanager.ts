/**
 * NetworkManager managing a link island owns, or a tunnel's underlay. NetworkManager records,
 * per device, whether it manages it: /run/NetworkManager/devices/IFINDEX, a keyfile whose
 * [device] managed= is true or false (nm-config.c, nm_config_device_state_write()); it writes
 * one for the devices it knows while it runs. A managed device is NetworkManager's to configure:
 * an activation or a DHCP renewal sets its addresses and routes to the connection's, flushing
 * what others put there (island's routes through the underlay, a tunnel's addresses), and a
 * deactivation takes it down. Marked unmanaged (unmanaged-devices, or
 * `nmcli device set DEV managed no`), NetworkManager leaves it alone.
 */
import { assignments, at, NM_DEVICES, parseBoolean } from './files.js';
import type { DoctorFacts, Finding } from './types.js';

const CONF = '/etc/NetworkManager/conf.d/island.conf';
export const NM_COMM = 'NetworkManager';

export function networkManagerFindings(f: DoctorFacts): Finding[] {
  if (!f.processes.some((p) => p.comm === NM_COMM)) return [];
  const cfg = f.config;
  if (!cfg) return [];
  // the links island keeps, and the underlay each tunnel is bound to
  const roles = new Map<string, { role: string; tunnel?: string }>();
  for (const l of [...cfg.tunnels, ...cfg.bridges, ...cfg.links])
    roles.set(l.name, { role: `a link island keeps (${l.name})` });
  for (const t of cfg.tunnels) {
    const a = f.addresses.find((x) => x.address === t.local);
    const underlay = t.dev ?? (a && f.links.find((l) => l.ifindex === a.ifindex)?.name);
    if (underlay && !roles.has(underlay)) roles.set(underlay, { role: `${t.name}'s underlay`, tunnel: t.name });
  }
  const out: Finding[] = [];
  for (const [name, { role, tunnel }] of roles) {
    const link = f.links.find((l) => l.name === name);
    if (!link) continue;
    const path = `${NM_DEVICES}/${link.ifindex}`;
    const managed = assignments(path, f.files.get(path) ?? '').find(
      (a) => a.section === 'device' && a.key === 'managed',
    );
    if (!managed || parseBoolean(managed.value) !== true) continue;
    const owned = tunnel === undefined;
    out.push({
      severity: 'warning',
      family: 'NetworkManager',
      where: `${at(managed)} (${name})`,
      what: `NetworkManager manages ${role}`,
      why: owned
        ? `its activations set ${name}'s addresses and routes to its connection's and a deactivation takes it down: island puts them back, and they fight`
        : `a reconnect or DHCP renewal flushes ${name}'s addresses and routes, island's routes through it included (island puts them back after a gap), and may move the address ${tunnel} is bound to off ${name}`,
      fix: `unmanaged-devices=interface-name:${name} under [keyfile] in ${CONF} (now: nmcli device set ${name} managed no)${
        owned ? '' : ', or give its connection a static address'
      }`,
    });
  }
  return out;
}
