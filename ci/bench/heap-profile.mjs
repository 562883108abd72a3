#!/usr/bin/env node
// What one hsmkms worker allocates per request, garbage included: starts `hsmkms serve --workers 1`
// with the inspector, sets up the `core` section's caller (cpu-profile.mjs's set-up), warms up
// with wrk, then runs V8's sampling heap profiler over one measured wrk run keeping the samples of
// objects already collected (so the profile is every allocation, not what survives), and prints
// bytes per request, in total and by allocating function (self) with its caller chain.
// Usage (after `npm run build`): node --experimental-websocket ci/bench/heap-profile.mjs [Encrypt|Decrypt|GenerateDataKey]
// Environment: HEAP_SECONDS (measured run, default 5), HEAP_WARMUP_SECONDS (default 5),
// HEAP_TOP (rows, default 25), HEAP_INTERVAL (sampling interval in bytes, default 256),
// HEAP_SAVE (a path to keep the .heapprofile at, for Chrome DevTools).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPort, signedCoreRequest, untilListening } from './core.mjs';
import { wrk } from './wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const op = process.argv[2] ?? 'Encrypt';
const SECONDS = Number(process.env.HEAP_SECONDS ?? 5);
const WARMUP = Number(process.env.HEAP_WARMUP_SECONDS ?? 5);
const TOP = Number(process.env.HEAP_TOP ?? 25);
const SAVE = process.env.HEAP_SAVE;
const INTERVAL = Number(process.env.HEAP_INTERVAL ?? 256);
if (!['Encrypt', 'Decrypt', 'GenerateDataKey'].includes(op)) throw new Error(`operation: Encrypt, Decrypt or GenerateDataKey, not ${op}`);

const work = mkdtempSync(join(tmpdir(), 'hsmkms-heap-'));
const port = benchPort();
const inspectPort = port + 1;
const server = spawn(
  process.execPath,
  [`--inspect=127.0.0.1:${inspectPort}`, join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', '1', '--audit-node-id', 'heap', '--recycle-worker-after', 'off'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let wsUrl;
server.stderr.on('data', (d) => {
  const m = /ws:\/\/\S+/.exec(String(d));
  if (m) wsUrl ??= m[0];
});
try {
  // The inspector's "Debugger listening on" comes first: wait for the server's own line.
  let out = '';
  for (const s of [server.stdout, server.stderr]) s.on('data', (d) => (out = (out + d).slice(-16384)));
  await untilListening(server);
  while (!/^(?!Debugger).*listening on/m.test(out) && server.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
  const signed = await signedCoreRequest({ root, work, port, op, userName: 'heap-app' });
  const { host, ...headers } = signed.headers;
  const requests = [{ path: '/', headers: { Host: host, ...headers }, body: signed.body }];
  const endpoint = `http://127.0.0.1:${port}`;
  const script = join(work, 'heap.lua');
  await wrk(endpoint, requests, { seconds: WARMUP, connections: 16, script });

  // Node 20's WebSocket is behind --experimental-websocket (a global from Node 22).
  if (typeof WebSocket !== 'function') throw new Error('run with node --experimental-websocket (Node 20)');
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg), pending.delete(msg.id);
  };
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('HeapProfiler.enable');
  await call('HeapProfiler.startSampling', { samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const r = await wrk(endpoint, requests, { seconds: SECONDS, connections: 16, script });
  const { result } = await call('HeapProfiler.stopSampling');
  ws.close();
  if (r.non2xx || r.errors) throw new Error(`${r.non2xx} error responses, ${r.errors} socket errors`);

  if (SAVE) writeFileSync(SAVE, JSON.stringify(result.profile));
  const bySelf = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\//, '').replace(root, '')}:${f.lineNumber + 1}`;
    const here = [...stack, name];
    if (node.selfSize) {
      total += node.selfSize;
      const key = name;
      const e = bySelf.get(key) ?? { bytes: 0, callers: new Map() };
      e.bytes += node.selfSize;
      const chain = here.slice(-5, -1).map((s) => s.split(' ')[0]).join(' < ');
      e.callers.set(chain, (e.callers.get(chain) ?? 0) + node.selfSize);
      bySelf.set(key, e);
    }
    for (const c of node.children) walk(c, here);
  };
  walk(result.profile.head, []);
  // Inclusive: bytes allocated under each function (counted once per sample stack, recursion aside).
  const inclusive = new Map();
  const walkInclusive = (node, seen) => {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^file:\/\//, '').replace(root, '')}:${f.lineNumber + 1}`;
    const size = (function sum(n) {
      return n.selfSize + n.children.reduce((a, c) => a + sum(c), 0);
    })(node);
    if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + size);
    const next = new Set(seen).add(name);
    for (const c of node.children) walkInclusive(c, next);
  };
  walkInclusive(result.profile.head, new Set());
  const per = (b) => (b / r.requests).toFixed(0).padStart(7);
  console.log(`${op}: ${r.requests} requests, ~${per(total).trim()} bytes allocated per request (sampled every ${INTERVAL} B)`);
  for (const [name, e] of [...bySelf].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, TOP)) {
    const top = [...e.callers].sort((a, b) => b[1] - a[1])[0];
    console.log(`${per(e.bytes)}  ${name}   [${top[0]}]`);
  }
  console.log('\nInclusive, our code (dist/):');
  for (const [name, bytes] of [...inclusive].filter(([n]) => n.includes(' dist/')).sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`${per(bytes)}  ${name}`);
} finally {
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
