#!/usr/bin/env node
// Scale-out on PostgreSQL: Encrypt of 1 KB with 1, 2 and 3 `hsmkms serve` nodes sharing one
// PostgreSQL store and one token (one worker each, so N nodes are N processes), beside one node on
// the embedded SQLite store (the baseline, same token, one process); rounds interleave (1, 2, 3
// nodes, SQLite, 1, 2, 3 …) and medians are reported. On a 2-core machine more nodes cannot mean
// more throughput: the figures show the cost of sharing, not a scaling target.
// Then the cross-node invalidation delay: a key disabled through node A, polled with Encrypt on
// node B until refused (p50/p99 over BENCH_CHANGES changes, default 50).
// PostgreSQL: HSMKMS_TEST_POSTGRES_URL, or a throwaway cluster from Debian's `postgresql` binaries.
// Standalone (`node ci/bench/scale-out.mjs`) or from `npm run bench`.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KMSClient, CreateKeyCommand, DisableKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { wrk } from './wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 50);
const CONNECTIONS = 16;
const work = mkdtempSync(join(tmpdir(), 'hsmkms-bench-scale-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const children = [];
let stopPostgres = () => undefined;

/** A PostgreSQL server for the run (as test/store/postgres-server.ts makes one for the tests). */
function startPostgres() {
  if (process.env.HSMKMS_TEST_POSTGRES_URL) return process.env.HSMKMS_TEST_POSTGRES_URL;
  const base = '/usr/lib/postgresql';
  const version = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)).find((v) => existsSync(join(base, v, 'bin/initdb'))) : undefined;
  if (!version) throw new Error('no PostgreSQL: set HSMKMS_TEST_POSTGRES_URL or `apt-get install postgresql`');
  const dir = join(work, 'pg');
  mkdirSync(dir);
  const asRoot = process.getuid?.() === 0;
  const pgRun = (tool, args) => {
    const bin = join(base, version, 'bin', tool);
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  };
  if (asRoot) {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    chownSync(work, id('-u'), id('-g'));
    chownSync(dir, id('-u'), id('-g'));
  }
  pgRun('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--locale=C', '--encoding=UTF8', '--no-sync']);
  pgRun('pg_ctl', ['-D', join(dir, 'data'), '-w', '-s', '-l', join(dir, 'log'), '-o', `-k ${dir} -c listen_addresses= -c fsync=off`, 'start']);
  stopPostgres = () => pgRun('pg_ctl', ['-D', join(dir, 'data'), '-w', '-s', '-m', 'immediate', 'stop']);
  return `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`;
}

function serve(args, env = {}) {
  const child = spawn(process.execPath, [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', '0', '--log-level', 'warn', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`hsmkms serve exited ${code}:\n${out}`)));
  });
}

try {
  if (!existsSync(join(root, 'dist/cli/main.js'))) throw new Error('run `npm run build` first');
  const url = startPostgres();
  const store = { HSMKMS_STORE_URL: url, HSMKMS_STORE_SCHEMA: `bench_${randomBytes(4).toString('hex')}` };
  console.error(`bench scale-out: PostgreSQL store, embedded token in ${work} …`);
  // The first node makes the embedded token and the root credentials; the others share both.
  const node = (i) => serve(['--audit-node-id', `node-${i}`], store);
  const nodes = [await node(0)];
  nodes.push(...(await Promise.all([node(1), node(2)])));
  const sqlite = await serve(['--audit-node-id', 'sqlite']);
  const creds = JSON.parse(readFileSync(join(work, 'root-credentials.json'), 'utf8'));
  const credentials = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
  const client = (endpoint) => new KMSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const clients = [...nodes, sqlite].map(client);
  const signer = new SignatureV4({ service: 'kms', region: 'us-east-1', credentials, sha256: Sha256 });
  const kb = randomBytes(1024).toString('base64');
  const encryptAt = async (endpoint, keyId) => {
    const { host: hostPort } = new URL(endpoint);
    const [hostname, port] = hostPort.split(':');
    const body = JSON.stringify({ KeyId: keyId, Plaintext: kb });
    const req = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname,
      port: Number(port),
      path: '/',
      headers: { host: hostPort, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' },
      body,
    });
    const { host, ...headers } = req.headers;
    return [{ path: '/', headers: { Host: host, ...headers }, body }];
  };
  const sharedKey = (await clients[0].send(new CreateKeyCommand({}))).KeyMetadata.KeyId;
  const sqliteKey = (await clients[3].send(new CreateKeyCommand({}))).KeyMetadata.KeyId;

  /** N wrk processes at once, one per endpoint, CONNECTIONS in all; the summed rate. */
  const measureNodes = async (endpoints, keyId, seconds = SECONDS) => {
    const results = await Promise.all(
      endpoints.map(async (endpoint, i) =>
        wrk(endpoint, await encryptAt(endpoint, keyId), { seconds, connections: Math.ceil(CONNECTIONS / endpoints.length), script: join(work, `bench-${i}.lua`) }),
      ),
    );
    for (const r of results) if (r.non2xx || r.errors) throw new Error(`${r.non2xx} error responses, ${r.errors} socket errors`);
    return results.reduce((sum, r) => sum + r.rps, 0);
  };

  console.error(`bench scale-out: measuring (median of ${RUNS} rounds of ${SECONDS} s) …`);
  for (const n of [1, 2, 3]) await measureNodes(nodes.slice(0, n), sharedKey, 1);
  await measureNodes([sqlite], sqliteKey, 1);
  const rates = { 1: [], 2: [], 3: [], sqlite: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const n of [1, 2, 3]) rates[n].push(await measureNodes(nodes.slice(0, n), sharedKey));
    rates.sqlite.push(await measureNodes([sqlite], sqliteKey));
  }

  console.error(`bench scale-out: ${CHANGES} changes on node A, polled on node B …`);
  const [a, b] = clients;
  const delays = [];
  const plaintext = new Uint8Array([1]);
  for (let i = 0; i < CHANGES; i++) {
    const keyId = (await a.send(new CreateKeyCommand({}))).KeyMetadata.KeyId;
    await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    await a.send(new DisableKeyCommand({ KeyId: keyId }));
    const start = performance.now();
    for (;;) {
      const refused = await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })).then(
        () => false,
        (error) => {
          if (error.name !== 'DisabledException') throw error;
          return true;
        },
      );
      if (refused) break;
      if (performance.now() - start > 10_000) throw new Error('a disabled key was still accepted on node B after 10 s');
    }
    delays.push(performance.now() - start);
  }
  for (const c of clients) c.destroy();

  const one = median(rates[1]);
  console.log(`\nscale-out on PostgreSQL (Encrypt 1 KB, 1 worker per node, wrk ${CONNECTIONS} connections in all, same SoftHSM2 token; medians of ${RUNS} × ${SECONDS} s)`);
  console.log(`1 node on SQLite (baseline, 1 process): ${median(rates.sqlite).toFixed(0)} req/s`);
  for (const n of [1, 2, 3])
    console.log(
      `${n} node(s) on PostgreSQL (${n} process(es)): ${median(rates[n]).toFixed(0)} req/s, ${(median(rates[n]) / one).toFixed(2)}× one node on PostgreSQL` +
        (n === 1 ? `, ${(one / median(rates.sqlite)).toFixed(2)}× one node on SQLite` : ''),
    );
  console.log(
    `cross-node invalidation (key disabled on A → first refusal on B, polling latency included), ${CHANGES} changes: ` +
      `p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms (bound: 1 s)`,
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1_000));
  try {
    stopPostgres();
  } catch {
    // Already stopped.
  }
  rmSync(work, { recursive: true, force: true });
}
