#!/usr/bin/env node
// Instructions per request of one hsmkms worker under callgrind: a measure a busy neighbour does
// not move, for judging a change on a shared machine (CPU time per request swings by 10–30% there).
// Each build given is started as `hsmkms serve --workers 1` under valgrind (all builds at once, so
// they run at similar speed: work done per unit of time — log flushes, audit batches — then
// weighs alike), given the `core` section's caller (cpu-profile.mjs's set-up), sent `CG_WARMUP`
// requests, counters zeroed, sent `CG_REQUESTS` more over 4 keep-alive connections. Printed: the
// main thread's instructions per request, and all threads' (those include V8's background
// compilation, which is still going on after hundreds of requests: judge by the main thread).
// Slow: a few minutes per run.
// Usage (after `npm run build`; valgrind installed):
//   node ci/bench/instructions.mjs [Encrypt|Decrypt|GenerateDataKey|IssueCertificate|CaSign] [checkout …]
// IssueCertificate and CaSign are the `ca` section's two sides (see ca-requests.mjs), made as the
// account root on a CA created before the server starts (the 64 CSRs cycled, the server at
// `--log-level warn` as there).
// A checkout is a directory with bin/, dist/ and build/ (default: this one), e.g. a copy of the
// build before a change. Environment: CG_WARMUP (default 1500), CG_REQUESTS (default 300),
// CG_WORKERS (default 1: with more, `serve --workers N` under --trace-children, counts summed over
// the processes per request; give N times the warm-up for the same per worker), CG_SPLIT=1 (also
// print the main thread's instructions split by kind: JIT code, inline caches, GC, JSON, … —
// callgrind-split.mjs), CG_THREADS=1 (also print each thread's instructions per request and what the
// thread is: main, libuv pool, V8 platform worker — to see which thread a difference is in),
// CG_KEEP=DIR (keep the measured callgrind files in DIR/<n>-<checkout name>/ for
// callgrind_annotate or callgrind-split.mjs).
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CA_MODES, caRequests, initBenchCa } from './ca-requests.mjs';
import { formatSplit, splitByKind } from './callgrind-split.mjs';
import { benchPort, signedCoreRequest, untilListening } from './core.mjs';

const here = fileURLToPath(new URL('../..', import.meta.url));
const [op = 'Encrypt', ...given] = process.argv.slice(2);
const roots = given.length ? given.map((r) => resolve(r)) : [here];
const WARMUP = Number(process.env.CG_WARMUP ?? 1500);
const REQUESTS = Number(process.env.CG_REQUESTS ?? 300);
const WORKERS = Number(process.env.CG_WORKERS ?? 1);
if (![...CA_MODES, 'Encrypt', 'Decrypt', 'GenerateDataKey'].includes(op))
  throw new Error(`operation: Encrypt, Decrypt, GenerateDataKey, IssueCertificate or CaSign, not ${op}`);
const caMode = CA_MODES.includes(op);

/** What a thread is, by its file name (thread 1 is the main thread) and the functions it ran. */
function threadKind(name, text) {
  if (/-0*1$/.test(name)) return 'main';
  if (/^c?fn=\(\d+\) uv__io_poll|^c?fn=\(\d+\) uv_run/m.test(text) && !/PlatformWorker|WorkerThreadsTaskRunner/.test(text)) return 'other event loop';
  if (/PlatformWorker|WorkerThreadsTaskRunner|DelayedTaskScheduler/.test(text)) return 'V8 platform worker';
  if (/^c?fn=\(\d+\) (worker|uv__work)/m.test(text) || /uv__queue_work|uv__fs_work/.test(text)) return 'libuv pool';
  return 'other';
}

/** One build under callgrind: instructions per request. */
async function measure(root, index) {
  const work = mkdtempSync(join(tmpdir(), 'hsmkms-instructions-'));
  const port = benchPort();
  const out = join(work, WORKERS > 1 ? 'callgrind.out.%p' : 'callgrind.out');
  if (caMode) initBenchCa(root, work);
  // One worker is one process (`--recycle-worker-after off`; the softhsm2 profile's default would
  // fork it from a primary outside callgrind without --trace-children), whose pid is callgrind's.
  const server = spawn(
    'valgrind',
    ['--tool=callgrind', ...(WORKERS > 1 ? ['--trace-children=yes'] : []), '--smc-check=all-non-file', '--dump-instr=no', '--separate-threads=yes', `--callgrind-out-file=${out}`, process.execPath, join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', String(WORKERS), '--audit-node-id', 'instructions', ...(WORKERS === 1 ? ['--recycle-worker-after', 'off'] : []), ...(caMode ? ['--log-level', 'warn'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await untilListening(server, 'hsmkms serve under valgrind');
    // One request (the core operations) or several cycled (issuance's distinct CSRs).
    const requests = caMode ? await caRequests({ dataDir: work, port, mode: op }) : [await signedCoreRequest({ root, work, port, op, userName: 'instructions-app' })];
    // Signed afresh every 100 requests: under valgrind a long run outlasts a signature's 5 minutes.
    let signed = [];
    const resign = async () => (signed = await Promise.all(requests.map(async (r) => ({ body: r.body, headers: await r.sign() }))));
    let next = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    // A request whose socket the server reset ('socket hang up': a keep-alive socket closed as it
    // was reused) is retried once; under valgrind on a busy machine that race
    // ended a 30-minute run.
    const one = (retry = true) =>
      new Promise((done, fail) => {
        const { body, headers } = signed[next++ % signed.length];
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? done() : fail(new Error(`${root}: status ${res.statusCode}`))));
        });
        req.on('error', (e) => (retry && e.code === 'ECONNRESET' ? one(false).then(done, fail) : fail(e)));
        req.end(body);
      });
    const send = async (count) => {
      for (let sent = 0; sent < count; sent += 100) {
        let left = Math.min(100, count - sent);
        await resign();
        await Promise.all([0, 1, 2, 3].map(async () => {
          while (left-- > 0) await one();
        }));
      }
    };
    await send(WARMUP);
    // With workers, the primary and each worker are valgrind'd processes of their own.
    const pids = [server.pid, ...(WORKERS > 1 ? readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean) : [])];
    for (const pid of pids) execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore' });
    await send(REQUESTS);
    for (const pid of pids) execFileSync('callgrind_control', ['--dump=measured', String(pid)], { stdio: 'ignore' });
    agent.destroy();
    // One file per thread (callgrind.out.<pid>.1-<thread>; thread 01 is the main thread).
    let main = 0;
    let all = 0;
    let split;
    const threads = [];
    for (const name of readdirSync(work).filter((n) => /^callgrind\.out.*-\d+$/.test(n)).sort()) {
      const text = readFileSync(join(work, name), 'utf8');
      const summary = /^(?:summary|totals): (\d+)/m.exec(text);
      if (!summary || !/^desc: Trigger: dump measured/m.test(text)) continue;
      all += Number(summary[1]);
      threads.push({ name, kind: threadKind(name, text), perRequest: Number(summary[1]) / REQUESTS });
      if (/-0*1$/.test(name)) {
        main += Number(summary[1]);
        if (process.env.CG_SPLIT === '1' && WORKERS === 1) split = splitByKind(text);
      }
    }
    if (main === 0) throw new Error(`${root}: callgrind wrote no counts for the main thread`);
    if (process.env.CG_KEEP) cpSync(work, join(process.env.CG_KEEP, `${index}-${basename(root)}`), { recursive: true, filter: (f) => f === work || /callgrind\.out/.test(f) });
    return { main: main / REQUESTS, all: all / REQUESTS, split, threads };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((done) => server.once('exit', done));
      server.kill('SIGKILL');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}

// Settled, not all: a failed run must not end this process before the others stop their servers.
const runs = await Promise.allSettled(roots.map((root, i) => measure(root, i)));
const failed = runs.find((r) => r.status === 'rejected');
if (failed) throw failed.reason;
const counts = runs.map((r) => r.value);
const m = (n) => Math.round(n).toLocaleString('en-US').padStart(12);
console.log(`${op}: instructions per request, ${WORKERS === 1 ? 'one worker' : `${WORKERS} workers (summed)`} under callgrind, ${REQUESTS} requests after ${WARMUP}\n main thread   all threads`);
roots.forEach((root, i) => console.log(`${m(counts[i].main)}  ${m(counts[i].all)}  ${root}`));
if (process.env.CG_THREADS === '1')
  roots.forEach((root, i) => console.log(`\nby thread, per request (${root}):\n${counts[i].threads.map((t) => `${m(t.perRequest)}  ${t.kind} (${t.name})`).join('\n')}`));
roots.forEach((root, i) => counts[i].split && console.log(`\nmain thread by kind, per request (${root}):\n${formatSplit(counts[i].split, REQUESTS)}`));
