#!/usr/bin/env node
// Where the CPU of a request goes when hsmkms runs as several processes: one `hsmkms serve
// --workers N` sharing a data directory and token (mode `cluster`), or N separate single-worker
// servers, each on its own data directory and SoftHSM2 token with its own wrk (mode `separate`),
// which share nothing but the machine. Each process first answers WORKER_CPU_WARMUP requests
// (every process compiles the request path for itself), then per round (wrk -t1, 16 connections
// in all) it prints the CPU µs per request from /proc, split into the main thread (with its system
// time and its involuntary context switches per request) and the other threads (V8's compiler and
// GC, libuv's pool: the audit trail's write), summed over the processes.
// Usage (after `npm run build`): node ci/bench/worker-cpu.mjs [Encrypt|Decrypt|GenerateDataKey]
// Environment: WORKER_CPU_PROCESSES (default 2), WORKER_CPU_MODES (default cluster,separate,single:
// `single` is one worker alone for reference), WORKER_CPU_ROUNDS (default 3), WORKER_CPU_SECONDS
// (default 3), WORKER_CPU_WARMUP (requests per process, default 10000), BENCH_SERVE_ARGS.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPort, signedCoreRequest, untilListening } from './core.mjs';
import { wrk } from './wrk.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const op = process.argv[2] ?? 'Encrypt';
const PROCESSES = Number(process.env.WORKER_CPU_PROCESSES ?? 2);
const MODES = (process.env.WORKER_CPU_MODES ?? 'cluster,separate,single').split(',');
const ROUNDS = Number(process.env.WORKER_CPU_ROUNDS ?? 3);
const SECONDS = Number(process.env.WORKER_CPU_SECONDS ?? 3);
const WARMUP = Number(process.env.WORKER_CPU_WARMUP ?? 10_000);
const CONNECTIONS = 16;

/** Per thread of a process: CPU ms (user + system), system ms, involuntary context switches. */
function threadTimes(pid) {
  const threads = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const involuntary = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]);
      threads.set(tid, { cpu: (Number(f[11]) + Number(f[12])) * 10, sys: Number(f[12]) * 10, involuntary });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

/** Main-thread and other-thread totals over `pids` between two samples. */
function delta(pids, before, after) {
  const d = { main: 0, mainSys: 0, involuntary: 0, other: 0 };
  pids.forEach((pid, i) => {
    for (const [tid, a] of after[i]) {
      const b = before[i].get(tid) ?? { cpu: 0, sys: 0, involuntary: 0 };
      if (tid === String(pid)) {
        d.main += a.cpu - b.cpu;
        d.mainSys += a.sys - b.sys;
        d.involuntary += a.involuntary - b.involuntary;
      } else d.other += a.cpu - b.cpu;
    }
  });
  return d;
}

async function startServer(workers) {
  const work = mkdtempSync(join(tmpdir(), 'hsmkms-worker-cpu-'));
  const port = benchPort();
  // A single-worker server is one process (`--recycle-worker-after off`; the softhsm2 profile's
  // default would put a primary over it), so that its pid is the worker measured below.
  const args = [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', String(workers), '--audit-node-id', 'worker-cpu', ...(workers === 1 ? ['--recycle-worker-after', 'off'] : [])];
  const child = spawn(process.execPath, [...args, ...(process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter(Boolean)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await untilListening(child);
  const signed = await signedCoreRequest({ root, work, port, op, userName: 'worker-cpu-app' });
  const { host, ...headers } = signed.headers;
  const workerPids = workers === 1 ? [child.pid] : readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  return {
    url: `http://127.0.0.1:${port}`,
    requests: [{ path: '/', headers: { Host: host, ...headers }, body: signed.body }],
    script: join(work, 'worker-cpu.lua'),
    pids: [child.pid, ...workerPids.filter((p) => p !== child.pid)],
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** wrk against every server at once, `connections` split between them; total requests. */
async function load(servers, seconds) {
  const results = await Promise.all(
    servers.map((s) => wrk(s.url, s.requests, { seconds, connections: CONNECTIONS / servers.length, script: s.script })),
  );
  for (const r of results) if (r.non2xx || r.errors) throw new Error(`${r.non2xx} error responses, ${r.errors} socket errors`);
  return results.reduce((sum, r) => sum + r.requests, 0);
}

async function measure(mode) {
  const servers = mode === 'cluster' ? [await startServer(PROCESSES)] : await Promise.all(Array.from({ length: mode === 'single' ? 1 : PROCESSES }, () => startServer(1)));
  const processes = mode === 'single' ? 1 : PROCESSES;
  try {
    for (let done = 0; done < WARMUP * processes; ) done += await load(servers, 1);
    const pids = servers.flatMap((s) => s.pids);
    for (let i = 0; i < ROUNDS; i++) {
      const before = pids.map(threadTimes);
      const started = performance.now();
      const requests = await load(servers, SECONDS);
      const d = delta(pids, before, pids.map(threadTimes));
      const us = (ms) => ((ms * 1000) / requests).toFixed(0).padStart(4);
      console.log(
        `${`${mode} (${processes} process${processes > 1 ? 'es' : ''})`.padEnd(24)} round ${i + 1}: ${(requests / ((performance.now() - started) / 1000)).toFixed(0).padStart(5)} req/s, ` +
          `CPU µs/request ${us(d.main + d.other)} = main thread ${us(d.main)} (system ${us(d.mainSys)}, ${(d.involuntary / requests).toFixed(2)} preemptions/request) + other threads ${us(d.other)}`,
      );
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

console.log(`${op}: CPU per request by process layout (wrk -t1, ${CONNECTIONS} connections in all; ${WARMUP} requests per process first)`);
for (const mode of MODES) await measure(mode);
