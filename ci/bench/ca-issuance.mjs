#!/usr/bin/env node
// CA issuance rate against raw KMS Sign, in the same run, the same client process and the same
// hsmkms server: certificates issued per second (P-256 leaf CSR under a P-384 intermediate, the
// whole engine: CSR parse and signature check, profile, TBSCertificate, KMS Sign with
// MessageType DIGEST, the certificate recorded) beside KMS Sign P-384 over a digest. Both go
// through the AWS SDK over HTTP (SigV4) to `hsmkms serve` with 1 worker, with the same number
// of requests in flight; rounds alternate so a neighbour's load falls on both. Target: ≥ 0.8×.
//
// Environment: BENCH_SECONDS (default 5) per round, BENCH_RUNS (3), BENCH_CONCURRENCY (16).
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createHash, webcrypto } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as x509 from '@peculiar/x509';
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The SDK's notice about its own future Node 22 requirement is noise here (src/ca/kms.ts does the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const work = mkdtempSync(join(tmpdir(), 'hsmkms-bench-ca-'));
let server;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs `op` with CONCURRENCY in flight for `seconds`; returns completions per second. */
async function rate(op, seconds) {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return (done * 1000) / (performance.now() - start);
}

try {
  if (!existsSync(join(root, 'dist/ca/index.js'))) throw new Error('run `npm run build` first');
  const ca = await import(join(root, 'dist/ca/index.js'));
  const { openSqliteStore } = await import(join(root, 'dist/store/sqlite/index.js'));

  console.error(`bench-ca: starting hsmkms (1 worker, embedded SoftHSM2 token in ${work}) …`);
  server = spawn(process.execPath, [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', join(work, 'kms'), '--port', '0', '--log-level', 'warn'], {
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
  const credentials = JSON.parse(readFileSync(join(work, 'kms', 'root-credentials.json'), 'utf8'));
  const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey } });

  // The CA engine in this process, signing through the SDK client; its records in a store of
  // its own (synchronous=normal: throwaway data, as the KMS bench's store).
  const store = await openSqliteStore({ path: join(work, 'ca.sqlite'), synchronous: 'normal' });
  const deps = ca.createCaDeps(ca.sdkCaKms(client), store.certificateAuthorityStore());
  await ca.initCa(deps, { name: 'bench', subject: 'CN=Bench Root,O=hsmkms bench,C=US', keySpec: 'ECC_NIST_P384', baseUrl: endpoint });

  // One P-256 CSR, made in software: issuing it again and again still parses and verifies it each time.
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const csr = (
    await x509.Pkcs10CertificateRequestGenerator.create(
      { name: 'CN=leaf.bench.example', keys, signingAlgorithm: algorithm, extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'leaf.bench.example' }])] },
      webcrypto,
    )
  ).toString('pem');

  const signKey = (await client.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata.KeyId;
  const digest = createHash('sha384').update('bench').digest();
  const sign = () => client.send(new SignCommand({ KeyId: signKey, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' }));
  const issue = () => ca.issueCertificate(deps, { caName: 'bench', csr, profile: 'tls-server', days: 30 });

  // Warm-up (JIT, connections, the token's working copies), then alternating measured rounds.
  await rate(sign, 1);
  await rate(issue, 1);
  const signs = [];
  const issues = [];
  for (let i = 0; i < RUNS; i++) {
    signs.push(await rate(sign, SECONDS));
    issues.push(await rate(issue, SECONDS));
    console.error(`  round ${i + 1}: KMS Sign P-384 ${signs.at(-1).toFixed(0)}/s, issuance ${issues.at(-1).toFixed(0)}/s`);
  }
  const ratio = median(issues) / median(signs);
  console.log(`\nCA issuance (1 client process, ${CONCURRENCY} in flight, hsmkms 1 worker, SDK over HTTP; medians of ${RUNS} × ${SECONDS} s)`);
  console.log(`KMS Sign ECDSA P-384 (DIGEST)        ${median(signs).toFixed(0).padStart(8)} /s`);
  console.log(`certificates issued (P-256 leaf)     ${median(issues).toFixed(0).padStart(8)} /s`);
  console.log(`ratio ${ratio.toFixed(2)}   target ≥ 0.8 ${ratio >= 0.8 ? 'met' : 'NOT met'}`);
  client.destroy();
  await store.close();
} finally {
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
