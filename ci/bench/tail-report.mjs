#!/usr/bin/env node
// What the slowest 1% of an open-loop run overlapped (see ci/bench/FINDINGS.md, "What sets the
// p99 at half rate with the audit off"):
//
//   node ci/bench/tail-report.mjs SAMPLES [PROBE_PREFIX] [TIMEHIST SERVER_PID]
//
// SAMPLES: the open-loop client's OPEN_LOOP_SAMPLES file ("due latency" per answer, ms on
// CLOCK_MONOTONIC). PROBE_PREFIX: the TAIL_PROBE_OUT given to a server run with
// ci/bench/tail-probe.mjs (its <prefix>.<pid>.log files are read). TIMEHIST: the text of
// `perf sched timehist -i DATA` for a `perf sched record -k CLOCK_MONOTONIC` taken during the run,
// with the server's process id: run-queue waits of its main thread, its other threads and the
// open-loop client. Prints, for the requests at or over the p99, how long they waited before the
// server's `request` event and inside it, and how many overlapped a GC pause or a run-queue wait
// of at least 1 ms of each kind of thread.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const [samplesFile, probePrefix, timehistFile, serverPid] = process.argv.slice(2);
if (!samplesFile) {
  console.error('usage: tail-report.mjs SAMPLES [PROBE_PREFIX] [TIMEHIST SERVER_PID]');
  process.exit(2);
}
const rows = (text) => text.split('\n').filter(Boolean).map((line) => line.split(' '));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const samples = rows(readFileSync(samplesFile, 'utf8')).map(([due, latency]) => [Number(due), Number(latency)]);

const requests = [];
const gcs = [];
if (probePrefix) {
  const dir = dirname(probePrefix);
  for (const f of readdirSync(dir).filter((f) => f.startsWith(`${basename(probePrefix)}.`) && f.endsWith('.log'))) {
    for (const [kind, a, b] of rows(readFileSync(join(dir, f), 'utf8'))) {
      if (kind === 'R') requests.push([Number(a), Number(b)]);
      else if (kind === 'G') gcs.push([Number(a), Number(a) + Number(b)]);
    }
  }
}
// perf sched timehist: "time cpu task[tid/pid] wait sch-delay run" — the task ran `run` ms up to
// `time`, after waiting `sch-delay` ms on the run queue.
const waits = { main: [], threads: [], client: [] };
let window;
if (timehistFile && existsSync(timehistFile)) {
  for (const line of readFileSync(timehistFile, 'utf8').split('\n')) {
    const m = /^\s*([\d.]+)\s+\[\d+\]\s+(\S*)\[(\d+)(?:\/(\d+))?\]\s+[\d.]+\s+([\d.]+)\s+([\d.]+)/.exec(line);
    if (!m) continue;
    const end = Number(m[1]) * 1000 - Number(m[6]);
    window = window ? [window[0], end] : [end, end];
    const delay = Number(m[5]);
    if (delay < 1) continue;
    const kind = m[2].startsWith('open-loop') ? 'client' : m[3] === serverPid && !m[4] ? 'main' : m[4] === serverPid ? 'threads' : undefined;
    if (kind) waits[kind].push([end - delay, end]);
  }
}
const inWindow = window ? samples.filter(([due, latency]) => due >= window[0] && due + latency <= window[1]) : samples;
const latencies = inWindow.map(([, l]) => l).sort((a, b) => a - b);
const p99 = pct(latencies, 0.99);
const slow = inWindow.filter(([, l]) => l >= p99);
console.log(`${inWindow.length} answers${window ? ' inside the perf window' : ''}: p50 ${pct(latencies, 0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${latencies.at(-1).toFixed(1)} ms`);
if (requests.length) {
  const inside = requests.filter(([a]) => !window || (a >= window[0] && a <= window[1])).map(([a, f]) => f - a).sort((a, b) => a - b);
  let before = 0;
  let within = 0;
  for (const [due, latency] of slow) {
    const done = due + latency;
    // The server's request that best fits: arrived after it was due, finished as it was answered.
    const match = requests.filter(([a, f]) => a >= due - 0.2 && f <= done + 0.5).sort((x, y) => Math.abs(x[1] - done) - Math.abs(y[1] - done))[0];
    if (match) {
      before += match[0] - due;
      within += match[1] - match[0];
    }
  }
  console.log(`inside the server (request → finish): p50 ${pct(inside, 0.5).toFixed(2)} ms, p99 ${pct(inside, 0.99).toFixed(2)} ms`);
  console.log(`slowest 1% (${slow.length}): on average ${(before / slow.length).toFixed(1)} ms before the request event, ${(within / slow.length).toFixed(1)} ms inside`);
}
const overlaps = (intervals) => {
  let n = 0;
  for (const [due, latency] of slow) if (intervals.some(([a, b]) => b > due && a < due + latency)) n++;
  return n;
};
if (gcs.length) console.log(`  overlapped a GC pause ≥1 ms: ${overlaps(gcs.filter(([a, b]) => b - a >= 1))}`);
if (window) {
  for (const [kind, list] of Object.entries(waits)) {
    const lengths = list.map(([a, b]) => b - a).sort((a, b) => a - b);
    console.log(`  overlapped a run-queue wait ≥1 ms of the ${kind === 'main' ? 'main thread' : kind === 'threads' ? "server's other threads" : 'client'}: ${overlaps(list)} (${list.length} such waits, ${lengths.filter((x) => x >= 5).length} ≥5 ms, longest ${(lengths.at(-1) ?? 0).toFixed(1)} ms)`);
  }
}
