/**
 * The audit trail writer on a real directory, signing with the run's SoftHSM2 token: chained
 * lines, durable before the promise resolves, group commit, digests by count, time, rotation
 * and close, continuing after a restart and after a torn write, and both failure modes.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSignerOf, lineHash, listSegments, openChainedAuditSink, PUBLIC_KEY_FILE, type ChainedAuditSinkOptions } from '../../src/audit/index.js';
import type { AuditSigner } from '../../src/core/ports.js';
import { testBackend } from '../support/kms-deps.js';
import { RecordingLogger } from '../backend/pkcs11/helpers.js';
import { enospc, event, expectUnbroken, FlakyFileSystem, readChain } from './support.js';

const root = mkdtempSync(join(tmpdir(), 'hsmkms-audit-sink-'));
let signer: AuditSigner;
let n = 0;
const freshDir = () => join(root, `run${++n}`, 'audit');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  signer = auditSignerOf(await testBackend())!;
});

function open(dir: string, extra: Partial<ChainedAuditSinkOptions> = {}) {
  return openChainedAuditSink({ dir, nodeId: 'host-w0', signer, retryMs: 50, ...extra });
}

function expectSignedDigest(line: { text: string; parsed: ReturnType<typeof readChain>[number]['parsed'] }, spki: Buffer): void {
  expect(line.parsed.kind).toBe('digest');
  if (line.parsed.kind !== 'digest') return;
  expect(verify('sha384', Buffer.from(line.parsed.signedText), createPublicKey({ key: spki, format: 'der', type: 'spki' }), line.parsed.signature)).toBe(true);
}

describe('chained audit sink', () => {
  it('writes one chained line per event, each on disk (0600, directory 0700) before its promise resolves', async () => {
    const dir = freshDir();
    const sink = await open(dir);
    try {
      for (let i = 1; i <= 5; i++) {
        await sink.record(event(i));
        const lines = readChain(dir, 'host-w0');
        expect(lines).toHaveLength(i);
        const last = lines.at(-1)!.parsed;
        expect(last.kind === 'call' && last.event.requestId).toBe(`req-${i}`);
      }
      expectUnbroken(readChain(dir, 'host-w0'));
      const [segment] = listSegments(dir).get('host-w0')!;
      expect(segment!.name).toBe('host-w0.000000000001.jsonl');
      expect(statSync(segment!.path).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(dir, PUBLIC_KEY_FILE), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    } finally {
      await sink.close();
    }
  });

  it('commits concurrent events in a few batches: one write and one fdatasync each', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const sink = await open(dir, { files });
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => sink.record(event(i))));
      expect(readChain(dir, 'host-w0')).toHaveLength(300);
      expect(files.appends).toBeLessThanOrEqual(3);
      expect(files.syncs).toBe(files.appends);
      expectUnbroken(readChain(dir, 'host-w0'));
    } finally {
      await sink.close();
    }
  });

  it('signs a digest every N records, naming the range it closes; the signature verifies', async () => {
    const dir = freshDir();
    const sink = await open(dir, { digestEveryRecords: 10 });
    for (let i = 1; i <= 25; i++) await sink.record(event(i));
    const spki = await signer.auditPublicKey();
    const lines = readChain(dir, 'host-w0');
    expect(lines.map((l) => l.parsed.kind === 'digest').lastIndexOf(true)).toBe(21);
    const digests = lines.filter((l) => l.parsed.kind === 'digest');
    expect(digests.map((d) => d.parsed.link.sequence)).toEqual([11, 22]);
    for (const d of digests) expectSignedDigest(d, spki);
    const second = digests[1]!.parsed;
    if (second.kind !== 'digest') throw new Error('not a digest');
    expect(second.digest).toMatchObject({ digestStartSequence: 12, digestEndSequence: 21, digestStartTime: event(11).eventTime.toISOString(), digestEndTime: event(20).eventTime.toISOString() });
    expect(second.link.previousHash).toBe(lineHash(lines[20]!.text));
    // Closing signs what is left.
    await sink.close();
    const closed = readChain(dir, 'host-w0');
    expectUnbroken(closed);
    expect(closed).toHaveLength(28);
    expectSignedDigest(closed.at(-1)!, spki);
  });

  it('answers the records of a batch without waiting for the digest signed after it; the digest goes first in the next batch', async () => {
    const dir = freshDir();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let signing = 0;
    const slow: AuditSigner = {
      auditPublicKey: () => signer.auditPublicKey(),
      signAuditDigest: async (payload) => {
        signing++;
        await gate; // an HSM slow to answer
        return signer.signAuditDigest(payload);
      },
    };
    const sink = await open(dir, { signer: slow, digestEveryRecords: 2 });
    try {
      await sink.record(event(1));
      let answered = false;
      const second = sink.record(event(2)).then(() => (answered = true));
      for (let i = 0; i < 100 && !answered; i++) await sleep(10);
      // Answered (and on disk) while its digest is still being signed.
      expect(answered).toBe(true);
      expect(signing).toBe(1);
      expect(readChain(dir, 'host-w0').map((l) => l.parsed.kind)).toEqual(['call', 'call']);
      await second;
      release();
      await sink.record(event(3));
      const lines = readChain(dir, 'host-w0');
      expect(lines.map((l) => l.parsed.kind)).toEqual(['call', 'call', 'digest', 'call']);
      const digest = lines[2]!.parsed;
      expect(digest.kind === 'digest' && [digest.digest.digestStartSequence, digest.digest.digestEndSequence]).toEqual([1, 2]);
      expectSignedDigest(lines[2]!, await signer.auditPublicKey());
      expectUnbroken(lines);
    } finally {
      release();
      await sink.close();
    }
  });

  it('signs a digest after T seconds when fewer records came', async () => {
    const dir = freshDir();
    const sink = await open(dir, { digestEverySeconds: 1 });
    try {
      await sink.record(event(1));
      await sleep(1600);
      await sink.flush();
      const lines = readChain(dir, 'host-w0');
      expect(lines.map((l) => l.parsed.kind)).toEqual(['call', 'digest']);
      await sleep(1200);
      expect(readChain(dir, 'host-w0')).toHaveLength(2);
    } finally {
      await sink.close();
    }
  });

  it('says its records are durable before they resolve only when it fails closed and syncs before answering (what a call may rely on: src/ca/certificate-journal.ts)', async () => {
    const closed = await open(freshDir());
    const failingOpen = await open(freshDir(), { failure: 'open' });
    const background = await open(freshDir(), { sync: 'background' });
    try {
      expect(closed.recordsDurably).toBe(true);
      expect(failingOpen.recordsDurably).toBe(false);
      expect(background.recordsDurably).toBe(false);
    } finally {
      await closed.close();
      await failingOpen.close();
      await background.close();
    }
  });

  it('by default (before-answer) resolves a record only once its fdatasync has returned, on a segment opened for durable appends', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const sink = await open(dir, { files });
    try {
      files.holdSyncs = true;
      let answered = false;
      const recorded = sink.record(event(1)).then(() => (answered = true));
      await files.syncStarted(1);
      await sleep(20);
      expect(answered).toBe(false);
      files.releaseSyncs();
      await recorded;
      expect(files.synced).toBe(1);
      expect(files.appendsDurable).toEqual([true]);
    } finally {
      await sink.close();
    }
  });

  it('background sync: resolves once the line is in the file, with its fdatasync started at once and the next one as soon as it returns; flush and close wait for them', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const sink = await open(dir, { files, sync: 'background' });
    try {
      // Appends without O_DSYNC: the fdatasync makes them durable.
      expect(files.appendsDurable).toEqual([false]);
      files.holdSyncs = true;
      await sink.record(event(1));
      // Answered with its line in the file and its fdatasync under way, not returned.
      expect(readChain(dir, 'host-w0').map((l) => l.parsed.kind === 'call' && l.parsed.event.requestId)).toEqual(['req-1']);
      expect(files.syncs).toBe(1);
      expect(files.synced).toBe(0);
      // A record while that fdatasync is in flight is answered too, without waiting for it.
      await sink.record(event(2));
      expect(readChain(dir, 'host-w0')).toHaveLength(2);
      expect(files.syncs).toBe(1);
      let flushed = false;
      const flushing = sink.flush().then(() => (flushed = true));
      await sleep(20);
      expect(flushed).toBe(false);
      // The first returns: the next starts by itself for the line written meanwhile.
      files.releaseSyncs();
      files.holdSyncs = true;
      await files.syncStarted(2);
      expect(files.synced).toBe(1);
      expect(flushed).toBe(false);
      files.releaseSyncs();
      await flushing;
      expect(files.synced).toBe(2);
      expectUnbroken(readChain(dir, 'host-w0'));
    } finally {
      files.releaseSyncs();
      await sink.close();
    }
    expect(files.synced).toBeGreaterThanOrEqual(3); // the closing digest, synced before close returns
  });

  it('background sync: once the disk is syncLagMs behind the answers, a record waits for its fdatasync again', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const sink = await open(dir, { files, sync: 'background', syncLagMs: 30 });
    try {
      files.holdSyncs = true;
      await sink.record(event(1));
      await sleep(60); // the fdatasync of line 1 is still held: the disk is now more than 30 ms behind
      let answered = false;
      const recorded = sink.record(event(2)).then(() => (answered = true));
      await sleep(30);
      expect(answered).toBe(false);
      expect(readChain(dir, 'host-w0')).toHaveLength(2);
      files.releaseSyncs();
      await recorded;
      expect(files.synced).toBeGreaterThanOrEqual(2);
    } finally {
      files.releaseSyncs();
      await sink.close();
    }
  });

  it('background sync: a failed fdatasync refuses calls (closed) until the disk recovers; the lines answered but not on disk are written again, once', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const logger = new RecordingLogger();
    const sink = await open(dir, { files, logger, sync: 'background' });
    try {
      files.holdSyncs = true;
      files.failingSync = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      await sink.record(event(1));
      files.releaseSyncs();
      for (let i = 0; i < 40 && sink.accepting(); i++) await sleep(5);
      expect(sink.accepting()).toBe(false);
      await expect(sink.record(event(2))).rejects.toThrow(/EIO/);
      expect(logger.records.filter((r) => r.level === 'error' && /refusing requests/.test(r.msg ?? ''))).toHaveLength(1);
      files.failingSync = undefined;
      for (let i = 0; i < 40 && !sink.accepting(); i++) await sleep(25);
      expect(sink.accepting()).toBe(true);
      await sink.record(event(3));
      await sink.flush();
      const lines = readChain(dir, 'host-w0');
      expect(lines.map((l) => l.parsed.kind === 'call' && l.parsed.event.requestId)).toEqual(['req-1', 'req-2', 'req-3']);
      expectUnbroken(lines);
    } finally {
      files.failingSync = undefined;
      files.releaseSyncs();
      await sink.close();
    }
  });

  it('continues the chain after a restart, in the same file', async () => {
    const dir = freshDir();
    let sink = await open(dir);
    await sink.record(event(1));
    await sink.close();
    sink = await open(dir);
    await sink.record(event(2));
    await sink.close();
    const lines = readChain(dir, 'host-w0');
    expect(lines.map((l) => l.parsed.kind)).toEqual(['call', 'digest', 'call', 'digest']);
    expectUnbroken(lines);
    expect(listSegments(dir).get('host-w0')).toHaveLength(1);
  });

  it('signs at start-up what a crashed run left unsigned', async () => {
    const dir = freshDir();
    const crashed = await open(dir, { signer: undefined });
    for (let i = 1; i <= 3; i++) await crashed.record(event(i));
    await crashed.close(); // no signer: nothing signed, as after a kill -9
    const sink = await open(dir);
    await sink.flush();
    const lines = readChain(dir, 'host-w0');
    expect(lines.map((l) => l.parsed.kind)).toEqual(['call', 'call', 'call', 'digest']);
    const digest = lines[3]!.parsed;
    expect(digest.kind === 'digest' && [digest.digest.digestStartSequence, digest.digest.digestEndSequence]).toEqual([1, 3]);
    await sink.close();
  });

  it('leaves a torn last line as it is and continues in a new segment linked to the last whole record', async () => {
    const dir = freshDir();
    let sink = await open(dir);
    for (let i = 1; i <= 3; i++) await sink.record(event(i));
    await sink.close();
    const [segment] = listSegments(dir).get('host-w0')!;
    appendFileSync(segment!.path, '{"eventVersion":"2.0","eventType":"AwsApiCall","nodeId":"host-w0","seq');
    const torn = readFileSync(segment!.path);
    sink = await open(dir);
    await sink.record(event(4));
    await sink.close();
    expect(readFileSync(segment!.path).equals(torn)).toBe(true);
    const segments = listSegments(dir).get('host-w0')!;
    expect(segments.map((s) => s.name)).toEqual(['host-w0.000000000001.jsonl', 'host-w0.000000000005.jsonl']);
    expectUnbroken(readChain(dir, 'host-w0'));
  });

  it.each(['before-answer', 'background'] as const)('rotates by size (sync %s): each closed segment ends with a signed digest, the next one links to it', async (sync) => {
    const dir = freshDir();
    const sink = await open(dir, { maxFileBytes: 4096, sync });
    for (let i = 1; i <= 40; i++) await sink.record(event(i, { requestParameters: { KeyId: 'alias/app', Description: 'x'.repeat(200) } }));
    await sink.close();
    const segments = listSegments(dir).get('host-w0')!;
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const spki = await signer.auditPublicKey();
    for (const segment of segments.slice(0, -1)) {
      const lines = readFileSync(segment.path, 'utf8').trimEnd().split('\n');
      const last = readChain(dir, 'host-w0').find((l) => l.text === lines.at(-1))!;
      expectSignedDigest(last, spki);
      expect(statSync(segment.path).size).toBeLessThan(4096 + 2048);
    }
    expectUnbroken(readChain(dir, 'host-w0'));
  });

  it('fail-closed: refuses while writes fail, keeps every record, writes them once the disk recovers', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const logger = new RecordingLogger();
    const sink = await open(dir, { files, logger });
    try {
      await sink.record(event(1));
      files.failing = enospc();
      files.partial = 100; // half a line reaches the file before the error
      await expect(sink.record(event(2))).rejects.toThrow(/ENOSPC/);
      expect(sink.accepting()).toBe(false);
      await expect(sink.record(event(3))).rejects.toThrow(/ENOSPC/);
      expect(logger.records.filter((r) => r.level === 'error' && /refusing requests/.test(r.msg ?? ''))).toHaveLength(1);
      files.failing = undefined;
      for (let i = 0; i < 40 && !sink.accepting(); i++) await sleep(25);
      expect(sink.accepting()).toBe(true);
      await sink.record(event(4));
      const lines = readChain(dir, 'host-w0');
      expect(lines.map((l) => l.parsed.kind === 'call' && l.parsed.event.requestId)).toEqual(['req-1', 'req-2', 'req-3', 'req-4']);
      expectUnbroken(lines);
    } finally {
      await sink.close();
    }
  });

  it('fail-open: serves while writes fail and writes the records once the disk recovers', async () => {
    const dir = freshDir();
    const files = new FlakyFileSystem();
    const sink = await open(dir, { files, failure: 'open' });
    try {
      files.failing = enospc();
      await sink.record(event(1));
      await sink.record(event(2));
      expect(sink.accepting()).toBe(true);
      expect(readChain(dir, 'host-w0')).toHaveLength(0);
      files.failing = undefined;
      for (let i = 0; i < 40 && sink.status().failure; i++) await sleep(25);
      await sink.record(event(3));
      expectUnbroken(readChain(dir, 'host-w0'));
      expect(readChain(dir, 'host-w0')).toHaveLength(3);
    } finally {
      await sink.close();
    }
  });

  it('goes on without a digest when the HSM cannot sign, and signs the longer range later', async () => {
    const dir = freshDir();
    let down = true;
    const flaky: AuditSigner = {
      auditPublicKey: () => signer.auditPublicKey(),
      signAuditDigest: (payload) => (down ? Promise.reject(new Error('CKR_DEVICE_ERROR')) : signer.signAuditDigest(payload)),
    };
    const sink = await open(dir, { signer: flaky, digestEveryRecords: 2 });
    for (let i = 1; i <= 3; i++) await sink.record(event(i));
    expect(readChain(dir, 'host-w0').every((l) => l.parsed.kind === 'call')).toBe(true);
    down = false;
    await sink.close();
    const lines = readChain(dir, 'host-w0');
    const last = lines.at(-1)!.parsed;
    expect(last.kind === 'digest' && [last.digest.digestStartSequence, last.digest.digestEndSequence]).toEqual([1, 3]);
    expectUnbroken(lines);
  });

  it('lets one process write a node: a second writer is refused, a dead one’s lock is taken over', async () => {
    const dir = freshDir();
    const sink = await open(dir);
    await expect(open(dir)).rejects.toThrow(/already open in this process/);
    await sink.close();

    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'host-w0.lock'), `${holder.pid}\n`);
      await expect(open(dir)).rejects.toThrow(new RegExp(`in use by process ${holder.pid}.*--audit-node-id`));
    } finally {
      holder.kill('SIGKILL');
    }
    const exited = spawn('true');
    await new Promise((done) => exited.once('exit', done));
    writeFileSync(join(dir, 'host-w0.lock'), `${exited.pid}\n`);
    const again = await open(dir);
    await again.record(event(1));
    await again.close();
    expect(existsSync(join(dir, 'host-w0.lock'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl'))).toHaveLength(1);
  });

  it('given several node ids, takes the first free one: concurrent short-lived writers (hsmkms ca) share a few chains', async () => {
    const dir = freshDir();
    const ids = ['host-ca0', 'host-ca1'];
    const first = await open(dir, { nodeId: ids });
    const second = await open(dir, { nodeId: ids });
    expect([first.nodeId, second.nodeId]).toEqual(ids);
    await expect(open(dir, { nodeId: ids })).rejects.toThrow(/audit node 'host-ca1' is already open in this process/);
    await first.record(event(1));
    await first.close();
    // A later run reuses the freed chain and continues it.
    const third = await open(dir, { nodeId: ids });
    expect(third.nodeId).toBe('host-ca0');
    await third.record(event(2));
    await Promise.all([second.close(), third.close()]);
    expectUnbroken(readChain(dir, 'host-ca0'));
    expect(readChain(dir, 'host-ca0').filter((l) => l.parsed.kind === 'call')).toHaveLength(2);
  });
});
