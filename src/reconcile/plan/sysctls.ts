/** sysctls: the declared values against what the kernel reads back. */
import { sameSysctl, sysctlTokens } from '../../config/sysctl.js';
import type { DesiredState } from '../../desired.js';
import type { LiveState } from '../live.js';
import { named, type ObjectStatus, sysctlId } from '../object.js';
import type { Action } from '../plan.js';

export function planSysctls(want: DesiredState, live: LiveState): { status: ObjectStatus[]; actions: Action[] } {
  const status: ObjectStatus[] = [];
  const actions: Action[] = [];
  for (const [key, value] of Object.entries(want.sysctls)) {
    const have = live.sysctls[key];
    // compared as the kernel prints it back ("4096\t87380\t6291456" is "4096 87380 6291456")
    if (sameSysctl(have, value)) status.push({ ...named(sysctlId(key)), state: 'ok' });
    else {
      status.push({
        ...named(sysctlId(key)),
        state: have === undefined ? 'missing' : 'drifted',
        detail: `${have === undefined ? 'absent' : sysctlTokens(have).join(' ')} → ${value}`,
      });
      actions.push({
        op: 'set-sysctl',
        key,
        value,
        from: have === undefined ? undefined : sysctlTokens(have).join(' '),
      });
    }
  }
  return { status, actions };
}
