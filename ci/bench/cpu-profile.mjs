#!/usr/bin/env node
// Where one hsmkms worker's CPU goes per request, for finding costs rather than judging targets
// (run.mjs does that). Starts `hsmkms serve --workers 1` under `node --cpu-prof`, sets up the
// `core` section's caller (a CryptoUser with two identity policies, a 10-statement key policy,
// audit on, info logging), replays one signed request with wrk, and prints:
//   - CPU µs per request of the server process (from /proc: every thread, the thread pool's
//     fsync and PKCS#11 calls included), per round: on a shared machine far steadier than req/s;
//   - the main thread's profile over the measured rounds only (warm-up and set-up left out):
//     self time by file or npm package, by function, and inclusive time of our code and packages.
// Usage (after `npm run build`): node ci/bench/cpu-profile.mjs [Encrypt|Decrypt|GenerateDataKey|IssueCertificate|CaSign]
// IssueCertificate and CaSign are the `ca` section's two sides (ci/bench/ca-issuance.mjs): the
// root issuing P-256 leaves under a P-384 CA's intermediate (64 distinct CSRs, cycled), and KMS
// Sign (DIGEST, ECDSA_SHA_384) with that intermediate key; the server is started with
// `--log-level warn` as there.
// Environment: PROFILE_SECONDS (per round, default 4), PROFILE_ROUNDS (default 3),
// PROFILE_WARMUP_SECONDS (default 5), PROFILE_TOP (rows per table, default 30),
// PROFILE_INTERVAL_US (sampling interval, default 250), BENCH_SERVE_ARGS (extra serve arguments),
// PROFILE_SAVE (a path to keep the whole .cpuprofile at, for Chrome DevTools or speedscope).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CA_MODES, caRequests, initBenchCa } from './ca-requests.mjs';
import { benchPort, signedCoreRequest, untilListening } from './core.mjs';
import { printProfile } from './profile-report.mjs';
import { wrk } from './wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const op = process.argv[2] ?? 'Encrypt';
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 4);
const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? 3);
const WARMUP = Number(process.env.PROFILE_WARMUP_SECONDS ?? 5);
const TOP = Number(process.env.PROFILE_TOP ?? 30);
const INTERVAL = Number(process.env.PROFILE_INTERVAL_US ?? 250);
if (![...CA_MODES, 'Encrypt', 'Decrypt', 'GenerateDataKey'].includes(op))
  throw new Error(`operation: Encrypt, Decrypt, GenerateDataKey, IssueCertificate or CaSign, not ${op}`);
const caMode = CA_MODES.includes(op);

const work = mkdtempSync(join(tmpdir(), 'hsmkms-profile-'));
const profileDir = join(work, 'profile');
const port = benchPort();

/** CPU time (ms, user + system, all threads) of a process so far, from /proc (10 ms ticks). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

// The CA modes: the CA made on the data directory before the server starts, as the ca section does.
if (caMode) initBenchCa(root, work);
const server = spawn(
  process.execPath,
  [
    '--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', String(INTERVAL), join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', '1', '--audit-node-id', 'profile',
    // One process, the one under --cpu-prof and whose CPU is read (the softhsm2 profile's default
    // recycling would fork the worker from a primary).
    '--recycle-worker-after', 'off',
    ...(caMode ? ['--log-level', 'warn'] : []),
    ...(process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean),
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let exitedAt;
const exited = new Promise((resolve) => server.once('exit', () => resolve((exitedAt = performance.now()))));
await untilListening(server);

/** The measured rounds, in this process's performance.now() ms. */
const windows = [];
try {
  const endpoint = `http://127.0.0.1:${port}`;
  let requests;
  if (caMode) {
    const made = await caRequests({ dataDir: work, port, mode: op });
    requests = await Promise.all(made.map(async ({ body, sign }) => ({ path: '/', headers: await sign(), body })));
  } else {
    const signed = await signedCoreRequest({ root, work, port, op, userName: 'profile-app' });
    const { host, ...headers } = signed.headers;
    requests = [{ path: '/', headers: { Host: host, ...headers }, body: signed.body }];
  }
  const script = join(work, 'profile.lua');
  const check = (r, label) => {
    if (r.non2xx || r.errors) throw new Error(`${label}: ${r.non2xx} error responses, ${r.errors} socket errors`);
  };
  check(await wrk(endpoint, requests, { seconds: WARMUP, connections: 16, script }), 'warm-up');
  // Rounds are placed in the profile by their distance from the server's exit (see report()).
  for (let i = 0; i < ROUNDS; i++) {
    const before = cpuMs(server.pid);
    const from = performance.now();
    const r = await wrk(endpoint, requests, { seconds: SECONDS, connections: 16, script });
    const to = performance.now();
    check(r, `round ${i + 1}`);
    const us = ((cpuMs(server.pid) - before) * 1000) / r.requests;
    windows.push({ from, to });
    console.log(`${op} round ${i + 1}: ${r.rps.toFixed(0)} req/s, ${us.toFixed(0)} µs CPU per request (all threads)`);
  }
} finally {
  server.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
}

try {
  if (exitedAt === undefined) throw new Error('the server did not exit within 10 s of SIGTERM, so it wrote no profile');
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error('the server wrote no profile');
  if (process.env.PROFILE_SAVE) copyFileSync(join(profileDir, file), process.env.PROFILE_SAVE);
  // The profile ends when the server exits: windows are placed by their distance from that end
  // (an error of a few ms against rounds of seconds).
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8'));
  const at = (t) => profile.endTime - (exitedAt - t) * 1000;
  printProfile(profile, windows.map((w) => ({ from: at(w.from), to: at(w.to) })), { root, top: TOP });
} finally {
  rmSync(work, { recursive: true, force: true });
}
