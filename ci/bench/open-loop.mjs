// An open-loop load generator: requests leave at a fixed rate whatever the answers do (wrk is
// closed-loop: a slow answer delays the next request, which hides queueing). Each latency is
// counted from the moment the request was due, not sent, so a generator that falls behind
// shows up as latency instead of vanishing (no coordinated omission).
//
// The client is ci/bench/open-loop.c, built here with the system C compiler (as the PKCS#11
// interposer is) and run as a process of its own. It used to be a node:http client inside the
// bench process, and its own delays counted in every figure: one event loop sent on a 1 ms timer,
// timestamped answers, and drained the servers' logs; at ~1,000 req/s it spent ~0.2–0.3 ms of CPU
// per request and opened new connections whenever answers lagged. Against the same server at the
// same rate (interleaved, both at real-time priority) it reported p50 1.7–1.8 ms and p99 8–16 ms
// where the C client measured p50 0.9 ms and p99 4–5 ms. It also reports how late it sent
// (`sendLateP99Ms`), so that a loaded machine shows up as the client's lateness, not the server's.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const FLAGS = ['-O2', '-Wall', '-Wextra'];

/** Builds (or finds, cached by a hash of the source and flags) the client and returns its path. */
export function buildOpenLoop() {
  const source = join(here, 'open-loop.c');
  const hash = createHash('sha256').update(readFileSync(source)).update(FLAGS.join(' ')).digest('hex').slice(0, 16);
  const dir = join(root, 'build', 'open-loop', hash);
  const binary = join(dir, 'open-loop');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  execFileSync('cc', [...FLAGS, '-o', partial, source], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(partial, binary);
  return binary;
}

/** The request ({ path, headers, body }) as the bytes of one HTTP/1.1 request to `host`. */
export function rawRequest(host, request) {
  const body = Buffer.from(request.body ?? '');
  const lines = [`POST ${request.path ?? '/'} HTTP/1.1`, `host: ${host}`];
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!['host', 'content-length', 'connection'].includes(name.toLowerCase())) lines.push(`${name}: ${value}`);
  }
  lines.push(`content-length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
}

/**
 * Sends `request` ({ path, headers, body }) to a 127.0.0.1 `url` at `rate` per second for
 * `seconds`; returns percentiles in ms, the rate achieved, error counts, and the client's own
 * send lateness (p99 and max of send time - due time, waiting for a free connection included).
 */
export async function openLoop(url, request, { rate, seconds, connections = 64 }) {
  const { hostname, port } = new URL(url);
  if (hostname !== '127.0.0.1') throw new Error(`openLoop: 127.0.0.1 only, not ${hostname}`);
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-open-loop-'));
  try {
    const file = join(dir, 'request');
    writeFileSync(file, rawRequest(`${hostname}:${port}`, request));
    const { stdout } = await promisify(execFile)(buildOpenLoop(), [port, String(rate), String(seconds), file, String(connections)]);
    return JSON.parse(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
