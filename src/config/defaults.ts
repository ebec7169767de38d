/**
 * Every default island applies when the file or the command line leaves a value out, in one
 * place: the code, the zod schema (and so the JSON schema generated from it) and the help
 * text read these, and test/unit/defaults.test.ts checks that island.toml(5) states them.
 * A default that belongs to one link kind (VXLAN's port, ...) lives in that kind's own file
 * under src/kinds/, with everything else about the kind.
 *
 * No imports: the CLI reads this before it loads anything heavy.
 */

// ---- [daemon] ---------------------------------------------------------------------------

/** `resync`: the full pass that runs even without events, the safety net for a lost one */
export const RESYNC_MS = 30_000;
/** `debounce`: how long an event that comes right after a pass waits, so a burst (a pass's own echoes) becomes one pass */
export const DEBOUNCE_MS = 10;
/** `health_port`: UDP port of the peer probes, on the tunnels' inner addresses */
export const HEALTH_PORT = 5534;
/** `health_interval`: how often a tunnel with `peer` but no `keepalive` is probed */
export const HEALTH_INTERVAL_MS = 10_000;

// ---- [forward] --------------------------------------------------------------------------

/** `poll`: legacy iptables raises no event; this is how long a flush can go unnoticed */
export const FIREWALL_POLL_MS = 1000;
/**
 * A firewall family island writes nothing to, once found clean, is read again at most this
 * often (firewall/observe.ts): as often as the default resync.
 */
export const FIREWALL_RECHECK_MS = RESYNC_MS;

// ---- one-file island ([[host]]) ---------------------------------------------------------

/** `keepalive` of a tunnel whose end is behind a NAT (`public`): below every NAT's UDP timeout */
export const NAT_KEEPALIVE_MS = 25_000;

// ---- the command line -------------------------------------------------------------------

/** -c, --config */
export const CONFIG_PATH = '/etc/island.toml';
/** `island try --timeout`: how long an unconfirmed try stands before it is rolled back */
export const TRY_TIMEOUT_MS = 120_000;
/** `island test --timeout`: per probe */
export const TEST_TIMEOUT_MS = 2000;
/** the daemon re-reads a changed file after this quiet spell (editors write in bursts) */
export const RELOAD_SETTLE_MS = 250;

/** A duration as the file writes it: "30s", "10ms", "5m". */
export function msText(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}
