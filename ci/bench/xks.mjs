#!/usr/bin/env node
// The XKS proxy under load: Encrypt of 1 KB through hsmkms's XKS API at 100 concurrent
// connections (AWS KMS gives a proxy 250 ms per call: p99 must stay well under that), and its
// throughput beside the same Encrypt through the KMS API of the same server, same token, same
// process count. Rounds alternate (XKS, KMS, XKS, KMS …) and medians are reported.
// Standalone (`node ci/bench/xks.mjs`) or from `npm run bench`. BENCH_SECONDS, BENCH_RUNS,
// BENCH_WORKERS and BENCH_CONNECTIONS (default 100) tune it.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { wrk } from './wrk.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const AWS_TIMEOUT_MS = 250;
const work = mkdtempSync(join(tmpdir(), 'hsmkms-bench-xks-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let server;

const hsmkms = (args) => run(process.execPath, [join(root, 'bin/hsmkms.js'), ...args, '--data-dir', work], { timeout: 120_000 });

try {
  if (!existsSync(join(root, 'dist/cli/main.js'))) throw new Error('run `npm run build` first');
  const credential = JSON.parse((await hsmkms(['xks', 'credential', 'create', '--uri-prefix', 'bench'])).stdout);
  await hsmkms(['xks', 'key', 'create', '--label', 'bench-key']);

  const port = 18600 + Math.floor(Math.random() * 1000);
  server = spawn(process.execPath, [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--log-level', 'warn', '--workers', String(WORKERS)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise((resolve, reject) => {
    let err = '';
    server.stderr.on('data', (chunk) => {
      err += chunk;
      if (/listening on/.test(err)) resolve();
    });
    server.once('exit', (code) => reject(new Error(`hsmkms serve exited ${code}:\n${err}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const root_ = JSON.parse(readFileSync(join(work, 'root-credentials.json'), 'utf8'));
  const kms = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: root_.accessKeyId, secretAccessKey: root_.secretAccessKey } });
  const kmsKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata.KeyId;
  kms.destroy();

  const kb = randomBytes(1024).toString('base64');
  const sign = async (service, credentials, path, headers, body) => {
    const signer = new SignatureV4({ service, region: 'us-east-1', credentials, sha256: Sha256 });
    const req = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers }, body });
    const { host, ...rest } = req.headers;
    return [{ path, headers: { Host: host, ...rest }, body }];
  };
  const xksRequest = () =>
    sign(
      'kms-xks-proxy',
      { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
      '/bench/kms/xks/v1/keys/bench-key/encrypt',
      { 'content-type': 'application/json' },
      JSON.stringify({
        requestMetadata: { awsPrincipalArn: 'arn:aws:iam::111122223333:root', kmsKeyArn: `arn:aws:kms:us-east-1:111122223333:key/${kmsKey}`, kmsOperation: 'Encrypt', kmsRequestId: 'bench' },
        plaintext: kb,
        encryptionAlgorithm: 'AES_GCM',
      }),
    );
  const kmsRequest = () =>
    sign(
      'kms',
      { accessKeyId: root_.accessKeyId, secretAccessKey: root_.secretAccessKey },
      '/',
      { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' },
      JSON.stringify({ KeyId: kmsKey, Plaintext: kb }),
    );

  const once = async (label, url, requests, seconds) => {
    const r = await wrk(url, await requests(), { seconds, connections: CONNECTIONS, script: join(work, 'bench.lua') });
    if (r.non2xx || r.errors) throw new Error(`${label}: ${r.non2xx} error responses, ${r.errors} socket errors`);
    return r;
  };
  console.error(`bench xks: warming up, then ${RUNS} alternating rounds of ${SECONDS} s at ${CONNECTIONS} connections …`);
  await once('xks warm-up', endpoint, xksRequest, 1);
  await once('kms warm-up', endpoint, kmsRequest, 1);
  const xks = [];
  const api = [];
  for (let i = 0; i < RUNS; i++) {
    xks.push(await once('XKS Encrypt', endpoint, xksRequest, SECONDS));
    api.push(await once('KMS Encrypt', endpoint, kmsRequest, SECONDS));
    console.error(`  round ${i + 1}: XKS ${xks.at(-1).rps.toFixed(0)} req/s (p99 ${xks.at(-1).p99Ms.toFixed(1)} ms), KMS API ${api.at(-1).rps.toFixed(0)} req/s (p99 ${api.at(-1).p99Ms.toFixed(1)} ms)`);
  }
  const p99 = median(xks.map((r) => r.p99Ms));
  console.log(`\nhsmkms XKS proxy (${WORKERS} worker(s), wrk -t1 -c${CONNECTIONS}, Encrypt 1 KB, SoftHSM2; medians of ${RUNS} × ${SECONDS} s)`);
  console.log(`XKS Encrypt:      ${median(xks.map((r) => r.rps)).toFixed(0)} req/s, p50 ${median(xks.map((r) => r.p50Ms)).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
  console.log(`KMS API Encrypt:  ${median(api.map((r) => r.rps)).toFixed(0)} req/s, p50 ${median(api.map((r) => r.p50Ms)).toFixed(1)} ms, p99 ${median(api.map((r) => r.p99Ms)).toFixed(1)} ms`);
  console.log(
    `XKS/KMS API throughput ratio: ${(median(xks.map((r) => r.rps)) / median(api.map((r) => r.rps))).toFixed(2)}; XKS p99 ${p99.toFixed(1)} ms against AWS's ${AWS_TIMEOUT_MS} ms timeout: ${p99 < AWS_TIMEOUT_MS / 2 ? 'well under' : p99 < AWS_TIMEOUT_MS ? 'under, but not by much' : 'OVER'}`,
  );
} finally {
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
