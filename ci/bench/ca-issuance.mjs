#!/usr/bin/env node
// CA issuance rate against raw KMS Sign, in the same run, through the same hsmkms server and the
// same load generator: certificates issued per second over the API (`HsmKms.IssueCertificate`, a
// P-256 leaf CSR under the CA's P-384 intermediate — the whole engine in the server: CSR parse
// and signature check, profile, TBSCertificate, KMS Sign with MessageType DIGEST, the
// certificate recorded) beside `TrentService.Sign` with that very intermediate key
// (ECDSA_SHA_384 over a digest) — the Sign that issuance itself makes. Both sides: 1 wrk process
// replaying SigV4-signed requests (so the load generator is not the bottleneck) against
// `hsmkms serve` with 1 worker, the same number of connections; every response checked 2xx.
// The CSRs are made before anything is timed (wrk cycles through them). Rounds alternate so a
// neighbour's load falls on both sides; the server's CPU per call (from /proc) is printed beside
// the rates, since on a shared machine it swings much less than they do. Target: ≥ 0.8×.
//
// Environment: BENCH_SECONDS (default 5) per round, BENCH_RUNS (3), BENCH_WARMUP_REQUESTS (5,000
// unmeasured calls per side, at least 2 s, at most 30 s), BENCH_CONCURRENCY (16 connections),
// BENCH_CSRS (64 distinct CSRs).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { benchCsrs } from './ca-requests.mjs';
import { WARMUP_REQUESTS, warmUp } from './core.mjs';
import { wrk } from './wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const CSRS = Number(process.env.BENCH_CSRS ?? 64);
const work = mkdtempSync(join(tmpdir(), 'hsmkms-bench-ca-'));
const dataDir = join(work, 'kms');
const region = 'us-east-1';
let server;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU time (ms, user + system) a process has used so far (Linux /proc, 10 ms ticks). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

try {
  if (!existsSync(join(root, 'dist/ca/index.js'))) throw new Error('run `npm run build` first');
  const hsmkms = join(root, 'bin/hsmkms.js');

  // The CA first, with the CLI on the data directory (in-process KMS); then the server over it.
  console.error(`bench-ca: creating CA 'bench' (ECC_NIST_P384) and starting hsmkms (1 worker, embedded SoftHSM2 token in ${work}) …`);
  await promisify(execFile)(process.execPath, [hsmkms, 'ca', 'init', '--data-dir', dataDir, '--name', 'bench', '--subject', 'CN=Bench Root,O=hsmkms bench,C=US', '--key-spec', 'ECC_NIST_P384', '--base-url', 'http://ca.bench.example'], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  server = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), hsmkms, 'serve', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn',
    // One process, whose CPU cpuMs reads and which BENCH_NODE_ARGS (e.g. --cpu-prof) applies to
    // (the softhsm2 profile's default recycling would fork the worker from a primary).
    '--recycle-worker-after', 'off'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const endpoint = await new Promise((resolve, reject) => {
    let out = '';
    server.stderr.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.once('exit', (code) => reject(new Error(`hsmkms serve exited ${code}:\n${out}`)));
  });
  const url = new URL(endpoint);
  const root_ = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
  const credentials = { accessKeyId: root_.accessKeyId, secretAccessKey: root_.secretAccessKey };
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 });
  /** One SigV4-signed request as wrk replays it. */
  const signed = async (target, input) => {
    const body = JSON.stringify(input);
    const req = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
      body,
    });
    const { host, ...headers } = req.headers;
    return { path: '/', headers: { Host: host, ...headers }, body };
  };
  /** Sends one request (set-up and checks); returns the parsed answer. */
  const call = async (target, input) => {
    const r = await signed(target, input);
    const res = await fetch(endpoint, { method: 'POST', headers: r.headers, body: r.body });
    const json = await res.json();
    if (!res.ok) throw new Error(`${target}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const [authority] = (await call('HsmKms.ListCertificateAuthorities', {})).CertificateAuthorities.filter((a) => a.CaName === 'bench');
  const keyId = authority.IntermediateKeyArn;

  // Distinct P-256 CSRs, made in software before anything is timed.
  const csrs = await benchCsrs(CSRS);
  const issueRequests = () => Promise.all(csrs.map((Csr) => signed('HsmKms.IssueCertificate', { CaName: 'bench', Csr, Profile: 'tls-server', ValidityDays: 30 })));
  const digest = createHash('sha384').update('bench').digest('base64');
  const signRequests = async () => [await signed('TrentService.Sign', { KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' })];

  // Both answer as they should before anything is measured.
  const issued = await call('HsmKms.IssueCertificate', { CaName: 'bench', Csr: csrs[0], Profile: 'tls-server', ValidityDays: 30 });
  if (!issued.Certificate?.includes('BEGIN CERTIFICATE')) throw new Error('IssueCertificate returned no certificate');
  await call('TrentService.Sign', { KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' });

  const script = join(work, 'bench.lua');
  const round = async (label, requests, seconds = SECONDS) => {
    const before = cpuMs(server.pid);
    const r = await wrk(endpoint, requests, { seconds, connections: CONCURRENCY, script, timeoutS: 30 });
    const used = cpuMs(server.pid) - before;
    if (r.non2xx || r.errors) throw new Error(`${label}: ${r.non2xx} error responses, ${r.errors} socket errors ${JSON.stringify(r.errorKinds)}`);
    return { rps: r.rps, cpuMsPerCall: used / r.requests, p50Ms: r.p50Ms };
  };

  // Warm-up (JIT, connections, the token's working copies), then alternating measured rounds;
  // requests are signed afresh for each round (SigV4 allows five minutes of skew). Each side
  // answers WARMUP_REQUESTS unmeasured calls first, as the core section's processes do: an
  // issuance runs much more of our JavaScript than a Sign (the CSR, the profile, the certificate,
  // the CA's store), which V8 goes on compiling for several thousand calls, so the one second
  // each used before left the issuance side partly cold (its CPU per call fell round after round
  // while the Sign's stayed flat) — the same time, not the same warmth.
  const last = {};
  const once = { once: async (label, _url, requests, seconds) => (last[label] = await round(label, requests, seconds)).rps };
  await warmUp(once, 'Sign warm-up', endpoint, signRequests, WARMUP_REQUESTS);
  await warmUp(once, 'issuance warm-up', endpoint, issueRequests, WARMUP_REQUESTS);
  console.error(`  warm-up: ${WARMUP_REQUESTS} calls or more each; last second KMS Sign ${last['Sign warm-up'].cpuMsPerCall.toFixed(2)} ms CPU each, issuance ${last['issuance warm-up'].cpuMsPerCall.toFixed(2)} ms`);
  const signs = [];
  const issues = [];
  const ratios = [];
  for (let i = 0; i < RUNS; i++) {
    signs.push(await round('KMS Sign', await signRequests()));
    issues.push(await round('IssueCertificate', await issueRequests()));
    ratios.push(issues.at(-1).rps / signs.at(-1).rps);
    console.error(
      `  round ${i + 1}: KMS Sign P-384 ${signs.at(-1).rps.toFixed(0)}/s (${signs.at(-1).cpuMsPerCall.toFixed(2)} ms CPU each), ` +
        `issuance ${issues.at(-1).rps.toFixed(0)}/s (${issues.at(-1).cpuMsPerCall.toFixed(2)} ms CPU each)`,
    );
  }
  const ratio = median(ratios);
  const m = (xs, f) => median(xs.map(f));
  console.log(`\nCA issuance vs KMS Sign, same server (hsmkms serve, 1 worker) and same load generator (1 wrk process, ${CONCURRENCY} connections, SigV4 replay); medians of ${RUNS} interleaved rounds × ${SECONDS} s`);
  console.log('                                         calls/s   p50 ms   server CPU ms/call');
  console.log(`KMS Sign ECDSA P-384 (DIGEST, CA key) ${m(signs, (r) => r.rps).toFixed(0).padStart(10)} ${m(signs, (r) => r.p50Ms).toFixed(1).padStart(8)} ${m(signs, (r) => r.cpuMsPerCall).toFixed(2).padStart(12)}`);
  console.log(`IssueCertificate (P-256 leaf)         ${m(issues, (r) => r.rps).toFixed(0).padStart(10)} ${m(issues, (r) => r.p50Ms).toFixed(1).padStart(8)} ${m(issues, (r) => r.cpuMsPerCall).toFixed(2).padStart(12)}`);
  console.log(`ratio ${ratio.toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})   target ≥ 0.8 ${ratio >= 0.8 ? 'met' : 'NOT met'}`);
} finally {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  else console.error(`bench-ca: kept ${work}`);
}
