/**
 * systemd-networkd removes the routes and routing policy rules it did not configure itself
 * (networkd.conf(5) ManageForeignRoutes=, ManageForeignRoutingPolicyRules=, both "yes" by
 * default since v246) when it starts or reconfigures a link: island's routes go (it puts them
 * back, after a gap), and so do the ip rules of the cluster's CNI (cilium#18706,
 * amazon-vpc-cni-k8s#1600), which nobody puts back.
 */
import { at, NETWORKD_CONF, NETWORKD_DROPINS, parseBoolean, systemdSetting } from './files.js';
import type { DoctorFacts, Finding } from './types.js';

/** /proc/PID/comm of systemd-networkd: the name cut to 15 characters */
export const NETWORKD_COMM = 'systemd-network';
const DROPIN = '/etc/systemd/networkd.conf.d/island.conf';

export function networkdFindings(f: DoctorFacts): Finding[] {
  if (!f.processes.some((p) => p.comm === NETWORKD_COMM)) return [];
  const out: Finding[] = [];
  const routes = f.config ? f.config.routes.length : 0;
  for (const key of ['ManageForeignRoutes', 'ManageForeignRoutingPolicyRules'] as const) {
    const a = systemdSetting(f.files, NETWORKD_CONF, NETWORKD_DROPINS, 'Network', key);
    if (a && parseBoolean(a.value) === false) continue;
    // island keeps routes, never rules: the rules are the CNI's
    if (key === 'ManageForeignRoutes' && routes === 0) continue;
    const where = a ? `${at(a)}` : `${NETWORKD_CONF[0]} (${key} unset: yes by default)`;
    out.push({
      severity: 'warning',
      family: 'networkd',
      where,
      what: `systemd-networkd runs with ${key}=${a?.value ?? 'yes'}`,
      why:
        key === 'ManageForeignRoutes'
          ? `when it starts or reconfigures a link (networkctl reload, a DHCP renewal) it deletes every route it did not configure: island's ${routes} route(s) vanish until island puts them back`
          : "when it starts or reconfigures a link it deletes every ip rule it did not configure: island keeps none, but the cluster's CNI (Calico, Cilium) does, and they stay gone",
      fix: `${key}=no under [Network] in ${DROPIN}, then systemctl restart systemd-networkd`,
    });
  }
  return out;
}
