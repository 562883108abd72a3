// A network HSM is latency, not CPU: hsmkms under the `cloudhsm` profile through the PKCS#11
// interposer (test/pkcs11-interposer), which adds a fixed delay to every PKCS#11 call (changed
// between runs through its control file, no restart). For each per-call latency and session pool
// size (`--pool-size`), one worker:
//   - Encrypt 1 KB throughput with 64 connections (wrk) against the bound the pool allows,
//     pool ÷ (HSM calls per Encrypt × latency): 2 calls (C_EncryptInit, C_Encrypt) once the
//     key's handle is cached; target ≥ 0.8× where CPU is not the limit first;
//   - what the interposer actually delivered during that run (its statistics file: calls, and the
//     time each spent in it), the per-call HSM time that follows and the bound and ratio against
//     it, beside the nominal ones. The verdict uses the nominal bound: it is what a user sizes
//     the pool by (the HSM's round trip), and a host too busy to wake a waiting thread on time
//     costs a real deployment that time too;
//   - p99 at half that throughput, sent open-loop (ci/bench/open-loop.mjs: a C client in its own
//     process, which also reports how late it sent, so a loaded machine shows up as the
//     client's lateness rather than the server's), against the HSM time
//     of one Encrypt (calls × latency); target ≤ 3×; beside it the p99 of a second server on the
//     same token with `--audit off` at the same rate, which splits the durable audit write
//     (group commit, fsync'd before each answer) from the rest, and the p99 of that server at the
//     same rate with no added latency: the floor set by HTTP, the event loop and the client;
//   - the same p99 against a third server with `--audit-sync background` (the record written to
//     the file before the answer, fdatasync'd right after it; see README "Durable before
//     visible"), with its own verdict against the same target;
//   - for each open-loop run, the server's CPU per request (all threads, main thread) and the
//     times its main thread was scheduled per request (wake-ups, and preemptions on a busy
//     machine), and the share of the run its main thread was on a CPU:
//     a request that arrives alone costs 2–3× the CPU of one in a batch, so half the 64-connection
//     rate keeps the event loop busier than half, and the p99 grows with that share (FINDINGS,
//     "What sets the p99 at half rate with the audit off");
//   - beside them, the same server's rate with no added latency: the CPU's ceiling. Where it is
//     below the pool's bound, the bound cannot be reached on this machine whatever the pool.
// BENCH_LATENCIES_MS (default 0.2,1,2) and BENCH_POOL_SIZES (default 4,16) choose the grid.
import { chmodSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { randomBytes } from 'node:crypto';
import { openLoop } from './open-loop.mjs';
import { benchPort } from './core.mjs';

/** HSM calls one Encrypt makes once the key's handle is cached (see src/backend/pkcs11/aes-gcm.ts). */
export const CALLS_PER_ENCRYPT = 2;

/**
 * CPU time (ms) of all of a process's threads and of its main thread, and the main thread's
 * times on a CPU (each a wake-up, bar preemptions), from /proc/<pid>/task/<tid>/schedstat (Linux).
 */
function threadTimes(pid) {
  const out = { allMs: 0, mainMs: 0, mainRuns: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let fields;
    try {
      fields = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    } catch {
      continue; // the thread ended meanwhile
    }
    out.allMs += fields[0] / 1e6;
    if (tid === String(pid)) {
      out.mainMs = fields[0] / 1e6;
      out.mainRuns = fields[2];
    }
  }
  return out;
}

/**
 * An open-loop run with the server's CPU over it: per request, all threads and the main thread
 * (ms) and the times the main thread was scheduled; and the share of the run the main thread was
 * on a CPU (its busy share: what the queue in front of the event loop grows with).
 */
async function openLoopWithCpu(pid, ...args) {
  const before = threadTimes(pid);
  const started = performance.now();
  const r = await openLoop(...args);
  const elapsedMs = performance.now() - started;
  const after = threadTimes(pid);
  const n = Math.max(1, r.answered);
  return {
    ...r,
    cpuMs: (after.allMs - before.allMs) / n,
    mainMs: (after.mainMs - before.mainMs) / n,
    wakeups: (after.mainRuns - before.mainRuns) / n,
    mainBusy: (after.mainMs - before.mainMs) / elapsedMs,
  };
}

const list = (value, fallback) => (value ?? fallback).split(',').map(Number).filter((n) => n > 0);

export async function latencyTable(h, { seconds }) {
  const { buildInterposer } = await import(join(h.root, 'test/pkcs11-interposer/build.mjs'));
  const { readInterposerStats: readStats, perCall: delivered } = await import(join(h.root, 'test/pkcs11-interposer/stats.mjs'));
  const module = buildInterposer();
  const latencies = list(process.env.BENCH_LATENCIES_MS, '0.2,1,2');
  const pools = list(process.env.BENCH_POOL_SIZES, '4,16');
  const pinFile = join(h.work, 'cloudhsm.pin');
  writeFileSync(pinFile, `user:${readFileSync(join(h.work, 'user.pin'), 'utf8').trim()}\n`, { mode: 0o600 });
  chmodSync(pinFile, 0o600);
  const control = join(h.work, 'interposer.control');
  const statsFile = join(h.work, 'interposer.stats');
  const setLatency = (ms) => {
    writeFileSync(`${control}.tmp`, `latency_us=${Math.round(ms * 1000)}\ncloudhsm=1\n`);
    renameSync(`${control}.tmp`, control);
  };
  setLatency(latencies[0]);
  const env = {
    SOFTHSM2_CONF: join(h.work, 'softhsm2.conf'),
    HSMKMS_INTERPOSER_MODULE: '/usr/lib/softhsm/libsofthsm2.so',
    HSMKMS_INTERPOSER_CLOUDHSM: '1',
    HSMKMS_INTERPOSER_CONTROL: control,
    HSMKMS_INTERPOSER_STATS: statsFile,
  };
  const region = 'us-east-1';
  const signer = new SignatureV4({ service: 'kms', region, credentials: h.rootCredentials, sha256: Sha256 });
  const rows = [];
  const serve = (pool, port, extra) =>
    h.start(
      [
        join(h.root, 'bin/hsmkms.js'), 'serve', '--data-dir', h.work, '--port', String(port), '--workers', '1',
        '--module', module, '--token-label', 'hsmkms', '--pin-file', pinFile, '--profile', 'cloudhsm', '--pool-size', String(pool), ...extra,
      ],
      env,
      /listening on/,
    );
  for (const pool of pools) {
    const port = benchPort();
    const server = await serve(pool, port, ['--audit-node-id', `bench-latency-${pool}`]);
    // The same server with --audit off, on the same token and store, idle while the other runs.
    const offPort = port + 1;
    const auditOff = await serve(pool, offPort, ['--audit', 'off']);
    // And with the audit trail's fdatasync after the answer (opt-in).
    const bgPort = port + 2;
    const background = await serve(pool, bgPort, ['--audit-node-id', `bench-latency-bg-${pool}`, '--audit-sync', 'background']);
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      const kms = new KMSClient({ endpoint, region, credentials: h.rootCredentials });
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata.KeyId;
      kms.destroy();
      const input = { KeyId: keyId, Plaintext: randomBytes(1024).toString('base64') };
      const request = async () => h.signedBy(signer)('Encrypt', input, port);
      const requestOff = async () => h.signedBy(signer)('Encrypt', input, offPort);
      const requestBg = async () => h.signedBy(signer)('Encrypt', input, bgPort);
      await h.once('latency warm-up (audit-sync background)', `http://127.0.0.1:${bgPort}`, [await requestBg()], 1, 64);
      await h.once('latency warm-up (audit off)', `http://127.0.0.1:${offPort}`, [await requestOff()], 1, 64);
      // The same server with no added latency: the CPU's ceiling, which no pool size lifts.
      setLatency(0);
      await h.once('latency warm-up', endpoint, [await request()], 1, 64);
      const ceiling = await h.once(`Encrypt, no added latency, pool ${pool}, 64 connections`, endpoint, [await request()], seconds, 64);
      for (const ms of latencies) {
        setLatency(ms);
        await h.once('latency warm-up', endpoint, [await request()], 1, 64);
        const before = readStats(statsFile);
        const rps = await h.once(`Encrypt, ${ms} ms per call, pool ${pool}, 64 connections`, endpoint, [await request()], seconds, 64);
        const got = delivered(before, readStats(statsFile));
        const bound = pool / (CALLS_PER_ENCRYPT * ms / 1000);
        const deliveredBound = got.inCallMs > 0 ? pool / (CALLS_PER_ENCRYPT * got.inCallMs / 1000) : NaN;
        console.error(
          `  … interposer: ${got.calls} calls (${(got.calls / (rps * seconds)).toFixed(2)} per request), ${got.nominalMs.toFixed(3)} ms asked, ` +
            `${got.addedMs.toFixed(3)} ms added, ${got.inCallMs.toFixed(3)} ms in the call, per call`,
        );
        const half = await openLoopWithCpu(server.child.pid, endpoint, await request(), { rate: rps / 2, seconds, connections: 64 });
        if (half.non2xx || half.errors) throw new Error(`open-loop run: ${half.non2xx} error responses, ${half.errors} socket errors`);
        const offUrl = `http://127.0.0.1:${offPort}`;
        const openOff = async (label) => {
          await h.once('latency warm-up (audit off)', offUrl, [await requestOff()], 1, 64);
          const r = await openLoopWithCpu(auditOff.child.pid, offUrl, await requestOff(), { rate: rps / 2, seconds, connections: 64 });
          if (r.non2xx || r.errors) throw new Error(`open-loop run, ${label}: ${r.non2xx} error responses, ${r.errors} socket errors`);
          return r;
        };
        const bgUrl = `http://127.0.0.1:${bgPort}`;
        await h.once('latency warm-up (audit-sync background)', bgUrl, [await requestBg()], 1, 64);
        const halfBg = await openLoop(bgUrl, await requestBg(), { rate: rps / 2, seconds, connections: 64 });
        if (halfBg.non2xx || halfBg.errors) throw new Error(`open-loop run, audit-sync background: ${halfBg.non2xx} error responses, ${halfBg.errors} socket errors`);
        const halfOff = await openOff('audit off');
        // The floor: the same rate with neither the audit trail nor any HSM latency (HTTP, the
        // event loop, the client on the same machine).
        setLatency(0);
        const floor = await openOff('audit off, no added latency');
        setLatency(ms);
        console.error(
          `  … half rate ${half.rate.toFixed(0)}/s: p50 ${half.p50Ms.toFixed(2)} ms, p99 ${half.p99Ms.toFixed(2)} ms ` +
            `(the client sent late by ${half.sendLateP99Ms.toFixed(2)} ms at p99, ${halfOff.sendLateP99Ms.toFixed(2)} and ${floor.sendLateP99Ms.toFixed(2)} ms in the runs below); ` +
            `--audit-sync background: p50 ${halfBg.p50Ms.toFixed(2)} ms, p99 ${halfBg.p99Ms.toFixed(2)} ms (sent late by ${halfBg.sendLateP99Ms.toFixed(2)} ms at p99); ` +
            `audit off: p50 ${halfOff.p50Ms.toFixed(2)} ms, p99 ${halfOff.p99Ms.toFixed(2)} ms; ` +
            `audit off and no added latency: p50 ${floor.p50Ms.toFixed(2)} ms, p99 ${floor.p99Ms.toFixed(2)} ms`,
        );
        const cpu = (r) => `${r.cpuMs.toFixed(2)} ms (main thread ${r.mainMs.toFixed(2)} ms, ${r.wakeups.toFixed(1)} times scheduled; busy ${(100 * r.mainBusy).toFixed(0)}% of the run)`;
        console.error(`  … server CPU per request at half rate: default ${cpu(half)}; audit off ${cpu(halfOff)}; audit off, no added latency ${cpu(floor)}`);
        rows.push({
          ms, pool, rps, bound, ceiling, deliveredMs: got.inCallMs, deliveredBound,
          p50: half.p50Ms, p99: half.p99Ms, halfRate: half.rate, busy: half.mainBusy, busyFloor: floor.mainBusy, p99Bg: halfBg.p99Ms, p50Off: halfOff.p50Ms, p99Off: halfOff.p99Ms, p99Floor: floor.p99Ms,
        });
      }
    } finally {
      await Promise.all([server.stop(), auditOff.stop(), background.stop()]);
    }
  }
  return rows;
}

export function formatLatencyTable(rows, { seconds }) {
  const lines = [
    `\nnetwork-HSM latency (cloudhsm profile through the PKCS#11 interposer, 1 worker, audit on; Encrypt 1 KB = ${CALLS_PER_ENCRYPT} HSM calls; ${seconds} s per figure)`,
    'bound = pool ÷ (calls × per-call HSM time): nominal (the latency asked for; the verdict) and delivered (the interposer\'s measured time per call)',
    'p99 @ half rate: the default audit trail (record fdatasync\'d before the answer), then --audit-sync background (record in the file before the answer, fdatasync\'d right after)',
    'latency/call  pool   req/s @64   bound nominal   ratio (≥ 0.8)   delivered/call   bound delivered   ratio   CPU ceiling (0 ms)   p99 @ half rate   vs HSM time/Encrypt (≤ 3×)   p99 --audit-sync background   vs HSM time (≤ 3×)   p99 --audit off   p99 --audit off, 0 ms   event loop busy @ half rate (default / audit off, 0 ms)',
  ];
  for (const r of rows) {
    const ratio = r.rps / r.bound;
    const hsmMs = CALLS_PER_ENCRYPT * r.ms;
    lines.push(
      `${`${r.ms} ms`.padEnd(13)} ${String(r.pool).padStart(4)} ${r.rps.toFixed(0).padStart(11)} ${r.bound.toFixed(0).padStart(15)}   ` +
        `${ratio.toFixed(2)} ${ratio >= 0.8 ? 'met' : 'NOT met'}`.padEnd(15) +
        `${`${r.deliveredMs.toFixed(3)} ms`.padStart(16)} ${r.deliveredBound.toFixed(0).padStart(17)} ${(r.rps / r.deliveredBound).toFixed(2).padStart(7)} ` +
        `${r.ceiling.toFixed(0)}${r.ceiling < r.bound ? ' (below the bound)' : ''}`.padStart(21) +
        `${`${r.p99.toFixed(2)} ms`.padStart(18)}   ${`${(r.p99 / hsmMs).toFixed(2)}× of ${hsmMs.toFixed(1)} ms ${r.p99 <= 3 * hsmMs ? 'met' : 'NOT met'}`.padEnd(26)}` +
        `${`${r.p99Bg.toFixed(2)} ms`.padStart(30)}   ${`${(r.p99Bg / hsmMs).toFixed(2)}× ${r.p99Bg <= 3 * hsmMs ? 'met' : 'NOT met'}`.padEnd(18)}` +
        `${`${r.p99Off.toFixed(2)} ms`.padStart(18)} (${(r.p99Off / hsmMs).toFixed(2)}×)${`${r.p99Floor.toFixed(2)} ms`.padStart(14)}` +
        `${`${(100 * r.busy).toFixed(0)}% / ${(100 * r.busyFloor).toFixed(0)}%`.padStart(20)}`,
    );
  }
  return lines.join('\n');
}
