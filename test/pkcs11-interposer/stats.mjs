/**
 * Reads the interposer's statistics file (HSMKMS_INTERPOSER_STATS; see interposer.c): five
 * little-endian uint64 counters that every process loading the interposer with that path adds to.
 * Diff two snapshots with {@link perCall}. Used by ci/bench/latency.mjs and the interposer's test.
 */
import { existsSync, readFileSync } from 'node:fs';

/** Calls answered, latency asked for, latency added, whole time in the interposer (ns); zeros before the first call. */
export function readInterposerStats(file) {
  if (!existsSync(file)) return { calls: 0, nominalNs: 0, addedNs: 0, inCallNs: 0 };
  const b = readFileSync(file);
  if (b.length < 40 || b.toString('latin1', 0, 8) !== 'HSMKMSI1') throw new Error(`${file} is not the interposer's statistics`);
  const at = (i) => Number(b.readBigUInt64LE(i * 8));
  return { calls: at(1), nominalNs: at(2), addedNs: at(3), inCallNs: at(4) };
}

/** What the interposer delivered between two snapshots: the calls, and per call in ms. */
export function perCall(before, after) {
  const calls = after.calls - before.calls;
  const per = (k) => (calls > 0 ? (after[k] - before[k]) / calls / 1e6 : 0);
  return { calls, nominalMs: per('nominalNs'), addedMs: per('addedNs'), inCallMs: per('inCallNs') };
}
