#!/usr/bin/env node
// Instructions per request of one hsmkms worker under callgrind: a measure a busy neighbour does
// not move, for judging a change on a shared machine (CPU time per request swings by 10–30% there).
// Each build given is started as `hsmkms serve --workers 1` under valgrind (all builds at once, so
// they run at similar speed: work done per unit of time — log flushes, audit batches — then
// weighs alike), given the `core` section's caller (cpu-profile.mjs's set-up), sent `CG_WARMUP`
// requests, counters zeroed, sent `CG_REQUESTS` more over 4 keep-alive connections, and the
// instructions of every thread summed. Slow: a few minutes per run.
// Usage (after `npm run build`; valgrind installed):
//   node ci/bench/instructions.mjs [Encrypt|Decrypt|GenerateDataKey] [checkout …]
// A checkout is a directory with bin/, dist/ and build/ (default: this one), e.g. a copy of the
// build before a change. Environment: CG_WARMUP (default 400), CG_REQUESTS (default 300).
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { benchCaller } from './core.mjs';

const here = fileURLToPath(new URL('../..', import.meta.url));
const [op = 'Encrypt', ...given] = process.argv.slice(2);
const roots = given.length ? given.map((r) => resolve(r)) : [here];
const WARMUP = Number(process.env.CG_WARMUP ?? 400);
const REQUESTS = Number(process.env.CG_REQUESTS ?? 300);
if (!['Encrypt', 'Decrypt', 'GenerateDataKey'].includes(op)) throw new Error(`operation: Encrypt, Decrypt or GenerateDataKey, not ${op}`);

/** One build under callgrind: instructions per request. */
async function measure(root) {
  const work = mkdtempSync(join(tmpdir(), 'hsmkms-instructions-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const out = join(work, 'callgrind.out');
  const server = spawn(
    'valgrind',
    ['--tool=callgrind', '--smc-check=all-non-file', '--dump-instr=no', `--callgrind-out-file=${out}`, process.execPath, join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', '1', '--audit-node-id', 'instructions'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await new Promise((ready, fail) => {
      let log = '';
      const onData = (chunk) => {
        log = (log + chunk).slice(-8192);
        if (/listening on/.test(log)) ready();
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.once('exit', (code) => fail(new Error(`hsmkms serve under valgrind exited ${code}:\n${log}`)));
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const creds = JSON.parse(readFileSync(join(work, 'root-credentials.json'), 'utf8'));
    const rootCredentials = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
    const { credentials, keyId, kb, context, blob } = await benchCaller({ root, endpoint, region, rootCredentials, userName: 'instructions-app' });
    const input = {
      Encrypt: { KeyId: keyId, Plaintext: kb.toString('base64'), EncryptionContext: context },
      Decrypt: { CiphertextBlob: blob.toString('base64'), EncryptionContext: context },
      GenerateDataKey: { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context },
    }[op];
    const body = JSON.stringify(input);
    const signed = await new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 }).sign({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port,
      path: '/',
      headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${op}` },
      body,
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const one = () =>
      new Promise((done, fail) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: signed.headers }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? done() : fail(new Error(`${root}: status ${res.statusCode}`))));
        });
        req.on('error', fail);
        req.end(body);
      });
    const send = async (count) => {
      let left = count;
      await Promise.all([0, 1, 2, 3].map(async () => {
        while (left-- > 0) await one();
      }));
    };
    await send(WARMUP);
    execFileSync('callgrind_control', ['--zero', String(server.pid)], { stdio: 'ignore' });
    await send(REQUESTS);
    execFileSync('callgrind_control', ['--dump=measured', String(server.pid)], { stdio: 'ignore' });
    agent.destroy();
    // One file per thread (or one in all); only the dump's, not the final one at exit.
    let total = 0;
    for (const name of readdirSync(work).filter((n) => n.startsWith('callgrind.out.'))) {
      const text = readFileSync(join(work, name), 'utf8');
      const summary = /^(?:summary|totals): (\d+)/m.exec(text);
      if (summary && /^desc: Trigger: dump measured/m.test(text)) total += Number(summary[1]);
    }
    if (total === 0) throw new Error(`${root}: callgrind wrote no counts`);
    return total / REQUESTS;
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((done) => server.once('exit', done));
      server.kill('SIGKILL');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}

const counts = await Promise.all(roots.map(measure));
console.log(`${op}: instructions per request, one worker under callgrind, ${REQUESTS} requests after ${WARMUP} (all threads)`);
roots.forEach((root, i) => console.log(`${Math.round(counts[i]).toLocaleString('en-US').padStart(12)}  ${root}`));
