/** Parsers for the listener options several commands share (`--listen`, `--metrics-listen`, timeouts). */
import { ConfigError } from '../config/hsm.js';

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(option: string, value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`${option} must be HOST:PORT (e.g. 127.0.0.1:8443), got "${value}".`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** A duration option given in seconds (fractions allowed), as whole milliseconds. */
export function parseSeconds(option: string, value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400)
    throw new ConfigError(`${option} must be a number of seconds between 0 and 86400, got '${value}'.`);
  return Math.max(1, Math.round(seconds * 1000));
}
