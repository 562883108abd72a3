#!/usr/bin/env node
// Scale to AWS's quota: 100,000 CMKs (KMS's default per region; BENCH_KEYS overrides).
//   - CreateKey throughput through the real API (BENCH_CREATE_CLIENTS concurrent clients).
//   - Start-up time (spawn → first 200 on /health) and resident memory (VmRSS of the server's
//     process tree) of `hsmkms serve` on the data directory holding ~10 keys (a copy taken then;
//     the same token) and holding BENCH_KEYS keys, in alternate starts, side by side with ratios;
//     memory again after the Encrypt runs.
//   - Encrypt 1 KB spread over 10 keys against spread over ALL keys, with wrk replaying pre-signed
//     requests (one per key, in a shuffled order; each round goes on where the last one stopped),
//     in interleaved rounds; the median ratio, its range, and "≥ 0.9 met/NOT met".
// The first BENCH_CREATE_API keys (default 5,000) are made through CreateKey (that is the
// throughput figure); the rest are copies of their rows (new key ids, the same wrapped
// material, so each still unwraps into its own session object) inserted with SQL while the
// server is stopped, since making 100,000 keys through HTTP takes minutes on a 2-core machine.
// Standalone (`node ci/bench/scale.mjs`) or from `npm run bench` (BENCH_ONLY=scale).
// BENCH_SCALE_PROFILE=1 (with BENCH_WORKERS=1) runs the server of the Encrypt rounds under
// `node --cpu-prof` and prints its main thread's profile over the rounds over 10 keys and over
// all keys, apart (PROFILE_TOP rows per table, PROFILE_INTERVAL_US sampling interval);
// BENCH_SCALE_STARTS=0 skips the start-up and memory starts.
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { SignatureV4 } from '@smithy/signature-v4';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { cpuMs } from './core.mjs';
import { printProfile } from './profile-report.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const VIA_API = Math.min(KEYS, Number(process.env.BENCH_CREATE_API ?? 5000));
const CLIENTS = Number(process.env.BENCH_CREATE_CLIENTS ?? 32);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_SCALE_RUNS ?? 5);
const STARTS = Number(process.env.BENCH_SCALE_STARTS ?? 3);
// Passes over every key before the measured rounds (each worker has its own caches, and the kernel
// spreads connections over workers): 0 by default, since with the default --key-cache-size every
// use of a key outside the most recent 1,024 per worker misses whether it was used before or not.
const WARM_PASSES = Number(process.env.BENCH_SCALE_WARM_PASSES ?? 0);
const CONNECTIONS = 16;
const TARGET = 0.9;
const SERVE_ARGS = (process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean);
const PROFILE = process.env.BENCH_SCALE_PROFILE === '1';
if (PROFILE && WORKERS !== 1) throw new Error('BENCH_SCALE_PROFILE=1 profiles one process: set BENCH_WORKERS=1');
const work = mkdtempSync(join(tmpdir(), 'hsmkms-bench-100k-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const run = promisify(execFile);
const children = [];

/** Resident memory (KiB) of a process and its descendants (the cluster's workers), from /proc. */
function rssKiB(pid) {
  let total = 0;
  try {
    total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    for (const task of readdirSync(`/proc/${pid}/task`))
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += rssKiB(Number(child));
  } catch {
    // The process ended meanwhile.
  }
  return total;
}

/**
 * Starts `hsmkms serve` on the data directory; resolves once /health answers 200, with the time
 * that took. `profileDir`: run it under `node --cpu-prof`, writing there when it stops.
 */
async function serve(dir, profileDir) {
  const started = performance.now();
  const profiling = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', process.env.PROFILE_INTERVAL_US ?? '250'] : [];
  const child = spawn(
    process.execPath,
    [
      ...profiling, join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', dir, '--port', '0', '--log-level', 'warn', '--workers', String(WORKERS), '--audit-node-id', 'bench-scale',
      // Profiled: one process, the one under --cpu-prof (the softhsm2 profile's default recycling
      // would fork the worker from a primary). Otherwise the default, primary included in the RSS.
      ...(profileDir ? ['--recycle-worker-after', 'off'] : []),
      ...SERVE_ARGS,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let exitedAt;
  const exited = new Promise((r) => child.once('exit', () => r((exitedAt = performance.now()))));
  let out = '';
  const endpoint = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      out = (out + chunk).slice(-16384);
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1].replace(/\/$/, ''));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`hsmkms serve exited ${code}:\n${out}`)));
  });
  for (;;) {
    const ok = await fetch(`${endpoint}/health`).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const startupMs = performance.now() - started;
  return {
    endpoint,
    pid: child.pid,
    startupMs,
    /** Stops the server; resolves with the time it exited (undefined if it did not within 10 s). */
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      return exitedAt;
    },
  };
}

/** SigV4 with Node's own SHA-256 (signing 100,000 requests with the pure-JS hash takes long). */
class NodeSha256 {
  constructor(secret) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

/**
 * A wrk script that cycles through one pre-signed Encrypt per key from `offset` on: the body and
 * the headers every request shares are written once, what differs (key id, date, signature) per key.
 */
async function encryptScript(signer, endpoint, keyIds, plaintext, offset, path) {
  const { host } = new URL(endpoint);
  const [pre, post] = [`{"KeyId":"`, `","Plaintext":"${plaintext}"}`];
  const signed = [];
  for (const id of keyIds) {
    const req = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: host.split(':')[0],
      port: Number(host.split(':')[1]),
      path: '/',
      headers: { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' },
      body: pre + id + post,
    });
    signed.push(req.headers);
  }
  const names = Object.keys(signed[0]);
  const varying = names.filter((n) => signed.some((h) => h[n] !== signed[0][n]));
  const common = names.filter((n) => !varying.includes(n));
  const q = (s) => {
    if (String(s).includes(']==]')) throw new Error('cannot quote for Lua');
    return `[==[${s}]==]`;
  };
  // One line per key in a data file the script reads when it loads (a Lua table literal of
  // 100,000 rows passes Lua's limit of constants per function).
  const data = `${path}.tsv`;
  writeFileSync(data, signed.map((h, i) => [keyIds[i], ...varying.map((n) => h[n])].join('\t')).join('\n') + '\n');
  writeFileSync(
    path,
    `local common = { ${common.map((n) => `[ ${q(n === 'host' ? 'Host' : n)} ] = ${q(signed[0][n])}`).join(', ')} }
local names = { ${varying.map(q).join(', ')} }
local pre, post = ${q(pre)}, ${q(post)}
local reqs = {}
for line in io.lines(${q(data)}) do
  local r = {}
  for field in string.gmatch(line, "[^\t]+") do r[#r + 1] = field end
  reqs[#reqs + 1] = r
end
local i = ${offset % keyIds.length}
request = function()
  i = i % #reqs + 1
  local r = reqs[i]
  local h = {}
  for k, v in pairs(common) do h[k] = v end
  for j, n in ipairs(names) do h[n] = r[j + 1] end
  return wrk.format("POST", "/", h, pre .. r[1] .. post)
end
local failed
response = function(status, headers, body)
  if status >= 300 and not failed then failed = status .. " " .. body end
end
done = function(summary, latency, requests)
  if failed then io.write("WRK_FAILED " .. failed .. "\\n") end
  io.write(string.format("WRK_RESULT %d %d %d %d\\n", summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
`,
  );
}

async function wrkRun(endpoint, script, seconds) {
  const { stdout, stderr } = await run('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', script, endpoint], { maxBuffer: 1 << 24 });
  const m = /WRK_RESULT (\d+) (\d+) (\d+) (\d+)/.exec(stdout);
  if (!m) throw new Error(`wrk printed no result:\n${stdout}\n${stderr}`);
  const [requests, durationUs, non2xx, errors] = m.slice(1).map(Number);
  if (non2xx || errors) throw new Error(`Encrypt: ${non2xx} error responses (the first: ${/WRK_FAILED (.*)/.exec(stdout)?.[1]}), ${errors} socket errors`);
  return { requests, rps: requests / (durationUs / 1e6) };
}

/** CreateKey through the API from `clients` concurrent callers; returns the key ids and keys/s. */
async function createKeys(kms, n, clients) {
  const ids = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(clients, n) }, async () => {
      while (next < n) {
        next++;
        ids.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata.KeyId);
        if (ids.length % 1000 === 0) console.error(`  created ${ids.length}/${n} keys`);
      }
    }),
  );
  return { ids, rate: n / ((performance.now() - started) / 1000) };
}

/** Copies the rows of `templates` until the store holds `total` keys (server stopped); returns the new ids. */
function copyKeys(dir, templates, count) {
  const db = new Database(join(dir, 'hsmkms.sqlite'));
  try {
    const keyRow = db.prepare('SELECT * FROM keys WHERE key_id = ?');
    const versionRows = db.prepare('SELECT * FROM key_versions WHERE key_id = ?');
    const rows = templates.map((id) => ({ key: keyRow.get(id), versions: versionRows.all(id) }));
    const insert = (table, row) => db.prepare(`INSERT INTO ${table} (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row).map(() => '?').join(', ')})`);
    const insertKey = insert('keys', rows[0].key);
    const insertVersion = insert('key_versions', rows[0].versions[0]);
    const ids = [];
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const t = rows[i % rows.length];
        const id = randomUUID();
        insertKey.run(...Object.values({ ...t.key, key_id: id, arn: t.key.arn.replace(t.key.key_id, id), creation_date: t.key.creation_date + 1 + i }));
        for (const v of t.versions) insertVersion.run(...Object.values({ ...v, key_id: id }));
        ids.push(id);
      }
    })();
    return ids;
  } finally {
    db.close();
  }
}

function shuffle(xs) {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** One start: the time to the first 200 on /health, and resident memory once the workers settle. */
async function startOnce(dir) {
  const server = await serve(dir);
  // Let the workers settle (JIT, connections, first timers) before reading their memory.
  await new Promise((r) => setTimeout(r, 1000));
  return { server, startupMs: server.startupMs, rssKiB: rssKiB(server.pid) };
}

const range = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;

try {
  if (!existsSync(join(root, 'dist/cli/main.js'))) throw new Error('run `npm run build` first');
  console.error(`bench scale: ${KEYS} keys, hsmkms with ${WORKERS} worker(s), data in ${work} …`);
  let server = await serve(work);
  const creds = JSON.parse(readFileSync(join(work, 'root-credentials.json'), 'utf8'));
  const credentials = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
  const region = 'us-east-1';
  const client = (endpoint) => new KMSClient({ endpoint, region, credentials, maxAttempts: 1 });
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 });
  const plaintext = randomBytes(1024).toString('base64');
  const script = (name) => join(work, `${name}.lua`);

  let kms = client(server.endpoint);
  const few = (await createKeys(kms, 10, 10)).ids;
  kms.destroy();
  await server.stop();
  // The data directory as it is with 10 keys, kept aside (its token directory is the same one).
  const work10 = `${work}-10`;
  cpSync(work, work10, { recursive: true });

  // CreateKey through the API, then the rest as row copies with the server stopped.
  server = await serve(work);
  console.error(`bench scale: CreateKey × ${VIA_API - few.length} through the API (${CLIENTS} concurrent clients) …`);
  kms = client(server.endpoint);
  const createCpu = cpuMs(server.pid);
  const created = await createKeys(kms, VIA_API - few.length, CLIENTS);
  const createCpuUs = ((cpuMs(server.pid) - createCpu) * 1000) / created.ids.length;
  kms.destroy();
  await server.stop();
  console.error(`  CreateKey: ${created.rate.toFixed(0)} keys/s`);
  const copied = copyKeys(work, created.ids.length > 0 ? created.ids : few, KEYS - VIA_API);
  const all = shuffle([...few, ...created.ids, ...copied]);

  // Start-up and memory, holding 10 keys and holding all, in alternate starts.
  const starts = { small: { ms: [], rss: [] }, large: { ms: [], rss: [] } };
  for (let i = 0; i < STARTS; i++)
    for (const [side, dir] of [['small', work10], ['large', work]]) {
      const s = await startOnce(dir);
      starts[side].ms.push(s.startupMs);
      starts[side].rss.push(s.rssKiB);
      await s.server.stop();
    }
  for (const [side, label] of STARTS > 0 ? [['small', '10 keys'], ['large', `${KEYS} keys`]] : [])
    console.error(`  start-up holding ${label}: ${starts[side].ms.map((t) => t.toFixed(0)).join(', ')} ms; RSS ${starts[side].rss.map((k) => (k / 1024).toFixed(0)).join(', ')} MiB`);
  const small = { startupMs: median(starts.small.ms) ?? NaN, rssKiB: median(starts.small.rss) ?? NaN };
  const large = { startupMs: median(starts.large.ms) ?? NaN, rssKiB: median(starts.large.rss) ?? NaN };

  // Holding 10 keys: Encrypt over them, then memory.
  server = await serve(work10);
  await encryptScript(signer, server.endpoint, few, plaintext, 0, script('few'));
  await wrkRun(server.endpoint, script('few'), 1);
  const fewAlone = await wrkRun(server.endpoint, script('few'), SECONDS);
  const smallAfter = rssKiB(server.pid);
  await server.stop();
  console.error(`  Encrypt over 10 keys holding 10: ${fewAlone.rps.toFixed(0)} req/s`);

  // Holding all keys: Encrypt over 10 vs over all, interleaved.
  const profileDir = PROFILE ? join(work, 'profile') : undefined;
  server = await serve(work, profileDir);
  const { endpoint, pid } = server;
  const windows = { few: [], all: [] };
  console.error(`bench scale: signing one Encrypt per key (${all.length}) …`);
  let signedAt = performance.now();
  await encryptScript(signer, endpoint, few, plaintext, 0, script('few'));
  await encryptScript(signer, endpoint, all, plaintext, 0, script('all'));
  // Unmeasured warm-up of both.
  await wrkRun(endpoint, script('few'), 1);
  let offset = (await wrkRun(endpoint, script('all'), 1)).requests;
  if (WARM_PASSES > 0) console.error(`bench scale: ${WARM_PASSES} pass(es) over all ${all.length} keys before measuring …`);
  while (offset < WARM_PASSES * all.length) {
    await encryptScript(signer, endpoint, all, plaintext, offset, script('all'));
    offset += (await wrkRun(endpoint, script('all'), 10)).requests;
  }
  const r = { few: [], all: [], ratios: [], cpuFew: [], cpuAll: [] };
  let touched = 0;
  for (let i = 0; i < RUNS; i++) {
    // SigV4 allows five minutes of skew: sign again before the signatures come near it.
    if (performance.now() - signedAt > 150_000) {
      signedAt = performance.now();
      await encryptScript(signer, endpoint, few, plaintext, 0, script('few'));
    }
    await encryptScript(signer, endpoint, all, plaintext, offset, script('all'));
    const measured = async (name) => {
      const cpu = cpuMs(pid);
      const started = performance.now();
      const w = await wrkRun(endpoint, script(name), SECONDS);
      const ended = performance.now();
      windows[name].push({ from: started, to: ended });
      const seconds = (ended - started) / 1000;
      return { ...w, cpuUs: ((cpuMs(pid) - cpu) * 1000) / (w.rps * seconds) };
    };
    const a = await measured('few');
    const b = await measured('all');
    offset += b.requests;
    touched += b.requests;
    r.few.push(a.rps);
    r.all.push(b.rps);
    r.ratios.push(b.rps / a.rps);
    r.cpuFew.push(a.cpuUs);
    r.cpuAll.push(b.cpuUs);
    console.error(`  round ${i + 1}: over 10 keys ${a.rps.toFixed(0)} req/s (${a.cpuUs.toFixed(0)} µs CPU/req), over all ${all.length} ${b.rps.toFixed(0)} req/s (${b.cpuUs.toFixed(0)} µs CPU/req)`);
  }
  const largeAfter = rssKiB(pid);
  const exitedAt = await server.stop();
  if (PROFILE) {
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (exitedAt === undefined || !file) throw new Error('the profiled server wrote no profile (it did not exit within 10 s of SIGTERM?)');
    const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8'));
    // The profile ends when the server exits: the rounds are placed by their distance from that end.
    const at = (t) => profile.endTime - (exitedAt - t) * 1000;
    for (const [name, label] of [['few', 'over 10 keys'], ['all', `over all ${KEYS} keys`]]) {
      console.log(`\n=== profile of the rounds ${label} ===`);
      printProfile(profile, windows[name].map((w) => ({ from: at(w.from), to: at(w.to) })), { root, top: Number(process.env.PROFILE_TOP ?? 30) });
    }
  }

  const ratio = median(r.ratios);
  const cpuRatio = median(r.cpuFew) / median(r.cpuAll);
  const line = (label, a, b, fmt) => `  ${label.padEnd(34)} ${fmt(a).padStart(10)} ${fmt(b).padStart(12)}   ${(b / a).toFixed(2)}×`;
  console.log(
    [
      `\nscale: ${KEYS} keys (${VIA_API} made through CreateKey, ${KEYS - VIA_API} as row copies), hsmkms with ${WORKERS} worker(s)${SERVE_ARGS.length ? ` (${SERVE_ARGS.join(' ')})` : ''}, wrk -t1 -c${CONNECTIONS}, SoftHSM2` +
        (WARM_PASSES ? `; ${WARM_PASSES} unmeasured pass(es) over all keys first` : ''),
      `CreateKey through the API: ${created.rate.toFixed(0)} keys/s, ${createCpuUs.toFixed(0)} µs of server CPU each (${created.ids.length} keys, ${CLIENTS} concurrent clients, ${WORKERS} worker(s); each one a transaction, on disk before its answer through the store's group commit: one WAL fdatasync per group, off the event loop)`,
      `Encrypt 1 KB over all ${KEYS} keys vs over 10 keys (same server, holding ${KEYS}; ${RUNS} interleaved rounds × ${SECONDS} s; ${Math.min(touched, all.length)} distinct keys used): ` +
        `${median(r.all).toFixed(0)} vs ${median(r.few).toFixed(0)} req/s = ${ratio.toFixed(2)} (${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)}) ` +
        `target ≥ ${TARGET} ${ratio >= TARGET ? 'met' : 'NOT met'}; by CPU per request ${median(r.cpuAll).toFixed(0)} vs ${median(r.cpuFew).toFixed(0)} µs = ${cpuRatio.toFixed(2)}`,
      `  (over 10 keys while holding 10: ${fewAlone.rps.toFixed(0)} req/s, not interleaved)`,
      `                                     10 keys ${`${KEYS} keys`.padStart(12)}   ratio (flat = 1.00)`,
      ...(STARTS > 0
        ? [
            line(`start-up (spawn → /health 200)`, small.startupMs, large.startupMs, (x) => `${x.toFixed(0)} ms`) + `   (${STARTS} alternate starts each: ${range(starts.small.ms)} / ${range(starts.large.ms)} ms)`,
            line(`resident memory after start`, small.rssKiB, large.rssKiB, mib),
          ]
        : []),
      line(`resident memory after Encrypt runs`, smallAfter, largeAfter, mib),
    ].join('\n'),
  );
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
  rmSync(`${work}-10`, { recursive: true, force: true });
}
