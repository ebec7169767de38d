/**
 * Where the daemon keeps its run-time files: the control socket the CLI talks to, and the names
 * it hands to island-hosts.service. /run/island is the unit's RuntimeDirectory=; tests (and a
 * second daemon on one machine) point ISLAND_RUNTIME_DIR elsewhere.
 */
import { join } from 'node:path';

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ISLAND_RUNTIME_DIR || '/run/island';
}

export function controlSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(runtimeDir(env), 'control.sock');
}

/** The names the sandboxed daemon cannot write into /etc itself (see units/island-hosts.service). */
export function hostsSpoolPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(runtimeDir(env), 'hosts');
}
