// A diagnostic preload for a server under an open-loop run, to tell what its slowest requests
// overlapped: `NODE_OPTIONS="--import /abs/path/ci/bench/tail-probe.mjs" TAIL_PROBE_OUT=/dir/probe
// hsmkms serve …`. Each second, every process that loads it appends to `${TAIL_PROBE_OUT}.<pid>.log`:
//   R <arrival> <finish>        each HTTP request: its `request` event and its response's `finish`
//   G <start> <duration> <kind> each GC (PerformanceObserver)
//   S <start> <gap> <run> <wait> <switches> <requests> <finished>   with TAIL_PROBE_TICK=1, each gap
//                               over 4 ms between the turns of a 2 ms timer, with the main thread's
//                               time running and waiting on the run queue during it (schedstat), and
//                               the requests that arrived and finished in it
// Times are ms on CLOCK_MONOTONIC, the clock of the open-loop client's OPEN_LOOP_SAMPLES and of
// `perf sched record -k CLOCK_MONOTONIC`, which ci/bench/tail-report.mjs lines them up with. It
// costs a few µs per request and one append a second (the tick: one /proc read every 2 ms): a
// measuring tool, not for figures of record.
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env.TAIL_PROBE_OUT;
if (isMainThread && out) {
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const offset = now() - performance.now();
  let lines = [];
  let arrived = 0;
  let finished = 0;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, request, response) {
    if (event === 'request') {
      arrived++;
      const at = now();
      response.once('finish', () => {
        finished++;
        lines.push(`R ${at.toFixed(3)} ${now().toFixed(3)}`);
      });
    }
    return emit.apply(this, arguments);
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) lines.push(`G ${(e.startTime + offset).toFixed(3)} ${e.duration.toFixed(3)} ${e.detail?.kind ?? ''}`);
  }).observe({ entryTypes: ['gc'] });
  if (process.env.TAIL_PROBE_TICK === '1') {
    const sched = () => readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    let last = now();
    let lastSched = sched();
    let lastCounts = [0, 0];
    setInterval(() => {
      const t = now();
      const s = sched();
      if (t - last > 4) {
        const run = (s[0] - lastSched[0]) / 1e6;
        const wait = (s[1] - lastSched[1]) / 1e6;
        lines.push(`S ${last.toFixed(3)} ${(t - last).toFixed(3)} ${run.toFixed(3)} ${wait.toFixed(3)} ${s[2] - lastSched[2]} ${arrived - lastCounts[0]} ${finished - lastCounts[1]}`);
      }
      last = t;
      lastSched = s;
      lastCounts = [arrived, finished];
    }, 2).unref();
  }
  const file = `${out}.${process.pid}.log`;
  const flush = () => {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    lines = [];
    appendFileSync(file, text);
  };
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
