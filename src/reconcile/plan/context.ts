/** What every per-object planner reads: the desired and live state, and the live links looked up. */
import type { DesiredState } from '../../desired.js';
import type { LiveLink, LiveState } from '../live.js';

export interface PlanContext {
  want: DesiredState;
  live: LiveState;
  liveByName: Map<string, LiveLink>;
  liveByIndex: Map<number, LiveLink>;
  /** the names of the declared links */
  wanted: Set<string>;
}

export function planContext(want: DesiredState, live: LiveState): PlanContext {
  return {
    want,
    live,
    liveByName: new Map(live.links.map((l) => [l.name, l])),
    liveByIndex: new Map(live.links.map((l) => [l.ifindex, l])),
    wanted: new Set(want.links.map((l) => l.name)),
  };
}

/** What the link planner decided that addresses and routes depend on. */
export interface LinkOutcome {
  /** links whose addresses and routes must all be (re)added: they are new */
  fresh: Set<string>;
  /** links that cannot be made now, and why; their addresses and routes wait too */
  blocked: Map<string, string>;
}
