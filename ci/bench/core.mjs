// The headline ratios: hsmkms against the bare baseline (ci/bench/bare-server.mjs: node:http and
// one PKCS#11 call per request on the same token) with the SAME number of processes on both
// sides — `hsmkms serve --workers N` against the bare server as a node:cluster of N workers —
// for N = 1 and N = 2 (BENCH_PROCESSES). hsmkms runs as deployed: SigV4 verified, the caller a
// CryptoUser whose two identity policies with conditions are evaluated with a 10-statement key
// policy with conditions (the allowing statement last), the audit trail written and fsync'd
// before each answer, request logging at the default level (info). Rounds alternate ours, bare,
// ours, bare … so a neighbour's burst falls on both; each round's ratio is ours ÷ the bare run
// next to it, and the median of those ratios is reported with their range.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { identityPolicies, keyPolicy } from './authorization.mjs';

export const TARGETS = { Encrypt: 0.5, Decrypt: 0.45, GenerateDataKey: 0.45 };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A port for a bench server and the one after it, below Linux's ephemeral range (32768–60999):
 * a port in that range may be the local end of one of wrk's or a client's connections at the
 * moment the server listens, which fails with EADDRINUSE.
 */
export const benchPort = () => 20000 + Math.floor(Math.random() * 12000);

/**
 * Resolves once a spawned `hsmkms serve` prints "listening on" (its stdout and stderr piped);
 * rejects with the tail of its output if it exits first. Only the tail is kept: the server logs
 * a line per request.
 */
export function untilListening(child, what = 'hsmkms serve') {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out = (out + chunk).slice(-16384);
      if (/listening on/.test(out)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}:\n${out}`)));
  });
}

/** CPU time (ms, user + system) used so far by a process and its descendants (Linux /proc). */
export function cpuMs(pid) {
  let total = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
    for (const task of readdirSync(`/proc/${pid}/task`))
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += cpuMs(Number(child));
  } catch {
    // The process ended meanwhile.
  }
  return total;
}

/** Requests each hsmkms process answers before the measured rounds (`BENCH_WARMUP_REQUESTS`). */
export const WARMUP_REQUESTS = Number(process.env.BENCH_WARMUP_REQUESTS ?? 5_000);

/**
 * Unmeasured one-second runs for at least 2 s and until `total` requests were answered (at most
 * 30 s); `h.once(label, url, requests, seconds)` runs one and returns its rate (per second, so
 * about how many a one-second run answered).
 */
export async function warmUp(h, label, url, makeRequests, total) {
  const started = performance.now();
  for (let done = 0, runs = 0; (done < total || runs < 2) && performance.now() < started + 30_000; runs++)
    done += await h.once(label, url, await makeRequests(), 1);
}

/** One wrk run with the server's CPU time per request (µs): on a shared machine, rates swing with the neighbours; CPU per request much less. */
async function run(h, label, url, requests, pid) {
  const before = cpuMs(pid);
  const started = performance.now();
  const rps = await h.once(label, url, requests);
  const seconds = (performance.now() - started) / 1000;
  return { rps, cpuUs: ((cpuMs(pid) - before) * 1000) / (rps * seconds) };
}

/**
 * The caller every core figure is measured as: a new CryptoUser with the two identity policies
 * of authorization.mjs, a key whose 10-statement policy lets it encrypt, 1 KB of plaintext under
 * the encryption context the policies ask for, and a ciphertext of it (for Decrypt).
 */
export async function benchCaller({ root, endpoint, region, rootCredentials, userName }) {
  const { HsmKmsClient } = await import(join(root, 'dist/client/hsmkms-client.js'));
  const admin = new HsmKmsClient({ endpoint, region, credentials: rootCredentials });
  const created = await admin.call('CreatePrincipal', { UserName: userName });
  for (const p of identityPolicies) await admin.call('PutPrincipalPolicy', { UserName: userName, ...p });
  const credentials = { accessKeyId: created.AccessKeyId, secretAccessKey: created.SecretAccessKey };
  const rootKms = new KMSClient({ endpoint, region, credentials: rootCredentials });
  const appKms = new KMSClient({ endpoint, region, credentials });
  try {
    const keyId = (await rootKms.send(new CreateKeyCommand({ Policy: keyPolicy(created.Arn) }))).KeyMetadata.KeyId;
    const kb = randomBytes(1024);
    const context = { app: 'bench' };
    const blob = Buffer.from((await appKms.send(new EncryptCommand({ KeyId: keyId, Plaintext: kb, EncryptionContext: context }))).CiphertextBlob);
    return { credentials, keyId, kb, context, blob };
  } finally {
    rootKms.destroy();
    appKms.destroy();
  }
}

/**
 * A single-worker server's `op` request as {@link benchCaller}'s caller, for the tools that
 * replay one request (cpu-profile.mjs, instructions.mjs): the server listens on 127.0.0.1:`port`
 * with `work` as its data directory (its root credentials are read there). Returns the JSON body,
 * its SigV4 headers (a signature stays valid for minutes) and `sign()`, which signs it afresh.
 */
export async function signedCoreRequest({ root, work, port, op, userName }) {
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  const creds = JSON.parse(readFileSync(join(work, 'root-credentials.json'), 'utf8'));
  const rootCredentials = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
  const { credentials, keyId, kb, context, blob } = await benchCaller({ root, endpoint, region, rootCredentials, userName });
  const input = {
    Encrypt: { KeyId: keyId, Plaintext: kb.toString('base64'), EncryptionContext: context },
    Decrypt: { CiphertextBlob: blob.toString('base64'), EncryptionContext: context },
    GenerateDataKey: { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context },
  }[op];
  const body = JSON.stringify(input);
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 });
  const sign = async () =>
    (
      await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        path: '/',
        headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${op}` },
        body,
      })
    ).headers;
  return { body, headers: await sign(), sign };
}

/**
 * Measures one process count. `h` carries run.mjs's helpers: start(args, env, pattern) → { stop },
 * once(label, url, requests) → req/s (one wrk run, every response checked 2xx), signedBy(signer).
 */
export async function processRatios(h, { processes, runs }) {
  const { root, work, tokenEnv } = h;
  const port = benchPort();
  const barePort = port + 1;
  // With 1 process, `--recycle-worker-after off`: one process on both sides (the softhsm2
  // profile's default would run the worker under a primary; a cached-key Encrypt makes no token
  // object, so nothing would be recycled anyway). BENCH_SERVE_ARGS, after it, may say otherwise.
  const oneProcess = processes === 1 ? ['--recycle-worker-after', 'off'] : [];
  const ours = await h.start(
    [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', String(processes), '--audit-node-id', `bench-core-${processes}`, ...oneProcess, ...(process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean)],
    {},
    /listening on/,
  );
  const bare = await h.start([join(root, 'ci/bench/bare-server.mjs'), String(barePort), String(processes)], tokenEnv, /ready/);
  try {
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const { credentials, keyId, kb, context, blob } = await benchCaller({ root, endpoint, region, rootCredentials: h.rootCredentials, userName: `bench-app-${processes}-${randomBytes(4).toString('hex')}` });
    const asApp = h.signedBy(new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 }));

    const bareUrl = `http://127.0.0.1:${barePort}`;
    const bareReq = (path) => async () => [{ path, headers: { Host: `127.0.0.1:${barePort}` }, body: kb.toString('base64') }];
    const ops = [
      { op: 'Encrypt', label: 'Encrypt 1 KB', input: { KeyId: keyId, Plaintext: kb.toString('base64'), EncryptionContext: context }, bare: bareReq('/encrypt') },
      { op: 'Decrypt', label: 'Decrypt 1 KB', input: { CiphertextBlob: blob.toString('base64'), EncryptionContext: context }, bare: bareReq('/decrypt') },
      { op: 'GenerateDataKey', label: 'GenerateDataKey', input: { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }, bare: bareReq('/encrypt') },
    ];
    const rows = [];
    for (const o of ops) {
      const oursReq = async () => [await asApp(o.op, o.input, port)];
      // Unmeasured warm-up of both sides (JIT, caches, keep-alive connections), a number of
      // requests per process: every worker compiles the request path for itself, and a fixed
      // time leaves each of N workers 1/N of the requests (fewer still on a busy machine), so its
      // first measured rounds would pay V8's background compilation.
      await warmUp(h, `${o.label} warm-up`, endpoint, oursReq, WARMUP_REQUESTS * processes);
      await h.once(`bare warm-up`, bareUrl, await o.bare(), 1);
      const r = { ours: [], bare: [], ratios: [], cpuRatios: [], oursCpu: [], bareCpu: [] };
      for (let i = 0; i < runs; i++) {
        const a = await run(h, `hsmkms ${o.label} (${processes}p)`, endpoint, await oursReq(), ours.child.pid);
        const b = await run(h, `bare ${o.op === 'Decrypt' ? 'decrypt' : 'encrypt'} (${processes}p)`, bareUrl, await o.bare(), bare.child.pid);
        r.ours.push(a.rps);
        r.bare.push(b.rps);
        r.ratios.push(a.rps / b.rps);
        r.oursCpu.push(a.cpuUs);
        r.bareCpu.push(b.cpuUs);
        r.cpuRatios.push(b.cpuUs / a.cpuUs);
      }
      rows.push({
        op: o.op,
        label: o.label,
        processes,
        ours: median(r.ours),
        bare: median(r.bare),
        ratio: median(r.ratios),
        low: Math.min(...r.ratios),
        high: Math.max(...r.ratios),
        oursCpu: median(r.oursCpu),
        bareCpu: median(r.bareCpu),
        cpuRatio: median(r.cpuRatios),
        target: TARGETS[o.op],
      });
    }
    return rows;
  } finally {
    await bare.stop();
    await ours.stop();
  }
}

/** The table run.mjs prints (and the README's table is made from). */
export function formatProcessRatios(rows, { runs, seconds }) {
  const lines = [
    `\nhsmkms vs bare node:http + 1 PKCS#11 call, same process count each side (wrk -t1 -c16, SoftHSM2; median of ${runs} interleaved rounds × ${seconds} s)`,
    'operation         processes   hsmkms req/s   bare req/s   ratio (range)        target         CPU µs/req hsmkms / bare = ratio by CPU',
  ];
  for (const r of rows)
    lines.push(
      `${r.label.padEnd(17)} ${`${r.processes} vs ${r.processes}`.padStart(9)} ${r.ours.toFixed(0).padStart(14)} ${r.bare.toFixed(0).padStart(12)}   ` +
        `${r.ratio.toFixed(2)} (${r.low.toFixed(2)}–${r.high.toFixed(2)})`.padEnd(21) +
        (r.target ? `≥ ${r.target} ${r.ratio >= r.target ? 'met' : 'NOT met'}` : '').padEnd(15) +
        `${r.oursCpu.toFixed(0)} / ${r.bareCpu.toFixed(0)} = ${r.cpuRatio.toFixed(2)}`,
    );
  return lines.join('\n');
}
