// An open-loop load generator: requests leave at a fixed rate whatever the answers do (wrk is
// closed-loop: a slow answer delays the next request, which hides queueing). Each latency is
// counted from the moment the request was due, not sent, so a generator that falls behind
// shows up as latency instead of vanishing (no coordinated omission).
import http from 'node:http';

/** Sends `request` ({ path, headers, body }) at `rate` per second for `seconds`; returns percentiles in ms. */
export async function openLoop(url, request, { rate, seconds, connections = 64 }) {
  const { hostname, port } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const headers = { ...request.headers, 'content-length': Buffer.byteLength(request.body ?? '') };
  delete headers.Host;
  const total = Math.max(1, Math.floor(rate * seconds));
  const latencies = [];
  let non2xx = 0;
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    let done = 0;
    const finish = () => {
      if (++done === total) resolve();
    };
    const fire = (due) => {
      const req = http.request({ hostname, port, path: request.path ?? '/', method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
          latencies.push(performance.now() - due);
          finish();
        });
      });
      req.on('error', () => {
        errors++;
        finish();
      });
      req.end(request.body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < due) fire(start + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { sent: total, rate: total / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99), non2xx, errors };
}
