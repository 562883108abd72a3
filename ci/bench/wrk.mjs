// Replays pre-signed SigV4 requests with wrk (a signature stays valid for minutes), so the
// load generator is not the bottleneck; every non-2xx response is counted and reported.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

function luaString(value) {
  if (value.includes(']==]')) throw new Error('cannot quote for Lua');
  return `[==[${value}]==]`;
}

/**
 * Runs wrk against `url` cycling through `requests` ({ path, headers, body }).
 * Returns { rps, requests, non2xx, errors, p50Ms, p99Ms } (latency percentiles of all requests).
 */
export async function wrk(url, requests, { seconds = 5, connections = 16, script, timeoutS }) {
  const table = requests
    .map((r) => {
      const headers = Object.entries(r.headers)
        .map(([k, v]) => `[ ${luaString(k)} ] = ${luaString(String(v))}`)
        .join(', ');
      return `{ path = ${luaString(r.path ?? '/')}, headers = { ${headers} }, body = ${luaString(r.body ?? '')} }`;
    })
    .join(',\n');
  writeFileSync(
    script,
    `local reqs = {\n${table}\n}
local i = 0
request = function()
  i = i % #reqs + 1
  local r = reqs[i]
  return wrk.format("POST", r.path, r.headers, r.body)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("WRK_LATENCY %d %d\\n", latency:percentile(50), latency:percentile(99)))
end
`,
  );
  const timeout = timeoutS ? ['--timeout', `${timeoutS}s`] : [];
  const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, ...timeout, '-s', script, url], { maxBuffer: 1 << 24 });
  const m = /WRK_RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(stdout);
  if (!m) throw new Error(`wrk printed no result:\n${stdout}`);
  const [count, durationUs, non2xx, ...errs] = m.slice(1).map(Number);
  const latency = /WRK_LATENCY (\d+) (\d+)/.exec(stdout);
  return {
    rps: count / (durationUs / 1e6),
    requests: count,
    non2xx,
    errors: errs.reduce((a, b) => a + b, 0),
    errorKinds: { connect: errs[0], read: errs[1], write: errs[2], timeout: errs[3] },
    p50Ms: latency ? Number(latency[1]) / 1000 : undefined,
    p99Ms: latency ? Number(latency[2]) / 1000 : undefined,
  };
}
